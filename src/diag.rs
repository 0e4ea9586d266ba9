//! Diagnostics about the user's files: where a problem is, how bad it is, and how to show it.
//!
//! Every check in sgops reports through [`Diagnostic`] so that all problems of a run are
//! collected and shown together, each pointing at a file, line and column. No I/O here: the
//! caller hands in the source text and gets strings back.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// How much a diagnostic matters; decides the exit code of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is wrong: sgops cannot use it (exit 1).
    Error,
    /// The file is well-formed but breaks a policy of sgops.yaml (exit 3).
    Guardrail,
    /// Worth knowing, changes nothing (exit 0).
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Guardrail => "error[guardrail]",
            Severity::Warning => "warning",
        }
    }
}

/// A place in a file: 1-based line and column (in characters), and a length for the caret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Pos {
    pub path: String,
    pub line: u32,
    pub col: u32,
    /// Characters to underline; at least one caret is always drawn.
    #[serde(skip)]
    pub len: u32,
}

impl Pos {
    /// A position for a whole file (line 1, column 1), for problems such as a bad path.
    pub fn file(path: impl Into<String>) -> Self {
        Pos {
            path: path.into(),
            line: 1,
            col: 1,
            len: 0,
        }
    }

    /// Build from a parser location: `line` and `col` are 1-based, 0 means unknown.
    pub fn new(path: impl Into<String>, line: u64, col: u64, len: u64) -> Self {
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Pos {
            path: path.into(),
            line: clamp(line.max(1)),
            col: clamp(col.max(1)),
            len: clamp(len),
        }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.col)
    }
}

/// One problem found in the user's files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
    /// Other places that the message refers to (e.g. the first of two duplicates).
    pub related: Vec<(Pos, String)>,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
            related: Vec::new(),
        }
    }

    pub fn guardrail(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Guardrail,
            ..Diagnostic::error(pos, message)
        }
    }

    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(pos, message)
        }
    }

    /// Points at a second place that explains this one.
    pub fn with_related(mut self, pos: Pos, note: impl Into<String>) -> Self {
        self.related.push((pos, note.into()));
        self
    }
}

/// The text of every file read, kept so diagnostics can quote the offending line.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: HashMap<String, Source>,
}

/// One file's text and where each of its lines starts, indexed once when the file is added:
/// a file with many problems must not be rescanned from the top for each of them.
#[derive(Debug, Clone)]
struct Source {
    text: Arc<str>,
    /// Byte offset of the start of each line, as [`str::lines`] counts lines.
    starts: Vec<usize>,
    /// Whether the text is ASCII, where a column (in characters) is also a byte offset.
    ascii: bool,
}

impl Sources {
    pub fn insert(&mut self, path: impl Into<String>, text: Arc<str>) {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&i| i < text.len())
            .collect();
        let ascii = text.is_ascii();
        self.files.insert(
            path.into(),
            Source {
                text,
                starts,
                ascii,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Line `pos.line` (1-based) without its line break, as [`str::lines`] would give it,
    /// and whether it is ASCII.
    fn line(&self, pos: &Pos) -> Option<(&str, bool)> {
        let src = self.files.get(&pos.path)?;
        let i = pos.line.checked_sub(1)? as usize;
        let start = *src.starts.get(i)?;
        let end = src.starts.get(i + 1).copied().unwrap_or(src.text.len());
        let line = &src.text[start..end];
        let line = line.strip_suffix('\n').unwrap_or(line);
        Some((line.strip_suffix('\r').unwrap_or(line), src.ascii))
    }
}

/// Sorts diagnostics by file and position so output is stable whatever order checks ran in:
/// by path, line, column, length, severity, then message.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    // A file can have hundreds of thousands of problems: rank each path once and sort small
    // keys, comparing paths and messages only where everything before them ties.
    // Problems come in runs per file: compare with the last path, not with every path.
    let mut paths: Vec<&str> = Vec::new();
    for d in diags.iter() {
        if paths.last() != Some(&d.pos.path.as_str()) {
            paths.push(&d.pos.path);
        }
    }
    paths.sort_unstable();
    paths.dedup();
    let mut last: Option<(&str, u128)> = None;
    // One number per problem: path rank, line, column, length, severity from the high bits
    // down (30 + 32 + 32 + 32 + 2 bits), and its index to find the message on a tie.
    let mut keys: Vec<(u128, usize)> = Vec::with_capacity(diags.len());
    for (i, d) in diags.iter().enumerate() {
        let p = &d.pos;
        let rank = match last {
            Some((path, rank)) if path == p.path => rank,
            _ => {
                let rank = paths
                    .binary_search(&p.path.as_str())
                    .unwrap_or_else(|at| at);
                let rank = (rank as u128).min((1 << 30) - 1);
                last = Some((&p.path, rank));
                rank
            }
        };
        let severity = d.severity as u128;
        let key = rank << 98
            | u128::from(p.line) << 66
            | u128::from(p.col) << 34
            | u128::from(p.len) << 2
            | severity;
        keys.push((key, i));
    }
    // Stable, so the runs already in order (each rule's problems are pushed in order) are
    // merged rather than sorted again.
    keys.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| diags[a.1].message.cmp(&diags[b.1].message))
            .then(a.1.cmp(&b.1))
    });
    let mut slots: Vec<Option<Diagnostic>> = diags.drain(..).map(Some).collect();
    diags.extend(keys.iter().filter_map(|k| slots[k.1].take()));
}

/// Renders one diagnostic as `path:line:col: severity: message`, the quoted line and a caret.
pub fn render(diag: &Diagnostic, sources: &Sources) -> String {
    let mut out = String::new();
    let head = format!("{}: {}: {}", diag.pos, diag.severity.label(), diag.message);
    let _ = writeln!(out, "{}", crate::escape::terminal(&head));
    quote(&mut out, &diag.pos, sources);
    for (pos, note) in &diag.related {
        let _ = writeln!(
            out,
            "  {}",
            crate::escape::terminal(&format!("{pos}: note: {note}"))
        );
        quote(&mut out, pos, sources);
    }
    out
}

/// Problems shown at most per file: past this many a file is more wrong than right, and the
/// rest would bury the first ones. Counts and exit codes still include every problem.
pub const SHOWN_PER_FILE: usize = 200;

/// Diagnostics grouped by file, in the order given (sorted: one group per file), each group
/// split into the [`SHOWN_PER_FILE`] shown and the rest.
fn per_file(diags: &[Diagnostic]) -> impl Iterator<Item = (&[Diagnostic], &[Diagnostic])> {
    diags
        .chunk_by(|a, b| a.pos.path == b.pos.path)
        .map(|group| group.split_at(group.len().min(SHOWN_PER_FILE)))
}

fn more_problems(n: usize) -> String {
    format!(
        "… and {n} more problem{} in this file, not shown: fix those above and run validate again",
        if n == 1 { "" } else { "s" }
    )
}

/// Renders every diagnostic as [`render`] does, each followed by a blank line, with at most
/// [`SHOWN_PER_FILE`] per file and then one line that counts the rest.
pub fn render_all(diags: &[Diagnostic], sources: &Sources) -> String {
    let mut out = String::new();
    for (shown, more) in per_file(diags) {
        for d in shown {
            out.push_str(&render(d, sources));
            out.push('\n');
        }
        if !more.is_empty() {
            let path = crate::escape::terminal(&shown[0].pos.path);
            let _ = writeln!(out, "{path}: {}\n", more_problems(more.len()));
        }
    }
    out
}

/// [`github_annotation`] for every diagnostic, one per line, at most [`SHOWN_PER_FILE`] per
/// file and then one annotation at the top of the file that counts the rest.
pub fn github_annotations(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (shown, more) in per_file(diags) {
        for d in shown {
            out.push_str(&github_annotation(d));
            out.push('\n');
        }
        if let Some(worst) = more.iter().map(|d| d.severity).min() {
            let rest = Diagnostic {
                severity: worst,
                ..Diagnostic::error(
                    Pos::file(shown[0].pos.path.clone()),
                    more_problems(more.len()),
                )
            };
            out.push_str(&github_annotation(&rest));
            out.push('\n');
        }
    }
    out
}

/// Characters of a source line shown at most; a longer line is shown as a window around the
/// column, so a problem deep in a one-line file is still pointed at.
const QUOTE_CHARS: usize = 200;

fn quote(out: &mut String, pos: &Pos, sources: &Sources) {
    let Some((line, ascii)) = sources.line(pos) else {
        return;
    };
    let col = pos.col.max(1) as usize - 1;
    // The window's first character (`skip`) and byte (`from`), and whether text was cut on
    // either side. Finding it walks at most `col` characters (none in an ASCII file).
    let (skip, from, before, after) = if line.chars().nth(QUOTE_CHARS).is_none() {
        (0, 0, false, false)
    } else {
        let skip = col.saturating_sub(QUOTE_CHARS / 3);
        let from = if ascii {
            skip.min(line.len())
        } else {
            line.char_indices().nth(skip).map_or(line.len(), |(i, _)| i)
        };
        let after = line[from..].chars().nth(QUOTE_CHARS).is_some();
        (skip, from, skip > 0, after)
    };
    // Tabs would shift the caret; show them as one space each, as the column counts them.
    // Other control characters (the parser refuses them, so they get quoted) become one
    // replacement character each, so they cannot drive the terminal or shift the caret.
    let window: Vec<char> = line[from..]
        .chars()
        .take(QUOTE_CHARS)
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    let mut shown = String::new();
    if before {
        shown.push('…');
    }
    shown.extend(&window);
    if after {
        shown.push('…');
    }
    let number = pos.line.to_string();
    let gutter = " ".repeat(number.len());
    // The caret, within the window (a column past a cut line's end points at its end).
    let at = (col - skip.min(col)).min(QUOTE_CHARS);
    let width = (pos.len as usize)
        .min(window.len().saturating_sub(at))
        .max(1);
    let _ = writeln!(out, "  {number} | {shown}");
    let _ = writeln!(
        out,
        "  {gutter} | {}{}",
        " ".repeat(at + usize::from(before)),
        "^".repeat(width)
    );
}

/// A GitHub Actions workflow command that shows the diagnostic inline on the pull request.
/// An annotation has one place, so the related places (the first of two duplicates) are
/// named in its text: the reviewer sees both without opening the log.
pub fn github_annotation(diag: &Diagnostic) -> String {
    let kind = match diag.severity {
        Severity::Error | Severity::Guardrail => "error",
        Severity::Warning => "warning",
    };
    let mut message = diag.message.clone();
    for (pos, note) in &diag.related {
        let _ = write!(message, "; {note}: {pos}");
    }
    format!(
        "::{kind} file={},line={},col={}::{}",
        crate::escape::workflow_property(&diag.pos.path),
        diag.pos.line,
        diag.pos.col,
        crate::escape::workflow_data(&message)
    )
}

/// Counts by severity, for summaries and exit codes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub errors: usize,
    pub guardrails: usize,
    pub warnings: usize,
}

pub fn count(diags: &[Diagnostic]) -> Counts {
    let mut c = Counts::default();
    for d in diags {
        match d.severity {
            Severity::Error => c.errors += 1,
            Severity::Guardrail => c.guardrails += 1,
            Severity::Warning => c.warnings += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        let mut s = Sources::default();
        s.insert("a.yaml", Arc::from("rules:\n  - cidr: 10.0.0.1/24\n"));
        s
    }

    #[test]
    fn renders_location_line_and_caret() {
        let d = Diagnostic::error(Pos::new("a.yaml", 2, 11, 11), "host bits set");
        let out = render(&d, &sources());
        assert_eq!(
            out,
            "a.yaml:2:11: error: host bits set\n  2 |   - cidr: 10.0.0.1/24\n    |           ^^^^^^^^^^^\n"
        );
    }

    #[test]
    fn caret_is_clamped_to_the_line() {
        let d = Diagnostic::error(Pos::new("a.yaml", 2, 11, 500), "x");
        let out = render(&d, &sources());
        assert!(out.ends_with("|           ^^^^^^^^^^^\n"), "{out}");
    }

    #[test]
    fn unknown_file_renders_without_quote() {
        let d = Diagnostic::error(Pos::file("missing.yaml"), "gone");
        assert_eq!(render(&d, &sources()), "missing.yaml:1:1: error: gone\n");
    }

    #[test]
    fn control_characters_cannot_start_a_line_or_drive_the_terminal() {
        let mut s = Sources::default();
        s.insert("e.yaml", Arc::from("id: a\x1b[2Jb\n"));
        let d = Diagnostic::error(
            Pos::new("e.yaml", 1, 5, 1),
            "rule id `a\n::error::x\x1b[2J`",
        )
        .with_related(Pos::new("e\n.yaml", 1, 1, 1), "first\rhere");
        assert_eq!(
            render(&d, &s),
            "e.yaml:1:5: error: rule id `a\\n::error::x\\u{1b}[2J`\n  1 | id: a\u{fffd}[2Jb\n    |     ^\n  e\\n.yaml:1:1: note: first\\rhere\n"
        );
    }

    #[test]
    fn lines_are_found_by_index_as_str_lines_counts_them() {
        let mut s = Sources::default();
        s.insert("c.yaml", Arc::from("a: 1\r\nb: 2\n\nc: 3"));
        let line = |n| {
            s.line(&Pos::new("c.yaml", n, 1, 1))
                .map(|l| l.0.to_string())
        };
        let want: Vec<Option<String>> = "a: 1\r\nb: 2\n\nc: 3"
            .lines()
            .map(|l| Some(l.to_string()))
            .chain([None])
            .collect();
        assert_eq!((1..=5).map(line).collect::<Vec<_>>(), want);
        s.insert("e.yaml", Arc::from(""));
        assert_eq!(s.line(&Pos::new("e.yaml", 1, 1, 1)), None);
    }

    #[test]
    fn a_long_line_is_quoted_as_a_window_around_the_column() {
        let mut s = Sources::default();
        let line = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        s.insert("l.yaml", Arc::from(line.as_str()));
        let out = render(&Diagnostic::error(Pos::new("l.yaml", 1, 1001, 1), "x"), &s);
        let lines: Vec<&str> = out.lines().collect();
        let quoted = lines[1].strip_prefix("  1 | ").expect("quote");
        let caret = lines[2].strip_prefix("    | ").expect("caret");
        assert!(quoted.starts_with('…') && quoted.ends_with('…'), "{quoted}");
        assert_eq!(quoted.chars().count(), 202);
        let at = caret.find('^').expect("caret");
        assert_eq!(quoted.chars().nth(at), Some('X'), "{out}");
        // Near the start nothing is cut before the column.
        let out = render(&Diagnostic::error(Pos::new("l.yaml", 1, 3, 1), "x"), &s);
        assert!(out.contains("\n  1 | aaa"), "{out}");
        assert!(out.contains("\n    |   ^\n"), "{out}");
    }

    #[test]
    fn output_is_capped_per_file_and_counts_the_rest() {
        let many = |path: &'static str, n: usize| {
            (0..n).map(move |i| {
                let sev = if i == n - 1 {
                    Severity::Guardrail
                } else {
                    Severity::Warning
                };
                Diagnostic {
                    severity: sev,
                    ..Diagnostic::error(Pos::new(path, i as u64 + 1, 1, 1), "p")
                }
            })
        };
        let diags: Vec<Diagnostic> = many("a.yaml", SHOWN_PER_FILE + 5)
            .chain(many("b.yaml", 3))
            .collect();
        let out = render_all(&diags, &Sources::default());
        // `path:line:col: …` heads; the count of the rest is `path: …`.
        let heads = |p: &str| {
            out.lines()
                .filter_map(|l| l.strip_prefix(p)?.strip_prefix(':'))
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                .count()
        };
        assert_eq!(heads("a.yaml"), SHOWN_PER_FILE);
        assert_eq!(heads("b.yaml"), 3);
        assert!(out.contains(
            "\na.yaml: … and 5 more problems in this file, not shown: fix those above and run validate again\n\nb.yaml:1:1: "
        ), "{out}");
        let ann = github_annotations(&diags);
        let lines: Vec<&str> = ann.lines().collect();
        assert_eq!(lines.len(), SHOWN_PER_FILE + 1 + 3);
        // The count of the rest is as severe as the worst problem it stands for.
        assert_eq!(
            lines[SHOWN_PER_FILE],
            "::error file=a.yaml,line=1,col=1::… and 5 more problems in this file, not shown: fix those above and run validate again"
        );
        assert!(lines[0].starts_with("::warning file=a.yaml,line=1,"));
    }

    #[test]
    fn annotation_names_the_related_places() {
        let d = Diagnostic::error(Pos::new("b.yaml", 3, 5, 1), "rule id `web` is used twice")
            .with_related(Pos::new("a.yaml", 7, 5, 1), "first used here");
        assert_eq!(
            github_annotation(&d),
            "::error file=b.yaml,line=3,col=5::rule id `web` is used twice; first used here: a.yaml:7:5"
        );
    }

    #[test]
    fn annotation_escapes_newlines_and_separators() {
        let d = Diagnostic::error(Pos::new("a,b:c.yaml", 3, 4, 1), "50%\nbad");
        assert_eq!(
            github_annotation(&d),
            // The newline is shown, not obeyed: the annotation is one line, as in the log.
            "::error file=a%2Cb%3Ac.yaml,line=3,col=4::50%25\\nbad"
        );
    }
}
