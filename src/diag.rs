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
    files: HashMap<String, Arc<str>>,
}

impl Sources {
    pub fn insert(&mut self, path: impl Into<String>, text: Arc<str>) {
        self.files.insert(path.into(), text);
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn line(&self, pos: &Pos) -> Option<&str> {
        let text = self.files.get(&pos.path)?;
        text.lines().nth(pos.line.checked_sub(1)? as usize)
    }
}

/// Sorts diagnostics by file and position so output is stable whatever order checks ran in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| (&a.pos, a.severity, &a.message).cmp(&(&b.pos, b.severity, &b.message)));
}

/// Renders one diagnostic as `path:line:col: severity: message`, the quoted line and a caret.
pub fn render(diag: &Diagnostic, sources: &Sources) -> String {
    let mut out = String::new();
    let head = format!("{}: {}: {}", diag.pos, diag.severity.label(), diag.message);
    let _ = writeln!(out, "{}", escape_controls(&head));
    quote(&mut out, &diag.pos, sources);
    for (pos, note) in &diag.related {
        let _ = writeln!(
            out,
            "  {}",
            escape_controls(&format!("{pos}: note: {note}"))
        );
        quote(&mut out, pos, sources);
    }
    out
}

/// Messages quote values from the user's files and paths; a newline or escape sequence in one
/// must not start a new line (a GitHub workflow command such as `::error::` on standard error)
/// or drive the terminal. Control characters are shown escaped (`\n`, `\u{1b}`).
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn quote(out: &mut String, pos: &Pos, sources: &Sources) {
    let Some(line) = sources.line(pos) else {
        return;
    };
    // Tabs would shift the caret; show them as one space each, as the column counts them.
    // Other control characters (the parser refuses them, so they get quoted) become one
    // replacement character each, so they cannot drive the terminal or shift the caret.
    let shown: String = line
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    let shown = truncate_chars(&shown, 200);
    let number = pos.line.to_string();
    let gutter = " ".repeat(number.len());
    let line_chars = line.chars().count() as u32;
    let col = pos.col.max(1);
    let width = pos
        .len
        .min(line_chars.saturating_sub(col - 1))
        .clamp(1, 200);
    let _ = writeln!(out, "  {number} | {shown}");
    let _ = writeln!(
        out,
        "  {gutter} | {}{}",
        " ".repeat((col - 1).min(200) as usize),
        "^".repeat(width as usize)
    );
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A GitHub Actions workflow command that shows the diagnostic inline on the pull request.
pub fn github_annotation(diag: &Diagnostic) -> String {
    let kind = match diag.severity {
        Severity::Error | Severity::Guardrail => "error",
        Severity::Warning => "warning",
    };
    format!(
        "::{kind} file={},line={},col={}::{}",
        escape_property(&diag.pos.path),
        diag.pos.line,
        diag.pos.col,
        escape_data(&diag.message)
    )
}

/// Escapes per the workflow-command rules so a message cannot end the command early.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
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
    fn annotation_escapes_newlines_and_separators() {
        let d = Diagnostic::error(Pos::new("a,b:c.yaml", 3, 4, 1), "50%\nbad");
        assert_eq!(
            github_annotation(&d),
            "::error file=a%2Cb%3Ac.yaml,line=3,col=4::50%25%0Abad"
        );
    }
}
