//! Logs go to standard error only, so standard output stays machine-readable.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Colour only on a terminal, and never with NO_COLOR set: CI logs stay plain text.
pub fn colour(terminal: bool) -> bool {
    colour_with(terminal, std::env::var_os("NO_COLOR"))
}

/// [`colour`] with NO_COLOR given: any non-empty value turns colour off (no-color.org).
fn colour_with(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `-v` is info, `-vv` debug, `-vvv` trace; `RUST_LOG` wins when set.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "sgops=info",
        2 => "sgops=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = colour(std::io::stderr().is_terminal());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::colour_with;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_with(true, None));
        assert!(colour_with(true, Some("".into())));
        assert!(!colour_with(true, Some("1".into())));
        assert!(!colour_with(false, None));
    }
}
