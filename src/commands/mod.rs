//! One function per subcommand: turns parsed flags into work and output.

mod accounts;
mod approvals;
mod comment;
mod import;
mod invoke;
mod plan;
mod remind;
mod report;
mod serve;
mod validate;

use std::io::Write;

use clap::CommandFactory;
use jiff::civil::Date;

use crate::cli::{Cli, Command};
use crate::error::{Error, Exit};

/// Runs the parsed command line; the `Ok` value is the exit code on success paths.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    let today = today()?;
    match cli.command {
        Command::Validate(args) => validate::run(&cli.config, &cli.rules, today, &args.policy),
        Command::Plan(args) => plan::plan(&cli.config, &cli.rules, today, &args),
        Command::Apply(args) => plan::apply(&cli.config, &cli.rules, today, &args),
        Command::Comment(args) => comment::run(&args),
        Command::Invoke(args) => invoke::run(&cli.config, &args),
        Command::Serve(args) => serve::run(&cli.config, &args),
        Command::Import(args) => import::run(&cli.config, today, &args),
        Command::Accounts(args) => accounts::run(&cli.config, &cli.rules, &args),
        Command::Report(args) => report::run(&cli.config, &cli.rules, today, &args),
        Command::Remind(args) => remind::run(&cli.config, &cli.rules, today, &args),
        Command::Schema => {
            let text = serde_json::to_string_pretty(&crate::schema::rule_file_schema())
                .map_err(|e| Error::Usage(format!("cannot render schema: {e}")))?;
            print_stdout(&format!("{text}\n"))?;
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "sgops", &mut out);
            print_stdout(&String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
    }
}

/// Loads the repository, under the policy of `--policy-from` when given.
fn load_repo(
    config: &std::path::Path,
    rules: &std::path::Path,
    today: Date,
    policy: &crate::cli::PolicyArgs,
) -> Result<crate::repo::Repo, Error> {
    let base = match &policy.policy_from {
        None => None,
        Some(reference) => {
            let text = crate::policy::read_at(reference, config)?;
            if text.is_none() {
                crate::errln!(
                    "warning: {} does not exist at {reference} (--policy-from): the built-in default policy applies",
                    config.display()
                );
            }
            Some(crate::policy::base_config(
                text.as_deref(),
                config,
                reference,
            )?)
        }
    };
    let repo = crate::repo::Repo::load_under(config, rules, today, base.as_ref());
    for c in &repo.policy_changes {
        crate::errln!(
            "policy: this sgops.yaml changes {} from `{}` to `{}`; the plan keeps the base's until merge",
            c.key,
            crate::escape::terminal(&c.base),
            crate::escape::terminal(&c.proposed)
        );
    }
    Ok(repo)
}

/// Reads a JSON plan saved by `sgops plan --out`.
fn read_plan(path: &std::path::Path) -> Result<crate::plan::Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{} is not a JSON plan from `sgops plan --out`: {e}",
            path.display()
        ))
    })
}

/// The async runtime for commands that call AWS or GitHub.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

/// `--stats`: API calls by operation (attempts with retries), on standard error.
fn print_stats(aws: &crate::aws::Aws) {
    crate::errp!("{}", aws.calls.snapshot().render());
}

/// Loads sgops.yaml alone (commands that act on one account need no rule files).
fn load_config(path: &std::path::Path) -> Result<crate::config::Config, Error> {
    let mut sources = crate::diag::Sources::default();
    crate::config::load(path, &mut sources).map_err(|d| {
        for x in &d {
            crate::errln!("{}", crate::diag::render(x, &sources));
        }
        let c = crate::diag::count(&d);
        Error::Invalid {
            errors: c.errors,
            guardrails: c.guardrails,
        }
    })
}

/// The account named on the command line (name or id) and a checked region.
fn account_in<'a>(
    cfg: &'a crate::config::Config,
    account: &str,
    region: &str,
) -> Result<(&'a str, &'a crate::config::Account), Error> {
    crate::invoke::target(cfg, account, region).map_err(|r| match r {
        crate::invoke::Refusal::UnknownAccount { account } => Error::Usage(format!(
            "unknown account `{account}`: use a name from sgops.yaml ({}) or its 12-digit id",
            cfg.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
        other => Error::Usage(other.to_string()),
    })
}

/// Today's date in UTC; `SGOPS_TODAY=YYYY-MM-DD` pins it (reproducible plans and tests).
fn today() -> Result<Date, Error> {
    match std::env::var("SGOPS_TODAY") {
        Ok(s) if !s.is_empty() => s
            .parse()
            .map_err(|_| Error::Usage(format!("SGOPS_TODAY={s} is not a date like 2026-11-27"))),
        _ => Ok(jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()),
    }
}

/// Writes the command's result; a closed pipe (`| head`) is not an error worth a panic.
pub(crate) fn print_stdout(s: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "standard output".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::aws::Access;

    /// The commands that reach into the accounts, and the role each assumes there: only
    /// those that change security-group rules get the write role.
    #[test]
    fn only_commands_that_write_assume_the_write_role() {
        assert_eq!(super::import::ACCESS, Access::Read);
        assert_eq!(super::invoke::ACCESS, Access::Write);
        assert_eq!(crate::serve::ACCESS, Access::Write);
        // plan and apply: their scopes, tested in plan.rs.
    }
}
