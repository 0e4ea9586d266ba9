//! The `serve:` section of sgops.yaml: whose tokens `sgops serve` accepts and who may call
//! which accounts and actions. Absent, `sgops serve` refuses to start.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Account;
use crate::diag::{Diagnostic, Pos};
use crate::yaml;

/// Who may call the API, and how it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The exact `iss` of accepted tokens.
    pub issuer: String,
    /// The `aud` accepted tokens must carry (as the string, or in the array).
    pub audience: String,
    /// Where the signing keys are; `None`: the issuer's OpenID discovery document says.
    pub jwks_url: Option<String>,
    pub clients: Vec<Client>,
    /// How long an allow-list read from SSM is used before it is read again.
    pub allowlist_ttl: Duration,
    /// The longest a request may take, AWS calls included (then 503).
    pub request_timeout: Duration,
    /// Requests handled at once; more wait for a slot.
    pub max_in_flight: usize,
}

/// One caller (a token's `sub`) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub subject: String,
    /// Account names (ids are resolved to names when loaded); `None`: every account.
    pub accounts: Option<Vec<String>>,
    /// boto3 action names.
    pub actions: Vec<String>,
}

impl ServeConfig {
    /// The client with this `sub`, if any.
    pub fn client(&self, subject: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.subject == subject)
    }
}

impl Client {
    /// Whether this client may run `action` in the account named `account`.
    pub fn may(&self, account: &str, action: &str) -> bool {
        self.may_call(account) && self.actions.iter().any(|a| a == action)
    }

    pub fn may_call(&self, account: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|list| list.iter().any(|a| a == account))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    issuer: Option<Spanned<String>>,
    audience: Option<Spanned<String>>,
    jwks_url: Option<Spanned<String>>,
    clients: Option<Spanned<Vec<Spanned<RawClient>>>>,
    allowlist_ttl_seconds: Option<Spanned<i64>>,
    request_timeout_seconds: Option<Spanned<i64>>,
    max_in_flight: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    subject: Option<Spanned<String>>,
    accounts: Option<Spanned<Vec<Spanned<String>>>>,
    actions: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Checks the section; `accounts` are those of sgops.yaml, which clients must name.
pub(super) fn check(
    path: &str,
    raw: Spanned<RawServe>,
    accounts: &BTreeMap<String, Account>,
    diags: &mut Vec<Diagnostic>,
) -> ServeConfig {
    let at = yaml::pos(path, &raw);
    let raw = raw.value;
    let required = |v: Option<Spanned<String>>, key: &str, diags: &mut Vec<Diagnostic>| {
        let Some(v) = v else {
            diags.push(Diagnostic::error(
                at.clone(),
                format!("serve.{key} is missing"),
            ));
            return None;
        };
        text(path, &v, key, diags);
        Some(v)
    };
    let issuer = required(raw.issuer, "issuer", diags);
    if let Some(i) = &issuer {
        check_url(path, i, "serve.issuer", diags);
    }
    let audience = required(raw.audience, "audience", diags);
    if let Some(u) = &raw.jwks_url {
        text(path, u, "jwks_url", diags);
        check_url(path, u, "serve.jwks_url", diags);
    }
    let seconds = |v: &Option<Spanned<i64>>,
                   key: &str,
                   max: i64,
                   default: u64,
                   diags: &mut Vec<Diagnostic>| {
        match v {
            Some(s) if s.value < 1 || s.value > max => {
                diags.push(Diagnostic::error(
                    yaml::pos(path, s),
                    format!("serve.{key} must be between 1 and {max}, not {}", s.value),
                ));
                default
            }
            Some(s) => s.value as u64,
            None => default,
        }
    };
    let ttl = seconds(
        &raw.allowlist_ttl_seconds,
        "allowlist_ttl_seconds",
        3600,
        60,
        diags,
    );
    let timeout = seconds(
        &raw.request_timeout_seconds,
        "request_timeout_seconds",
        300,
        30,
        diags,
    );
    let in_flight = seconds(&raw.max_in_flight, "max_in_flight", 4096, 64, diags);

    let mut clients = Vec::new();
    match raw.clients {
        None => diags.push(Diagnostic::error(
            at.clone(),
            "serve.clients is missing: list who may call the API (a token's `sub`, its accounts and actions)",
        )),
        Some(list) if list.value.is_empty() => diags.push(Diagnostic::error(
            yaml::pos(path, &list),
            "serve.clients is empty: nobody could call the API",
        )),
        Some(list) => {
            let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
            for c in list.value {
                if let Some(client) = check_client(path, c, accounts, &mut seen, diags) {
                    clients.push(client);
                }
            }
        }
    }
    ServeConfig {
        issuer: issuer.map(|v| v.value).unwrap_or_default(),
        audience: audience.map(|v| v.value).unwrap_or_default(),
        jwks_url: raw.jwks_url.map(|v| v.value),
        clients,
        allowlist_ttl: Duration::from_secs(ttl),
        request_timeout: Duration::from_secs(timeout),
        max_in_flight: in_flight as usize,
    }
}

fn check_client(
    path: &str,
    raw: Spanned<RawClient>,
    accounts: &BTreeMap<String, Account>,
    seen: &mut BTreeMap<String, Pos>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Client> {
    let at = yaml::pos(path, &raw);
    let raw = raw.value;
    let Some(subject) = raw.subject else {
        diags.push(Diagnostic::error(
            at,
            "a serve client has no `subject` (the token's `sub`)",
        ));
        return None;
    };
    let p = yaml::pos(path, &subject);
    if subject.value.is_empty() {
        diags.push(Diagnostic::error(
            p.clone(),
            "serve client subject is empty",
        ));
    }
    text(path, &subject, "clients.subject", diags);
    if let Some(first) = seen.get(&subject.value) {
        diags.push(
            Diagnostic::error(
                p.clone(),
                format!("serve client `{}` is listed twice", subject.value),
            )
            .with_related(first.clone(), "first listed here"),
        );
    } else {
        seen.insert(subject.value.clone(), p);
    }
    let who = &subject.value;
    let list = |v: Option<Spanned<Vec<Spanned<String>>>>,
                key: &str,
                diags: &mut Vec<Diagnostic>| {
        match v {
            None => {
                diags.push(Diagnostic::error(
                    at.clone(),
                    format!("serve client `{who}` has no `{key}`"),
                ));
                Vec::new()
            }
            Some(l) if l.value.is_empty() => {
                diags.push(Diagnostic::error(
                    yaml::pos(path, &l),
                    format!("serve client `{who}`: `{key}` is empty, so it could call nothing"),
                ));
                Vec::new()
            }
            Some(l) => l.value,
        }
    };
    let mut names = Vec::new();
    let mut every_account = false;
    for a in list(raw.accounts, "accounts", diags) {
        if a.value == "*" {
            every_account = true;
            continue;
        }
        let found = accounts
            .get_key_value(&a.value)
            .or_else(|| accounts.iter().find(|(_, acct)| acct.id == a.value));
        match found {
            Some((name, _)) => names.push(name.clone()),
            None => diags.push(Diagnostic::error(
                yaml::pos(path, &a),
                format!(
                    "serve client `{who}`: unknown account `{}`: use a name or id from `accounts`, or \"*\" for all",
                    crate::escape::terminal(&a.value)
                ),
            )),
        }
    }
    let mut actions = Vec::new();
    for a in list(raw.actions, "actions", diags) {
        if crate::invoke::Action::find(crate::invoke::SERVICE, &a.value).is_none() {
            diags.push(Diagnostic::error(
                yaml::pos(path, &a),
                format!(
                    "serve client `{who}`: `{}` is not an action sgops runs; these are: {}",
                    crate::escape::terminal(&a.value),
                    crate::invoke::Action::supported()
                ),
            ));
        } else {
            actions.push(a.value);
        }
    }
    Some(Client {
        subject: subject.value,
        accounts: (!every_account).then_some(names),
        actions,
    })
}

/// No control characters: these values reach logs.
fn text(path: &str, v: &Spanned<String>, key: &str, diags: &mut Vec<Diagnostic>) {
    if let Some(c) = crate::escape::forbidden_char(&v.value) {
        diags.push(Diagnostic::error(
            yaml::pos(path, v),
            format!("serve.{key} contains the control character {c:?}"),
        ));
    }
}

/// https, or http on a loopback address (tests, a local issuer): keys fetched over plain
/// http from elsewhere could be swapped on the way.
fn check_url(path: &str, v: &Spanned<String>, key: &str, diags: &mut Vec<Diagnostic>) {
    if let Err(why) = url_allowed(&v.value) {
        diags.push(Diagnostic::error(
            yaml::pos(path, v),
            format!("{key}: {why}"),
        ));
    }
}

/// Whether sgops may fetch from `url`; the reason when not.
pub fn url_allowed(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("`{}` is not a URL", crate::escape::terminal(url)))?;
    let host = uri
        .host()
        .ok_or_else(|| "the URL has no host".to_string())?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        _ => Err("must be an https URL (http only on a loopback address, for local tests)".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const ACCOUNTS: &str = "accounts:\n  itx-016: \"111111111111\"\n  itx-046: \"222222222222\"\n";

    fn errors(serve: &str) -> Vec<(u32, String)> {
        let text = format!("{ACCOUNTS}serve:\n{serve}");
        match parse("sgops.yaml", &text) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().map(|d| (d.pos.line, d.message)).collect(),
        }
    }

    #[test]
    fn a_full_section_parses_with_ids_resolved_to_names() {
        let text = format!(
            "{ACCOUNTS}serve:\n  issuer: https://login.example.com/t/v2.0\n  audience: api://sgops\n  clients:\n    - subject: app-1\n      accounts: [\"222222222222\"]\n      actions: [authorize_security_group_ingress]\n    - subject: ops\n      accounts: [\"*\"]\n      actions: [describe_security_group_rules]\n"
        );
        let c = parse("sgops.yaml", &text).unwrap();
        let s = c.serve.unwrap();
        assert_eq!(s.jwks_url, None);
        assert_eq!(s.allowlist_ttl.as_secs(), 60);
        let app = s.client("app-1").unwrap();
        assert!(app.may("itx-046", "authorize_security_group_ingress"));
        assert!(!app.may("itx-016", "authorize_security_group_ingress"));
        assert!(!app.may("itx-046", "revoke_security_group_ingress"));
        assert!(
            s.client("ops")
                .unwrap()
                .may("itx-016", "describe_security_group_rules")
        );
        assert!(s.client("nobody").is_none());
    }

    #[test]
    fn mistakes_are_reported_with_their_lines() {
        let got = errors(
            "  issuer: http://login.example.com\n  audience: api://sgops\n  jwks_url: ftp://127.0.0.1/keys\n  allowlist_ttl_seconds: 0\n  clients:\n    - subject: a\n      accounts: [itx-999]\n      actions: [run_instances]\n    - subject: a\n      accounts: []\n      actions: [create_tags]\n",
        );
        let lines: Vec<u32> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [5, 7, 8, 11, 12, 13, 14], "{got:#?}");
        assert!(got[0].1.starts_with("serve.issuer: must be an https URL"));
        assert!(got[3].1.contains("unknown account `itx-999`"));
        assert!(
            got[4]
                .1
                .contains("`run_instances` is not an action sgops runs")
        );
        assert!(got[5].1.contains("listed twice"));
    }

    #[test]
    fn loopback_http_is_allowed_for_local_issuers() {
        assert!(super::url_allowed("http://127.0.0.1:9999/x").is_ok());
        assert!(super::url_allowed("http://[::1]:9999/x").is_ok());
        assert!(super::url_allowed("http://localhost/x").is_ok());
        assert!(super::url_allowed("https://login.example.com/x").is_ok());
        assert!(super::url_allowed("http://10.0.0.1/x").is_err());
        assert!(super::url_allowed("http://127.0.0.1.example.com/x").is_err());
    }

    #[test]
    fn unknown_keys_and_missing_parts_are_errors() {
        let got = errors("  issuer: https://i\n  audiences: x\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1.contains("audiences"), "{got:?}");
        let got = errors("  issuer: https://i\n  audience: x\n");
        assert!(got[0].1.contains("serve.clients is missing"), "{got:?}");
    }
}
