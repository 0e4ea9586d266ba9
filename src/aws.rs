//! Reaching AWS: the caller's base configuration, STS into each account (once per account and
//! run, shared by its regions, renewed before it expires), EC2 clients with retries and call
//! accounting, and error messages that name operation and target.
//!
//! Honours the standard credential chain, `AWS_ENDPOINT_URL` (the local emulator in tests),
//! `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE`. Never logs a credential.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_ec2::config::{Credentials, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

pub use crate::config::Access;
use crate::config::{Account, Config};

/// Retries per call when `AWS_MAX_ATTEMPTS` is not set: enough to ride out throttling bursts.
const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// A failed AWS call, naming what was attempted where.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} failed for {target}: {message}")]
    Call {
        operation: &'static str,
        target: String,
        message: String,
        /// AWS was not reached or did not answer in time (no answer from AWS at all).
        unreachable: bool,
    },
    #[error("cannot assume {role} in account {account}: {message}")]
    AssumeRole {
        account: String,
        role: String,
        message: String,
        unreachable: bool,
    },
}

impl AwsError {
    /// Whether AWS never answered (connection refused, timeout): worth a retry later, unlike
    /// a refusal.
    pub fn is_unreachable(&self) -> bool {
        match self {
            AwsError::Call { unreachable, .. } | AwsError::AssumeRole { unreachable, .. } => {
                *unreachable
            }
        }
    }
}

/// Whether a call failed without an answer from AWS: not sent, or no reply in time.
pub fn is_unreachable<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> bool {
    use aws_sdk_ec2::error::SdkError;
    matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))
}

/// `Code: message` for service errors, the full source chain otherwise (timeouts, I/O).
/// AWS text is untrusted: its control characters are escaped here, where it enters sgops.
pub fn describe_sdk_error<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    crate::escape::terminal(&match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => DisplayErrorContext(e).to_string(),
    })
}

/// The error code of a failed call, when AWS sent one.
pub fn error_code<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    e.code().map(str::to_string)
}

/// API calls by operation for the whole run (`--stats`). Cheap to clone; shared by clients.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    inner: Arc<Mutex<CallCounts>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallCounts {
    /// Operations started, by `service:Operation`.
    pub operations: BTreeMap<String, u64>,
    /// HTTP attempts, retries included.
    pub attempts: BTreeMap<String, u64>,
}

impl Calls {
    /// Counts one operation that does not go through an interceptor.
    pub fn count(&self, op: &str) {
        if let Ok(mut c) = self.inner.lock() {
            *c.operations.entry(op.to_string()).or_default() += 1;
        }
    }

    fn attempt(&self, op: &str, first: bool) {
        if let Ok(mut c) = self.inner.lock() {
            if first {
                *c.operations.entry(op.to_string()).or_default() += 1;
            }
            *c.attempts.entry(op.to_string()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> CallCounts {
        self.inner.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl CallCounts {
    pub fn total(&self) -> u64 {
        self.operations.values().sum()
    }

    /// One line per operation, for standard error.
    pub fn render(&self) -> String {
        let mut s = String::from("API calls by operation (attempts incl. retries):\n");
        for (op, n) in &self.operations {
            let a = self.attempts.get(op).copied().unwrap_or(*n);
            s.push_str(&format!("  {op:<48} {n:>6}  ({a} attempts)\n"));
        }
        s.push_str(&format!("  {:<48} {:>6}\n", "total", self.total()));
        s
    }
}

/// Interceptor that counts every attempt of every SDK call.
#[derive(Debug, Clone)]
struct CountCalls(Calls);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "sgops-call-counter"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let op = format!("{}:{}", short_service(m.service()), m.name());
            let first = cfg
                .load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
                .is_none_or(|a| a.attempts() <= 1);
            self.0.attempt(&op, first);
        }
        Ok(())
    }
}

fn short_service(s: &str) -> String {
    match s.to_ascii_lowercase().as_str() {
        "ec2" | "amazonec2" => "ec2".into(),
        "sts" | "awssecuritytokenservice" => "sts".into(),
        "ssm" | "amazonssm" => "ssm".into(),
        "organizations" | "awsorganizationsv20161128" => "organizations".into(),
        other => other.into(),
    }
}

/// Everything needed to talk to AWS for one run.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    pub calls: Calls,
    session_name: String,
    external_id: Option<String>,
    /// Which role [`Aws::assume`] asks for: the read role unless the command writes
    /// ([`Aws::writing`]), so a command that forgets to say so cannot write.
    access: Access,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aws")
            .field("session_name", &self.session_name)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// An account's role, assumed: clients for any of its regions share one set of credentials.
#[derive(Clone)]
pub struct Session {
    pub account_id: String,
    config: SdkConfig,
    credentials: SharedCredentialsProvider,
    calls: Calls,
}

/// How long before they expire role credentials are renewed: longer than any one call with
/// its retries, so a long apply never signs a request with credentials about to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Whether credentials expiring at `expiry` must be renewed `now`.
fn needs_renewal(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_some_and(|e| {
        e.duration_since(now)
            .map_or(true, |left| left < RENEW_BEFORE)
    })
}

/// One AssumeRole, as sent for an account.
#[derive(Debug, Clone)]
struct AssumeRequest {
    sts: aws_sdk_sts::Client,
    role: String,
    /// `name (id)`, for messages.
    account: String,
    session_name: String,
    external_id: Option<String>,
}

impl AssumeRequest {
    async fn send(&self) -> Result<Credentials, AwsError> {
        let fail = |message: String, unreachable: bool| AwsError::AssumeRole {
            account: self.account.clone(),
            role: self.role.clone(),
            message,
            unreachable,
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .duration_seconds(3600)
            .send()
            .await
            .map_err(|e| fail(describe_sdk_error(&e), is_unreachable(&e)))?;
        let c = out
            .credentials
            .ok_or_else(|| fail("STS returned no credentials".into(), false))?;
        let expiry = SystemTime::try_from(c.expiration).ok();
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "sgops-assume-role",
        ))
    }
}

/// The credentials of one assumed role: those of the first AssumeRole, then fresh ones
/// whenever they are within [`RENEW_BEFORE`] of expiring (one renewal at a time).
#[derive(Debug)]
struct RoleCredentials {
    request: AssumeRequest,
    current: tokio::sync::Mutex<Credentials>,
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut current = self.current.lock().await;
            if needs_renewal(current.expiry(), SystemTime::now()) {
                tracing::debug!("renewing the credentials of {}", self.request.account);
                *current = self
                    .request
                    .send()
                    .await
                    .map_err(CredentialsError::provider_error)?;
            }
            Ok(current.clone())
        })
    }
}

impl Aws {
    /// Loads the caller's configuration from the standard chain.
    pub async fn load(config: &Config) -> Aws {
        let max_attempts = std::env::var("AWS_MAX_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        Aws::load_with(config, max_attempts, Duration::from_secs(30), None).await
    }

    /// [`Aws::load`] for a server: at most `max_attempts` per call and each call (retries
    /// included) done within `operation_timeout`, so a caller hears of an unreachable AWS in
    /// time rather than waiting through a batch job's patient retries.
    pub async fn load_bounded(
        config: &Config,
        max_attempts: u32,
        operation_timeout: Duration,
    ) -> Aws {
        let attempt = operation_timeout.min(Duration::from_secs(30));
        Aws::load_with(config, max_attempts, attempt, Some(operation_timeout)).await
    }

    async fn load_with(
        config: &Config,
        max_attempts: u32,
        attempt_timeout: Duration,
        operation_timeout: Option<Duration>,
    ) -> Aws {
        let mut retry = RetryConfig::standard()
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(10));
        retry = retry.with_max_attempts(max_attempts.max(1));
        if std::env::var("AWS_RETRY_MODE").is_ok_and(|m| m == "adaptive") {
            retry = RetryConfig::adaptive()
                .with_max_attempts(max_attempts.max(1))
                .with_max_backoff(Duration::from_secs(10));
        }
        let mut timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5).min(attempt_timeout))
            .operation_attempt_timeout(attempt_timeout);
        timeouts.set_operation_timeout(operation_timeout);
        let timeouts = timeouts.build();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts)
            .load()
            .await;
        Aws {
            base,
            calls: Calls::default(),
            session_name: session_name(),
            external_id: config.external_id.clone(),
            access: Access::Read,
        }
    }

    /// For commands that change security-group rules (apply, invoke, serve): [`Aws::assume`]
    /// asks for each account's write role (`role_name`) instead of its read role.
    pub fn writing(self) -> Aws {
        self.with_access(Access::Write)
    }

    /// This configuration, assuming the roles for `access`.
    pub fn with_access(self, access: Access) -> Aws {
        Aws { access, ..self }
    }

    /// Which of the accounts' roles [`Aws::assume`] asks for.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The ARN of the role [`Aws::assume`] asks for in `account`.
    pub fn role_arn(&self, config: &Config, account: &Account) -> String {
        config.role_arn_for(account, self.access)
    }

    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// SSM in `region` with the caller's own credentials (the central allow-list).
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(CountCalls(self.calls.clone()))
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// AWS Organizations in `region` with the caller's own credentials (`sgops accounts`:
    /// the management account or a delegated administrator).
    pub fn organizations(&self, region: &str) -> aws_sdk_organizations::Client {
        let conf = aws_sdk_organizations::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(CountCalls(self.calls.clone()))
            .build();
        aws_sdk_organizations::Client::from_conf(conf)
    }

    /// Assumes the sgops role in `account` (its read or write role, by [`Aws::access`]), once:
    /// the session's credentials serve every region and are renewed shortly before they
    /// expire.
    ///
    /// STS is reached at its regional endpoint in the caller's own region (else
    /// `allowlist.region`): session tokens from a regional endpoint are valid in every region,
    /// opt-in regions (ap-east-1, me-south-1, …) included, while those of the global endpoint
    /// are not unless the account enabled version 2 tokens.
    pub async fn assume(
        &self,
        config: &Config,
        name: &str,
        account: &Account,
    ) -> Result<Session, AwsError> {
        let region = self
            .base
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| config.allowlist.region.clone());
        let sts_conf = aws_sdk_sts::config::Builder::from(&self.base)
            .region(Region::new(region))
            .interceptor(CountCalls(self.calls.clone()))
            .build();
        let request = AssumeRequest {
            sts: aws_sdk_sts::Client::from_conf(sts_conf),
            role: self.role_arn(config, account),
            account: format!("{name} ({})", account.id),
            session_name: self.session_name.clone(),
            external_id: self.external_id.clone(),
        };
        let first = request.send().await?;
        let credentials = SharedCredentialsProvider::new(RoleCredentials {
            request,
            current: tokio::sync::Mutex::new(first),
        });
        Ok(Session {
            account_id: account.id.clone(),
            config: self.base.clone(),
            credentials,
            calls: self.calls.clone(),
        })
    }
}

impl Session {
    /// An EC2 client in this account and `region`, counting its calls.
    ///
    /// Its retries are bounded by `AWS_MAX_ATTEMPTS` and backoff, not by the SDK's retry
    /// quota: by default that is one bucket for all EC2 calls of the process (500 tokens, 5 to
    /// 10 lost for good per retry after the first), so faults in some accounts would stop
    /// retries everywhere after a few hundred. Calls run one at a time per account × region,
    /// which gets its own partition (and, in adaptive mode, its own rate limiter, as AWS
    /// throttles per account and region).
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let partition = RetryPartition::custom(format!("sgops-ec2-{}-{region}", self.account_id))
            .token_bucket(TokenBucket::unlimited())
            .build();
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .credentials_provider(self.credentials.clone())
            .retry_partition(partition)
            .interceptor(CountCalls(self.calls.clone()))
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }
}

/// STS session name that shows in CloudTrail which change made each call:
/// `SGOPS_SESSION_NAME`, else the PR number or commit from GitHub Actions, else `sgops-local`.
fn session_name() -> String {
    session_name_from(|k| std::env::var(k).ok())
}

/// [`session_name`] over any environment (`env` looks a variable up).
fn session_name_from(env: impl Fn(&str) -> Option<String>) -> String {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let short = |sha: String| sha.chars().take(12).collect::<String>();
    let raw = env("SGOPS_SESSION_NAME").unwrap_or_else(|| {
        let pr = env("GITHUB_REF")
            .and_then(|r| r.strip_prefix("refs/pull/").map(str::to_string))
            .and_then(|r| r.split('/').next().map(str::to_string));
        match (pr, env("GITHUB_SHA")) {
            (Some(pr), Some(sha)) => format!("sgops-pr{pr}-{}", short(sha)),
            (Some(pr), None) => format!("sgops-pr{pr}"),
            (None, Some(sha)) => format!("sgops-{}", short(sha)),
            (None, None) => "sgops-local".into(),
        }
    });
    sanitize_session_name(&raw)
}

/// RoleSessionName: 2–64 characters of `[\w+=,.@-]`.
fn sanitize_session_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while out.len() < 2 {
        out.push('-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `Aws` without loading anything from the environment (no credential chain, no
    /// region lookup): enough to see which role it would assume.
    fn offline(config: &Config) -> Aws {
        Aws {
            base: SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
            calls: Calls::default(),
            session_name: "sgops-test".into(),
            external_id: config.external_id.clone(),
            access: Access::Read,
        }
    }

    #[test]
    fn the_read_role_is_assumed_unless_the_command_writes() {
        let cfg = crate::config::parse(
            "sgops.yaml",
            "role_name: writer\nread_role_name: reader\naccounts:\n  a: \"111111111111\"\n",
        )
        .expect("valid");
        let a = &cfg.accounts["a"];
        let aws = offline(&cfg);
        assert_eq!(aws.access(), Access::Read);
        assert_eq!(
            aws.role_arn(&cfg, a),
            "arn:aws:iam::111111111111:role/reader"
        );
        let w = aws.clone().writing();
        assert_eq!(w.access(), Access::Write);
        assert_eq!(w.role_arn(&cfg, a), "arn:aws:iam::111111111111:role/writer");
        assert_eq!(
            w.with_access(Access::Read).role_arn(&cfg, a),
            "arn:aws:iam::111111111111:role/reader"
        );
    }

    #[test]
    fn credentials_are_renewed_five_minutes_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| Some(now + Duration::from_secs(s));
        assert!(!needs_renewal(at(3600), now));
        assert!(!needs_renewal(at(301), now));
        assert!(needs_renewal(at(299), now));
        assert!(needs_renewal(Some(now - Duration::from_secs(1)), now));
        // Credentials without an expiry never lapse.
        assert!(!needs_renewal(None, now));
    }

    #[test]
    fn session_names_are_valid() {
        assert_eq!(sanitize_session_name("sgops-pr12-abc"), "sgops-pr12-abc");
        assert_eq!(sanitize_session_name("a b/c"), "a-b-c");
        assert_eq!(sanitize_session_name(""), "--");
        assert_eq!(sanitize_session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn session_names_carry_the_pull_request_or_the_commit() {
        let name = |vars: &[(&str, &str)]| {
            let vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            session_name_from(|k| vars.get(k).cloned())
        };
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            name(&[("GITHUB_REF", "refs/pull/42/merge"), ("GITHUB_SHA", sha)]),
            "sgops-pr42-0123456789ab"
        );
        assert_eq!(
            name(&[("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", sha)]),
            "sgops-0123456789ab"
        );
        assert_eq!(name(&[("GITHUB_REF", "refs/pull/7/merge")]), "sgops-pr7");
        assert_eq!(name(&[]), "sgops-local");
        assert_eq!(name(&[("GITHUB_SHA", "")]), "sgops-local");
        assert_eq!(
            name(&[
                ("SGOPS_SESSION_NAME", "break glass #3"),
                ("GITHUB_SHA", sha)
            ]),
            "break-glass--3"
        );
        // Not a hex SHA (no panic on a multi-byte character at the cut).
        assert_eq!(
            name(&[("GITHUB_SHA", "ééééééééééééé")]),
            "sgops-------------"
        );
    }

    #[test]
    fn calls_are_counted_by_operation() {
        let c = Calls::default();
        c.attempt("ec2:DescribeSecurityGroupRules", true);
        c.attempt("ec2:DescribeSecurityGroupRules", false);
        c.count("ssm:GetParameter");
        let s = c.snapshot();
        assert_eq!(s.operations["ec2:DescribeSecurityGroupRules"], 1);
        assert_eq!(s.attempts["ec2:DescribeSecurityGroupRules"], 2);
        assert_eq!(s.total(), 2);
    }
}
