//! The value checks of a parsed body, the way `validate` checks rule files: every problem
//! at once, each at its JSON path. Pure.

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::Value;

use crate::rules::{Protocol, check_aws_tag, check_description, check_resource_id};

use super::*;

/// Every value problem of `req`, which was parsed from `text`: explicit `null`s (looked for in
/// the text: boto3 refuses None), then the values, each with its JSON path.
pub(super) fn problems(text: &str, req: &Request) -> Vec<Problem> {
    let mut c = Checker::default();
    // Valid JSON by now: the body was read from it.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        c.nulls(&v, "");
    }
    c.request(req);
    c.problems
}

/// Collects value problems with their paths.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// An explicit `null` is refused wherever it is: serde reads it as an absent optional
    /// key, but boto3 refuses None for every parameter, so the body would not run there.
    fn nulls(&mut self, v: &Value, path: &str) {
        match v {
            Value::Null => self.err(
                path,
                "is null, which boto3 refuses for every parameter: leave the key out",
            ),
            Value::Object(m) => {
                for (k, v) in m {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.nulls(v, &at);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.nulls(v, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, req: &Request) {
        match req {
            Request::AuthorizeIngress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                self.permissions(&b.ip_permissions);
                self.tag_specifications(b.tag_specifications.as_deref());
            }
            Request::AuthorizeEgress(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                self.permissions(&b.ip_permissions);
                self.tag_specifications(b.tag_specifications.as_deref());
            }
            Request::RevokeIngress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                self.revoke(
                    b.ip_permissions.as_deref(),
                    b.security_group_rule_ids.as_deref(),
                );
            }
            Request::RevokeEgress(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                self.revoke(
                    b.ip_permissions.as_deref(),
                    b.security_group_rule_ids.as_deref(),
                );
            }
            Request::ModifyRules(b) => {
                self.id("GroupId", &b.group_id, "sg-", "a security group");
                if b.security_group_rules.is_empty() {
                    self.err("SecurityGroupRules", "is empty: give at least one rule");
                }
                for (i, u) in b.security_group_rules.iter().enumerate() {
                    let at = format!("SecurityGroupRules[{i}]");
                    self.rule_id(
                        &format!("{at}.SecurityGroupRuleId"),
                        &u.security_group_rule_id,
                    );
                    self.rule_request(&format!("{at}.SecurityGroupRule"), &u.security_group_rule);
                }
            }
            Request::UpdateDescriptionsIngress(b) | Request::UpdateDescriptionsEgress(b) => {
                self.group(b.group_id.as_deref(), b.group_name.as_deref());
                match (&b.ip_permissions, &b.security_group_rule_descriptions) {
                    (None, None) => self.err(
                        "",
                        "give IpPermissions or SecurityGroupRuleDescriptions: the rules to describe",
                    ),
                    (Some(_), Some(_)) => self.err(
                        "",
                        "give IpPermissions or SecurityGroupRuleDescriptions, not both",
                    ),
                    (Some(p), None) => self.permissions(p),
                    (None, Some(d)) => {
                        if d.is_empty() {
                            self.err("SecurityGroupRuleDescriptions", "is empty");
                        }
                        for (i, r) in d.iter().enumerate() {
                            let at = format!("SecurityGroupRuleDescriptions[{i}]");
                            self.rule_id(
                                &format!("{at}.SecurityGroupRuleId"),
                                &r.security_group_rule_id,
                            );
                            self.description(&format!("{at}.Description"), &r.description);
                        }
                    }
                }
            }
            Request::CreateTags(b) => {
                self.resources(&b.resources);
                if b.tags.is_empty() {
                    self.err("Tags", "is empty: give at least one tag");
                }
                self.tags("Tags", &b.tags);
            }
            Request::DeleteTags(b) => {
                self.resources(&b.resources);
                if let Some(t) = &b.tags {
                    self.tags("Tags", t);
                }
            }
            Request::DescribeRules(b) => {
                self.filters(b.filters.as_deref());
                for (i, id) in b.security_group_rule_ids.iter().flatten().enumerate() {
                    self.rule_id(&format!("SecurityGroupRuleIds[{i}]"), id);
                }
                self.max_results(b.max_results);
            }
            Request::DescribeGroups(b) => {
                self.filters(b.filters.as_deref());
                for (i, id) in b.group_ids.iter().flatten().enumerate() {
                    self.id(&format!("GroupIds[{i}]"), id, "sg-", "a security group");
                }
                self.max_results(b.max_results);
            }
        }
    }

    /// GroupId or GroupName (default VPC only), exactly one.
    fn group(&mut self, id: Option<&str>, name: Option<&str>) {
        match (id, name) {
            (Some(id), None) => self.id("GroupId", id, "sg-", "a security group"),
            (None, Some(name)) if name.trim().is_empty() => self.err("GroupName", "is empty"),
            (None, Some(_)) => {}
            (None, None) => self.err("", "give GroupId (or GroupName, in a default VPC)"),
            (Some(_), Some(_)) => self.err("", "give GroupId or GroupName, not both"),
        }
    }

    /// `prefix` followed by 8 or 17 lowercase hex digits, as EC2 ids are.
    fn id(&mut self, path: &str, s: &str, prefix: &str, what: &str) {
        if !check_resource_id(s, prefix) {
            self.err(
                path,
                format!("`{s}` is not {what} id ({prefix} and 8 or 17 hex digits)"),
            );
        }
    }

    fn rule_id(&mut self, path: &str, s: &str) {
        self.id(path, s, "sgr-", "a security group rule");
    }

    fn revoke(&mut self, perms: Option<&[IpPermission]>, ids: Option<&[String]>) {
        match (perms, ids) {
            (None, None) => self.err(
                "",
                "give SecurityGroupRuleIds or IpPermissions: the rules to revoke",
            ),
            (Some(_), Some(_)) => {
                self.err("", "give SecurityGroupRuleIds or IpPermissions, not both")
            }
            (Some(p), None) => self.permissions(p),
            (None, Some(ids)) => {
                if ids.is_empty() {
                    self.err("SecurityGroupRuleIds", "is empty");
                }
                for (i, id) in ids.iter().enumerate() {
                    self.rule_id(&format!("SecurityGroupRuleIds[{i}]"), id);
                }
            }
        }
    }

    fn permissions(&mut self, perms: &[IpPermission]) {
        if perms.is_empty() {
            self.err("IpPermissions", "is empty: give at least one permission");
        }
        for (i, p) in perms.iter().enumerate() {
            let at = format!("IpPermissions[{i}]");
            self.ports(&at, &p.ip_protocol, p.from_port, p.to_port);
            let mut peers = 0;
            for (j, r) in p.ip_ranges.iter().flatten().enumerate() {
                let at = format!("{at}.IpRanges[{j}]");
                self.cidr_v4(&format!("{at}.CidrIp"), &r.cidr_ip);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, r) in p.ipv6_ranges.iter().flatten().enumerate() {
                let at = format!("{at}.Ipv6Ranges[{j}]");
                self.cidr_v6(&format!("{at}.CidrIpv6"), &r.cidr_ipv6);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, r) in p.prefix_list_ids.iter().flatten().enumerate() {
                let at = format!("{at}.PrefixListIds[{j}]");
                self.prefix_list(&format!("{at}.PrefixListId"), &r.prefix_list_id);
                self.description(&format!("{at}.Description"), &r.description);
                peers += 1;
            }
            for (j, g) in p.user_id_group_pairs.iter().flatten().enumerate() {
                let at = format!("{at}.UserIdGroupPairs[{j}]");
                match (&g.group_id, &g.group_name) {
                    (Some(id), _) => {
                        self.id(&format!("{at}.GroupId"), id, "sg-", "a security group")
                    }
                    (None, Some(_)) => {}
                    (None, None) => self.err(&at, "give GroupId (or GroupName)"),
                }
                self.description(&format!("{at}.Description"), &g.description);
                peers += 1;
            }
            if peers == 0 {
                self.err(
                    &at,
                    "names no peer: give IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs",
                );
            }
        }
    }

    /// Ports as AWS reads them for the protocol; the traps are refused with what to do:
    /// tcp/udp without a range, and ports on a protocol without ports (`-1` opens every
    /// port whatever FromPort/ToPort say, so a port there means a misunderstanding).
    fn ports(&mut self, at: &str, protocol: &str, from: Option<i32>, to: Option<i32>) {
        let Some(p) = Protocol::parse(protocol) else {
            self.err(
                format!("{at}.IpProtocol"),
                format!(
                    "unknown protocol `{protocol}`: use tcp, udp, icmp, icmpv6, -1 (all) or a number 0-255"
                ),
            );
            return;
        };
        match p {
            Protocol::Tcp | Protocol::Udp => {
                for (key, v) in [("FromPort", from), ("ToPort", to)] {
                    match v {
                        None => self.err(
                            format!("{at}.{key}"),
                            format!("is required for {p}: a port 0-65535"),
                        ),
                        Some(n) if !(0..=65535).contains(&n) => self.err(
                            format!("{at}.{key}"),
                            format!("{n} is not a port: use 0-65535"),
                        ),
                        Some(_) => {}
                    }
                }
                if let (Some(f), Some(t)) = (from, to)
                    && f > t
                {
                    self.err(
                        format!("{at}.ToPort"),
                        format!("{t} is below FromPort {f}: the range is backwards"),
                    );
                }
            }
            Protocol::Icmp | Protocol::Icmpv6 => {
                for (key, what, v) in [("FromPort", "type", from), ("ToPort", "code", to)] {
                    match v {
                        None => self.err(
                            format!("{at}.{key}"),
                            format!("is required for {p}: the ICMP {what}, -1 for any"),
                        ),
                        Some(n) if !(-1..=255).contains(&n) => self.err(
                            format!("{at}.{key}"),
                            format!("{n} is not an ICMP {what}: use -1 (any) or 0-255"),
                        ),
                        Some(_) => {}
                    }
                }
                if from == Some(-1) && to.is_some_and(|c| c != -1) {
                    self.err(
                        format!("{at}.ToPort"),
                        "a code needs a type: with FromPort -1 (any type) ToPort must be -1",
                    );
                }
            }
            Protocol::All | Protocol::Number(_) => {
                for (key, v) in [("FromPort", from), ("ToPort", to)] {
                    if let Some(n) = v
                        && n != -1
                    {
                        self.err(
                            format!("{at}.{key}"),
                            format!(
                                "protocol {protocol} has no ports: the rule covers every port whatever {key} says; leave FromPort and ToPort out, or use tcp or udp with a range"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn cidr_v4(&mut self, path: &str, s: &str) {
        match s.parse::<Ipv4Net>() {
            Err(_) => self.err(
                path,
                format!("`{s}` is not an IPv4 CIDR like 203.0.113.0/24"),
            ),
            Ok(n) if n.trunc() != n => self.err(
                path,
                format!(
                    "`{s}` has host bits set: did you mean {} (the network), or {}/32 (one host)?",
                    n.trunc(),
                    n.addr()
                ),
            ),
            Ok(_) => {}
        }
    }

    fn cidr_v6(&mut self, path: &str, s: &str) {
        match s.parse::<Ipv6Net>() {
            Err(_) => self.err(
                path,
                format!("`{s}` is not an IPv6 CIDR like 2001:db8::/32"),
            ),
            Ok(n) if n.trunc() != n => self.err(
                path,
                format!(
                    "`{s}` has host bits set: did you mean {} (the network), or {}/128 (one host)?",
                    n.trunc(),
                    n.addr()
                ),
            ),
            Ok(_) => {}
        }
    }

    fn prefix_list(&mut self, path: &str, s: &str) {
        let ok = s.strip_prefix("pl-").is_some_and(|h| {
            (8..=17).contains(&h.len())
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !ok {
            self.err(
                path,
                format!("`{s}` is not a prefix list id (pl- and 8 to 17 hex digits)"),
            );
        }
    }

    fn description(&mut self, path: &str, d: &Option<String>) {
        if let Some(d) = d
            && let Err(m) = check_description(d)
        {
            self.err(path, m);
        }
    }

    /// A rule for ModifySecurityGroupRules: at most one peer, and ports that fit the protocol.
    fn rule_request(&mut self, at: &str, r: &SecurityGroupRuleRequest) {
        if let Some(p) = &r.ip_protocol {
            self.ports(at, p, r.from_port, r.to_port);
        }
        if let Some(c) = &r.cidr_ipv4 {
            self.cidr_v4(&format!("{at}.CidrIpv4"), c);
        }
        if let Some(c) = &r.cidr_ipv6 {
            self.cidr_v6(&format!("{at}.CidrIpv6"), c);
        }
        if let Some(p) = &r.prefix_list_id {
            self.prefix_list(&format!("{at}.PrefixListId"), p);
        }
        if let Some(g) = &r.referenced_group_id {
            self.id(
                &format!("{at}.ReferencedGroupId"),
                g,
                "sg-",
                "a security group",
            );
        }
        let peers = [
            r.cidr_ipv4.is_some(),
            r.cidr_ipv6.is_some(),
            r.prefix_list_id.is_some(),
            r.referenced_group_id.is_some(),
        ];
        if peers.into_iter().filter(|p| *p).count() > 1 {
            self.err(
                at,
                "gives several peers: a rule has one of CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupId",
            );
        }
        self.description(&format!("{at}.Description"), &r.description);
    }

    fn tag_specifications(&mut self, specs: Option<&[TagSpecification]>) {
        for (i, s) in specs.into_iter().flatten().enumerate() {
            let at = format!("TagSpecifications[{i}]");
            if s.resource_type != RULE_RESOURCE_TYPE {
                self.err(
                    format!("{at}.ResourceType"),
                    format!(
                        "`{}`: the rules an authorize creates take only `{RULE_RESOURCE_TYPE}`",
                        s.resource_type
                    ),
                );
            }
            self.tags(&format!("{at}.Tags"), &s.tags);
        }
    }

    fn tags(&mut self, at: &str, tags: &[Tag]) {
        for (i, t) in tags.iter().enumerate() {
            if let Err(m) = check_aws_tag(&t.key, t.value.as_deref().unwrap_or("")) {
                self.err(format!("{at}[{i}]"), m);
            }
        }
    }

    /// Security-group rules only (`sgr-…`): tagging a whole group, an instance or anything
    /// else `vpcx:skip_enforcement` would exempt it from baseline enforcement.
    fn resources(&mut self, resources: &[String]) {
        if resources.is_empty() {
            self.err("Resources", "is empty: give the ids to tag");
        }
        for (i, r) in resources.iter().enumerate() {
            if !check_resource_id(r, "sgr-") {
                self.err(
                    format!("Resources[{i}]"),
                    format!(
                        "`{}` is not a security group rule id (sgr- and 8 or 17 hex digits): sgops tags only security-group rules",
                        crate::escape::terminal(r)
                    ),
                );
            }
        }
    }

    fn filters(&mut self, filters: Option<&[Filter]>) {
        for (i, f) in filters.into_iter().flatten().enumerate() {
            if f.name.trim().is_empty() {
                self.err(format!("Filters[{i}].Name"), "is empty");
            }
        }
    }

    fn max_results(&mut self, n: Option<i32>) {
        if let Some(n) = n
            && !(5..=1000).contains(&n)
        {
            self.err("MaxResults", format!("{n}: EC2 takes 5 to 1000"));
        }
    }
}
