use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sgops::cli::Cli::parse();
    sgops::logging::init(cli.verbose);
    let code = match sgops::commands::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit()
        }
    };
    ExitCode::from(code as u8)
}
