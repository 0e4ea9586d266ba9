//! The command line: flags as clap parses them. `commands` turns them into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  sgops validate                              check every rule file offline
  sgops plan                                  show what would change in every account
  sgops plan --account itx-016 --format json --out plan.json
  sgops apply --plan plan.json                apply, only if live state is still as planned
  sgops comment --pr 42 --plan plan.json      post the plan as one sticky PR comment
  sgops report --expiring-within 30 --format csv > expiring.csv
  sgops report --live --account itx-016       status of each rule in AWS
  sgops remind                                keep the sgops-expiring issue up to date
  sgops import itx-016 us-east-1 sg-0a1b2c3d4e5f67890 --out rules/itx-016/us-east-1/web.yaml
  sgops import --all --out-dir rules           a rule file per group holding exceptions
  sgops accounts --write                      bring `accounts` in step with AWS Organizations
  sgops completions bash > /etc/bash_completion.d/sgops

Exit codes: 0 success or no changes, 1 error, 2 changes (plan --detailed-exitcode),
3 refused by policy (denied action, invalid service, guardrail, stale plan, too many changes).";

/// Governs exceptions to baseline AWS security groups from git: validate, plan, apply.
#[derive(Debug, Parser)]
#[command(name = "sgops", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "SGOPS_CONFIG",
        default_value = "sgops.yaml",
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// Directory of rule files (<account>/<region>/<name>.yaml).
    #[arg(long, global = true, default_value = "rules", value_name = "DIR")]
    pub rules: PathBuf,

    /// More logging on standard error (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check sgops.yaml and every rule file offline, guardrails included.
    #[command(
        after_help = "In GitHub Actions (GITHUB_ACTIONS=true) each problem is also printed as an ::error annotation.\nExit: 0 clean (warnings allowed), 1 errors, 3 only guardrail violations."
    )]
    Validate(ValidateArgs),

    /// Read live state and show what apply would change.
    Plan(PlanArgs),

    /// Re-plan and apply the changes.
    Apply(ApplyArgs),

    /// Post or update a saved plan as one sticky pull-request comment.
    Comment(CommentArgs),

    /// Run one allow-listed EC2 action with a boto3-shaped JSON body.
    Invoke(InvokeArgs),

    /// Print a rule file for the rules already in a security group, or (--all) write one
    /// for every group that holds exceptions, in every account and region.
    Import(ImportArgs),

    /// Serve the central API's route (OIDC bearer tokens; `serve:` in sgops.yaml).
    #[command(
        after_help = "Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it answers API Gateway events instead of listening.\nOne JSON audit line per request on standard output; logs on standard error. Stops on SIGTERM or Ctrl-C after the requests in flight."
    )]
    Serve(ServeArgs),

    /// Compare `accounts` of sgops.yaml with AWS Organizations; --write updates it.
    #[command(
        after_help = "Exit: 0 in step (or written), 1 error, 2 with --detailed-exitcode when anything differs."
    )]
    Accounts(AccountsArgs),
    /// List every exception of the rule files with ticket, expiry and owners (offline;
    /// --live adds its status in AWS).
    #[command(
        after_help = "Exit: 0 listed, 1 invalid rule files or (with --live) some accounts not read."
    )]
    Report(ReportArgs),

    /// Keep one GitHub issue (label sgops-expiring) listing the rules that expire soon,
    /// grouped by CODEOWNERS owner, who are mentioned; closed when nothing expires.
    Remind(RemindArgs),

    /// Print the JSON Schema of rule files (for editors).
    Schema,

    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// Where the policy comes from: a pull request's own sgops.yaml may not loosen it.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Take the policy (allowlist, guardrails, quotas, rule_tags, role_name, read_role_name,
    /// external_id, expiry, approvals) from sgops.yaml at this git commit, the one the pull request targets; this checkout's
    /// policy changes are shown apart and take effect after merge.
    #[arg(long, value_name = "REF")]
    pub policy_from: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write the JSON plan to FILE (for `apply --plan` and `comment`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only these accounts (repeatable).
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// Exit 2 when there are changes, 0 when none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print API calls by operation on standard error.
    #[arg(long)]
    pub stats: bool,
    /// Plan only shard I of N (1-based): accounts are split stably by a hash of their name.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// One of N stable slices of the accounts, for plans spread over several CI jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("`{s}` is not I/N with 1 <= I <= N (e.g. 2/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply only if the fresh plan's fingerprint equals this saved plan's.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Post the result to the pull request merged as GITHUB_SHA.
    #[arg(long)]
    pub comment: bool,
    /// Report format on standard output.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Allow more changes than guardrails.max_changes.
    #[arg(long)]
    pub allow_many: bool,
    /// Append each result here as one JSON line the moment it lands.
    #[arg(long, value_name = "FILE", default_value = "sgops-apply.jsonl")]
    pub journal: PathBuf,
    /// Only these accounts (repeatable).
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// Print API calls by operation on standard error.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct CommentArgs {
    /// Pull request number.
    #[arg(long)]
    pub pr: u64,
    /// Saved JSON plan (repeatable: shards are merged into one comment).
    #[arg(long, value_name = "FILE", required_unless_present = "missing_shard")]
    pub plan: Vec<PathBuf>,
    /// A shard whose plan job wrote no plan (repeatable): an error row in the comment, so
    /// its accounts are not silently left out.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub missing_shard: Vec<Shard>,
    /// Commit the plan was made for, shown in the comment [default: GITHUB_SHA].
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Account name from sgops.yaml, or its 12-digit id.
    pub account: String,
    pub region: String,
    /// Service whose allow-list applies (e.g. ec2).
    pub service: String,
    /// Action in boto3 spelling (e.g. authorize_security_group_ingress).
    pub action: String,
    /// JSON body as boto3 takes it; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub body: PathBuf,
    /// Ask EC2 to check permissions without acting (DryRun).
    #[arg(long)]
    pub dry_run: bool,
    /// Print API calls by operation on standard error.
    #[arg(long)]
    pub stats: bool,
}

/// Formats of `sgops report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format on standard output.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Only rules that expire at most DAYS days from today (those already past included).
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_hyphen_values = true)]
    pub expiring_within: Option<u32>,
    /// Only these accounts (repeatable).
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// Read AWS (the plan's reads) and add each rule's status: applied, pending, drifted,
    /// expired, revoked (unknown when its account could not be read).
    #[arg(long)]
    pub live: bool,
    /// Markdown grouped by owner, each owner @mentioned once: the reminder issue's body.
    /// Needs --format markdown.
    #[arg(long)]
    pub mention_owners: bool,
    /// Print API calls by operation on standard error (with --live).
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct RemindArgs {
    /// The repository to keep the issue in [default: GITHUB_REPOSITORY].
    #[arg(long, value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    /// Remind of rules expiring within DAYS [default: expiry.warn_days of sgops.yaml].
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_hyphen_values = true)]
    pub within: Option<u32>,
    /// Print the issue body and what would be done; change nothing on GitHub.
    #[arg(long)]
    pub dry_run: bool,
}

/// A number of days: 0 or more.
fn parse_days(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(format!(
            "`{s}` is negative: give a number of days from today, 0 or more (0: only rules already expired or expiring today)"
        )),
        Ok(n) if n > 36_500 => Err(format!("`{s}` days is over 100 years")),
        Ok(n) => Ok(n as u32),
        Err(_) => Err(format!("`{s}` is not a whole number of days (like 30)")),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Account name from sgops.yaml, or its 12-digit id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub account: Option<String>,
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub region: Option<String>,
    /// Security group id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub security_group: Option<String>,
    /// Write the rule file here instead of standard output.
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub out: Option<PathBuf>,
    /// Ticket to record on imported rules.
    #[arg(long, default_value = "imported")]
    pub ticket: String,
    /// Only rules not yet tagged sgops:rule.
    #[arg(long)]
    pub only_untagged: bool,
    /// Leave out the default allow-all egress rule.
    #[arg(long)]
    pub skip_default_egress: bool,

    /// Every account (or --account) × region (--region, else `regions` of sgops.yaml): one
    /// file per security group holding rules tagged with every --tagged pair or sgops:rule.
    #[arg(long, requires = "out_dir")]
    pub all: bool,
    /// With --all: only this account (repeatable; name or id).
    #[arg(long = "account", value_name = "NAME", requires = "all")]
    pub accounts: Vec<String>,
    /// With --all: only this region (repeatable) [default: `regions` of sgops.yaml].
    #[arg(long = "region", value_name = "REGION", requires = "all")]
    pub regions: Vec<String>,
    /// With --all: import rules carrying this tag (repeatable: all of them)
    /// [default: `rule_tags` of sgops.yaml].
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag, requires = "all")]
    pub tagged: Vec<(String, String)>,
    /// With --all: where the files go, as DIR/<account>/<region>/<group-name>.yaml.
    #[arg(long, value_name = "DIR", requires = "all")]
    pub out_dir: Option<PathBuf>,
    /// With --all: overwrite files that exist (they are skipped otherwise).
    #[arg(long, requires = "all")]
    pub force: bool,
    /// Print API calls by operation on standard error.
    #[arg(long)]
    pub stats: bool,
}

/// `KEY=VALUE` of `--tagged`.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        format!("`{s}` is not KEY=VALUE: name a tag and its value, e.g. vpcx:skip_enforcement=yes")
    })?;
    if k.is_empty() {
        return Err(format!("`{s}` has no tag key before `=`"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Formats of `sgops accounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountsFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Only accounts under this OU or root, recursively (repeatable)
    /// [default: `organization.ous` of sgops.yaml, else the whole organization].
    #[arg(long = "ou", value_name = "OU_ID")]
    pub ous: Vec<String>,
    /// Rewrite the `accounts:` block of sgops.yaml (and nothing else) to match.
    #[arg(long)]
    pub write: bool,
    /// Exit 2 when anything differs, 0 when in step.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value = "text")]
    pub format: AccountsFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tags_parse() {
        assert_eq!(parse_tag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_tag("a="), Ok(("a".into(), String::new())));
        assert!(parse_tag("a").unwrap_err().contains("is not KEY=VALUE"));
        assert!(parse_tag("=b").is_err());
    }

    #[test]
    fn days_are_not_negative() {
        assert_eq!(parse_days("30"), Ok(30));
        assert_eq!(parse_days("0"), Ok(0));
        assert!(parse_days("-1").unwrap_err().contains("negative"));
        assert!(parse_days("x").is_err());
        let e = Cli::try_parse_from(["sgops", "report", "--expiring-within", "-1"]).unwrap_err();
        assert!(e.to_string().contains("`-1` is negative"), "{e}");
        let e = Cli::try_parse_from(["sgops", "report", "--format", "xml"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("possible values: text, markdown, json, csv"),
            "{e}"
        );
    }

    #[test]
    fn shards_parse() {
        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("x").is_err());
    }
}
