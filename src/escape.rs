//! Escaping of untrusted text (from rule files, saved plans or AWS) for each output that
//! sgops writes: one function per output (terminal, Markdown, workflow commands), called by
//! every renderer of it (SPEC section 13). Pure functions, no I/O.

/// For terminals and CI logs: every control character is shown escaped (`\n`, `\u{1b}`), so
/// text cannot start a new line (a GitHub workflow command such as `::error::` or
/// `::add-mask::`), rewrite a reviewer's terminal with escape sequences, or hide what
/// follows behind a carriage return.
pub fn terminal(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters, and the Unicode line and paragraph separators and bidirectional
/// overrides that reorder or break what a terminal shows.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The first character of `s` that no text field of sgops may hold (see [`terminal`]), for
/// the validation of rule files and sgops.yaml. AWS refuses control characters in names,
/// descriptions and tags as well.
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| is_unsafe(c))
}

/// The message of a GitHub Actions workflow command (`::error file=…::MESSAGE`): shown as for
/// [`terminal`], then `%`, CR and LF encoded as the runner expects, so the message can neither
/// end the command early nor start another.
pub fn workflow_data(s: &str) -> String {
    terminal(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property of a workflow command (`file=…`): [`workflow_data`], and `:` and `,`, which
/// end a property, encoded too.
pub fn workflow_property(s: &str) -> String {
    workflow_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A zero-width space: invisible, yet it splits what GitHub would otherwise recognise.
const ZWSP: char = '\u{200b}';

/// Escapes text for Markdown as GitHub renders it (GFM, then its own reference filters), on
/// one line: no HTML, no table cell breaks, no @mentions, no `#123` references, no links
/// (GFM autolinks included: `www.`, `scheme://`, `mailto:`, `xmpp:`), no code spans,
/// emphasis or headings.
///
/// Zero-width spaces go only where a link, mention or reference would start (`www\u{200b}.`,
/// `https:\u{200b}//`, `mailto:\u{200b}`, `@\u{200b}`, `#\u{200b}`), so CIDRs and ids, which
/// people copy, stay as they are unless they themselves read as a link.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, ch) in s.char_indices() {
        let before = &s[..i];
        let after = &s[i + ch.len_utf8()..];
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("&#124;"),
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            '#' => {
                out.push_str("\\#");
                out.push(ZWSP);
            }
            '`' | '*' | '_' | '[' | ']' | '\\' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c if is_unsafe(c) => out.extend(c.escape_debug()),
            '.' if ends_with_word(before, "www") => {
                out.push(ZWSP);
                out.push('.');
            }
            ':' if after.starts_with("//")
                || ends_with_word(before, "mailto")
                || ends_with_word(before, "xmpp") =>
            {
                out.push(':');
                out.push(ZWSP);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `s` ends with `word`, ignoring ASCII case.
fn ends_with_word(s: &str, word: &str) -> bool {
    s.len() >= word.len()
        && s.is_char_boundary(s.len() - word.len())
        && s[s.len() - word.len()..].eq_ignore_ascii_case(word)
}

/// Escapes text shown inside a fenced code block (opened with three backticks), where
/// Markdown is not interpreted: it only must not close the block.
pub fn in_fence(s: &str) -> String {
    s.replace("```", "`\u{200b}``")
}

/// Text as an inline code span in Markdown (a table cell included): GitHub makes no
/// mention, link or HTML inside one. Backticks cannot close it (they become `'`), line breaks
/// become spaces, control characters are shown escaped, and `|`, which ends a table cell even
/// inside a code span, is escaped as GFM asks.
pub fn code_span(s: &str) -> String {
    let inner: String = terminal(&s.replace(['\n', '\r'], " "))
        .replace('`', "'")
        .replace('|', "\\|");
    format!("`{inner}`")
}

/// A cell of a CSV file meant for spreadsheets: control characters shown escaped (as for
/// [`terminal`]), and a leading `'` on a value that starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return, which a spreadsheet would run as a formula (CSV injection). Numbers
/// such as `-3` are left alone: they are no formula. Quoting is the CSV writer's.
pub fn csv_cell(s: &str) -> String {
    let starts_formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = s.parse::<i64>().is_ok();
    let shown = terminal(s);
    if starts_formula && !number {
        format!("'{shown}")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(terminal("plain text"), "plain text");
        assert_eq!(
            terminal("x\n::error file=sgops.yaml,line=1::ok"),
            "x\\n::error file=sgops.yaml,line=1::ok"
        );
        assert_eq!(terminal("a\u{1b}[2Jb\rc\td"), "a\\u{1b}[2Jb\\rc\\td");
        assert_eq!(terminal("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert!(!terminal("\u{85}\u{2028}").chars().any(is_unsafe));
        assert_eq!(forbidden_char("ok"), None);
        assert_eq!(forbidden_char("a\u{7}b"), Some('\u{7}'));
    }

    #[test]
    fn workflow_commands_cannot_be_ended_or_started_by_their_text() {
        assert_eq!(
            workflow_data("50% done\n::add-mask::x\u{1b}"),
            "50%25 done\\n::add-mask::x\\u{1b}"
        );
        assert_eq!(workflow_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn markup_is_shown_as_text() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(markdown("a|b"), "a&#124;b");
        assert_eq!(
            markdown("**x** [l](u) `c` ~s~ \\"),
            "\\*\\*x\\*\\* \\[l\\](u) \\`c\\` \\~s\\~ \\\\"
        );
        assert_eq!(markdown("l1\nl2\r"), "l1 l2 ");
        assert_eq!(markdown("a\u{1b}[2Jb\u{7}"), "a\\u{1b}\\[2Jb\\u{7}");
        assert_eq!(markdown("&lt;"), "&amp;lt;");
    }

    #[test]
    fn mentions_references_and_autolinks_are_broken() {
        assert_eq!(markdown("cc @octocat"), "cc @\u{200b}octocat");
        assert_eq!(markdown("fixes #12"), "fixes \\#\u{200b}12");
        assert_eq!(
            markdown("see www.evil.example"),
            "see www\u{200b}.evil.example"
        );
        assert_eq!(markdown("WwW.evil.example"), "WwW\u{200b}.evil.example");
        for scheme in ["https", "http", "ftp", "HTTPS", "javascript"] {
            assert_eq!(
                markdown(&format!("{scheme}://evil.example/x")),
                format!("{scheme}:\u{200b}//evil.example/x")
            );
        }
        assert_eq!(
            markdown("mailto:a@b.example"),
            "mailto:\u{200b}a@\u{200b}b.example"
        );
        assert_eq!(
            markdown("XMPP:a@b.example/r"),
            "XMPP:\u{200b}a@\u{200b}b.example/r"
        );
    }

    #[test]
    fn ids_and_cidrs_are_left_as_they_are() {
        for plain in [
            "203.0.113.0/24",
            "2001:db8::/32",
            "fe80::1/128",
            "::/0",
            "sg-0a1b2c3d4e5f67890",
            "sgr-0123456789abcdef0",
            "pl-0123456789abcdef0",
            "partner-callbacks.https",
            "us-east-1",
            "111111111111",
            "ticket: CHG-12345",
        ] {
            assert_eq!(markdown(plain), plain);
        }
    }

    #[test]
    fn code_spans_hold_anything() {
        assert_eq!(code_span("@octocat"), "`@octocat`");
        assert_eq!(code_span("a`b|c\nd"), "`a'b\\|c d`");
        assert_eq!(code_span("x\u{1b}"), "`x\\u{1b}`");
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        for (raw, cell) in [
            ("=SUM(1,2)", "'=SUM(1,2)"),
            ("+1", "+1"),
            ("+cmd", "'+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\\tx"),
            ("\r=1", "'\\r=1"),
            ("-3", "-3"),
            ("ok=1", "ok=1"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(raw), cell, "{raw:?}");
        }
    }

    #[test]
    fn a_fence_cannot_be_closed_from_inside() {
        assert_eq!(in_fence("a\n```\nb"), "a\n`\u{200b}``\nb");
        assert_eq!(in_fence("<b>@x www.y #1"), "<b>@x www.y #1");
    }
}
