//! A report as text, Markdown, JSON or CSV, and the body of the reminder issue (Markdown
//! grouped by owner, the one output in which sgops mentions anyone). Pure functions; every
//! value from files or AWS goes through [`crate::escape`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::escape::{self, terminal};
use crate::owners::Owner;

use super::{Entry, Report};

/// The columns of every format, in SPEC's order; `status` is added with `--live`.
const COLUMNS: [&str; 15] = [
    "account",
    "account_id",
    "region",
    "security_group",
    "rule",
    "direction",
    "protocol",
    "ports",
    "peer",
    "description",
    "ticket",
    "expires",
    "days_left",
    "owners",
    "file",
];

/// An entry's values in [`COLUMNS`] order (then status, when live), unescaped.
fn cells(e: &Entry, live: bool) -> Vec<String> {
    let mut v = vec![
        e.account.clone(),
        e.account_id.clone(),
        e.region.clone(),
        e.security_group.clone(),
        e.rule.clone(),
        e.direction.clone(),
        e.protocol.clone(),
        e.ports.clone(),
        e.peer.clone(),
        e.description.clone().unwrap_or_default(),
        e.ticket.clone(),
        e.expires.clone().unwrap_or_default(),
        e.days_left.map(|d| d.to_string()).unwrap_or_default(),
        e.owners.join(" "),
        e.file.clone(),
    ];
    if live {
        v.push(e.status.map_or("", |s| s.as_str()).to_string());
    }
    v
}

fn header(live: bool) -> Vec<&'static str> {
    let mut h = COLUMNS.to_vec();
    if live {
        h.push("status");
    }
    h
}

/// JSON: `version`, `today`, `expiring_within`, `live`, `rules` (the entries), `errors`.
pub fn json(r: &Report) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// RFC 4180 CSV with a header row, through the `csv` crate (quoting, CRLF line ends); every
/// cell through [`escape::csv_cell`] (no formula, no control character).
pub fn csv(r: &Report) -> Result<String, String> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header(r.live)).map_err(|e| e.to_string())?;
    for e in &r.rules {
        w.write_record(cells(e, r.live).iter().map(|c| escape::csv_cell(c)))
            .map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Columns aligned for a terminal, then one line of totals.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    if r.rules.is_empty() {
        let _ = writeln!(out, "No rules{}.", scope(r));
        return out;
    }
    // The description, the longest, last; the file is in the other formats.
    let mut cols: Vec<&str> = vec![
        "account",
        "region",
        "security_group",
        "rule",
        "direction",
        "protocol",
        "ports",
        "peer",
        "ticket",
        "expires",
        "days_left",
        "owners",
    ];
    if r.live {
        cols.push("status");
    }
    cols.push("description");
    let index = |c: &str| header(r.live).iter().position(|h| *h == c).unwrap_or(0);
    let rows: Vec<Vec<String>> = r
        .rules
        .iter()
        .map(|e| {
            let all = cells(e, r.live);
            cols.iter().map(|c| terminal(&all[index(c)])).collect()
        })
        .collect();
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([cols[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: &[String]| {
        let mut l = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i + 1 == vals.len() {
                l.push_str(v);
            } else {
                let _ = write!(l, "{v:<w$}  ", w = widths[i]);
            }
        }
        l.trim_end().to_string()
    };
    let head: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
    let _ = writeln!(out, "{}", line(&head));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(out, "\n{}{}.", totals(r), scope(r));
    for e in &r.errors {
        let _ = writeln!(
            out,
            "error: {} {}: {}",
            terminal(&e.account),
            terminal(&e.region),
            terminal(&e.message)
        );
    }
    out
}

/// `12 rules, 3 expiring, 1 expired` (and statuses when live).
fn totals(r: &Report) -> String {
    let n = r.rules.len();
    let expired = r.rules.iter().filter(|e| e.is_expired()).count();
    let mut s = format!("{n} {}", if n == 1 { "rule" } else { "rules" });
    if expired > 0 {
        let _ = write!(s, ", {expired} past their expiry date");
    }
    if r.live {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &r.rules {
            *by.entry(e.status.map_or("unknown", |s| s.as_str()))
                .or_default() += 1;
        }
        let parts: Vec<String> = by.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = write!(s, " ({})", parts.join(", "));
    }
    s
}

fn scope(r: &Report) -> String {
    match r.expiring_within {
        Some(n) => format!(" expiring within {n} days (as of {})", r.today),
        None => format!(" (as of {})", r.today),
    }
}

/// Owners as code spans: a report notifies nobody.
fn owners_md(owners: &[String]) -> String {
    if owners.is_empty() {
        return "none".into();
    }
    owners
        .iter()
        .map(|o| escape::code_span(o))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One Markdown table of every rule (no cut: for files and job summaries).
pub fn markdown(r: &Report) -> String {
    let mut out = String::from("### sgops report\n\n");
    let _ = writeln!(out, "{}{}.\n", totals(r), scope(r));
    if !r.errors.is_empty() {
        out.push_str("#### Errors\n\n");
        for e in &r.errors {
            let _ = writeln!(
                out,
                "- **{}** {}: {}",
                escape::markdown(&e.account),
                escape::markdown(&e.region),
                escape::markdown(&e.message)
            );
        }
        out.push('\n');
    }
    if r.rules.is_empty() {
        return out;
    }
    let mut head = vec![
        "account",
        "region",
        "security group",
        "rule",
        "direction",
        "protocol",
        "ports",
        "peer",
        "description",
        "ticket",
        "expires",
        "days left",
        "owners",
        "file",
    ];
    if r.live {
        head.push("status");
    }
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for e in &r.rules {
        let mut row = vec![
            escape::markdown(&e.account),
            escape::markdown(&e.region),
            escape::markdown(&e.security_group),
            escape::markdown(&e.rule),
            escape::markdown(&e.direction),
            escape::markdown(&e.protocol),
            escape::markdown(&e.ports),
            escape::markdown(&e.peer),
            escape::markdown(e.description.as_deref().unwrap_or("")),
            escape::markdown(&e.ticket),
            escape::markdown(e.expires.as_deref().unwrap_or("")),
            e.days_left.map(|d| d.to_string()).unwrap_or_default(),
            owners_md(&e.owners),
            escape::markdown(&e.file),
        ];
        if r.live {
            row.push(e.status.map_or("", |s| s.as_str()).to_string());
        }
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// Room kept for the closing note of a cut reminder.
const NOTE_RESERVE: usize = 600;

/// The reminder: the rules of `r` grouped by owner, each owner's heading mentioning them
/// once (`@user`, `@org/team`; emails are shown, not mentioned; only owners that passed
/// [`Owner::parse`] are ever mentioned, never text from a rule file), soonest group first,
/// within `limit` bytes (a note says what was cut). `within` is the window in days.
pub fn reminder(r: &Report, within: u32, limit: usize) -> String {
    let mut out = String::from("### sgops: rules expiring soon\n\n");
    let n = r.rules.len();
    if n == 0 {
        let _ = writeln!(
            out,
            "No rule expires within {within} days (as of {}).",
            r.today
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{n} {} expire within {within} days or already expired (as of {}). On its `expires` date sgops revokes a rule. To keep one, open a pull request with a new `expires` and ticket; to let it go, remove it from its file.\n",
        if n == 1 { "rule" } else { "rules" },
        r.today
    );
    // Owner → rules; `None`: no owner in CODEOWNERS.
    let mut groups: BTreeMap<Option<Owner>, Vec<&Entry>> = BTreeMap::new();
    for e in &r.rules {
        let owners: Vec<Owner> = e
            .owners
            .iter()
            .filter_map(|o| Owner::parse(o).ok())
            .collect();
        if owners.is_empty() {
            groups.entry(None).or_default().push(e);
        }
        for o in owners {
            groups.entry(Some(o)).or_default().push(e);
        }
    }
    let soonest = |v: &Vec<&Entry>| {
        v.iter()
            .filter_map(|e| e.days_left)
            .min()
            .unwrap_or(i64::MAX)
    };
    let mut ordered: Vec<(Option<Owner>, Vec<&Entry>)> = groups.into_iter().collect();
    // Owned groups by their soonest expiry, the unowned last.
    ordered.sort_by(|(a, va), (b, vb)| {
        (a.is_none(), soonest(va), a).cmp(&(b.is_none(), soonest(vb), b))
    });
    let total_groups = ordered.len();
    for (gi, (owner, mut list)) in ordered.into_iter().enumerate() {
        list.sort_by_key(|e| {
            (
                e.days_left,
                e.account.clone(),
                e.region.clone(),
                e.rule.clone(),
            )
        });
        let heading = match &owner {
            Some(o) => match o.mention() {
                Some(m) => format!("#### {m}\n\n"),
                None => format!(
                    "#### {} (an email owner: not notified here)\n\n",
                    escape::code_span(&o.to_string())
                ),
            },
            None => "#### No owner in CODEOWNERS\n\n".to_string(),
        };
        let table_head = "| account | region | security group | rule | expires | days left | ticket | file |\n|---|---|---|---|---|---:|---|---|\n";
        if out.len() + heading.len() + table_head.len() + NOTE_RESERVE > limit {
            let _ = writeln!(
                out,
                "**Cut to fit one issue: {gi} of {total_groups} owners shown.** Run `sgops report --expiring-within {within}` for the full list."
            );
            return out;
        }
        out.push_str(&heading);
        out.push_str(table_head);
        for (i, e) in list.iter().enumerate() {
            let row = format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                escape::markdown(&e.account),
                escape::markdown(&e.region),
                escape::markdown(&e.security_group),
                escape::markdown(&e.rule),
                escape::markdown(e.expires.as_deref().unwrap_or("")),
                match e.days_left {
                    Some(d) if d <= 0 => "expired".to_string(),
                    Some(d) => d.to_string(),
                    None => String::new(),
                },
                escape::markdown(&e.ticket),
                escape::markdown(&e.file),
            );
            if out.len() + row.len() + NOTE_RESERVE > limit {
                let _ = writeln!(
                    out,
                    "\n… {} more rules of this owner not shown.\n\n**Cut to fit one issue: {} of {total_groups} owners shown.** Run `sgops report --expiring-within {within}` for the full list.",
                    list.len() - i,
                    gi + 1
                );
                return out;
            }
            out.push_str(&row);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanError;
    use crate::report::Status;

    fn entry(rule: &str, days: i64, owners: &[&str], desc: &str) -> Entry {
        Entry {
            account: "a".into(),
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            security_group: "sg-0123456789abcdef0".into(),
            rule: rule.into(),
            direction: "ingress".into(),
            protocol: "tcp".into(),
            ports: "443".into(),
            peer: "203.0.113.0/24".into(),
            description: Some(desc.into()),
            ticket: "CHG-1".into(),
            expires: Some("2026-12-07".into()),
            days_left: Some(days),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            file: "rules/a/us-east-1/x.yaml".into(),
            status: None,
            group: crate::rules::GroupRef::Id("sg-0123456789abcdef0".into()),
            spec: crate::rules::RuleSpec {
                direction: crate::rules::Direction::Ingress,
                protocol: crate::rules::Protocol::Tcp,
                ports: crate::rules::Ports::Range { from: 443, to: 443 },
                peer: crate::rules::Peer::Cidr("203.0.113.0/24".parse().unwrap()),
                description: None,
            },
        }
    }

    fn report(rules: Vec<Entry>) -> Report {
        Report {
            version: 1,
            today: "2026-11-27".into(),
            expiring_within: Some(30),
            live: false,
            rules,
            errors: vec![],
        }
    }

    #[test]
    fn csv_is_rfc4180_and_never_a_formula() {
        let r = report(vec![
            entry("x", 10, &["@a", "b@example.com"], "=SUM(1,2)"),
            entry("y", -2, &[], "quote \" and, comma\n@cmd"),
        ]);
        let text = csv(&r).expect("csv");
        assert!(text.starts_with("account,account_id,region,security_group,rule,direction,protocol,ports,peer,description,ticket,expires,days_left,owners,file\r\n"), "{text}");
        let mut rd = ::csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let rows: Vec<::csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][9], "'=SUM(1,2)");
        assert_eq!(
            &rows[0][13], "'@a b@example.com",
            "a cell starting with @ too"
        );
        assert_eq!(&rows[1][9], "quote \" and, comma\\n@cmd");
        assert_eq!(&rows[1][12], "-2", "a negative number is not a formula");
        for row in &rows {
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '@', '\t', '\r']) || cell.parse::<i64>().is_ok(),
                    "{cell}"
                );
            }
        }
    }

    #[test]
    fn reminders_mention_each_owner_once_and_only_owners() {
        let mut r = report(vec![
            entry(
                "x",
                10,
                &["@alice", "@org/secops"],
                "@mallory see http://evil.example",
            ),
            entry("y", 3, &["@alice"], "<img src=x>"),
            entry("z", 5, &["carol@example.com"], "z"),
            entry("w", 7, &[], "w"),
            entry("v", 7, &["@bad name"], "v"),
        ]);
        r.rules[0].ticket = "@mallory #12".into();
        let body = reminder(&r, 30, 65_536);
        assert_eq!(body.matches("@alice").count(), 1, "{body}");
        assert_eq!(body.matches("@org/secops").count(), 1, "{body}");
        assert!(body.contains("#### @alice\n"), "{body}");
        assert!(!body.contains("@mallory"), "{body}");
        assert!(body.contains("@\u{200b}mallory"), "{body}");
        assert!(body.contains("\\#\u{200b}12"), "{body}");
        assert!(!body.contains("<img"), "{body}");
        assert!(
            body.contains("#### `carol@example.com` (an email owner"),
            "{body}"
        );
        assert!(body.contains("#### No owner in CODEOWNERS"), "{body}");
        // Alice's rule expiring in 3 days puts her group first.
        let a = body.find("#### @alice").unwrap();
        let s = body.find("#### @org/secops").unwrap();
        assert!(a < s);
        assert!(body.find("#### No owner").unwrap() > s);
    }

    #[test]
    fn reminders_fit_one_issue() {
        let rules: Vec<Entry> = (0..3000)
            .map(|i| {
                let o = format!("@owner-{}", i % 700);
                entry(&format!("rule-{i:04}"), 1 + (i % 30), &[o.as_str()], "d")
            })
            .collect();
        let body = reminder(&report(rules), 30, 60_000);
        assert!(body.len() <= 60_000, "{}", body.len());
        assert!(
            body.contains("**Cut to fit one issue:"),
            "{}",
            &body[body.len() - 300..]
        );
        let heads = body.matches("\n#### @owner-").count();
        assert!(heads > 50, "{heads}");
    }

    #[test]
    fn text_and_markdown_show_status_and_escape() {
        let mut r = report(vec![entry("x", 10, &["@alice"], "a\u{1b}[2Jb | <b>")]);
        r.live = true;
        r.rules[0].status = Some(Status::Drifted);
        r.errors.push(PlanError {
            account: "a".into(),
            region: "eu-west-1".into(),
            message: "role\ncannot be assumed".into(),
        });
        let t = text(&r);
        assert!(t.contains("STATUS"), "{t}");
        assert!(t.contains("drifted"), "{t}");
        assert!(t.contains("a\\u{1b}[2Jb"), "{t}");
        assert!(
            t.contains("error: a eu-west-1: role\\ncannot be assumed"),
            "{t}"
        );
        let m = markdown(&r);
        assert!(m.contains("| drifted |"), "{m}");
        assert!(m.contains("`@alice`"), "{m}");
        assert!(m.contains("&lt;b&gt;") && m.contains("&#124;"), "{m}");
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(j["rules"][0]["status"], "drifted");
        assert_eq!(j["rules"][0]["days_left"], 10);
        assert_eq!(j["errors"][0]["region"], "eu-west-1");
    }
}
