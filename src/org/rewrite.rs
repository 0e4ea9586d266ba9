//! The new text of sgops.yaml after `sgops accounts --write`: only the `accounts:` block
//! changes; every other byte of the file (comments, order, blank lines, quoting) stays. Pure.
//!
//! In a block-style `accounts:` map, each entry keeps its own lines (its comments, quoting
//! and options) unless it changes: a renamed account gets its new key on the same value, an
//! account whose id changed gets a new line, a removed one loses its lines (the comment lines
//! above it stay), and a new one gets a line of its own, in name order when the map is
//! sorted, else at its end. A map in any other shape (flow style, an anchor) is written anew
//! in block style. Either way the result is parsed again and compared with what was meant
//! before anything is written: a rewrite that would change anything else is refused.

use std::collections::BTreeMap;

use super::map::Diff;
use crate::config::{self, Account, Config};

/// Why sgops.yaml was not rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot rewrite the accounts: block of {path}: {reason}; nothing was written: edit `accounts:` by hand as shown above"
)]
pub struct RewriteError {
    pub path: String,
    pub reason: String,
}

/// One line of the file, its line ending included.
type Line<'a> = &'a str;

/// An entry of the block: comment and blank lines above it, its first line, the lines
/// below it (a block-style value), and the account name its key spells.
struct Entry<'a> {
    leading: Vec<Line<'a>>,
    first: Line<'a>,
    body: Vec<Line<'a>>,
    name: String,
}

/// The parts of the file around and in the `accounts:` block.
struct Layout<'a> {
    before: Vec<Line<'a>>,
    header: Line<'a>,
    /// The lines of the block (indented, or blank/comment lines among them).
    block: Vec<Line<'a>>,
    after: Vec<Line<'a>>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key at the start of `s` (after indentation), unquoted, and the rest from its colon.
fn split_key(s: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q) = s.strip_prefix('"') {
        let mut end = None;
        let mut escaped = false;
        for (i, c) in q.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        let key: String = serde_json::from_str(&s[..end + 2]).ok()?;
        (key, &q[end + 1..])
    } else if let Some(q) = s.strip_prefix('\'') {
        let mut i = 0;
        let bytes = q.as_bytes();
        let end = loop {
            if i >= bytes.len() {
                return None;
            }
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break i;
            }
            i += 1;
        };
        (q[..end].replace("''", "'"), &q[end + 1..])
    } else {
        let end = s
            .char_indices()
            .find(|&(i, c)| {
                c == ':'
                    && matches!(
                        s[i + 1..].chars().next(),
                        None | Some(' ' | '\t' | '\r' | '\n')
                    )
            })
            .map(|(i, _)| i)?;
        (s[..end].trim_end().to_string(), &s[end..])
    };
    let rest_trim = rest.trim_start_matches([' ', '\t']);
    rest_trim
        .starts_with(':')
        .then(|| (key, &rest[rest.len() - rest_trim.len()..]))
}

/// Finds the top-level `accounts:` key and its block.
fn layout(text: &str) -> Option<Layout<'_>> {
    let lines: Vec<Line<'_>> = text.split_inclusive('\n').collect();
    let headers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| indent_of(l) == 0 && split_key(l).is_some_and(|(k, _)| k == "accounts"))
        .map(|(i, _)| i)
        .collect();
    let [h] = headers.as_slice() else {
        return None;
    };
    let h = *h;
    // The block: the lines after the header up to the last indented line before the next
    // line at column 0 (a key, a comment about it, or a document marker).
    let mut end = h + 1;
    for (i, l) in lines.iter().enumerate().skip(h + 1) {
        if l.trim().is_empty() {
            continue;
        }
        if indent_of(l) == 0 {
            break;
        }
        end = i + 1;
    }
    Some(Layout {
        before: lines[..h].to_vec(),
        header: lines[h],
        block: lines[h + 1..end].to_vec(),
        after: lines[end..].to_vec(),
    })
}

/// The block's entries and the lines after the last one, when it is a plain block map.
fn entries<'a>(layout: &Layout<'a>) -> Option<(Vec<Entry<'a>>, Vec<Line<'a>>)> {
    let (_, value) = split_key(layout.header)?;
    let value = value[1..].trim();
    if !(value.is_empty() || value.starts_with('#')) {
        return None;
    }
    let indent = layout
        .block
        .iter()
        .find(|l| !is_blank_or_comment(l))
        .map(|l| indent_of(l))?;
    let mut out: Vec<Entry<'a>> = Vec::new();
    let mut pending: Vec<Line<'a>> = Vec::new();
    for l in &layout.block {
        if is_blank_or_comment(l) {
            pending.push(l);
            continue;
        }
        let i = indent_of(l);
        if i < indent || l[..i].contains('\t') {
            return None;
        }
        if i == indent {
            let (name, _) = split_key(&l[i..])?;
            out.push(Entry {
                leading: std::mem::take(&mut pending),
                first: l,
                body: Vec::new(),
                name,
            });
        } else {
            let e = out.last_mut()?;
            e.body.append(&mut pending);
            e.body.push(l);
        }
    }
    Some((out, pending))
}

/// A key as YAML reads it back as the same text: plain when nothing in it could be read as
/// anything else, else double-quoted.
fn key(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !matches!(
            name,
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_else(|_| format!("\"{name}\""))
    }
}

/// One account as a line of a block map, options (in flow style) included.
fn entry_line(indent: &str, name: &str, account: &Account, eol: &str) -> String {
    let id = format!("\"{}\"", account.id);
    if account.role_name.is_none() && account.read_role_name.is_none() && account.regions.is_none()
    {
        return format!("{indent}{}: {id}{eol}", key(name));
    }
    let mut parts = vec![format!("id: {id}")];
    if let Some(r) = &account.role_name {
        parts.push(format!("role_name: {}", key(r)));
    }
    if let Some(r) = &account.read_role_name {
        parts.push(format!("read_role_name: {}", key(r)));
    }
    if let Some(regions) = &account.regions {
        parts.push(format!("regions: [{}]", regions.join(", ")));
    }
    format!("{indent}{}: {{ {} }}{eol}", key(name), parts.join(", "))
}

/// The account map after the change: names from the organization, options of the accounts
/// that stay (same id) from sgops.yaml.
pub fn new_accounts(
    config: &Config,
    managed: &BTreeMap<String, String>,
) -> BTreeMap<String, Account> {
    managed
        .iter()
        .map(|(name, id)| {
            let kept = config.accounts.values().find(|a| a.id == *id);
            let account = Account {
                id: id.clone(),
                role_name: kept.and_then(|a| a.role_name.clone()),
                read_role_name: kept.and_then(|a| a.read_role_name.clone()),
                regions: kept.and_then(|a| a.regions.clone()),
            };
            (name.clone(), account)
        })
        .collect()
}

/// The text of sgops.yaml (`path` in messages) with its `accounts:` block made `managed`
/// (name → id), as [`Diff`] says how it differs. `config` is what `text` parses to.
pub fn rewrite(
    path: &str,
    text: &str,
    config: &Config,
    managed: &BTreeMap<String, String>,
    diff: &Diff,
) -> Result<String, RewriteError> {
    let fail = |reason: String| RewriteError {
        path: path.to_string(),
        reason,
    };
    let layout = layout(text).ok_or_else(|| fail("no top-level `accounts:` key found".into()))?;
    let wanted = new_accounts(config, managed);
    let eol = if layout.header.ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let block = match entries(&layout) {
        Some((list, trailer))
            if list.len() == config.accounts.len()
                && list.iter().all(|e| config.accounts.contains_key(&e.name)) =>
        {
            format!(
                "{}{}",
                layout.header,
                edit_block(&list, &trailer, &wanted, diff, eol)
            )
        }
        // Flow style, an anchor, or a shape these lines cannot be read as: written anew.
        _ => {
            let mut s = format!("accounts:{eol}");
            for (name, account) in &wanted {
                s.push_str(&entry_line("  ", name, account, eol));
            }
            s
        }
    };
    let mut out = String::with_capacity(text.len() + block.len());
    layout.before.iter().for_each(|l| out.push_str(l));
    out.push_str(&block);
    layout.after.iter().for_each(|l| out.push_str(l));
    check(path, &out, config, &wanted).map_err(fail)?;
    Ok(out)
}

/// The entries of a block map, edited.
fn edit_block(
    list: &[Entry<'_>],
    trailer: &[Line<'_>],
    wanted: &BTreeMap<String, Account>,
    diff: &Diff,
    eol: &str,
) -> String {
    let indent = " ".repeat(indent_of(list.first().map_or("  x", |e| e.first)));
    let renamed: BTreeMap<&str, &str> = diff
        .renamed
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str()))
        .collect();
    let id_changed: BTreeMap<&str, &str> = diff
        .id_changed
        .iter()
        .map(|c| (c.name.as_str(), c.to.as_str()))
        .collect();
    let sorted = list.windows(2).all(|w| w[0].name <= w[1].name);
    // (final name, its lines) in the file's order; no name for the comment lines left
    // where a removed entry was.
    let mut kept: Vec<(Option<String>, String)> = Vec::new();
    for e in list {
        let mut lines = String::new();
        e.leading.iter().for_each(|l| lines.push_str(l));
        let name = e.name.as_str();
        if let Some(to) = renamed.get(name) {
            let i = indent_of(e.first);
            let rest = split_key(&e.first[i..]).map_or("", |(_, rest)| rest);
            lines.push_str(&format!("{}{}{rest}", &e.first[..i], key(to)));
            e.body.iter().for_each(|l| lines.push_str(l));
            kept.push((Some(to.to_string()), lines));
        } else if let (Some(_), Some(account)) = (id_changed.get(name), wanted.get(name)) {
            lines.push_str(&entry_line(&indent, name, account, eol));
            kept.push((Some(name.to_string()), lines));
        } else if wanted.contains_key(name) {
            lines.push_str(e.first);
            e.body.iter().for_each(|l| lines.push_str(l));
            kept.push((Some(name.to_string()), lines));
        } else {
            // Removed: its comment lines stay where it was.
            kept.push((None, lines));
        }
    }
    for a in &diff.added {
        let Some(account) = wanted.get(&a.name) else {
            continue;
        };
        let line = entry_line(&indent, &a.name, account, eol);
        let at = if sorted {
            kept.iter()
                .position(|(n, _)| n.as_ref().is_some_and(|n| *n > a.name))
                .unwrap_or(kept.len())
        } else {
            kept.len()
        };
        kept.insert(at, (Some(a.name.clone()), line));
    }
    let mut s: String = kept.into_iter().map(|(_, l)| l).collect();
    trailer.iter().for_each(|l| s.push_str(l));
    s
}

/// The rewritten text parses, its accounts are `wanted`, and nothing else changed.
fn check(
    path: &str,
    text: &str,
    before: &Config,
    wanted: &BTreeMap<String, Account>,
) -> Result<(), String> {
    let after = config::parse(path, text).map_err(|d| {
        let first = d.first().map(|d| d.message.clone()).unwrap_or_default();
        format!("the result would not be a valid sgops.yaml ({first})")
    })?;
    if after.accounts != *wanted {
        return Err("the result would not hold the accounts meant".into());
    }
    let mut same = after;
    same.accounts = before.accounts.clone();
    if same != *before {
        return Err("the result would change more than `accounts`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# sgops configuration for the platform team.
allowlist:
  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/   # + service
  region: 'us-east-1'

role_name: sgops-reconciler
accounts:
  # Production
  itx-016: "111111111111"     # payments
  itx-046: { id: "222222222222", role_name: other-role }
  itx-050:
    id: "333333333333"
    regions: [eu-west-1]
  # Sandbox
  zzz-old: "444444444444"
  # itx-099: "999999999999" (closed 2024)

# Policy below: reviewed by security.
rule_tags:
  vpcx:skip_enforcement: "yes"
concurrency:   16
"#;

    fn managed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect()
    }

    fn run(text: &str, m: &BTreeMap<String, String>) -> Result<String, RewriteError> {
        let cfg = config::parse("sgops.yaml", text).expect("valid input");
        let org = super::super::map::Managed {
            accounts: m.clone(),
            ..Default::default()
        };
        let diff = super::super::map::diff(&org, &cfg, &[]);
        rewrite("sgops.yaml", text, &cfg, m, &diff)
    }

    #[test]
    fn only_the_changed_entries_change_byte_for_byte() {
        let m = managed(&[
            ("itx-016", "111111111111"),
            ("payments-046", "222222222222"),
            ("itx-050", "555555555555"),
            ("itx-017", "666666666666"),
            ("zzz-new", "777777777777"),
        ]);
        let got = run(FILE, &m).expect("rewritten");
        let want = r#"# sgops configuration for the platform team.
allowlist:
  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/   # + service
  region: 'us-east-1'

role_name: sgops-reconciler
accounts:
  # Production
  itx-016: "111111111111"     # payments
  itx-017: "666666666666"
  payments-046: { id: "222222222222", role_name: other-role }
  itx-050: "555555555555"
  # Sandbox
  zzz-new: "777777777777"
  # itx-099: "999999999999" (closed 2024)

# Policy below: reviewed by security.
rule_tags:
  vpcx:skip_enforcement: "yes"
concurrency:   16
"#;
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_to_change_gives_the_same_bytes() {
        let m = managed(&[
            ("itx-016", "111111111111"),
            ("itx-046", "222222222222"),
            ("itx-050", "333333333333"),
            ("zzz-old", "444444444444"),
        ]);
        assert_eq!(run(FILE, &m).expect("same"), FILE);
    }

    #[test]
    fn windows_line_endings_and_an_unsorted_map_are_kept() {
        let text =
            "accounts:\r\n  b: \"222222222222\"\r\n  a: \"111111111111\"\r\nconcurrency: 4\r\n";
        let m = managed(&[
            ("a", "111111111111"),
            ("b", "222222222222"),
            ("c", "333333333333"),
        ]);
        assert_eq!(
            run(text, &m).expect("rewritten"),
            "accounts:\r\n  b: \"222222222222\"\r\n  a: \"111111111111\"\r\n  c: \"333333333333\"\r\nconcurrency: 4\r\n"
        );
    }

    #[test]
    fn a_flow_map_is_written_anew_in_block_style_keeping_options() {
        let text = "role_name: r # the role\naccounts: { a: \"111111111111\", b: { id: \"222222222222\", regions: [us-east-1] } }\nconcurrency: 4\n";
        let m = managed(&[("b-renamed", "222222222222"), ("c", "333333333333")]);
        assert_eq!(
            run(text, &m).expect("rewritten"),
            "role_name: r # the role\naccounts:\n  b-renamed: { id: \"222222222222\", regions: [us-east-1] }\n  c: \"333333333333\"\nconcurrency: 4\n"
        );
    }

    #[test]
    fn quoted_keys_are_read_and_names_that_yaml_would_misread_are_quoted() {
        let m = managed(&[
            ("itx-016", "111111111111"),
            ("016", "333333333333"),
            ("null", "444444444444"),
        ]);
        let text = "accounts:\n  \"itx-016\": \"111111111111\"\n  'itx-''x': \"222222222222\"\n";
        // (`itx-'x` is no valid name: the file is refused before any rewrite.)
        assert!(config::parse("sgops.yaml", text).is_err());
        let text = "accounts:\n  'gone': \"222222222222\"\n  \"itx-016\": \"111111111111\"\n";
        assert_eq!(
            run(text, &m).expect("rewritten"),
            "accounts:\n  \"016\": \"333333333333\"\n  \"itx-016\": \"111111111111\"\n  \"null\": \"444444444444\"\n"
        );
    }

    #[test]
    fn a_rewrite_that_would_change_anything_else_is_refused() {
        // An alias of the accounts map elsewhere: dropping the anchor would break the file.
        let text = "accounts: &all\n  a: \"111111111111\"\nregions: *all\n";
        let err = config::parse("sgops.yaml", text);
        // (Not a valid file to start with: regions must be a list.)
        assert!(err.is_err());
        let text = "accounts: &all { a: \"111111111111\" }\nconcurrency: 4\n";
        let got = run(text, &managed(&[("b", "222222222222")])).expect("rewritten");
        assert_eq!(got, "accounts:\n  b: \"222222222222\"\nconcurrency: 4\n");
    }

    #[test]
    fn an_empty_map_gets_its_first_entries() {
        let text = "accounts: {}\n# end\n";
        assert_eq!(
            run(text, &managed(&[("a", "111111111111")])).expect("rewritten"),
            "accounts:\n  a: \"111111111111\"\n# end\n"
        );
    }

    #[test]
    fn the_check_catches_a_result_that_is_not_what_was_meant() {
        let cfg = config::parse("sgops.yaml", "accounts:\n  a: \"111111111111\"\n").expect("ok");
        let wanted = new_accounts(&cfg, &managed(&[("a", "111111111111")]));
        assert!(
            check(
                "sgops.yaml",
                "accounts:\n  a: \"111111111111\"\n",
                &cfg,
                &wanted
            )
            .is_ok()
        );
        assert!(check("sgops.yaml", "accounts:\n  a: \"2\"\n", &cfg, &wanted).is_err());
        assert!(
            check(
                "sgops.yaml",
                "accounts:\n  a: \"111111111111\"\nconcurrency: 3\n",
                &cfg,
                &wanted
            )
            .is_err()
        );
    }
}
