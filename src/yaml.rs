//! Reading user YAML safely: size and encoding limits, a parser budget against alias bombs and
//! deep nesting, and parser errors turned into [`Diagnostic`]s with file, line and column.
//!
//! The only I/O is reading the one file asked for (never through a link it may not follow).

use std::borrow::Cow;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, Options, Spanned};

use crate::diag::{Diagnostic, Pos};

/// Files larger than this are refused unread: no rule file needs a mebibyte.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Parser limits. Rule files are small and flat, so these are far below the crate defaults.
fn options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_events: 2_000_000,
            max_nodes: 500_000,
            max_total_scalar_bytes: 4 * 1024 * 1024,
        },
        // A rule's values are read without a type in mind (see `rules::raw`), so an alias
        // is expanded where it is used: this bounds the expansion, not only the alias count.
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
        },
        with_snippet: false,
        strict_booleans: true,
        // `.inf` and `.nan` reach sgops as text (and are refused where a number is wanted)
        // instead of ending the parse of the whole file.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
    }
}

/// Which symbolic links [`read_source`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// None: rule files come from the pull request, and a link could point the parser (and
    /// the quoted lines of its error messages) at `/proc/self/environ` or `/dev/zero`.
    Refuse,
    /// A link to a regular file in the link's own folder or below it, so `sgops.yaml` can
    /// point at one of several configurations kept beside it, and at nothing outside.
    WithinFolder,
}

/// What a path is when it is not a regular file or folder, for messages.
pub fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Reads a file as UTF-8 text, refusing links (per `links`), anything but a regular file, and
/// huge, binary or non-UTF-8 files, each with a diagnostic. At most [`MAX_FILE_BYTES`] + 1
/// bytes are read whatever the file's metadata says, so `/proc` files and devices cannot
/// make it read forever.
pub fn read_source(path: &Path, display: &str, links: Links) -> Result<Arc<str>, Diagnostic> {
    let fail = |m: String| Diagnostic::error(Pos::file(display), m);
    let cannot = |e: std::io::Error| fail(format!("cannot read file: {e}"));
    let meta = std::fs::symlink_metadata(path).map_err(cannot)?;
    let target = if !meta.file_type().is_symlink() {
        path.to_path_buf()
    } else if links == Links::Refuse {
        return Err(fail(
            "is a symbolic link: rule files must be regular files in the repository; put the file itself here".into(),
        ));
    } else {
        let real = std::fs::canonicalize(path)
            .map_err(|e| fail(format!("cannot follow symbolic link: {e}")))?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let folder = std::fs::canonicalize(folder).map_err(cannot)?;
        if !real.starts_with(&folder) {
            return Err(fail(
                "is a symbolic link to a file outside its folder: link only to a file in the same folder or below it, or put the file itself here".into(),
            ));
        }
        real
    };
    let kind = std::fs::metadata(&target).map_err(cannot)?.file_type();
    if !kind.is_file() {
        return Err(fail(format!(
            "is {}, not a regular file: sgops reads only regular files; put the file itself here",
            kind_of(kind)
        )));
    }
    let file = std::fs::File::open(&target).map_err(cannot)?;
    // What was opened is checked again: the path may have changed since it was looked at.
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(fail(format!(
            "is {}, not a regular file: sgops reads only regular files; put the file itself here",
            kind_of(meta.file_type())
        )));
    }
    let too_big = |len: Option<u64>| {
        fail(format!(
            "file is {}over the limit of {MAX_FILE_BYTES} bytes (1 MiB): split it into several files",
            len.map_or(String::new(), |n| format!("{n} bytes, "))
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(Some(meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(None));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let ok = &e.as_bytes()[..at];
        let line = ok.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let col = String::from_utf8_lossy(
            &ok[ok.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..],
        )
        .chars()
        .count() as u64
            + 1;
        Diagnostic::error(
            Pos::new(display, line, col, 1),
            format!("file is not valid UTF-8 (bad byte at offset {at}): save it as UTF-8"),
        )
    })?;
    Ok(Arc::from(text))
}

/// Parses one YAML document into `T`. An empty document is reported as such, not as a type error.
pub fn parse<T: DeserializeOwned>(display: &str, text: &str) -> Result<T, Diagnostic> {
    refuse_empty(display, text)?;
    serde_saphyr::from_str_with_options::<T>(text, options())
        .map_err(|e| parser_error(display, text, &e))
}

/// Parses a rule file into its typeless tree (see `rules::raw`), as [`parse`] does.
pub fn parse_rule_file(display: &str, text: &str) -> Result<sgops_yaml_tree::RawFile, Diagnostic> {
    refuse_empty(display, text)?;
    sgops_yaml_tree::parse_rule_file(text, options()).map_err(|e| parser_error(display, text, &e))
}

fn refuse_empty(display: &str, text: &str) -> Result<(), Diagnostic> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(Diagnostic::error(
            Pos::file(display),
            "file is empty: a rule file needs `security_group` and `rules`",
        ));
    }
    Ok(())
}

/// A parser error as a diagnostic at its place, in the words of [`Messages`].
fn parser_error(display: &str, text: &str, e: &serde_saphyr::Error) -> Diagnostic {
    {
        let e = e.without_snippet();
        let pos = e
            .location()
            .map(|l| loc_pos(display, &l))
            .unwrap_or_else(|| Pos::file(display));
        // The message of the error itself, without the wrappers that add alias places.
        let mut inner = e;
        while let serde_saphyr::Error::AliasError { error, .. }
        | serde_saphyr::Error::WithSnippet { error, .. } = inner
        {
            inner = error;
        }
        let message = clean_message(&serde_saphyr::MessageFormatter::format_message(
            &Messages, inner,
        ));
        if is_tab_error(&message)
            && let Some((line, col)) = first_tab_indent(text, pos.line)
        {
            return Diagnostic::error(
                Pos::new(display, line, col, 1),
                "tab in indentation: YAML indents with spaces only",
            );
        }
        Diagnostic::error(pos, message)
    }
}

/// Parser messages in the words of a rule-file author: the crate's user-facing texts, except
/// where they name parser internals (budget fields, events, API options).
struct Messages;

impl serde_saphyr::MessageFormatter for Messages {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> Cow<'a, str> {
        use serde_saphyr::Error as E;
        use serde_saphyr::budget::BudgetBreach as B;
        match err {
            E::Budget { breach, .. } => Cow::Owned(match breach {
                B::Aliases { .. } => {
                    "too many aliases (`*name`, at most 1000): write the values out".into()
                }
                B::Anchors { .. } => {
                    "too many anchors (`&name`, at most 1000): write the values out".into()
                }
                B::Depth { .. } => {
                    "nested too deeply (at most 32 levels): rule files are flat".into()
                }
                other => {
                    format!("file too large or too complex for a rule file ({other:?}): split it")
                }
            }),
            E::AliasReplayLimitExceeded { .. }
            | E::AliasReplayCounterOverflow { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayStackDepthExceeded { .. } => Cow::Borrowed(
                "aliases (`*name`) repeat too much: they expand to over 100000 values in all; write the values out",
            ),
            E::MultipleDocuments { .. } => Cow::Borrowed(
                "more than one YAML document (`---`): put each document in a file of its own",
            ),
            E::DuplicateMappingKey { key: Some(k), .. } => Cow::Owned(format!(
                "duplicate key `{k}`: a key may appear only once in a mapping"
            )),
            E::Unexpected {
                expected: "mapping start",
                ..
            } => Cow::Borrowed("expected a mapping (`key: value` lines or `{ key: value }`) here"),
            E::Unexpected {
                expected: "sequence start",
                ..
            } => Cow::Borrowed("expected a list (`- item` lines or `[a, b]`) here"),
            _ => match serde_saphyr::UserMessageFormatter.format_message(err) {
                m if m == "recursion limit exceeded" => {
                    Cow::Borrowed("nested too deeply: rule files are flat")
                }
                m => m,
            },
        }
    }
}

/// Whether a parser message is about a tab where YAML wants spaces.
fn is_tab_error(message: &str) -> bool {
    [
        "found a tab",
        "tabs disallowed",
        "tab cannot be used",
        "start with a tab",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The first line at or after `from` (1-based) whose indentation holds a tab, and the tab's
/// column. The parser reports tabs where its scan started, often the line before.
fn first_tab_indent(text: &str, from: u32) -> Option<(u64, u64)> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent]
                .find('\t')
                .map(|col| (i as u64 + 1, col as u64 + 1))
        })
}

/// The parser's message without the location it prints itself (we print our own).
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first.trim_end_matches(':').to_string()
}

/// The position of a parser location in `path`.
pub fn loc_pos(path: &str, loc: &Location) -> Pos {
    Pos::new(path, loc.line(), loc.column(), loc.span().len())
}

/// The position of a spanned value in `path` (where it is used, not where an anchor defined it).
pub fn pos<T>(path: &str, v: &Spanned<T>) -> Pos {
    loc_pos(path, &v.referenced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: Spanned<String>,
    }

    #[test]
    fn spans_are_one_based() {
        let d: Doc = parse("f.yaml", "# c\nname: hello\n").expect("parses");
        let p = pos("f.yaml", &d.name);
        assert_eq!((p.line, p.col, p.len), (2, 7, 5));
    }

    #[test]
    fn unknown_key_names_line() {
        let e = parse::<Doc>("f.yaml", "name: a\nnmae: b\n").expect_err("unknown key");
        assert_eq!(e.pos.line, 2, "{e:?}");
        assert!(e.message.contains("nmae"), "{}", e.message);
    }

    #[test]
    fn empty_file_is_named() {
        let e = parse::<Doc>("f.yaml", "  \n# only a comment\n").expect_err("empty");
        assert!(e.message.contains("empty"));
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            s.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        s.push_str("name: x\n");
        let start = std::time::Instant::now();
        let e = parse::<Doc>("f.yaml", &s).expect_err("bomb");
        assert!(start.elapsed().as_secs() < 5);
        assert!(!e.message.is_empty());
    }

    type Rules =
        std::collections::BTreeMap<String, Vec<std::collections::BTreeMap<String, String>>>;

    #[test]
    fn tab_indentation_points_at_the_tab() {
        // The parser reports this at the end of line 2, where its scan of `web` began.
        let e = parse::<Rules>("f.yaml", "rules:\n  - id: web\n\tdirection: ingress\n")
            .expect_err("tab");
        assert_eq!((e.pos.line, e.pos.col), (3, 1), "{e:?}");
        assert_eq!(
            e.message,
            "tab in indentation: YAML indents with spaces only"
        );
        let e = parse::<Rules>("f.yaml", "rules:\n  - id: web\n   \t direction: x\n")
            .expect_err("tab after spaces");
        assert_eq!((e.pos.line, e.pos.col), (3, 4), "{e:?}");
    }

    #[test]
    fn parser_messages_name_no_parser_internals() {
        let msg = |text: &str| parse::<Rules>("f.yaml", text).expect_err(text).message;
        assert_eq!(
            msg("rules: []\n---\nrules: []\n"),
            "more than one YAML document (`---`): put each document in a file of its own"
        );
        assert_eq!(
            msg("rules:\n  - id: a\n    id: b\n"),
            "duplicate key `id`: a key may appear only once in a mapping"
        );
        assert_eq!(
            msg("rules:\n  id: a\n"),
            "expected a list (`- item` lines or `[a, b]`) here"
        );
        assert_eq!(
            msg("rules: [[x]]\n"),
            "expected a mapping (`key: value` lines or `{ key: value }`) here"
        );
        let many = format!("rules:\n  - &r {{id: a}}\n{}", "  - *r\n".repeat(1001));
        assert_eq!(
            msg(&many),
            "too many aliases (`*name`, at most 1000): write the values out"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!("name: {}{}\n", "[".repeat(5000), "]".repeat(5000));
        let e = parse::<Doc>("f.yaml", &s).expect_err("deep");
        assert!(!e.message.is_empty());
    }
}
