//! `sgops accounts` end to end against moto's AWS Organizations: an OU tree two levels deep,
//! an account outside the OUs, a suspended account, names that need folding, a collision,
//! more accounts under one OU than fit a page; `--write` checked byte for byte.
//!
//! Each test is the management account of an organization of its own: it assumes a role in a
//! fresh account id (moto keeps one organization per management account) and runs sgops with
//! those credentials.

mod support;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::OrganizationFeatureSet;
use support::*;

/// An organization in moto, and the management account's credentials for sgops.
struct Org {
    client: Client,
    root: String,
    management: String,
    env: Vec<(&'static str, String)>,
}

impl Org {
    async fn new() -> Org {
        let management = account_id();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(moto_url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
            .load()
            .await;
        let c = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{management}:role/admin"))
            .role_session_name("org-admin")
            .send()
            .await
            .expect("assume role")
            .credentials
            .expect("credentials");
        let env = vec![
            ("AWS_ACCESS_KEY_ID", c.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN", c.session_token.clone()),
        ];
        let conf = aws_sdk_organizations::config::Builder::from(&base)
            .credentials_provider(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "org",
            ))
            .build();
        let client = Client::from_conf(conf);
        client
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let root = client
            .list_roots()
            .send()
            .await
            .expect("roots")
            .roots()
            .first()
            .and_then(|r| r.id().map(str::to_string))
            .expect("root id");
        Org {
            client,
            root,
            management,
            env,
        }
    }

    async fn ou(&self, parent: &str, name: &str) -> String {
        self.client
            .create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .send()
            .await
            .expect("create OU")
            .organizational_unit
            .and_then(|o| o.id)
            .expect("OU id")
    }

    /// Creates an account and moves it under `parent` (the root when `None`); its id.
    async fn account(&self, name: &str, parent: Option<&str>) -> String {
        let id = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{}@example.com", name.replace(' ', ".")))
            .send()
            .await
            .expect("create account")
            .create_account_status
            .and_then(|s| s.account_id)
            .expect("account id");
        if let Some(p) = parent {
            self.client
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(p)
                .send()
                .await
                .expect("move account");
        }
        id
    }

    async fn close(&self, id: &str) {
        self.client
            .close_account()
            .account_id(id)
            .send()
            .await
            .expect("close account");
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

fn write_config(repo: &Repo, text: &str) {
    std::fs::write(repo.path().join("sgops.yaml"), text).expect("write sgops.yaml");
}

fn read_config(repo: &Repo) -> String {
    std::fs::read_to_string(repo.path().join("sgops.yaml")).expect("read sgops.yaml")
}

#[tokio::test]
async fn accounts_under_an_ou_tree_are_found_named_compared_and_written() {
    let org = Org::new().await;
    let workloads = org.ou(&org.root, "Workloads").await;
    let prod = org.ou(&workloads, "Prod").await;
    let itx = org.account("ITX 016", Some(&prod)).await;
    let payments = org.account("Payments App", Some(&workloads)).await;
    let closed = org.account("Closed One", Some(&prod)).await;
    org.close(&closed).await;
    let outside = org.account("Outside", None).await;
    let dup1 = org.account("Dup Name", Some(&workloads)).await;
    let dup2 = org.account("dup_name", Some(&prod)).await;
    // More than one page of ListAccountsForParent (moto's page is 20 accounts).
    let mut teams = Vec::new();
    for i in 1..=21 {
        teams.push((
            format!("team-{i:02}"),
            org.account(&format!("Team {i:02}"), Some(&prod)).await,
        ));
    }

    let repo = Repo::new(&[], "");
    let config = |names: &str| {
        format!(
            r#"# Accounts of the platform organization.
allowlist:
  parameter_prefix: {prefix}
  region: us-east-1
role_name: sgops
accounts:
  # Workloads
  itx-016: {{ id: "{itx}", regions: [eu-west-1] }}   # stays, with its regions
  'old-payments': {{ id: "{payments}", role_name: payments-role }}
  closed-one: "{closed}"   # suspended
  outside: "{outside}"
regions: [us-east-1]

organization:
  ous: ["{workloads}"]{names}
concurrency: 4 # last line
"#,
            prefix = repo.prefix
        )
    };
    write_config(&repo, &config(""));
    repo.file(
        "old-payments",
        "us-east-1",
        "app",
        "security_group: sg-0123456789abcdef0\nrules: []\n",
    );
    repo.file(
        "closed-one",
        "us-east-1",
        "app",
        "security_group: sg-0123456789abcdef0\nrules: []\n",
    );

    // Two accounts fold to `dup-name`: an error naming both, and nothing written.
    let before = read_config(&repo);
    let (code, out, err) = repo.sgops_with_env(&["accounts", "--write"], &org.env());
    assert_eq!(code, 1, "{out}{err}");
    // Named in the order of their ids.
    let mut pair = [(&dup1, "Dup Name"), (&dup2, "dup_name")];
    pair.sort();
    assert!(
        err.contains(&format!(
            "accounts {} (`{}`) and {} (`{}`) would all be named `dup-name`",
            pair[0].0, pair[0].1, pair[1].0, pair[1].1
        )),
        "{err}"
    );
    assert!(err.contains("organization.names"), "{err}");
    assert_eq!(read_config(&repo), before);

    // Named apart, it reads: folded names, the tree under Workloads, Outside left out.
    write_config(
        &repo,
        &config(&format!("\n  names: {{ \"{dup2}\": dup-name-2 }}")),
    );
    let before = read_config(&repo);
    let (code, out, err) = repo.sgops_with_env(
        &["accounts", "--format", "json", "--detailed-exitcode"],
        &org.env(),
    );
    assert_eq!(code, 2, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    let mut added: Vec<(String, String)> = j["added"]
        .as_array()
        .expect("added")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or("").to_string(),
                a["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    added.sort();
    let mut want: Vec<(String, String)> = vec![
        ("dup-name".into(), dup1.clone()),
        ("dup-name-2".into(), dup2.clone()),
    ];
    want.extend(teams.iter().cloned());
    want.sort();
    assert_eq!(added, want);
    assert_eq!(
        j["renamed"],
        serde_json::json!([{"id": payments, "from": "old-payments", "to": "payments-app",
            "rules_from": "rules/old-payments/", "rules_to": "rules/payments-app/"}])
    );
    assert_eq!(
        j["removed"],
        serde_json::json!([
            {"name": "closed-one", "id": closed, "reason": "SUSPENDED in the organization"},
            {"name": "outside", "id": outside,
             "reason": format!("not in the organization under {workloads}")},
        ])
    );
    assert_eq!(
        j["inactive"],
        serde_json::json!([{"name": "closed-one", "id": closed, "state": "SUSPENDED"}])
    );
    assert_eq!(j["id_changed"], serde_json::json!([]));
    assert_eq!(j["accounts"]["itx-016"], itx.as_str());
    assert_eq!(j["written"], false);
    assert_eq!(
        read_config(&repo),
        before,
        "nothing written without --write"
    );

    // The text form says the same, and what to do with the folders.
    let (code, out, err) = repo.sgops_with_env(&["accounts"], &org.env());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "~ renamed     {:<28} {payments}  (the rule folder rules/old-payments/ must move to rules/payments-app/)",
            "old-payments -> payments-app"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "- removed     {:<28} {closed}  (SUSPENDED in the organization)",
            "closed-one"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("not managed: closed-one ({closed}) is SUSPENDED")),
        "{out}"
    );
    assert!(
        out.contains("note: rules/closed-one/ holds rule files of a removed account: delete them"),
        "{out}"
    );

    // --write: only the accounts block changes, byte for byte.
    let (code, out, err) = repo.sgops_with_env(&["accounts", "--write"], &org.env());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("sgops.yaml: accounts: block rewritten."),
        "{out}"
    );
    assert!(
        out.contains("note: moved rules/old-payments/ to rules/payments-app/"),
        "{out}"
    );
    let mut block = format!(
        "  # Workloads\n  itx-016: {{ id: \"{itx}\", regions: [eu-west-1] }}   # stays, with its regions\n  payments-app: {{ id: \"{payments}\", role_name: payments-role }}\n  dup-name: \"{dup1}\"\n  dup-name-2: \"{dup2}\"\n"
    );
    for (name, id) in &teams {
        block.push_str(&format!("  {name}: \"{id}\"\n"));
    }
    let expected = before.replace(
        &format!(
            "  # Workloads\n  itx-016: {{ id: \"{itx}\", regions: [eu-west-1] }}   # stays, with its regions\n  'old-payments': {{ id: \"{payments}\", role_name: payments-role }}\n  closed-one: \"{closed}\"   # suspended\n  outside: \"{outside}\"\n"
        ),
        &block,
    );
    assert_ne!(expected, before);
    assert_eq!(read_config(&repo), expected);
    assert!(
        repo.path()
            .join("rules/payments-app/us-east-1/app.yaml")
            .exists()
    );
    assert!(!repo.path().join("rules/old-payments").exists());

    // In step now; the rest of the repository still validates.
    std::fs::remove_dir_all(repo.path().join("rules/closed-one")).expect("remove folder");
    let (code, out, err) = repo.sgops_with_env(&["accounts", "--detailed-exitcode"], &org.env());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("sgops.yaml is in step with the organization.\n"),
        "{out}"
    );
    let (code, _, err) = repo.sgops(&["validate"]);
    assert_eq!(code, 0, "{err}");

    // --ou on the command line replaces organization.ous: from the root, Outside and the
    // management account (`master` in moto) are in.
    let (code, out, err) = repo.sgops_with_env(
        &["accounts", "--ou", &org.root, "--format", "json"],
        &org.env(),
    );
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(j["accounts"]["outside"], outside.as_str());
    assert_eq!(j["accounts"]["master"], org.management.as_str());
    assert_eq!(j["accounts"]["dup-name-2"], dup2.as_str());
}

#[tokio::test]
async fn the_whole_organization_with_an_id_change_and_exclusions() {
    let org = Org::new().await;
    let web = org.account("Web", None).await;
    let sandbox = org.account("Sandbox", None).await;
    let repo = Repo::new(&[], "");
    let text = format!(
        "accounts:\n  web: \"000000000016\"\norganization:\n  exclude: [sandbox, \"{}\"]\n",
        org.management
    );
    write_config(&repo, &text);
    let (code, out, err) = repo.sgops_with_env(
        &["accounts", "--detailed-exitcode", "--format", "json"],
        &org.env(),
    );
    assert_eq!(code, 2, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(
        j["id_changed"],
        serde_json::json!([{"name": "web", "from": "000000000016", "to": web}])
    );
    assert_eq!(j["added"], serde_json::json!([]));
    assert_eq!(j["removed"], serde_json::json!([]));
    let mut excluded: Vec<&str> = j["excluded"]
        .as_array()
        .expect("excluded")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    excluded.sort();
    let mut want = vec![sandbox.as_str(), org.management.as_str()];
    want.sort();
    assert_eq!(excluded, want);
    let (code, out, err) = repo.sgops_with_env(&["accounts", "--write"], &org.env());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "! id changed  {:<28} 000000000016 -> {web}",
            "web"
        )),
        "{out}"
    );
    assert_eq!(
        read_config(&repo),
        text.replace("000000000016", &web),
        "only the id changed"
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_nothing_is_written() {
    let org = Org::new().await;
    org.account("Web", None).await;
    let repo = Repo::new(&[("web", "000000000016")], "");
    let before = read_config(&repo);

    let (code, _, err) = repo.sgops_with_env(
        &["accounts", "--write", "--ou", "ou-zzzz-zzzzzzzz"],
        &org.env(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("OU ou-zzzz-zzzzzzzz does not exist in this organization"),
        "{err}"
    );
    let (code, _, err) = repo.sgops_with_env(&["accounts", "--ou", "Workloads"], &org.env());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--ou Workloads: not an OU id"), "{err}");

    // A caller Organizations refuses: say where to run it from.
    let proxy = FaultProxy::start(&["--deny-action", "ListAccounts"]);
    let (code, out, err) = repo.sgops_via(&proxy.url, &["accounts", "--write"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("AWS Organizations refused ListAccounts (AccessDeniedException")
            && err.contains("management account")
            && err.contains("delegated administrator"),
        "{err}"
    );
    assert_eq!(proxy.stats()["denied_action"]["ListAccounts"], 1);

    // An answer without a single account (moto answers so for an account in no
    // organization) never empties the map.
    let (code, out, err) = repo.sgops(&["accounts", "--write"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("AWS Organizations lists no active account in the organization: sgops.yaml was not changed"),
        "{err}"
    );
    assert_eq!(read_config(&repo), before);
}
