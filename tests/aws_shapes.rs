//! Where moto differs from AWS (AWS-NOTES.md), checked without it: pagination of
//! DescribeSecurityGroupRules against a fake EC2 Query API, and the shapes of the requests
//! sgops sends (the full rule on modify, one IpPermission per peer kind).

use std::collections::BTreeMap;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use sgops::apply::Ec2Write;
use sgops::apply::aws::{ip_permission, rule_request};
use sgops::live::LiveRead;
use sgops::live::aws::AwsEc2;
use sgops::rules::{Direction, GroupRef, Peer, Ports, Protocol, RuleSpec};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn client(server: &MockServer) -> AwsEc2 {
    let conf = aws_sdk_ec2::Config::builder()
        .endpoint_url(server.uri())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "t"))
        .behavior_version(BehaviorVersion::latest())
        .build();
    AwsEc2 {
        client: aws_sdk_ec2::Client::from_conf(conf),
    }
}

fn xml(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/xml;charset=UTF-8")
}

/// One `<item>` of a `securityGroupRuleSet`.
fn rule_item(
    id: &str,
    group: &str,
    egress: bool,
    proto: &str,
    ports: (i32, i32),
    peer: &str,
    extra: &str,
) -> String {
    format!(
        "<item><securityGroupRuleId>{id}</securityGroupRuleId><groupId>{group}</groupId>\
         <groupOwnerId>111111111111</groupOwnerId><isEgress>{egress}</isEgress>\
         <ipProtocol>{proto}</ipProtocol><fromPort>{}</fromPort><toPort>{}</toPort>{peer}{extra}</item>",
        ports.0, ports.1
    )
}

fn tag_set(tags: &[(&str, &str)]) -> String {
    let items: String = tags
        .iter()
        .map(|(k, v)| format!("<item><key>{k}</key><value>{v}</value></item>"))
        .collect();
    format!("<tagSet>{items}</tagSet>")
}

fn rules_page(items: &[String], next: Option<&str>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DescribeSecurityGroupRulesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>7c6a1b9e-0000-4000-8000-000000000000</requestId>\
         <securityGroupRuleSet>{}</securityGroupRuleSet>{}\
         </DescribeSecurityGroupRulesResponse>",
        items.concat(),
        next.map(|t| format!("<nextToken>{t}</nextToken>"))
            .unwrap_or_default()
    )
}

fn body(r: &Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

/// Form fields of a Query API request body, decoded.
fn form(r: &Request) -> BTreeMap<String, String> {
    body(r)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

const TOKEN: &str = "page-2-token/with+odd=chars";

#[tokio::test]
async fn read_follows_next_token_across_pages() {
    let server = MockServer::start().await;
    let page1 = rules_page(
        &[
            rule_item(
                "sgr-00000000000000001",
                "sg-1",
                false,
                "tcp",
                (443, 443),
                "<cidrIpv4>10.0.0.0/8</cidrIpv4>",
                &format!(
                    "<description>Partner</description>{}",
                    tag_set(&[("sgops:rule", "partner"), ("team", "payments")])
                ),
            ),
            rule_item(
                "sgr-00000000000000002",
                "sg-1",
                false,
                "-1",
                (-1, -1),
                "<cidrIpv6>::/0</cidrIpv6>",
                "",
            ),
        ],
        Some(TOKEN),
    );
    let page2 = rules_page(
        &[
            rule_item(
                "sgr-00000000000000003",
                "sg-1",
                true,
                "udp",
                (53, 53),
                "<prefixListId>pl-0123456789abcdef0</prefixListId>",
                &tag_set(&[("sgops:rule", "dns")]),
            ),
            // A group no file names, still holding a managed rule: an orphan.
            rule_item(
                "sgr-00000000000000004",
                "sg-2",
                false,
                "icmp",
                (8, -1),
                "<referencedGroupInfo><groupId>sg-9</groupId><userId>111111111111</userId></referencedGroupInfo>",
                &tag_set(&[("sgops:rule", "ping")]),
            ),
        ],
        None,
    );
    let is_rules = || body_string_contains("Action=DescribeSecurityGroupRules");
    Mock::given(method("POST"))
        .and(is_rules())
        .and(|r: &Request| !body(r).contains("NextToken"))
        .respond_with(xml(page1))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(is_rules())
        .and(|r: &Request| form(r).get("NextToken").map(String::as_str) == Some(TOKEN))
        .respond_with(xml(page2))
        .expect(1)
        .mount(&server)
        .await;

    let ec2 = client(&server);
    let live = ec2
        .read(&[GroupRef::Id("sg-1".into())])
        .await
        .expect("read");

    let g = live.groups[&GroupRef::Id("sg-1".into())]
        .as_ref()
        .expect("sg-1");
    let ids: Vec<&str> = g.rules.iter().map(|r| r.rule_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "sgr-00000000000000001",
            "sgr-00000000000000002",
            "sgr-00000000000000003"
        ]
    );
    let r1 = &g.rules[0];
    assert_eq!(
        r1.spec,
        RuleSpec {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: Ports::Range { from: 443, to: 443 },
            peer: Peer::Cidr("10.0.0.0/8".parse().expect("net")),
            description: Some("Partner".into()),
        }
    );
    assert_eq!(
        r1.tags.get("sgops:rule").map(String::as_str),
        Some("partner")
    );
    assert_eq!(g.rules[1].spec.protocol, Protocol::All);
    assert!(g.rules[1].tags.is_empty());
    assert_eq!(g.rules[2].spec.direction, Direction::Egress);
    assert_eq!(
        g.rules[2].spec.peer,
        Peer::PrefixList("pl-0123456789abcdef0".into())
    );
    // The rule on page 2 of a group nobody named makes that group an orphan.
    assert_eq!(live.orphans.len(), 1);
    assert_eq!(live.orphans[0].id, "sg-2");
    assert_eq!(
        live.orphans[0].rules[0].spec.peer,
        Peer::SecurityGroup("sg-9".into())
    );

    let reqs = server.received_requests().await.expect("recorded");
    assert_eq!(reqs.len(), 2, "no other call was needed");
    let (first, second) = (form(&reqs[0]), form(&reqs[1]));
    assert_eq!(first.get("NextToken"), None);
    assert_eq!(second.get("NextToken").map(String::as_str), Some(TOKEN));
    for f in [&first, &second] {
        assert_eq!(
            f.get("Action").map(String::as_str),
            Some("DescribeSecurityGroupRules")
        );
        assert_eq!(f.get("MaxResults").map(String::as_str), Some("1000"));
    }
}

#[tokio::test]
async fn an_empty_group_is_told_from_a_missing_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeSecurityGroupRules"))
        .respond_with(xml(rules_page(&[], Some(""))))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeSecurityGroups&"))
        .respond_with(xml(
            "<DescribeSecurityGroupsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><securityGroupInfo><item><ownerId>111111111111</ownerId>\
             <groupId>sg-empty</groupId><groupName>empty</groupName>\
             <groupDescription>d</groupDescription><vpcId>vpc-1</vpcId></item>\
             </securityGroupInfo></DescribeSecurityGroupsResponse>"
                .to_string(),
        ))
        .mount(&server)
        .await;
    let ec2 = client(&server);
    let empty = GroupRef::Id("sg-empty".into());
    let gone = GroupRef::Id("sg-gone".into());
    let live = ec2
        .read(&[empty.clone(), gone.clone()])
        .await
        .expect("read");
    assert_eq!(live.groups[&empty].as_ref().map(|g| g.rules.len()), Ok(0));
    assert_eq!(
        live.groups[&gone],
        Err("security group sg-gone does not exist".to_string())
    );
    // An empty nextToken ends the listing: one rules call, one groups call.
    let reqs = server.received_requests().await.expect("recorded");
    assert_eq!(reqs.len(), 2);
    let groups_call = form(&reqs[1]);
    let asked: Vec<&String> = groups_call
        .iter()
        .filter(|(k, _)| k.starts_with("Filter.1.Value."))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(asked, ["sg-empty", "sg-gone"]);
}

fn spec_with(peer: Peer, protocol: Protocol, ports: Ports, desc: Option<&str>) -> RuleSpec {
    RuleSpec {
        direction: Direction::Ingress,
        protocol,
        ports,
        peer,
        description: desc.map(str::to_string),
    }
}

fn tcp(p: u16) -> Ports {
    Ports::Range { from: p, to: p }
}

#[test]
fn modify_sends_the_whole_rule_for_every_peer_kind() {
    let cases = [
        (Peer::Cidr("10.0.0.0/8".parse().expect("net")), "cidr"),
        (Peer::CidrIpv6("2001:db8::/32".parse().expect("net")), "v6"),
        (Peer::PrefixList("pl-0123456789abcdef0".into()), "pl"),
        (Peer::SecurityGroup("sg-0123456789abcdef0".into()), "sg"),
    ];
    for (peer, what) in cases {
        let r = rule_request(&spec_with(
            peer.clone(),
            Protocol::Tcp,
            tcp(443),
            Some("new words"),
        ));
        assert_eq!(r.ip_protocol(), Some("tcp"), "{what}");
        assert_eq!(r.from_port(), Some(443), "{what}");
        assert_eq!(r.to_port(), Some(443), "{what}");
        assert_eq!(r.description(), Some("new words"), "{what}");
        let got = (
            r.cidr_ipv4(),
            r.cidr_ipv6(),
            r.prefix_list_id(),
            r.referenced_group_id(),
        );
        let want = match &peer {
            Peer::Cidr(_) => (Some("10.0.0.0/8"), None, None, None),
            Peer::CidrIpv6(_) => (None, Some("2001:db8::/32"), None, None),
            Peer::PrefixList(_) => (None, None, Some("pl-0123456789abcdef0"), None),
            Peer::SecurityGroup(_) => (None, None, None, Some("sg-0123456789abcdef0")),
        };
        assert_eq!(got, want, "{what}");
    }
    // Protocols without ports and icmp are sent in AWS's own form.
    let r = rule_request(&spec_with(
        Peer::Cidr("10.0.0.0/8".parse().expect("net")),
        Protocol::All,
        Ports::NotApplicable,
        None,
    ));
    assert_eq!(
        (r.ip_protocol(), r.from_port(), r.to_port()),
        (Some("-1"), Some(-1), Some(-1))
    );
    assert_eq!(r.description(), None);
    let r = rule_request(&spec_with(
        Peer::Cidr("10.0.0.0/8".parse().expect("net")),
        Protocol::Icmp,
        Ports::Icmp {
            icmp_type: 8,
            code: -1,
        },
        None,
    ));
    assert_eq!(
        (r.ip_protocol(), r.from_port(), r.to_port()),
        (Some("icmp"), Some(8), Some(-1))
    );
    let r = rule_request(&spec_with(
        Peer::Cidr("10.0.0.0/8".parse().expect("net")),
        Protocol::Tcp,
        Ports::Range {
            from: 8000,
            to: 8100,
        },
        None,
    ));
    assert_eq!((r.from_port(), r.to_port()), (Some(8000), Some(8100)));
}

#[tokio::test]
async fn a_description_only_modify_carries_the_full_rule_on_the_wire() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ModifySecurityGroupRules"))
        .respond_with(xml(
            "<ModifySecurityGroupRulesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><return>true</return></ModifySecurityGroupRulesResponse>"
                .to_string(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let ec2 = client(&server);
    let spec = spec_with(
        Peer::Cidr("203.0.113.0/24".parse().expect("net")),
        Protocol::Tcp,
        tcp(443),
        Some("Partner callbacks"),
    );
    ec2.modify("sg-1", &[("sgr-00000000000000001".to_string(), spec)])
        .await
        .expect("modify");
    let reqs = server.received_requests().await.expect("recorded");
    let f = form(&reqs[0]);
    let get = |k: &str| f.get(k).map(String::as_str);
    assert_eq!(get("GroupId"), Some("sg-1"));
    assert_eq!(
        get("SecurityGroupRule.1.SecurityGroupRuleId"),
        Some("sgr-00000000000000001")
    );
    let p = "SecurityGroupRule.1.SecurityGroupRule.";
    assert_eq!(get(&format!("{p}IpProtocol")), Some("tcp"));
    assert_eq!(get(&format!("{p}FromPort")), Some("443"));
    assert_eq!(get(&format!("{p}ToPort")), Some("443"));
    assert_eq!(get(&format!("{p}CidrIpv4")), Some("203.0.113.0/24"));
    assert_eq!(get(&format!("{p}Description")), Some("Partner callbacks"));
}

#[test]
fn ip_permission_shapes_for_each_peer_kind() {
    let desc = Some("why");
    // IPv4 CIDR, one port.
    let p = ip_permission(&spec_with(
        Peer::Cidr("10.0.0.0/8".parse().expect("net")),
        Protocol::Tcp,
        tcp(443),
        desc,
    ));
    assert_eq!(p.ip_protocol(), Some("tcp"));
    assert_eq!((p.from_port(), p.to_port()), (Some(443), Some(443)));
    assert_eq!(p.ip_ranges().len(), 1);
    assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("10.0.0.0/8"));
    assert_eq!(p.ip_ranges()[0].description(), Some("why"));
    assert!(p.ipv6_ranges().is_empty());
    assert!(p.prefix_list_ids().is_empty());
    assert!(p.user_id_group_pairs().is_empty());

    // IPv6 CIDR, udp range.
    let p = ip_permission(&spec_with(
        Peer::CidrIpv6("2001:db8::/32".parse().expect("net")),
        Protocol::Udp,
        Ports::Range {
            from: 8000,
            to: 8100,
        },
        desc,
    ));
    assert_eq!(p.ip_protocol(), Some("udp"));
    assert_eq!((p.from_port(), p.to_port()), (Some(8000), Some(8100)));
    assert_eq!(p.ipv6_ranges().len(), 1);
    assert_eq!(p.ipv6_ranges()[0].cidr_ipv6(), Some("2001:db8::/32"));
    assert_eq!(p.ipv6_ranges()[0].description(), Some("why"));
    assert!(p.ip_ranges().is_empty());

    // Prefix list, icmp type/code.
    let p = ip_permission(&spec_with(
        Peer::PrefixList("pl-0123456789abcdef0".into()),
        Protocol::Icmp,
        Ports::Icmp {
            icmp_type: 8,
            code: -1,
        },
        desc,
    ));
    assert_eq!(p.ip_protocol(), Some("icmp"));
    assert_eq!((p.from_port(), p.to_port()), (Some(8), Some(-1)));
    assert_eq!(p.prefix_list_ids().len(), 1);
    assert_eq!(
        p.prefix_list_ids()[0].prefix_list_id(),
        Some("pl-0123456789abcdef0")
    );
    assert_eq!(p.prefix_list_ids()[0].description(), Some("why"));
    assert!(p.ip_ranges().is_empty());

    // Security group, all protocols: no ports at all.
    let p = ip_permission(&spec_with(
        Peer::SecurityGroup("sg-0123456789abcdef0".into()),
        Protocol::All,
        Ports::NotApplicable,
        None,
    ));
    assert_eq!(p.ip_protocol(), Some("-1"));
    assert_eq!((p.from_port(), p.to_port()), (None, None));
    assert_eq!(p.user_id_group_pairs().len(), 1);
    assert_eq!(
        p.user_id_group_pairs()[0].group_id(),
        Some("sg-0123456789abcdef0")
    );
    assert_eq!(p.user_id_group_pairs()[0].description(), None);
    assert!(p.ip_ranges().is_empty());

    // A numbered protocol goes as its number.
    let p = ip_permission(&spec_with(
        Peer::Cidr("10.0.0.0/8".parse().expect("net")),
        Protocol::Number(47),
        Ports::NotApplicable,
        None,
    ));
    assert_eq!(p.ip_protocol(), Some("47"));
    assert_eq!((p.from_port(), p.to_port()), (None, None));
}

/// SSM's answer for the allow-list `/p/ec2`: authorize_security_group_ingress.
async fn mount_allowlist(server: &MockServer) {
    Mock::given(method("POST"))
        .and(wiremock::matchers::header(
            "x-amz-target",
            "AmazonSSM.GetParameter",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(serde_json::json!({"Parameter": {
                    "Name": "/p/ec2", "Type": "String",
                    "Value": "{\"authorize_security_group_ingress\"}"}})),
        )
        .mount(server)
        .await;
}

/// AssumeRole as `sgops plan` sends it: the role of sgops.yaml, the external id, and a
/// session name carrying the pull request and commit (CloudTrail shows which change it was).
#[tokio::test]
async fn assume_role_carries_role_external_id_and_session_name() {
    let server = MockServer::start().await;
    mount_allowlist(&server).await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=AssumeRole"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code><Message>not this time</Message>\
             </Error><RequestId>r</RequestId></ErrorResponse>",
            "text/xml",
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("sgops.yaml"),
        "allowlist:\n  parameter_prefix: /p/\n  region: us-east-1\nrole_name: sgops-reader\nexternal_id: ext-123\naccounts:\n  app: \"111111111111\"\n",
    )
    .expect("config");
    let rules = dir.path().join("rules/app/eu-west-1");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("web.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: web\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 203.0.113.0/24\n    ticket: CHG-1\n",
    )
    .expect("rules");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sgops"))
        .current_dir(dir.path())
        .args(["plan", "--format", "json"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", server.uri())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("GITHUB_REF", "refs/pull/42/merge")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("NO_COLOR", "1")
        .output()
        .expect("run sgops");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    let requests = server.received_requests().await.expect("recording");
    let assumes: Vec<BTreeMap<String, String>> = requests
        .iter()
        .map(form)
        .filter(|f| f.get("Action").map(String::as_str) == Some("AssumeRole"))
        .collect();
    assert_eq!(assumes.len(), 1, "one AssumeRole per account");
    let f = &assumes[0];
    assert_eq!(f["RoleArn"], "arn:aws:iam::111111111111:role/sgops-reader");
    assert_eq!(f["ExternalId"], "ext-123");
    assert_eq!(f["RoleSessionName"], "sgops-pr42-0123456789ab");
}

/// A fake AWS for a plan over several accounts and regions: SSM answers the allow-list, STS
/// gives credentials that expire after `lifetime`, EC2 an empty region.
async fn fake_aws(lifetime: std::time::Duration) -> MockServer {
    let server = MockServer::start().await;
    mount_allowlist(&server).await;
    let expires =
        jiff::Timestamp::now() + jiff::SignedDuration::try_from(lifetime).expect("lifetime");
    Mock::given(method("POST"))
        .and(body_string_contains("Action=AssumeRole"))
        .respond_with(xml(format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
             <Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>\
             <SessionToken>token</SessionToken><Expiration>{}</Expiration></Credentials>\
             <AssumedRoleUser><AssumedRoleId>AROAFAKE:s</AssumedRoleId>\
             <Arn>arn:aws:sts::111111111111:assumed-role/sgops/s</Arn></AssumedRoleUser>\
             </AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
             </AssumeRoleResponse>",
            expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeSecurityGroupRules"))
        .respond_with(xml(rules_page(&[], None)))
        .mount(&server)
        .await;
    server
}

/// `sgops plan` in a repository of `accounts` accounts whose `regions` are all read.
fn plan_regions(
    server: &MockServer,
    accounts: usize,
    regions: &[&str],
    extra: &[(&str, &str)],
) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = format!(
        "allowlist:\n  parameter_prefix: /p/\n  region: us-east-1\nregions: [{}]\nconcurrency: 1\naccounts:\n",
        regions.join(", ")
    );
    for i in 1..=accounts {
        cfg.push_str(&format!("  a{i}: \"{:012}\"\n", 111_111_111_110 + i as u64));
    }
    std::fs::write(dir.path().join("sgops.yaml"), cfg).expect("config");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sgops"));
    cmd.current_dir(dir.path())
        .args(["plan", "--format", "json"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", server.uri())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("run sgops")
}

/// The region a request was signed for, from its SigV4 credential scope.
fn signed_region(r: &Request) -> (String, String) {
    let auth = r
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let scope = auth
        .split("Credential=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default();
    let parts: Vec<&str> = scope.split('/').collect();
    (
        parts.first().copied().unwrap_or_default().to_string(),
        parts.get(2).copied().unwrap_or_default().to_string(),
    )
}

/// One AssumeRole per account, whatever the number of regions: role credentials are valid in
/// every region. STS is asked in the caller's own region (a regional endpoint), and each
/// region's EC2 calls are signed with the assumed credentials for that region.
#[tokio::test]
async fn one_assume_role_per_account_serves_all_its_regions() {
    let server = fake_aws(std::time::Duration::from_secs(3600)).await;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
    let out = plan_regions(&server, 3, &regions, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let requests = server.received_requests().await.expect("recording");
    let action = |r: &Request| form(r).get("Action").cloned().unwrap_or_default();
    let assumes: Vec<&Request> = requests
        .iter()
        .filter(|r| action(r) == "AssumeRole")
        .collect();
    assert_eq!(
        assumes.len(),
        3,
        "one AssumeRole per account, not per account × region"
    );
    for a in &assumes {
        assert_eq!(
            signed_region(a),
            ("testing".to_string(), "eu-central-1".to_string()),
            "STS at the caller's regional endpoint, with the caller's credentials"
        );
    }
    let mut reads: Vec<(String, String)> = requests
        .iter()
        .filter(|r| action(r) == "DescribeSecurityGroupRules")
        .map(signed_region)
        .collect();
    reads.sort();
    let mut want: Vec<(String, String)> = regions
        .iter()
        .flat_map(|r| std::iter::repeat_n(("ASIAFAKE".to_string(), r.to_string()), 3))
        .collect();
    want.sort();
    assert_eq!(
        reads, want,
        "12 reads, each with the role's credentials in its region"
    );
}

/// Credentials about to expire are renewed before use: with STS handing out credentials that
/// lapse in seconds, every use assumes the role again.
#[tokio::test]
async fn credentials_about_to_expire_are_renewed() {
    let server = fake_aws(std::time::Duration::from_secs(5)).await;
    let out = plan_regions(&server, 1, &["us-east-1", "eu-west-1"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let requests = server.received_requests().await.expect("recording");
    let assumes = requests
        .iter()
        .filter(|r| form(r).get("Action").map(String::as_str) == Some("AssumeRole"))
        .count();
    // The first AssumeRole, then one renewal for each region's read.
    assert_eq!(assumes, 3, "{stderr}");
}
