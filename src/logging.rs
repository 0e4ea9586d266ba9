//! Logs go to standard error only, so standard output stays machine-readable.

use tracing_subscriber::EnvFilter;

/// `-v` is info, `-vv` debug, `-vvv` trace; `RUST_LOG` wins when set.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "sgops=info",
        2 => "sgops=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
