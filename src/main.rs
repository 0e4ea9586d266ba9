use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match sgops::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0; a bad command line is an error (1): exit 2 means
        // "changes found" to `plan --detailed-exitcode`.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    sgops::logging::init(cli.verbose);
    let code = match sgops::commands::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            sgops::errln!("error: {e}");
            e.exit()
        }
    };
    ExitCode::from(code as u8)
}
