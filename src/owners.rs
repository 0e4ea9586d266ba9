//! CODEOWNERS as GitHub reads it: who owns each rule file.
//!
//! GitHub's rules, which this module follows:
//! - the first of `.github/CODEOWNERS`, `CODEOWNERS`, `docs/CODEOWNERS` that exists is the
//!   file; the others are ignored (as is a file of 3 MB or more);
//! - each line is a gitignore-style pattern (anchored with a leading or inner `/`, unanchored
//!   otherwise; `*`, `**`, `?`; a trailing `/` for a directory and everything under it),
//!   followed by owners: `@user`, `@org/team`, or an email address;
//! - the last matching line wins, and a line with no owners un-owns what it matches;
//! - unlike gitignore, `docs/*` owns the files directly in `docs/`, not those further down;
//!   `!` negation, `[ ]` character ranges and `\#` escapes do not work: GitHub skips such
//!   lines, and so does sgops, with a warning;
//! - a line with invalid syntax (an owner that is no user, team or email) is skipped whole.
//!
//! Problems are warnings with the file and line, never errors: a broken CODEOWNERS must not
//! stop a plan. The matching itself is `ignore`'s gitignore matcher.
//!
//! I/O: [`CodeOwners::load`] reads the file; the rest is pure.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::diag::{Diagnostic, Pos};

/// Where GitHub looks for CODEOWNERS, in order: the first that exists is used.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub ignores a CODEOWNERS file this large or larger.
pub const MAX_SIZE: u64 = 3 * 1024 * 1024;

/// One owner named in CODEOWNERS. Every value passed [`Owner::parse`]: no other text ever
/// becomes an owner, so an owner can be mentioned safely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// `@login`.
    User(String),
    /// `@org/team-slug`.
    Team { org: String, slug: String },
    /// `name@example.com`: GitHub maps it to the user with that verified address; sgops
    /// cannot, so an email is shown but never mentioned nor matched to a reviewer.
    Email(String),
}

impl Owner {
    /// Parses one owner token strictly (GitHub's character sets and lengths).
    pub fn parse(token: &str) -> Result<Owner, String> {
        if let Some(name) = token.strip_prefix('@') {
            if let Some((org, slug)) = name.split_once('/') {
                if is_login(org) && is_team_slug(slug) {
                    return Ok(Owner::Team {
                        org: org.to_string(),
                        slug: slug.to_string(),
                    });
                }
                return Err(format!(
                    "`{}` is not a team (@org/team-name)",
                    crate::escape::terminal(token)
                ));
            }
            if is_login(name) {
                return Ok(Owner::User(name.to_string()));
            }
            return Err(format!(
                "`{}` is not a GitHub user name (@ then 1-39 letters, digits or hyphens)",
                crate::escape::terminal(token)
            ));
        }
        if is_email(token) {
            return Ok(Owner::Email(token.to_string()));
        }
        Err(format!(
            "`{}` is not an owner: owners are @user, @org/team or an email address",
            crate::escape::terminal(token)
        ))
    }

    /// The @mention of this owner, or `None` for an email (which GitHub does not notify
    /// through a mention). Checked again here, so a value that did not come through
    /// [`Owner::parse`] can never turn into a mention of something else.
    pub fn mention(&self) -> Option<String> {
        match self {
            Owner::User(l) if is_login(l) => Some(format!("@{l}")),
            Owner::Team { org, slug } if is_login(org) && is_team_slug(slug) => {
                Some(format!("@{org}/{slug}"))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(l) => write!(f, "@{l}"),
            Owner::Team { org, slug } => write!(f, "@{org}/{slug}"),
            Owner::Email(e) => f.write_str(e),
        }
    }
}

/// A GitHub login: 1-39 ASCII letters, digits and hyphens, not starting or ending with a
/// hyphen.
pub fn is_login(s: &str) -> bool {
    (1..=39).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A team slug: 1-100 ASCII letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit.
fn is_team_slug(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A plain email address: `local@domain.tld` in a conservative character set.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
        && (3..=253).contains(&domain.len())
        && domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// One line of CODEOWNERS that took effect.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number.
    pub line: u32,
    pub pattern: String,
    /// Empty: the line un-owns what it matches.
    pub owners: Vec<Owner>,
}

/// The CODEOWNERS of a repository, ready to answer "who owns this path".
#[derive(Debug, Clone)]
pub struct CodeOwners {
    /// The file used (`.github/CODEOWNERS`…), `None` when there is none.
    pub file: Option<String>,
    entries: Vec<Entry>,
    /// Every pattern: matched against the path itself.
    full: Gitignore,
    /// The patterns that also own what is under a matching directory (all but those ending
    /// in `/*`): matched against each directory above the path.
    dirs: Gitignore,
}

impl Default for CodeOwners {
    fn default() -> Self {
        CodeOwners {
            file: None,
            entries: Vec::new(),
            full: Gitignore::empty(),
            dirs: Gitignore::empty(),
        }
    }
}

/// A CODEOWNERS file found in a repository: its path (relative to the repository) and text.
pub struct Found {
    pub path: String,
    pub text: Arc<str>,
}

impl CodeOwners {
    /// Finds and parses the CODEOWNERS of the repository at `root`. Warnings name the file
    /// as `root`-relative path; `found` is the text, for diagnostics.
    pub fn load(root: &Path) -> (CodeOwners, Vec<Diagnostic>, Option<Found>) {
        for loc in LOCATIONS {
            let p = root.join(loc);
            let meta = match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => m,
                _ => continue,
            };
            if meta.len() >= MAX_SIZE {
                let d = Diagnostic::warning(
                    Pos::file(loc),
                    format!(
                        "{loc} is {} bytes: GitHub ignores a CODEOWNERS file of 3 MB or more, and so does sgops (no rule has an owner)",
                        meta.len()
                    ),
                );
                return (CodeOwners::default(), vec![d], None);
            }
            return match std::fs::read(&p) {
                Ok(bytes) => {
                    let text: Arc<str> = String::from_utf8_lossy(&bytes).into();
                    let (owners, diags) = CodeOwners::parse(loc, &text);
                    (
                        owners,
                        diags,
                        Some(Found {
                            path: loc.to_string(),
                            text,
                        }),
                    )
                }
                Err(e) => (
                    CodeOwners::default(),
                    vec![Diagnostic::warning(
                        Pos::file(loc),
                        format!("cannot read {loc}: {e}; rules are shown without owners"),
                    )],
                    None,
                ),
            };
        }
        (CodeOwners::default(), Vec::new(), None)
    }

    /// Parses CODEOWNERS text; `file` names it in warnings. Never fails: a line that does not
    /// parse is a warning and is skipped, as GitHub skips it.
    pub fn parse(file: &str, text: &str) -> (CodeOwners, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut entries = Vec::new();
        let mut full = GitignoreBuilder::new(".");
        let mut dirs = GitignoreBuilder::new(".");
        for (i, raw) in text.lines().enumerate() {
            let line = (i + 1) as u32;
            let warn = |col: usize, len: usize, m: String| {
                Diagnostic::warning(
                    Pos::new(file, u64::from(line), col as u64 + 1, len as u64),
                    format!("{m}; GitHub skips this line, and so does sgops"),
                )
            };
            let mut tokens = tokens(raw);
            let Some((col, pattern)) = tokens.next() else {
                continue;
            };
            if pattern.starts_with('#') {
                continue;
            }
            if pattern.starts_with('!') {
                diags.push(warn(
                    col,
                    pattern.len(),
                    "`!` (negation) does not work in CODEOWNERS".into(),
                ));
                continue;
            }
            if pattern.starts_with("\\#") || pattern.starts_with("\\!") {
                diags.push(warn(
                    col,
                    pattern.len(),
                    "escaping a leading `#` or `!` with `\\` does not work in CODEOWNERS".into(),
                ));
                continue;
            }
            if pattern.contains(['[', ']']) {
                diags.push(warn(
                    col,
                    pattern.len(),
                    "character ranges (`[ ]`) do not work in CODEOWNERS".into(),
                ));
                continue;
            }
            let mut owners = Vec::new();
            let mut bad = None;
            for (c, t) in tokens.by_ref() {
                if t.starts_with('#') {
                    break; // a comment to the end of the line
                }
                match Owner::parse(t) {
                    Ok(o) => {
                        if !owners.contains(&o) {
                            owners.push(o);
                        }
                    }
                    Err(m) => {
                        bad = Some(warn(c, t.len(), m));
                        break;
                    }
                }
            }
            if let Some(d) = bad {
                diags.push(d);
                continue;
            }
            // The line number rides in the glob's `from`, so a match tells which line it was.
            let from = Some(PathBuf::from(line.to_string()));
            if let Err(e) = full.add_line(from.clone(), pattern) {
                diags.push(warn(
                    col,
                    pattern.len(),
                    format!("pattern does not parse: {e}"),
                ));
                continue;
            }
            if !children_only(pattern) {
                let _ = dirs.add_line(from, pattern);
            }
            entries.push(Entry {
                line,
                pattern: pattern.to_string(),
                owners,
            });
        }
        let build = |b: GitignoreBuilder| b.build().unwrap_or_else(|_| Gitignore::empty());
        (
            CodeOwners {
                file: Some(file.to_string()),
                entries,
                full: build(full),
                dirs: build(dirs),
            },
            diags,
        )
    }

    /// The line that decides the owners of `path` (relative to the repository, `/`-separated):
    /// the last that matches the path itself or, for patterns not ending in `/*`, one of the
    /// directories above it.
    pub fn entry_for(&self, path: &str) -> Option<&Entry> {
        let path = path.trim_start_matches("./");
        let line_of = |m: ignore::Match<&ignore::gitignore::Glob>| -> Option<u32> {
            m.inner()
                .and_then(|g| g.from())
                .and_then(|f| f.to_str())
                .and_then(|s| s.parse().ok())
        };
        let mut best = line_of(self.full.matched(path, false));
        let mut dir = Path::new(path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            best = best.max(line_of(self.dirs.matched(d, true)));
            dir = d.parent();
        }
        let line = best?;
        self.entries.iter().find(|e| e.line == line)
    }

    /// The owners of `path` (empty when no line owns it).
    pub fn owners_of(&self, path: &str) -> &[Owner] {
        self.entry_for(path).map_or(&[], |e| &e.owners)
    }

    /// Whether a CODEOWNERS file was found.
    pub fn exists(&self) -> bool {
        self.file.is_some()
    }
}

/// Whether a pattern owns only the entries directly in a directory: its last segment is `*`
/// (`docs/*`), which on GitHub does not reach into subdirectories.
fn children_only(pattern: &str) -> bool {
    pattern.ends_with("/*")
}

/// Whitespace-separated tokens of a line with their byte column.
fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut rest = line;
    let mut offset = 0;
    std::iter::from_fn(move || {
        let skip = rest.len() - rest.trim_start().len();
        rest = &rest[skip..];
        offset += skip;
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let tok = &rest[..end];
        let at = offset;
        rest = &rest[end..];
        offset += end;
        Some((at, tok))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(co: &CodeOwners, path: &str) -> Vec<String> {
        co.owners_of(path).iter().map(Owner::to_string).collect()
    }

    fn parse(text: &str) -> (CodeOwners, Vec<Diagnostic>) {
        CodeOwners::parse(".github/CODEOWNERS", text)
    }

    #[test]
    fn the_last_matching_line_wins() {
        let (co, d) = parse(
            "# comment\n* @everyone\n*.yaml @yaml-people\nrules/ @org/secops\nrules/itx-016/ @alice bob@example.com\n",
        );
        assert!(d.is_empty(), "{d:#?}");
        assert_eq!(owners(&co, "README.md"), ["@everyone"]);
        assert_eq!(owners(&co, "sgops.yaml"), ["@yaml-people"]);
        assert_eq!(
            owners(&co, "rules/itx-046/us-east-1/a.yaml"),
            ["@org/secops"]
        );
        assert_eq!(
            owners(&co, "rules/itx-016/us-east-1/a.yaml"),
            ["@alice", "bob@example.com"]
        );
        assert_eq!(
            co.entry_for("rules/itx-016/us-east-1/a.yaml")
                .map(|e| e.line),
            Some(5)
        );
    }

    #[test]
    fn a_directory_pattern_wins_over_an_earlier_file_pattern() {
        // gitignore would stop at the first match walking up; GitHub takes the last line.
        let (co, _) = parse("*.yaml @a\nrules/ @b\n");
        assert_eq!(owners(&co, "rules/x/y/z.yaml"), ["@b"]);
        let (co, _) = parse("rules/ @b\n*.yaml @a\n");
        assert_eq!(owners(&co, "rules/x/y/z.yaml"), ["@a"]);
    }

    #[test]
    fn anchoring_and_trailing_slashes() {
        let (co, _) = parse("/rules/ @root-rules\napps/ @apps\n/docs/a.md @docs\n**/logs @logs\n");
        assert_eq!(owners(&co, "rules/a/b/c.yaml"), ["@root-rules"]);
        assert!(
            owners(&co, "sub/rules/a.yaml").is_empty(),
            "anchored at the root"
        );
        assert_eq!(
            owners(&co, "x/y/apps/z.rs"),
            ["@apps"],
            "unanchored: anywhere"
        );
        assert_eq!(owners(&co, "docs/a.md"), ["@docs"]);
        assert!(owners(&co, "x/docs/a.md").is_empty());
        assert_eq!(owners(&co, "deep/logs/x/y.log"), ["@logs"]);
        // `apps/` owns a directory's contents, not a file named apps.
        assert!(owners(&co, "apps").is_empty());
    }

    #[test]
    fn stars_do_not_cross_directories_but_double_stars_do() {
        let (co, _) = parse("docs/* @direct\nrules/**/*.yaml @deep\nrules/*.yml @top\n");
        assert_eq!(owners(&co, "docs/getting-started.md"), ["@direct"]);
        assert!(
            owners(&co, "docs/build-app/troubleshooting.md").is_empty(),
            "docs/* owns only files directly in docs/, as GitHub documents"
        );
        assert_eq!(owners(&co, "rules/a/us-east-1/x.yaml"), ["@deep"]);
        assert_eq!(owners(&co, "rules/x.yml"), ["@top"]);
        assert!(owners(&co, "rules/a/x.yml").is_empty());
    }

    #[test]
    fn a_line_without_owners_unowns() {
        let (co, d) = parse("rules/ @org/secops\nrules/sandbox/\n");
        assert!(d.is_empty(), "{d:#?}");
        assert!(owners(&co, "rules/sandbox/us-east-1/x.yaml").is_empty());
        assert_eq!(
            co.entry_for("rules/sandbox/us-east-1/x.yaml")
                .map(|e| e.line),
            Some(2)
        );
        assert_eq!(owners(&co, "rules/prod/us-east-1/x.yaml"), ["@org/secops"]);
    }

    #[test]
    fn github_only_syntax_differences_are_warnings_and_skipped() {
        let text = "rules/ @a\n!rules/x/ @b\nrules/[ab]/ @c\n\\#rules/ @d\nrules/ @ok # trailing comment @not-an-owner\nrules/y/ @bad!name @e\nrules/z/ not-an-owner\n  \n\t# indented comment\nrules/w/ @org/team-1 @org/\n";
        let (co, d) = parse(text);
        let got: Vec<(u32, u32, &str)> = d
            .iter()
            .map(|d| (d.pos.line, d.pos.col, d.message.as_str()))
            .collect();
        assert_eq!(got.len(), 6, "{got:#?}");
        assert_eq!(got[0].0, 2);
        assert!(got[0].2.contains("negation"), "{}", got[0].2);
        assert_eq!(got[1].0, 3);
        assert!(got[1].2.contains("character ranges"));
        assert_eq!(got[2].0, 4);
        assert!(got[2].2.contains("escaping"));
        assert_eq!((got[3].0, got[3].1), (6, 10));
        assert!(
            got[3].2.contains("`@bad!name` is not a GitHub user name"),
            "{}",
            got[3].2
        );
        assert_eq!((got[4].0, got[4].1), (7, 10));
        assert!(got[4].2.contains("is not an owner"));
        assert_eq!(got[5].0, 10);
        assert!(got[5].2.contains("GitHub skips this line"));
        // Skipped lines take no effect: line 5 decides everything under rules/.
        assert_eq!(owners(&co, "rules/x/a.yaml"), ["@ok"]);
        assert_eq!(owners(&co, "rules/y/a.yaml"), ["@ok"]);
        assert_eq!(owners(&co, "rules/w/a.yaml"), ["@ok"]);
    }

    #[test]
    fn owners_are_parsed_strictly() {
        for ok in [
            "@octocat",
            "@a",
            "@my-org/team_x.y",
            "jane.doe+sg@example.co.uk",
        ] {
            assert!(Owner::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "@",
            "@-x",
            "@x-",
            "@a/b/c",
            "@org/",
            "@<img>",
            "@a\u{202e}b",
            "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "x@y",
            "a@b..c",
            "[x](http://e.example)",
            "@x`y",
        ] {
            assert!(Owner::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Owner::parse("@octocat").unwrap().mention().as_deref(),
            Some("@octocat")
        );
        assert_eq!(Owner::parse("a@b.example").unwrap().mention(), None);
        // A value that bypassed parse is never mentioned.
        assert_eq!(Owner::User("x y".into()).mention(), None);
    }

    #[test]
    fn paths_are_case_sensitive_and_crlf_is_fine() {
        let (co, d) = parse("rules/ @a\r\nRULES/ @b\r\n");
        assert!(d.is_empty(), "{d:#?}");
        assert_eq!(owners(&co, "rules/x/y.yaml"), ["@a"]);
        assert_eq!(owners(&co, "RULES/x/y.yaml"), ["@b"]);
    }

    #[test]
    fn the_first_location_found_is_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (co, d, f) = CodeOwners::load(dir.path());
        assert!(!co.exists() && d.is_empty() && f.is_none());
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/CODEOWNERS"), "* @docs\n").unwrap();
        std::fs::write(dir.path().join("CODEOWNERS"), "* @root\n").unwrap();
        let (co, _, _) = CodeOwners::load(dir.path());
        assert_eq!(co.file.as_deref(), Some("CODEOWNERS"));
        assert_eq!(owners(&co, "x"), ["@root"]);
        std::fs::create_dir_all(dir.path().join(".github")).unwrap();
        std::fs::write(dir.path().join(".github/CODEOWNERS"), "* @github\n").unwrap();
        let (co, _, f) = CodeOwners::load(dir.path());
        assert_eq!(co.file.as_deref(), Some(".github/CODEOWNERS"));
        assert_eq!(f.map(|f| f.path).as_deref(), Some(".github/CODEOWNERS"));
        assert_eq!(owners(&co, "x"), ["@github"]);
    }
}
