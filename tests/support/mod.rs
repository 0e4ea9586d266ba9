//! Test harness for end-to-end runs: one moto server per test binary, seeding helpers that
//! act in an account through STS (as sgops does), and a temp repository to run sgops in.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};

/// The moto server of this test binary: `SGOPS_MOTO_URL` if set, else one started here
/// on a free loopback port, stopped when this process ends.
pub fn moto_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("SGOPS_MOTO_URL") {
            return u;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let bin = std::env::var("SGOPS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        // The watchdog ends moto when this test process is gone; `sh` itself is reaped by init.
        let script = format!(
            "{bin} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill $m",
            pid = std::process::id()
        );
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("start moto_server (run scripts/test, which installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        url
    })
}

/// A fresh 12-digit account id, unique within this test binary run.
pub fn account_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    // Spread by process so binaries sharing one server do not collide.
    format!("{:05}{:07}", std::process::id() % 100_000, n)
}

/// Environment for the caller's own (central) credentials against moto.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto_url().to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_MAX_ATTEMPTS", "3".into()),
    ]
}

async fn base() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// EC2 in `account` and `region`, through STS like sgops.
pub async fn ec2(account: &str, region: &str) -> aws_sdk_ec2::Client {
    let base = base().await;
    let sts = aws_sdk_sts::Client::new(&base);
    let c = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/seed"))
        .role_session_name("seed")
        .send()
        .await
        .expect("assume role in moto")
        .credentials
        .expect("credentials");
    let conf = aws_sdk_ec2::config::Builder::from(&base)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "seed",
        ))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// SSM of the caller's own account (where the allow-list lives).
pub async fn put_allowlist(name: &str, value: &str, string_list: bool) {
    let ssm = aws_sdk_ssm::Client::new(&base().await);
    let kind = if string_list {
        aws_sdk_ssm::types::ParameterType::StringList
    } else {
        aws_sdk_ssm::types::ParameterType::String
    };
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter");
}

/// Every EC2 action sgops may need, in the seed's `{"a","b"}` format.
pub const ALL_ACTIONS: &str = r#"{"authorize_security_group_ingress","authorize_security_group_egress","revoke_security_group_ingress","revoke_security_group_egress","modify_security_group_rules","create_tags","delete_tags"}"#;

pub async fn create_vpc(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("create vpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id")
}

/// A managed IPv4 prefix list; returns its id.
pub async fn create_prefix_list(ec2: &aws_sdk_ec2::Client, name: &str, max_entries: i32) -> String {
    ec2.create_managed_prefix_list()
        .prefix_list_name(name)
        .max_entries(max_entries)
        .address_family("IPv4")
        .send()
        .await
        .expect("prefix list")
        .prefix_list
        .and_then(|p| p.prefix_list_id)
        .expect("prefix list id")
}

pub async fn create_group(ec2: &aws_sdk_ec2::Client, vpc: &str, name: &str) -> String {
    ec2.create_security_group()
        .group_name(name)
        .description("test group")
        .vpc_id(vpc)
        .send()
        .await
        .expect("create group")
        .group_id
        .expect("group id")
}

/// Adds an untagged IPv4 ingress rule, as a baseline or a hand-made exception would be.
pub async fn add_ingress(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    from: i32,
    to: i32,
    cidr: &str,
    desc: Option<&str>,
    tags: &[(&str, &str)],
) {
    let mut req = ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(from)
                .to_port(to)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip(cidr)
                        .set_description(desc.map(String::from))
                        .build(),
                )
                .build(),
        );
    if !tags.is_empty() {
        req = req.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroupRule)
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                        .collect(),
                ))
                .build(),
        );
    }
    req.send().await.expect("authorize ingress");
}

/// Adds an untagged IPv6, prefix-list or group-reference ingress rule.
pub async fn add_ingress_peer(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    port: i32,
    peer: &str,
    desc: &str,
) {
    let mut p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    p = if peer.starts_with("pl-") {
        p.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(peer)
                .description(desc)
                .build(),
        )
    } else if peer.starts_with("sg-") {
        p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(peer)
                .description(desc)
                .build(),
        )
    } else {
        p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(peer)
                .description(desc)
                .build(),
        )
    };
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(p.build())
        .send()
        .await
        .expect("authorize ingress");
}

/// One permission of any protocol to `cidr` (IPv6 when it has a colon); `ports` are
/// (FromPort, ToPort), left out when `None`.
pub fn permission(
    protocol: &str,
    ports: Option<(i32, i32)>,
    cidr: &str,
    desc: Option<&str>,
) -> IpPermission {
    let p = IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|p| p.0))
        .set_to_port(ports.map(|p| p.1));
    let desc = desc.map(String::from);
    if cidr.contains(':') {
        p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(desc)
                .build(),
        )
    } else {
        p.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .set_description(desc)
                .build(),
        )
    }
    .build()
}

/// Authorizes `perm` as an ingress or egress rule with `tags`; returns its `sgr-` id.
pub async fn authorize(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    egress: bool,
    perm: IpPermission,
    tags: &[(&str, &str)],
) -> String {
    let spec = (!tags.is_empty()).then(|| {
        TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroupRule)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .build()
    });
    let rules = if egress {
        ec2.authorize_security_group_egress()
            .group_id(group)
            .ip_permissions(perm)
            .set_tag_specifications(spec.map(|s| vec![s]))
            .send()
            .await
            .expect("authorize egress")
            .security_group_rules
    } else {
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm)
            .set_tag_specifications(spec.map(|s| vec![s]))
            .send()
            .await
            .expect("authorize ingress")
            .security_group_rules
    };
    rules
        .unwrap_or_default()
        .into_iter()
        .find_map(|r| r.security_group_rule_id)
        .expect("the new rule's id")
}

/// A live rule, simplified for assertions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub id: String,
    pub egress: bool,
    pub proto: String,
    pub from: i32,
    pub to: i32,
    pub peer: String,
    pub desc: String,
    pub tags: BTreeMap<String, String>,
}

pub async fn rules(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<Seen> {
    let out = ec2
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .expect("describe rules");
    let mut v: Vec<Seen> = out
        .security_group_rules()
        .iter()
        .map(|r| Seen {
            id: r.security_group_rule_id().unwrap_or_default().into(),
            egress: r.is_egress().unwrap_or(false),
            proto: r.ip_protocol().unwrap_or_default().into(),
            from: r.from_port().unwrap_or(-1),
            to: r.to_port().unwrap_or(-1),
            peer: r
                .cidr_ipv4()
                .or(r.cidr_ipv6())
                .or(r.prefix_list_id())
                .or(r.referenced_group_info().and_then(|g| g.group_id()))
                .unwrap_or_default()
                .into(),
            desc: r.description().unwrap_or_default().into(),
            tags: r
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().into(),
                        t.value().unwrap_or_default().into(),
                    )
                })
                .collect(),
        })
        .collect();
    v.sort();
    v
}

/// Ingress rules only, without the default egress rule.
pub async fn ingress(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<Seen> {
    rules(ec2, group)
        .await
        .into_iter()
        .filter(|r| !r.egress)
        .collect()
}

/// A rules repository in a temp dir.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

impl Repo {
    /// `accounts`: (name, id). The allow-list prefix is unique to this repo.
    pub fn new(accounts: &[(&str, &str)], extra: &str) -> Repo {
        static N: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "/test-{}-{}/allowed-actions/",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = format!(
            "allowlist:\n  parameter_prefix: {prefix}\n  region: us-east-1\nrole_name: sgops\nrule_tags:\n  vpcx:skip_enforcement: \"yes\"\naccounts:\n"
        );
        for (name, id) in accounts {
            cfg.push_str(&format!("  {name}: \"{id}\"\n"));
        }
        cfg.push_str(extra);
        std::fs::write(dir.path().join("sgops.yaml"), cfg).expect("write config");
        Repo { dir, prefix }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rules/<account>/<region>/<name>.yaml`.
    pub fn file(&self, account: &str, region: &str, name: &str, body: &str) -> PathBuf {
        let d = self.dir.path().join("rules").join(account).join(region);
        std::fs::create_dir_all(&d).expect("mkdir");
        let p = d.join(format!("{name}.yaml"));
        std::fs::write(&p, body).expect("write rules");
        p
    }

    pub fn remove(&self, account: &str, region: &str, name: &str) {
        let p = self
            .dir
            .path()
            .join("rules")
            .join(account)
            .join(region)
            .join(format!("{name}.yaml"));
        std::fs::remove_file(p).expect("remove");
    }

    pub async fn allow(&self, value: &str) {
        put_allowlist(&format!("{}ec2", self.prefix), value, false).await;
    }

    /// Runs sgops here; returns (exit code, stdout, stderr).
    pub fn sgops(&self, args: &[&str]) -> (i32, String, String) {
        self.sgops_with_env(args, &[])
    }

    /// Runs sgops here with `extra` environment variables set after the usual ones.
    pub fn sgops_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sgops"));
        cmd.current_dir(self.dir.path()).args(args).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("SGOPS_TODAY", "2026-11-27");
        cmd.env("NO_COLOR", "1");
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run sgops");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `plan --format json`, parsed.
    pub fn plan_json(&self) -> (i32, serde_json::Value, String) {
        let (code, out, err) = self.sgops(&["plan", "--format", "json"]);
        let v =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("plan JSON: {e}\n{out}\n{err}"));
        (code, v, err)
    }
}

/// Actions of the plan's changes, as `rule:action` strings, sorted.
pub fn actions(plan: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = plan["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{}:{}",
                        c["rule"].as_str().unwrap_or(""),
                        c["action"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The Python that runs `scripts/faultproxy.py`: `SGOPS_PYTHON` (exported by scripts/test),
/// else `python3` (the proxy needs only the standard library).
pub fn python() -> String {
    std::env::var("SGOPS_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// `scripts/faultproxy.py` in front of this binary's moto server, on a loopback port of its
/// choosing. Killed when dropped; it also exits by itself when this test process is gone.
pub struct FaultProxy {
    child: std::process::Child,
    /// Keeps the proxy's standard output open for its lifetime.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    pub port: u16,
    pub url: String,
}

impl FaultProxy {
    /// Starts the proxy with `args` (e.g. `["--fault-rate", "0.3", "--seed", "7"]`) after
    /// `--listen 0 --upstream <moto>`; returns once it listens.
    pub fn start(args: &[&str]) -> FaultProxy {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faultproxy.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--listen", "0", "--upstream", moto_url()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {} {}: {e}", python(), script.display()));
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("proxy stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse::<u16>().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultproxy did not start (first line: {line:?}); args {args:?}");
        };
        FaultProxy {
            child,
            _stdout: stdout,
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The proxy's counters (`GET /__faultproxy/stats`): requests, `by_action`, `forwarded`
    /// and `retries` (SDK attempts > 1) by action, `faults` by kind, `faults_by_action`,
    /// `denied_assume` by account id, `denied_role` by role name (`--deny-role`),
    /// `assumed_roles`: every AssumeRole asked for, by role ARN.
    pub fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect proxy");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(
            b"GET /__faultproxy/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .expect("ask stats");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read stats");
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("stats JSON: {e}\n{raw}"))
    }
}

impl FaultProxy {
    /// The roles sgops asked to assume through this proxy so far, by ARN, with their counts.
    pub fn assumed_roles(&self) -> std::collections::BTreeMap<String, u64> {
        self.stats()["assumed_roles"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(arn, n)| (arn.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Repo {
    /// The command [`Repo::sgops`] runs, but talking to AWS at `endpoint` (a [`FaultProxy`]
    /// or moto) and with `AWS_MAX_ATTEMPTS` unset, so sgops's own retry default applies as
    /// in production. For `spawn` (to kill it midway) or [`run`].
    pub fn sgops_command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sgops"));
        cmd.current_dir(self.dir.path()).args(args).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("SGOPS_TODAY", "2026-11-27");
        cmd.env("NO_COLOR", "1");
        for (k, v) in aws_env() {
            if k != "AWS_MAX_ATTEMPTS" {
                cmd.env(k, v);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs sgops here against `endpoint` (see [`Repo::sgops_command`]).
    pub fn sgops_via(&self, endpoint: &str, args: &[&str]) -> (i32, String, String) {
        run(&mut self.sgops_command(endpoint, args))
    }
}

/// Runs `cmd` to completion; (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs git in `dir` with a throwaway identity; its standard output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
