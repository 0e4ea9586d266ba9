//! The invoke pieces together: bodies parsed and checked, as the SDK sees them, and answered.

use aws_sdk_ec2::types as ec2;
use serde_json::{Value, json};

use super::answer::*;
use super::call::*;
use super::sdk::*;
use super::*;

fn parse_err(action: Action, body: &str) -> BodyError {
    parse(action, body).expect_err("body should be refused")
}

fn paths(e: &BodyError) -> Vec<&str> {
    e.0.iter().map(|p| p.path.as_str()).collect()
}

const AUTHORIZE: &str = r#"{
    "GroupId": "sg-0123456789abcdef0",
    "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "Partner"}]}],
    "TagSpecifications": [{"ResourceType": "security-group-rule",
        "Tags": [{"Key": "team", "Value": "payments"}]}]
}"#;

#[test]
fn a_boto3_body_parses() {
    let Request::AuthorizeIngress(b) = parse(Action::AuthorizeIngress, AUTHORIZE).unwrap() else {
        panic!("wrong request")
    };
    assert_eq!(b.group_id.as_deref(), Some("sg-0123456789abcdef0"));
    let p = b.ip_permissions[0].sdk();
    assert_eq!(p.ip_protocol(), Some("tcp"));
    assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("203.0.113.0/24"));
    let t = tag_specifications(&b.tag_specifications).unwrap();
    assert_eq!(
        t[0].resource_type(),
        Some(&ec2::ResourceType::SecurityGroupRule)
    );
}

#[test]
fn wrong_types_name_their_path() {
    let e = parse_err(
        Action::AuthorizeIngress,
        &AUTHORIZE.replace(r#""FromPort": 443"#, r#""FromPort": "443""#),
    );
    assert_eq!(paths(&e), ["IpPermissions[0].FromPort"]);
    assert!(
        e.to_string().contains("invalid type: string \"443\""),
        "{e}"
    );

    let e = parse_err(
        Action::AuthorizeIngress,
        &AUTHORIZE.replace(r#""FromPort": 443"#, r#""FromPort": 443.5"#),
    );
    assert_eq!(paths(&e), ["IpPermissions[0].FromPort"]);

    let e = parse_err(
        Action::CreateTags,
        r#"{"Resources": "sgr-0123456789abcdef0", "Tags": []}"#,
    );
    assert_eq!(paths(&e), ["Resources"]);
}

#[test]
fn unknown_keys_are_errors_at_their_path() {
    let e = parse_err(
        Action::AuthorizeIngress,
        &AUTHORIZE.replace(r#""CidrIp""#, r#""CidrIP""#),
    );
    assert_eq!(paths(&e), ["IpPermissions[0].IpRanges[0].CidrIP"]);
    assert!(e.to_string().contains("unknown field `CidrIP`"), "{e}");

    // The EC2-Classic shorthand is refused: rules are written as IpPermissions.
    let e = parse_err(
        Action::AuthorizeIngress,
        r#"{"GroupId": "sg-0123456789abcdef0", "CidrIp": "10.0.0.0/8", "IpPermissions": []}"#,
    );
    assert_eq!(paths(&e), ["CidrIp"]);
}

#[test]
fn missing_required_keys_and_bad_json_are_errors() {
    let e = parse_err(Action::AuthorizeEgress, r#"{"IpPermissions": []}"#);
    assert!(e.to_string().contains("missing field `GroupId`"), "{e}");
    let e = parse_err(Action::DescribeRules, r#"{} {}"#);
    assert!(e.to_string().contains("trailing characters"), "{e}");
    let e = parse_err(Action::DescribeRules, r#"[]"#);
    assert_eq!(paths(&e), [""]);
    let e = parse_err(
        Action::DescribeRules,
        r#"{"Filters": [{"Name": "group-id", "Values": ["a"]}], "Filters": []}"#,
    );
    assert!(e.to_string().contains("duplicate field `Filters`"), "{e}");
}

#[test]
fn values_are_checked_all_at_once() {
    let body = r#"{
        "GroupId": "sg-nothex",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 80,
             "IpRanges": [{"CidrIp": "10.0.0.1/24"}]},
            {"IpProtocol": "-1", "FromPort": 443, "ToPort": 443,
             "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32", "Description": "caf\u00e9"}]},
            {"IpProtocol": "tcpp", "FromPort": 1, "ToPort": 70000,
             "PrefixListIds": [{"PrefixListId": "pl-1"}]},
            {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53}
        ],
        "TagSpecifications": [{"ResourceType": "security-group",
            "Tags": [{"Key": "aws:x", "Value": "y"}]}]
    }"#;
    let e = parse_err(Action::AuthorizeIngress, body);
    assert_eq!(
        paths(&e),
        [
            "GroupId",
            "IpPermissions[0].ToPort",
            "IpPermissions[0].IpRanges[0].CidrIp",
            "IpPermissions[1].FromPort",
            "IpPermissions[1].ToPort",
            "IpPermissions[1].Ipv6Ranges[0].Description",
            "IpPermissions[2].IpProtocol",
            "IpPermissions[2].PrefixListIds[0].PrefixListId",
            "IpPermissions[3]",
            "TagSpecifications[0].ResourceType",
            "TagSpecifications[0].Tags[0]",
        ],
        "{e}"
    );
    let text = e.to_string();
    assert!(text.starts_with("11 problems:"), "{text}");
    assert!(text.contains("did you mean 10.0.0.0/24"), "{text}");
}

#[test]
fn ports_follow_the_protocol() {
    let perm =
        |p: &str| format!(r#"{{"GroupId": "sg-0123456789abcdef0", "IpPermissions": [{p}]}}"#);
    let ok = [
        r#"{"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
        r#"{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
        r#"{"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
        r#"{"IpProtocol": "6", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef1"}]}"#,
    ];
    for p in ok {
        assert!(parse(Action::AuthorizeEgress, &perm(p)).is_ok(), "{p}");
    }
    let bad = [
        (
            r#"{"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
            "IpPermissions[0].FromPort",
        ),
        (
            r#"{"IpProtocol": "icmp", "FromPort": -1, "ToPort": 3, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}"#,
            "IpPermissions[0].ToPort",
        ),
        (
            r#"{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{}]}"#,
            "IpPermissions[0].UserIdGroupPairs[0]",
        ),
    ];
    for (p, path) in bad {
        let e = parse_err(Action::AuthorizeEgress, &perm(p));
        assert_eq!(paths(&e)[0], path, "{p}: {e}");
    }
}

#[test]
fn protocols_are_sent_canonical() {
    let body = r#"{"GroupId": "sg-0123456789abcdef0", "IpPermissions": [
        {"IpProtocol": "6", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "all", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}"#;
    let Request::AuthorizeEgress(b) = parse(Action::AuthorizeEgress, body).unwrap() else {
        panic!("wrong request")
    };
    assert_eq!(b.ip_permissions[0].sdk().ip_protocol(), Some("tcp"));
    assert_eq!(b.ip_permissions[1].sdk().ip_protocol(), Some("-1"));
}

#[test]
fn group_and_rule_selection() {
    let e = parse_err(
        Action::RevokeIngress,
        r#"{"GroupId": "sg-0123456789abcdef0"}"#,
    );
    assert!(
        e.to_string()
            .contains("SecurityGroupRuleIds or IpPermissions")
    );
    let e = parse_err(
        Action::RevokeIngress,
        r#"{"SecurityGroupRuleIds": ["sgr-0123456789abcdef0"]}"#,
    );
    assert!(e.to_string().contains("give GroupId"), "{e}");
    assert!(
        parse(
            Action::RevokeEgress,
            r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRuleIds": ["sgr-0123456789abcdef0"]}"#,
        )
        .is_ok()
    );
    let e = parse_err(
        Action::RevokeEgress,
        r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRuleIds": ["sg-0123456789abcdef0"]}"#,
    );
    assert_eq!(paths(&e), ["SecurityGroupRuleIds[0]"]);
}

#[test]
fn modify_rules_are_checked() {
    let body = r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRules": [
        {"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule":
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv4": "10.0.0.0/8",
             "PrefixListId": "pl-12345678"}},
        {"SecurityGroupRuleId": "sgr-0123456789abcdef1", "SecurityGroupRule":
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "2001:db8::1/32"}}
    ]}"#;
    let e = parse_err(Action::ModifyRules, body);
    assert_eq!(
        paths(&e),
        [
            "SecurityGroupRules[0].SecurityGroupRule",
            "SecurityGroupRules[1].SecurityGroupRule.CidrIpv6"
        ],
        "{e}"
    );
    let e = parse_err(
        Action::ModifyRules,
        r#"{"GroupId": "sg-0123456789abcdef0", "SecurityGroupRules": [{"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {"Foo": 1}}]}"#,
    );
    assert_eq!(paths(&e), ["SecurityGroupRules[0].SecurityGroupRule.Foo"]);
}

#[test]
fn tags_and_describes() {
    assert!(
        parse(
            Action::CreateTags,
            r#"{"Resources": ["sgr-0123456789abcdef0"], "Tags": [{"Key": "team", "Value": "x"}]}"#
        )
        .is_ok()
    );
    let e = parse_err(Action::CreateTags, r#"{"Resources": [], "Tags": []}"#);
    assert_eq!(paths(&e), ["Resources", "Tags"]);
    assert!(
        parse(
            Action::DeleteTags,
            r#"{"Resources": ["sgr-0123456789abcdef0"]}"#
        )
        .is_ok()
    );
    // Only security-group rules: not a group, an instance, or anything else.
    for id in ["sg-0123456789abcdef0", "i-0123456789abcdef0", "*", ""] {
        for action in [Action::CreateTags, Action::DeleteTags] {
            let body = format!(r#"{{"Resources": ["{id}"], "Tags": [{{"Key": "k"}}]}}"#);
            let e = parse_err(action, &body);
            assert_eq!(paths(&e), ["Resources[0]"], "{id}");
        }
    }
    assert!(parse(Action::DescribeRules, "{}").is_ok());
    assert!(
        parse(
            Action::DescribeGroups,
            r#"{"GroupIds": ["sg-0123456789abcdef0"]}"#
        )
        .is_ok()
    );
    let e = parse_err(Action::DescribeRules, r#"{"MaxResults": 2000}"#);
    assert_eq!(paths(&e), ["MaxResults"]);
    let e = parse_err(
        Action::DescribeRules,
        r#"{"Filters": [{"Name": "group-id", "Values": "sg-1"}]}"#,
    );
    assert_eq!(paths(&e), ["Filters[0].Values"]);
}

#[test]
fn an_explicit_null_is_refused_at_its_path() {
    let e = parse_err(
        Action::AuthorizeIngress,
        &AUTHORIZE.replace(
            r#""TagSpecifications": [{"ResourceType": "security-group-rule",
        "Tags": [{"Key": "team", "Value": "payments"}]}]"#,
            r#""TagSpecifications": null"#,
        ),
    );
    assert_eq!(paths(&e), ["TagSpecifications"], "{e}");
    assert_eq!(
        e.to_string(),
        "TagSpecifications: is null, which boto3 refuses for every parameter: leave the key out"
    );
    let e = parse_err(
        Action::AuthorizeIngress,
        &AUTHORIZE
            .replace(r#""Description": "Partner""#, r#""Description": null"#)
            .replace(r#""Value": "payments""#, r#""Value": null"#),
    );
    assert_eq!(
        paths(&e),
        [
            "IpPermissions[0].IpRanges[0].Description",
            "TagSpecifications[0].Tags[0].Value"
        ],
        "{e}"
    );
    let e = parse_err(
        Action::DescribeRules,
        r#"{"DryRun": null, "MaxResults": 1}"#,
    );
    assert_eq!(paths(&e), ["DryRun", "MaxResults"], "{e}");
    // A required key given as null is still a type error, from the parser.
    let e = parse_err(
        Action::AuthorizeEgress,
        r#"{"GroupId": null, "IpPermissions": []}"#,
    );
    assert_eq!(paths(&e), ["GroupId"], "{e}");
}

#[test]
fn a_retried_authorize_that_meets_a_duplicate_says_why() {
    let e = CallError {
        operation: "ec2:AuthorizeSecurityGroupIngress",
        code: Some("InvalidPermission.Duplicate".into()),
        message: "InvalidPermission.Duplicate: the rule already exists".into(),
        unreachable: false,
        request_id: None,
    };
    assert_eq!(
        e.explain(1),
        e.message,
        "sent once: it really existed before"
    );
    assert_eq!(
        e.explain(2),
        "InvalidPermission.Duplicate: the rule already exists (the call was sent 2 times: an earlier attempt probably created the rule and its reply was lost; describe_security_group_rules shows it)"
    );
    let other = CallError {
        code: Some("InvalidGroup.NotFound".into()),
        ..e.clone()
    };
    assert_eq!(other.explain(3), other.message);
    let modify = CallError {
        operation: "ec2:ModifySecurityGroupRules",
        ..e
    };
    assert_eq!(modify.explain(3), modify.message);
}

#[test]
fn outcomes_sum_up_in_a_few_words() {
    let done = |v: Value| Outcome::Done(v);
    assert_eq!(
        done(json!({"Return": true, "SecurityGroupRules": [{}]})).summary(Action::AuthorizeEgress),
        "ok, 1 rule created"
    );
    assert_eq!(
        done(json!({"Return": true, "UnknownIpPermissions": [{}, {}]}))
            .summary(Action::RevokeIngress),
        "ok, 2 permissions matched no rule"
    );
    assert_eq!(
        done(json!({"SecurityGroupRules": [{}, {}], "NextToken": "t"}))
            .summary(Action::DescribeRules),
        "ok, 2 rules, more with NextToken"
    );
    assert_eq!(
        done(json!({"Return": false})).summary(Action::ModifyRules),
        "EC2 answered Return: false"
    );
    assert_eq!(done(json!({})).summary(Action::CreateTags), "ok");
    assert_eq!(
        Outcome::DryRun {
            message: "m".into()
        }
        .summary(Action::DeleteTags),
        "dry run: the call would have succeeded (DryRunOperation)"
    );
}

#[test]
fn dry_run_in_the_body_counts() {
    let r = parse(Action::DescribeRules, r#"{"DryRun": true}"#).unwrap();
    assert!(r.body_dry_run());
    let r = parse(Action::DescribeRules, r#"{}"#).unwrap();
    assert!(!r.body_dry_run());
    let e = parse_err(Action::DescribeRules, r#"{"DryRun": "yes"}"#);
    assert_eq!(paths(&e), ["DryRun"]);
}

#[test]
fn ownership_warnings() {
    let tagged = AUTHORIZE.replace(r#""Key": "team""#, r#""Key": "sgops:rule""#);
    let r = parse(Action::AuthorizeIngress, &tagged).unwrap();
    assert_eq!(r.ownership_warnings().len(), 1);
    let r = parse(Action::AuthorizeIngress, AUTHORIZE).unwrap();
    assert!(r.ownership_warnings().is_empty());
    let r = parse(
        Action::DeleteTags,
        r#"{"Resources": ["sgr-0123456789abcdef0"]}"#,
    )
    .unwrap();
    assert_eq!(r.ownership_warnings().len(), 1, "deleting every tag");
}

#[test]
fn actions_match_exactly() {
    assert_eq!(
        Action::find("ec2", "authorize_security_group_ingress"),
        Some(Action::AuthorizeIngress)
    );
    assert_eq!(Action::find("ec2", "authorize_security_group"), None);
    assert_eq!(Action::find("ssm", "create_tags"), None);
    assert!(Action::supported().contains("describe_security_groups"));
    for a in Action::ALL {
        assert_eq!(Action::find("ec2", a.name()), Some(a));
    }
}

#[test]
fn responses_have_boto3_shape() {
    let r = ec2::SecurityGroupRule::builder()
        .security_group_rule_id("sgr-1")
        .group_id("sg-1")
        .is_egress(false)
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .cidr_ipv4("10.0.0.0/8")
        .tags(ec2::Tag::builder().key("team").value("x").build())
        .build();
    let v = strip_nulls(json!({"Return": true, "SecurityGroupRules": rules_json(&[r])}));
    assert_eq!(
        v,
        json!({"Return": true, "SecurityGroupRules": [{
            "SecurityGroupRuleId": "sgr-1", "GroupId": "sg-1", "IsEgress": false,
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv4": "10.0.0.0/8",
            "Tags": [{"Key": "team", "Value": "x"}]
        }]})
    );
    assert_eq!(
        Outcome::DryRun {
            message: "m".into()
        }
        .to_json(),
        json!({"DryRun": true, "Code": "DryRunOperation", "Message": "m"})
    );
}
