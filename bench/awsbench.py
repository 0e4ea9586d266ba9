"""Shared by the benchmark scripts: boto3 clients that count their calls (the way
`sgops --stats` does), the rules repository read the way sgops reads it, rules in one canonical
shape for desired and live, and the diff both baselines use (sgops's semantics, so every
contender finds the same changes).

Standard library + boto3 + PyYAML (PyYAML comes with moto[server]) only."""
import argparse
import collections
import datetime
import json
import os
import sys
import time

import boto3
from botocore.config import Config

RULE_TAG = "sgops:rule"
TAGS_TAG = "sgops:tags"
ACTIONS = ("create", "adopt", "update", "replace", "retag", "delete")
READ_OPS_PREFIXES = ("ec2:Describe", "sts:AssumeRole", "ssm:GetParameter")
# Retries as sgops does them (standard mode, 8 attempts).
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=60)


def is_read(op):
    return op.startswith(READ_OPS_PREFIXES)


# ---------------------------------------------------------------------------------------------
# Call accounting


class Calls:
    """Operations (first attempts) and attempts (retries included), by `service:Operation`."""

    def __init__(self):
        self.operations = collections.Counter()
        self.attempts = collections.Counter()

    def _op(self, event_name):
        # before-call.ec2.DescribeSecurityGroupRules -> ec2:DescribeSecurityGroupRules
        parts = event_name.split(".")
        return f"{parts[1]}:{parts[2]}" if len(parts) >= 3 else event_name

    def _on_call(self, event_name=None, **_):
        self.operations[self._op(event_name)] += 1

    def _on_send(self, event_name=None, **_):
        self.attempts[self._op(event_name)] += 1

    def client(self, service, region, creds=None):
        kw = {}
        if creds:
            kw = dict(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        c = boto3.client(service, region_name=region, config=BOTO_CONFIG, **kw)
        c.meta.events.register("before-call", self._on_call)
        c.meta.events.register("before-send", self._on_send)
        return c

    def as_dict(self):
        return {"operations": dict(sorted(self.operations.items())), "attempts": dict(sorted(self.attempts.items()))}

    def render(self):
        lines = ["API calls by operation (attempts incl. retries):"]
        for op, n in sorted(self.operations.items()):
            lines.append(f"  {op:<48} {n:>6}  ({self.attempts.get(op, n)} attempts)")
        lines.append(f"  {'total':<48} {sum(self.operations.values()):>6}")
        return "\n".join(lines) + "\n"


def assume(calls, account_id, role_name, session_name, region, external_id=None):
    sts = calls.client("sts", region)
    kw = {"ExternalId": external_id} if external_id else {}
    return sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName=session_name, **kw
    )["Credentials"]


# ---------------------------------------------------------------------------------------------
# Rules in one shape. key = what makes two rules "the same AWS rule"; spec = key + description.

PROTO_NAMES = {"all": "-1", "-1": "-1", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp",
               "icmp": "icmp", "1": "icmp", "icmpv6": "icmpv6", "58": "icmpv6"}


def norm_proto(p):
    p = str(p).lower()
    return PROTO_NAMES.get(p, p)


def desired_ports(proto, ports):
    if proto in ("tcp", "udp"):
        if ports is None:
            return (0, 65535)
        if isinstance(ports, int):
            return (ports, ports)
        a, _, b = str(ports).partition("-")
        return (int(a), int(b or a))
    if proto in ("icmp", "icmpv6"):
        if isinstance(ports, dict):
            return (int(ports.get("type", -1)), int(ports.get("code", -1)))
        return (-1, -1)
    return (-1, -1)


def desired_peer(r):
    for field, kind in (("cidr", "cidr"), ("cidr_ipv6", "cidr6"), ("prefix_list", "pl"), ("security_group", "sg")):
        if r.get(field) is not None:
            return kind, str(r[field])
    raise ValueError(f"rule {r.get('id')}: no peer")


def live_peer(r):
    if r.get("CidrIpv4"):
        return "cidr", r["CidrIpv4"]
    if r.get("CidrIpv6"):
        return "cidr6", r["CidrIpv6"]
    if r.get("PrefixListId"):
        return "pl", r["PrefixListId"]
    ref = r.get("ReferencedGroupInfo") or {}
    if ref.get("GroupId"):
        return "sg", ref["GroupId"]
    return None


class Rule:
    """A rule desired (from a file) or live (from DescribeSecurityGroupRules)."""

    __slots__ = ("direction", "proto", "from_port", "to_port", "peer_kind", "peer", "description",
                 "tags", "rule_id", "group_id", "name")

    def __init__(self, direction, proto, from_port, to_port, peer_kind, peer, description, tags,
                 rule_id=None, group_id=None, name=None):
        self.direction, self.proto = direction, proto
        self.from_port, self.to_port = from_port, to_port
        self.peer_kind, self.peer = peer_kind, peer
        self.description = description or None
        self.tags = dict(tags)
        self.rule_id, self.group_id, self.name = rule_id, group_id, name

    def key(self):
        return (self.direction, self.proto, self.from_port, self.to_port, self.peer_kind, self.peer)

    def spec(self):
        return self.key() + (self.description,)

    @classmethod
    def from_live(cls, r, tags=None):
        peer = live_peer(r)
        if peer is None:
            return None
        if tags is None:
            tags = {t["Key"]: t.get("Value", "") for t in r.get("Tags", [])}
        tags = {k: v for k, v in tags.items() if not k.startswith("aws:")}
        return cls("egress" if r.get("IsEgress") else "ingress", norm_proto(r["IpProtocol"]),
                   r.get("FromPort", -1), r.get("ToPort", -1), peer[0], peer[1], r.get("Description"),
                   tags, rule_id=r["SecurityGroupRuleId"], group_id=r["GroupId"])

    def ip_permission(self):
        """The IpPermission that creates this rule (one rule)."""
        p = {"IpProtocol": self.proto}
        if self.proto != "-1":
            p["FromPort"], p["ToPort"] = self.from_port, self.to_port
        d = {"Description": self.description} if self.description else {}
        if self.peer_kind == "cidr":
            p["IpRanges"] = [{"CidrIp": self.peer, **d}]
        elif self.peer_kind == "cidr6":
            p["Ipv6Ranges"] = [{"CidrIpv6": self.peer, **d}]
        elif self.peer_kind == "pl":
            p["PrefixListIds"] = [{"PrefixListId": self.peer, **d}]
        else:
            p["UserIdGroupPairs"] = [{"GroupId": self.peer, **d}]
        return p

    def rule_request(self):
        """The full rule for ModifySecurityGroupRules."""
        r = {"IpProtocol": self.proto, "FromPort": self.from_port, "ToPort": self.to_port}
        if self.description:
            r["Description"] = self.description
        field = {"cidr": "CidrIpv4", "cidr6": "CidrIpv6", "pl": "PrefixListId", "sg": "ReferencedGroupId"}
        r[field[self.peer_kind]] = self.peer
        return r


def tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


# ---------------------------------------------------------------------------------------------
# The rules repository, read as sgops reads it (sgops.yaml + rules/<account>/<region>/*.yaml).


def today():
    t = os.environ.get("SGOPS_TODAY")
    return datetime.date.fromisoformat(t) if t else datetime.date.today()


def rule_from_doc(r, rule_tags, group_id=None):
    """A desired rule from its rule-file form (a dict as YAML gives it)."""
    proto = norm_proto(r["protocol"])
    fp, tp = desired_ports(proto, r.get("ports"))
    kind, peer = desired_peer(r)
    tags = dict(rule_tags)
    tags.update({str(k): str(v) for k, v in (r.get("tags") or {}).items()})
    # `sgops:tags`: the record of the keys sgops set (sorted, comma-separated, without its own),
    # on every rule it creates or adopts; absent when it set none.
    if tags:
        tags[TAGS_TAG] = ",".join(sorted(tags))
    tags[RULE_TAG] = r["id"]
    return Rule(r["direction"], proto, fp, tp, kind, peer, r.get("description"), tags,
                group_id=group_id, name=r["id"])


def load_repo(repo):
    """(config, targets): targets maps (account_name, region) to {group_id: [desired Rule]}."""
    import yaml  # PyYAML, installed with moto[server]

    with open(os.path.join(repo, "sgops.yaml")) as f:
        config = yaml.safe_load(f)
    rule_tags = {str(k): str(v) for k, v in (config.get("rule_tags") or {"vpcx:skip_enforcement": "yes"}).items()}
    now = today()
    targets = collections.defaultdict(lambda: collections.defaultdict(list))
    root = os.path.join(repo, "rules")
    for account in sorted(os.listdir(root)):
        for region in sorted(os.listdir(os.path.join(root, account))):
            d = os.path.join(root, account, region)
            for name in sorted(os.listdir(d)):
                if name.startswith(".") or not name.endswith((".yaml", ".yml")):
                    continue
                with open(os.path.join(d, name)) as f:
                    doc = yaml.safe_load(f) or {}
                group = doc["security_group"]
                if not isinstance(group, str):
                    raise SystemExit(f"{name}: the baselines take groups by id only")
                for r in doc.get("rules") or []:
                    exp = r.get("expires")
                    if exp is not None and datetime.date.fromisoformat(str(exp)) <= now:
                        continue  # expired: no longer desired (sgops revokes it)
                    targets[(account, region)][group].append(rule_from_doc(r, rule_tags, group))
    # the {name: id} or {name: {id: ...}} forms of `accounts`
    accounts = {}
    for name, v in (config.get("accounts") or {}).items():
        accounts[name] = {"id": str(v), "role_name": config.get("role_name", "sgops-reconciler")} if not isinstance(v, dict) \
            else {"id": str(v["id"]), "role_name": v.get("role_name") or config.get("role_name", "sgops-reconciler")}
    config["_accounts"] = accounts
    return config, {k: dict(v) for k, v in sorted(targets.items())}


def parse_allowlist(value):
    v = value.strip()
    if (v.startswith("{") and v.endswith("}")) or (v.startswith("[") and v.endswith("]")):
        v = v[1:-1]
    return {s.strip().strip("\"'").strip() for s in v.replace("\n", ",").split(",") if s.strip().strip("\"'").strip()}


def fetch_allowlist(calls, config):
    al = config.get("allowlist") or {}
    prefix = al.get("parameter_prefix", "/vpcx/aws/boto3-proxy/allowed-actions/")
    ssm = calls.client("ssm", al.get("region", "us-east-1"))
    return parse_allowlist(ssm.get_parameter(Name=prefix + "ec2")["Parameter"]["Value"])


# ---------------------------------------------------------------------------------------------
# The diff: sgops's semantics, per security group.


class Change:
    __slots__ = ("action", "group_id", "name", "desired", "live")

    def __init__(self, action, group_id, name, desired=None, live=None):
        self.action, self.group_id, self.name, self.desired, self.live = action, group_id, name, desired, live

    def tag_delta(self):
        """(tags to create or overwrite, keys to delete) to bring the live rule's tags to desired."""
        have = self.live.tags if self.live else {}
        want = self.desired.tags
        add = {k: v for k, v in want.items() if have.get(k) != v}
        drop = sorted(k for k in have if k not in want)
        return add, drop

    def api_actions(self):
        d = (self.desired or self.live).direction
        out = []
        if self.action in ("create", "replace"):
            out.append(f"authorize_security_group_{d}")
        if self.action in ("update",) or (self.action == "adopt" and self.desired.description != self.live.description):
            out.append("modify_security_group_rules")
        if self.action in ("adopt", "update", "retag", "replace") and self.desired and self.live:
            add, drop = self.tag_delta()
            if add and self.action != "replace":
                out.append("create_tags")
            if drop and self.action != "replace":
                out.append("delete_tags")
        if self.action in ("delete", "replace"):
            out.append(f"revoke_security_group_{(self.live).direction}")
        return out


def diff_group(group_id, desired, live):
    """Changes that bring one group's managed rules to `desired`. `live`: the group's rules."""
    managed = {}
    untagged = []
    for r in live:
        if RULE_TAG in r.tags:
            managed.setdefault(r.tags[RULE_TAG], r)
        else:
            untagged.append(r)
    out, pending = [], []
    adopted = set()
    for d in desired:
        m = managed.pop(d.name, None)
        if m is not None:
            if m.spec() != d.spec():
                out.append(Change("replace" if m.direction != d.direction else "update", group_id, d.name, d, m))
            elif m.tags != d.tags:
                out.append(Change("retag", group_id, d.name, d, m))
            continue
        u = next((u for u in untagged if u.key() == d.key() and id(u) not in adopted), None)
        if u is not None:
            adopted.add(id(u))
            out.append(Change("adopt", group_id, d.name, d, u))
        else:
            pending.append(d)
    # A managed rule whose id is gone while a new id means the same rule: re-tag, not re-create.
    for d in pending:
        old = next((n for n, m in managed.items() if m.key() == d.key()), None)
        if old is not None:
            m = managed.pop(old)
            out.append(Change("retag" if m.spec() == d.spec() else "update", group_id, d.name, d, m))
        else:
            out.append(Change("create", group_id, d.name, d, None))
    for name, m in sorted(managed.items()):
        out.append(Change("delete", group_id, name, None, m))
    return out


def summarize(changes):
    s = {a: 0 for a in ACTIONS}
    for c in changes:
        s[c.action] += 1
    return s


def check_allowed(changes, allowed):
    denied = [c for c in changes if any(a not in allowed for a in c.api_actions())]
    return denied


# ---------------------------------------------------------------------------------------------
# Output shared by the baselines.


def finish(kind, mode, calls, changes, started, results=None, errors=None):
    counts = summarize(changes)
    out = {
        "tool": kind,
        "mode": mode,
        "summary": counts,
        "changes": len(changes),
        "wall_seconds": round(time.monotonic() - started, 3),
        "calls": calls.as_dict(),
        "results": results or {},
        "errors": errors or [],
    }
    sys.stderr.write(
        f"{kind} {mode}: " + ", ".join(f"{counts[a]} to {a}" for a in ACTIONS) + "\n")
    if results:
        sys.stderr.write(f"{kind} {mode}: results {json.dumps(results)}\n")
    sys.stderr.write(calls.render())
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if errors or (results and results.get("failed")) else 0


def start(doc):
    """What both baselines do first: parse `plan|apply --repo DIR`, start the clock and the call
    counter, load the repository and read the allow-list (one GetParameter)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["plan", "apply"])
    p.add_argument("--repo", default=".")
    args = p.parse_args()
    started = time.monotonic()
    calls = Calls()
    config, targets = load_repo(args.repo)
    allowed = fetch_allowlist(calls, config)
    return args, started, calls, config, targets, allowed
