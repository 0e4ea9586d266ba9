//! In-memory builders for planner and apply tests, after rust-lang/team's sync tests: build
//! the desired rule files, derive the live state that matches them, edit one thing, plan.
#![allow(dead_code)]

use std::collections::BTreeMap;

use jiff::civil::{Date, date};
use sgops::allowlist::Allowlist;
use sgops::apply::{self, ChangeResult, Ec2Write};
use sgops::config::{Account, Config, RULE_TAG, TAGS_TAG};
use sgops::diag::Pos;
use sgops::live::memory::MemEc2;
use sgops::live::{LiveGroup, LiveRead, LiveRule, LiveTarget, PrefixList, Target};
use sgops::plan::{self, Change, Plan, PlanInput};
use sgops::rules::{
    Desired, DesiredRule, Direction, GroupRef, Peer, Ports, Protocol, RuleFile, RuleSpec,
};

pub const ACCOUNT: &str = "app";
pub const ACCOUNT_ID: &str = "111111111111";
pub const OTHER_ACCOUNT: &str = "data";
pub const OTHER_ACCOUNT_ID: &str = "222222222222";
pub const REGION: &str = "us-east-1";
pub const RULE_TAGS_KEY: &str = "vpcx:skip_enforcement";

/// Every API action a plan can need.
pub const ALL_ACTIONS: &[&str] = &[
    "authorize_security_group_ingress",
    "authorize_security_group_egress",
    "revoke_security_group_ingress",
    "revoke_security_group_egress",
    "modify_security_group_rules",
    "create_tags",
    "delete_tags",
];

/// The day every plan is made on.
pub fn today() -> Date {
    date(2026, 1, 15)
}

pub fn config() -> Config {
    let mut c = Config::default();
    for (name, id) in [(ACCOUNT, ACCOUNT_ID), (OTHER_ACCOUNT, OTHER_ACCOUNT_ID)] {
        c.accounts.insert(
            name.to_string(),
            Account {
                id: id.to_string(),
                ..Account::default()
            },
        );
    }
    c.rule_tags
        .insert(RULE_TAGS_KEY.to_string(), "yes".to_string());
    c
}

pub fn allow_all() -> Allowlist {
    Allowlist::with("ec2", ALL_ACTIONS)
}

/// Every action but the ones named.
pub fn allow_all_but(except: &[&str]) -> Allowlist {
    let acts: Vec<&str> = ALL_ACTIONS
        .iter()
        .copied()
        .filter(|a| !except.contains(a))
        .collect();
    Allowlist::with("ec2", &acts)
}

pub fn account_id(account: &str) -> &'static str {
    match account {
        ACCOUNT => ACCOUNT_ID,
        OTHER_ACCOUNT => OTHER_ACCOUNT_ID,
        other => panic!("unknown account {other}"),
    }
}

pub fn target(account: &str, region: &str) -> Target {
    Target {
        account: account.to_string(),
        account_id: account_id(account).to_string(),
        region: region.to_string(),
    }
}

pub fn cidr(s: &str) -> Peer {
    Peer::Cidr(s.parse().expect("ipv4 net"))
}

pub fn cidr6(s: &str) -> Peer {
    Peer::CidrIpv6(s.parse().expect("ipv6 net"))
}

pub fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A rule spec: tcp `port` ingress from `peer`.
pub fn spec(port: u16, peer: Peer, description: Option<&str>) -> RuleSpec {
    RuleSpec {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        ports: Ports::Range {
            from: port,
            to: port,
        },
        peer,
        description: description.map(str::to_string),
    }
}

/// A desired rule being built. Defaults: ingress tcp 443 from 10.0.0.0/8, described by its id.
#[derive(Debug, Clone)]
pub struct R(pub DesiredRule);

pub fn rule(id: &str) -> R {
    R(DesiredRule {
        id: id.to_string(),
        spec: spec(443, cidr("10.0.0.0/8"), Some(id)),
        ticket: "CHG-1".to_string(),
        expires: None,
        tags: BTreeMap::new(),
        pos: Pos::file("builder"),
    })
}

impl R {
    pub fn egress(mut self) -> Self {
        self.0.spec.direction = Direction::Egress;
        self
    }
    pub fn port(mut self, p: u16) -> Self {
        self.0.spec.protocol = Protocol::Tcp;
        self.0.spec.ports = Ports::Range { from: p, to: p };
        self
    }
    pub fn proto(mut self, protocol: Protocol, ports: Ports) -> Self {
        self.0.spec.protocol = protocol;
        self.0.spec.ports = ports;
        self
    }
    pub fn peer(mut self, peer: Peer) -> Self {
        self.0.spec.peer = peer;
        self
    }
    pub fn cidr(self, c: &str) -> Self {
        self.peer(cidr(c))
    }
    pub fn desc(mut self, d: Option<&str>) -> Self {
        self.0.spec.description = d.map(str::to_string);
        self
    }
    pub fn tag(mut self, k: &str, v: &str) -> Self {
        self.0.tags.insert(k.to_string(), v.to_string());
        self
    }
    pub fn expires(mut self, d: Date) -> Self {
        self.0.expires = Some(d);
        self
    }
    pub fn spec(&self) -> RuleSpec {
        self.0.spec.clone()
    }
}

/// Desired rule files being built.
#[derive(Debug, Clone, Default)]
pub struct DesiredB {
    files: Vec<RuleFile>,
}

pub fn desired() -> DesiredB {
    DesiredB::default()
}

impl DesiredB {
    /// A file for group `gid` in the default account and region.
    pub fn group(self, gid: &str, rules: Vec<R>) -> Self {
        self.file(ACCOUNT, REGION, GroupRef::Id(gid.to_string()), rules)
    }

    pub fn file(mut self, account: &str, region: &str, group: GroupRef, rules: Vec<R>) -> Self {
        let slug = match &group {
            GroupRef::Id(id) => id.clone(),
            GroupRef::Name { name, .. } => name.clone(),
        };
        let path = format!("rules/{account}/{region}/{slug}.yaml");
        self.files.push(RuleFile {
            path: path.clone(),
            account: account.to_string(),
            region: region.to_string(),
            group,
            group_pos: Pos::file(path.clone()),
            rules: rules
                .into_iter()
                .map(|r| DesiredRule {
                    pos: Pos::file(path.clone()),
                    ..r.0
                })
                .collect(),
        });
        self
    }

    pub fn build(self) -> Desired {
        Desired { files: self.files }
    }
}

/// Every tag sgops puts on a desired rule it creates, with the record of the keys it set.
pub fn full_tags(cfg: &Config, r: &DesiredRule) -> BTreeMap<String, String> {
    let mut t = cfg.rule_tags.clone();
    t.extend(r.tags.clone());
    let record: Vec<&str> = t.keys().map(String::as_str).collect();
    let record = record.join(",");
    if !record.is_empty() {
        t.insert(TAGS_TAG.to_string(), record);
    }
    t.insert(RULE_TAG.to_string(), r.id.clone());
    t
}

/// Puts a tag on a live rule as sgops would have: listed in the rule's `sgops:tags` record too,
/// so sgops may delete it.
pub fn sgops_set(r: &mut LiveRule, key: &str, value: &str) {
    r.tags.insert(key.into(), value.into());
    let mut keys: std::collections::BTreeSet<String> = r
        .tags
        .get(TAGS_TAG)
        .map(|v| {
            v.split(',')
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    keys.insert(key.into());
    let record = keys.into_iter().collect::<Vec<_>>().join(",");
    r.tags.insert(TAGS_TAG.into(), record);
}

/// The group id a reference resolves to in the fake live state.
pub fn group_id(g: &GroupRef) -> String {
    match g {
        GroupRef::Id(id) => id.clone(),
        GroupRef::Name { name, .. } => format!("sg-{name}"),
    }
}

pub type LiveMap = BTreeMap<Target, Result<LiveTarget, String>>;

/// Live state being built.
#[derive(Debug, Clone, Default)]
pub struct LiveB {
    pub map: LiveMap,
    next: u64,
}

impl LiveB {
    /// Every group the desired files name, empty.
    pub fn empty(d: &Desired) -> LiveB {
        let mut l = LiveB::default();
        for f in &d.files {
            let t = l
                .map
                .entry(target(&f.account, &f.region))
                .or_insert_with(|| Ok(LiveTarget::default()))
                .as_mut()
                .expect("ok target");
            t.groups.entry(f.group.clone()).or_insert_with(|| {
                Ok(LiveGroup {
                    id: group_id(&f.group),
                    rules: Vec::new(),
                })
            });
        }
        l
    }

    /// The live state that exactly matches `d` as of [`today`]: nothing to plan.
    pub fn from_desired(cfg: &Config, d: &Desired) -> LiveB {
        let mut l = LiveB::empty(d);
        for f in &d.files {
            for r in &f.rules {
                if !r.is_expired(today()) {
                    l.add(&group_id(&f.group), r.spec.clone(), full_tags(cfg, r));
                }
            }
        }
        l
    }

    fn next_id(&mut self) -> String {
        self.next += 1;
        format!("sgr-{:017x}", self.next)
    }

    /// The group with this id, in whatever target holds it.
    pub fn group(&mut self, gid: &str) -> &mut LiveGroup {
        let mut all: Vec<&mut LiveGroup> = Vec::new();
        for t in self.map.values_mut().filter_map(|t| t.as_mut().ok()) {
            all.extend(t.groups.values_mut().filter_map(|g| g.as_mut().ok()));
            all.extend(t.orphans.iter_mut());
        }
        all.into_iter()
            .find(|g| g.id == gid)
            .unwrap_or_else(|| panic!("no live group {gid}"))
    }

    /// The live rule of `gid` tagged with rule id `id`.
    pub fn rule(&mut self, gid: &str, id: &str) -> &mut LiveRule {
        self.group(gid)
            .rules
            .iter_mut()
            .find(|r| r.tags.get(RULE_TAG).map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no live rule {id} in {gid}"))
    }

    /// Adds a live rule; returns its rule id.
    pub fn add(&mut self, gid: &str, spec: RuleSpec, tags: BTreeMap<String, String>) -> String {
        let rule_id = self.next_id();
        let g = self.group(gid);
        g.rules.push(LiveRule {
            rule_id: rule_id.clone(),
            group_id: gid.to_string(),
            spec,
            tags,
        });
        g.rules.sort();
        rule_id
    }

    /// Adds an untagged rule, as made by hand or by Firewall Manager.
    pub fn add_untagged(&mut self, gid: &str, spec: RuleSpec) -> String {
        self.add(gid, spec, BTreeMap::new())
    }

    /// Removes the live rule tagged `id`.
    pub fn remove(&mut self, gid: &str, id: &str) {
        self.group(gid)
            .rules
            .retain(|r| r.tags.get(RULE_TAG).map(String::as_str) != Some(id));
    }

    /// A group no rule file names any more, holding these rules.
    pub fn orphan(
        &mut self,
        account: &str,
        region: &str,
        gid: &str,
        rules: Vec<(RuleSpec, BTreeMap<String, String>)>,
    ) {
        let mut g = LiveGroup {
            id: gid.to_string(),
            rules: Vec::new(),
        };
        for (spec, tags) in rules {
            g.rules.push(LiveRule {
                rule_id: self.next_id(),
                group_id: gid.to_string(),
                spec,
                tags,
            });
        }
        g.rules.sort();
        let t = self
            .map
            .entry(target(account, region))
            .or_insert_with(|| Ok(LiveTarget::default()))
            .as_mut()
            .expect("ok target");
        t.orphans.push(g);
        t.orphans.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// The whole account × region could not be read.
    pub fn fail_target(&mut self, account: &str, region: &str, message: &str) {
        self.map
            .insert(target(account, region), Err(message.to_string()));
    }

    /// One group could not be resolved.
    pub fn fail_group(&mut self, account: &str, region: &str, g: GroupRef, message: &str) {
        self.map
            .get_mut(&target(account, region))
            .expect("target")
            .as_mut()
            .expect("ok target")
            .groups
            .insert(g, Err(message.to_string()));
    }

    /// Records a managed prefix list as read in the default account and region.
    pub fn prefix_list(&mut self, id: &str, max_entries: u32, ipv6: bool) {
        self.map
            .entry(target(ACCOUNT, REGION))
            .or_insert_with(|| Ok(LiveTarget::default()))
            .as_mut()
            .expect("ok target")
            .prefix_lists
            .insert(id.to_string(), PrefixList { max_entries, ipv6 });
    }

    pub fn build(&self) -> LiveMap {
        self.map.clone()
    }
}

pub fn run_plan(cfg: &Config, d: &Desired, live: &LiveMap, allow: &Allowlist) -> Plan {
    plan::plan(&PlanInput {
        config: cfg,
        desired: d,
        live,
        allowlist: allow,
        today: today(),
    })
}

/// Reads `mem` for every group that `d` names in the default account and region.
pub async fn read_mem(mem: &MemEc2, d: &Desired) -> LiveMap {
    let mut groups: Vec<GroupRef> = d
        .files
        .iter()
        .filter(|f| f.account == ACCOUNT && f.region == REGION)
        .map(|f| f.group.clone())
        .collect();
    groups.sort();
    groups.dedup();
    let mut m = LiveMap::new();
    m.insert(target(ACCOUNT, REGION), mem.read(&groups).await);
    m
}

/// Applies a plan group by group, as `engine::apply` does for one target.
pub async fn apply_plan<W: Ec2Write>(ec2: &W, plan: &Plan) -> Vec<ChangeResult> {
    let mut by_group: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
    for c in &plan.changes {
        by_group
            .entry(&c.security_group)
            .or_default()
            .push(c.clone());
    }
    let mut out = Vec::new();
    for (g, cs) in by_group {
        out.extend(apply::apply_group(ec2, g, &cs).await);
    }
    out
}

/// The managed rules of a group as `(id, spec, tags)`, without AWS's own `aws:` tags.
pub fn managed(mem: &MemEc2, g: &str) -> Vec<(String, RuleSpec, BTreeMap<String, String>)> {
    let mut v: Vec<_> = mem
        .rules(g)
        .into_iter()
        .filter_map(|mut r| {
            r.tags.retain(|k, _| !k.starts_with("aws:"));
            Some((r.tags.get(RULE_TAG)?.clone(), r.spec, r.tags))
        })
        .collect();
    v.sort();
    v
}

/// What the managed rules of `g` must be once `d` is applied.
pub fn wanted(
    cfg: &Config,
    d: &Desired,
    g: &str,
) -> Vec<(String, RuleSpec, BTreeMap<String, String>)> {
    let mut v: Vec<_> = d
        .files
        .iter()
        .filter(|f| group_id(&f.group) == g)
        .flat_map(|f| f.rules.iter())
        .filter(|r| !r.is_expired(today()))
        .map(|r| (r.id.clone(), r.spec.clone(), full_tags(cfg, r)))
        .collect();
    v.sort();
    v
}
