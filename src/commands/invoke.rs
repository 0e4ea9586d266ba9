//! `sgops invoke ACCOUNT REGION SERVICE ACTION --body FILE`: one allow-listed EC2 action with a
//! boto3-shaped body, through the same STS role, retries and call accounting as `apply`.
//!
//! Checks run cheapest and most fundamental first, and nothing is called in the target account
//! until all pass: the account is known, the region is valid, the service has an allow-list
//! parameter and lists the action (else exit 3), sgops can run the action, the body is valid.

use std::io::Read as _;
use std::path::Path;

use crate::allowlist;
use crate::aws::{Access, Aws, AwsError};
use crate::cli::InvokeArgs;
use crate::config::{Account, Config};
use crate::error::{Error, Exit};
use crate::invoke::{self, Action, Refusal};

use super::{account_in, load_config, print_stats, print_stdout};

/// Invoke changes security-group rules: the accounts' write role.
pub(super) const ACCESS: Access = Access::Write;

pub fn run(config_path: &Path, args: &InvokeArgs) -> Result<Exit, Error> {
    let cfg = load_config(config_path)?;
    let (name, account) = account_in(&cfg, &args.account, &args.region)?;
    invoke::service(&args.service).map_err(|_| {
        Error::Policy(format!(
            "invalid service: {} (not an AWS service name like ec2)",
            args.service
        ))
    })?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let aws = Aws::load(&cfg).await.with_access(ACCESS);
        let result = invoke(&aws, &cfg, name, account, args).await;
        // Refusals and failures too: the counts show what reached AWS.
        if args.stats {
            print_stats(&aws);
        }
        result
    })
}

/// The checks that need AWS (the allow-list), then the body, then the one call.
async fn invoke(
    aws: &Aws,
    cfg: &Config,
    name: &str,
    account: &Account,
    args: &InvokeArgs,
) -> Result<Exit, Error> {
    let ssm = aws.ssm(&cfg.allowlist.region);
    let prefix = &cfg.allowlist.parameter_prefix;
    let allow = allowlist::fetch(&ssm, prefix, &[args.service.as_str()]).await?;
    let action = invoke::action(&allow, &args.service, &args.action).map_err(|r| match r {
        Refusal::Unsupported { service, action } => Error::Usage(format!(
            "sgops invoke cannot run {service} action {action} (allow-listed, but not an action sgops runs); it runs these {} actions: {}",
            invoke::SERVICE,
            Action::supported()
        )),
        _ => Error::Policy(format!(
            "refused: {} action {} is not in the allow-list {prefix}{}; nothing was called",
            args.service, args.action, args.service
        )),
    })?;
    let (source, text) = read_body(&args.body)?;
    let request = invoke::request(action, &text, &cfg.guardrails).map_err(|r| match r {
        Refusal::Guardrails(breaches) => Error::Policy(format!(
            "refused by guardrails: the {action} body in {source} opens a denied port to the world; nothing was called:\n{}",
            breaches
                .iter()
                .map(|b| format!("  {b}: narrow the source or the ports"))
                .collect::<Vec<_>>()
                .join("\n")
        )),
        Refusal::Body(e) => Error::Usage(format!("invalid {action} body in {source}: {e}")),
        other => Error::Usage(other.to_string()),
    })?;
    for w in request.ownership_warnings() {
        tracing::warn!("{w}");
    }
    let target = format!("{name} ({}) {}", account.id, args.region);
    tracing::info!(
        account = name,
        account_id = %account.id,
        region = %args.region,
        action = action.name(),
        dry_run = args.dry_run,
        "invoking"
    );
    let session = aws.assume(cfg, name, account).await?;
    let called = invoke::call(&session.ec2(&args.region), &request, args.dry_run)
        .await
        .map_err(|e| {
            let calls = aws.calls.snapshot();
            let attempts = calls.attempts.get(e.operation).copied().unwrap_or(1);
            AwsError::Call {
                operation: e.operation,
                target: target.clone(),
                message: e.explain(attempts),
                unreachable: e.unreachable,
            }
        })?;
    let text = serde_json::to_string_pretty(&called.outcome.to_json())
        .map_err(|e| Error::Usage(format!("cannot render the response: {e}")))?;
    print_stdout(&format!("{text}\n"))?;
    crate::errln!(
        "invoke: {target} {}:{action}: {}{}",
        invoke::SERVICE,
        called.outcome.summary(action),
        called
            .request_id
            .map(|id| format!(" (request {})", crate::escape::terminal(&id)))
            .unwrap_or_default()
    );
    Ok(Exit::Ok)
}

/// The body and where it came from; `-` is standard input.
fn read_body(path: &Path) -> Result<(String, String), Error> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| Error::Read {
                path: "standard input".into(),
                source,
            })?;
        return Ok(("standard input".into(), text));
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((path.display().to_string(), text))
}
