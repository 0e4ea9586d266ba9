//! Escaping of untrusted text (from rule files, sgops.yaml or AWS) for each place it is
//! written. Every renderer calls the function for its output; none escapes on its own.
//!
//! Pure functions, no I/O.

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
}
