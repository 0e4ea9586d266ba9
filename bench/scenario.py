"""The benchmark scenario: N accounts x G security groups x R rules seeded into moto, and the
rules repository that asks for a realistic mix of changes against it.

    scenario.py seed    --work DIR --accounts N --groups G --rules R [--method per-rule|batch] [--workers K]
    scenario.py restore --work DIR [--workers K]

`seed` writes DIR/repo (sgops.yaml, rules/<account>/us-east-1/app-NN.yaml) and DIR/scenario.json
(what was seeded, the expected change counts, the per-account rule counts for the floors).
`restore` brings every seeded group back to exactly the seeded state after an apply (rule ids
aside), with one describe per account and a write only where something differs: far cheaper
than seeding again, so each contender's apply starts from the same state.

Every block of 20 seeded rules (counting over all groups and accounts) gets each of 20 kinds
once, in a seeded random order, so each change is 5 % of the seeded rules at every size:
adopt (untagged, identical to a desired rule), update (tagged, port or IPv4 CIDR changed in
the file), delete (tagged, gone from the file), baseline (untagged, not in any file: never
touched), create (a tagged unchanged rule whose file also gets a new rule); the other 15 are
tagged and unchanged. Talks to AWS_ENDPOINT_URL (moto)."""
import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awsbench import Calls, Rule, assume, rule_from_doc, tag_list  # noqa: E402

REGION = "us-east-1"
ROLE = "sgops-reconciler"
RULE_TAGS = {"vpcx:skip_enforcement": "yes"}
PARAMETER = "/vpcx/aws/boto3-proxy/allowed-actions/ec2"
ALLOWED = [
    "authorize_security_group_ingress", "authorize_security_group_egress",
    "revoke_security_group_ingress", "revoke_security_group_egress",
    "modify_security_group_rules", "create_tags", "delete_tags",
]
QUOTA = 60  # rules per group, direction and address family (AWS default, moto enforces it)
DEFAULT_EGRESS = {"id": "-default-egress", "direction": "egress", "protocol": "all", "cidr": "0.0.0.0/0"}


def account_name(a):
    return f"bench-{a + 1:03d}"


def account_id(a):
    return str(200000000000 + a + 1)


# ---------------------------------------------------------------------------------------------
# The scenario, as data (rule-file dicts), independent of AWS.


def base_rule(g, i, today):
    r = {
        "id": f"app-{g + 1:02d}-rule-{i:03d}",  # unique in the account: no accidental tag batching
        "direction": "egress" if i % 4 == 3 else "ingress",
        "protocol": "udp" if i % 5 == 2 else "tcp",
        "ports": f"{10000 + i * 10}-{10000 + i * 10 + 9}" if i % 7 == 0 else 1000 + i,
        "cidr": f"10.{g}.{i}.0/24",
        "description": f"App {g + 1} rule {i} (CHG-{10000 + i})",
        "ticket": f"CHG-{10000 + i}",
    }
    if i % 6 == 1:
        r["expires"] = (today + datetime.timedelta(days=200)).isoformat()
    if i % 3 == 0:
        r["tags"] = {"team": f"team-{i % 4}"}
    return r


class Kinds:
    """Kinds 0..19 for a counter running over all seeded rules: each block of 20 rules gets
    every kind once, in a seeded random order (so the changes fall on either direction and on
    different rules in each group, and each kind is exactly 5 % over whole blocks)."""

    def __init__(self, seed=20261127):
        self.rng = random.Random(seed)
        self.block = []

    def next(self):
        if not self.block:
            self.block = list(range(20))
            self.rng.shuffle(self.block)
        return self.block.pop()


def plan_group(g, n_rules, counter, kinds_source, today):
    """(seeded, desired, kinds) for one group; seeded entries are (rule dict, tagged)."""
    seeded, desired = [], []
    kinds = collections.Counter()  # (action, direction) -> n
    for i in range(n_rules):
        cat = kinds_source.next()
        nth = counter // 20
        counter += 1
        base = base_rule(g, i, today)
        d = base["direction"]
        if cat == 0:  # adopt: an untagged rule identical to a desired one
            seeded.append((base, False))
            desired.append(base)
            kinds[("adopt", d)] += 1
        elif cat == 1:  # update: a managed rule whose file changed its port or IPv4 CIDR
            seeded.append((base, True))
            new = dict(base)
            if nth % 2 == 0:
                new["ports"] = 20000 + i
            else:
                new["cidr"] = f"172.16.{i}.0/24"
            desired.append(new)
            kinds[("update", d)] += 1
        elif cat == 2:  # delete: a managed rule no longer in its file
            seeded.append((base, True))
            kinds[("delete", d)] += 1
        elif cat == 3:  # baseline: untagged, in no file; sgops must leave it alone
            seeded.append(({"id": f"baseline-{i:03d}", "direction": d, "protocol": "tcp",
                            "ports": 40000 + i, "cidr": f"10.{g}.{i}.0/24",
                            "description": f"Baseline {i}"}, False))
        else:  # unchanged managed rule; one in 16 of them comes with a new rule to create
            seeded.append((base, True))
            desired.append(base)
            if cat == 4:
                desired.append({"id": f"app-{g + 1:02d}-new-{i:03d}", "direction": d, "protocol": "tcp",
                                "ports": 30000 + i, "cidr": f"10.{g}.{i}.0/24",
                                "description": f"New rule {i} (CHG-{20000 + i})",
                                "ticket": f"CHG-{20000 + i}"})
                kinds[("create", d)] += 1
    return seeded, desired, kinds, counter


def yaml_rule(r):
    out = [f"  - id: {r['id']}", f"    direction: {r['direction']}", f"    protocol: {r['protocol']}"]
    if "ports" in r:
        p = r["ports"]
        out.append(f"    ports: {p}" if isinstance(p, int) else f'    ports: "{p}"')
    out.append(f"    cidr: {r['cidr']}")
    out.append(f"    description: \"{r['description']}\"")
    out.append(f"    ticket: {r['ticket']}")
    if "expires" in r:
        out.append(f"    expires: {r['expires']}")
    if "tags" in r:
        out.append("    tags: { " + ", ".join(f'{k}: "{v}"' for k, v in r["tags"].items()) + " }")
    return "\n".join(out) + "\n"


def to_rule(r, tagged):
    rule = rule_from_doc(r, RULE_TAGS)
    if not tagged:
        rule.tags = {}
    return rule


# ---------------------------------------------------------------------------------------------
# Seeding


def ec2_for(calls, account):
    creds = assume(calls, account, "seed", "bench-seed", REGION)
    return calls.client("ec2", REGION, creds)


def describe_all(ec2, group_ids=None):
    kw = {"Filters": [{"Name": "group-id", "Values": list(group_ids)}]} if group_ids else {}
    out, token = [], None
    for _ in range(10000):  # bounded pagination (moto returns one page)
        resp = ec2.describe_security_group_rules(MaxResults=1000, **kw, **({"NextToken": token} if token else {}))
        out.extend(resp["SecurityGroupRules"])
        token = resp.get("NextToken")
        if not token:
            break
    return out


def authorize(ec2, group_id, direction, rules, tags=None):
    fn = ec2.authorize_security_group_ingress if direction == "ingress" else ec2.authorize_security_group_egress
    kw = {"TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": tag_list(tags)}]} if tags else {}
    return fn(GroupId=group_id, IpPermissions=[r.ip_permission() for r in rules], **kw)


def seed_account(acct, method):
    """Creates one account's VPC, groups and rules; returns (group ids, live rule count, calls)."""
    calls = Calls()
    ec2 = ec2_for(calls, acct["id"])
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    acct["vpc"] = vpc
    for grp in acct["groups"]:
        grp["id"] = ec2.create_security_group(GroupName=grp["name"], Description="bench app", VpcId=vpc)["GroupId"]
        rules = [(to_rule(r, t), t) for r, t in grp["seeded"]]
        for d in ("ingress", "egress"):
            if method == "per-rule":
                untagged = [r for r, t in rules if not t and r.direction == d]
                if untagged:
                    authorize(ec2, grp["id"], d, untagged)
                for r, t in rules:
                    if t and r.direction == d:
                        authorize(ec2, grp["id"], d, [r], r.tags)
            else:  # batch: every rule of the group and direction in one call, tags afterwards
                batch = [r for r, _ in rules if r.direction == d]
                if batch:
                    authorize(ec2, grp["id"], d, batch)
    live = describe_all(ec2)
    if method == "batch":
        ids = {(r["GroupId"], Rule.from_live(r).key()): r["SecurityGroupRuleId"] for r in live if Rule.from_live(r)}
        for grp in acct["groups"]:
            for r, t in grp["seeded"]:
                if t:
                    rule = to_rule(r, True)
                    ec2.create_tags(Resources=[ids[(grp["id"], rule.key())]], Tags=tag_list(rule.tags))
    acct["live_rules"] = len(live)
    return calls


def seed(args):
    today = datetime.date.fromisoformat(args.today)
    counter = 0
    kinds_source = Kinds()
    accounts = []
    expected = collections.Counter()
    for a in range(args.accounts):
        acct = {"name": account_name(a), "id": account_id(a), "groups": []}
        for g in range(args.groups):
            seeded, desired, kinds, counter = plan_group(g, args.rules, counter, kinds_source, today)
            for d in ("ingress", "egress"):
                peak = sum(1 for r, _ in seeded if r["direction"] == d) + (d == "egress") \
                    + kinds[("create", d)]
                if peak > QUOTA:
                    sys.exit(f"--rules {args.rules}: a group would hold {peak} {d} rules, over the "
                             f"quota of {QUOTA}; use fewer --rules (72 or fewer fit the default sizes)")
            for (action, _), n in kinds.items():
                expected[action] += n
            acct["groups"].append({"name": f"app-{g + 1:02d}", "seeded": seeded, "desired": desired,
                                   "kinds": [[a_, d_, n] for (a_, d_), n in sorted(kinds.items())]})
        accounts.append(acct)

    started = time.monotonic()
    calls = Calls()
    ssm = calls.client("ssm", REGION)
    ssm.put_parameter(Name=PARAMETER, Value="{" + ",".join(f'"{a}"' for a in ALLOWED) + "}",
                      Type="String", Overwrite=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for c in pool.map(lambda acct: seed_account(acct, args.method), accounts):
            calls.operations.update(c.operations)
            calls.attempts.update(c.attempts)
    seconds = time.monotonic() - started

    repo = os.path.join(args.work, "repo")
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "sgops.yaml"), "w") as f:
        f.write("# generated by bench/scenario.py\n"
                "allowlist:\n  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/\n  region: us-east-1\n"
                f"role_name: {ROLE}\naccounts:\n"
                + "".join(f'  {a["name"]}: "{a["id"]}"\n' for a in accounts)
                + 'rule_tags:\n  vpcx:skip_enforcement: "yes"\nconcurrency: 16\n')
    for acct in accounts:
        d = os.path.join(repo, "rules", acct["name"], REGION)
        os.makedirs(d, exist_ok=True)
        for grp in acct["groups"]:
            with open(os.path.join(d, grp["name"] + ".yaml"), "w") as f:
                f.write(f"# {grp['name']} in {acct['vpc']}\nsecurity_group: {grp['id']}\nrules:\n")
                for r in grp["desired"]:
                    f.write(yaml_rule(r))
    n_seeded = sum(len(g["seeded"]) for a in accounts for g in a["groups"])
    scenario = {
        "params": {"accounts": args.accounts, "groups": args.groups, "rules": args.rules,
                   "method": args.method, "workers": args.workers, "today": args.today},
        "expected": {a: expected.get(a, 0) for a in ("create", "adopt", "update", "replace", "retag", "delete")},
        "seeded_rules": n_seeded,
        "desired_rules": sum(len(g["desired"]) for a in accounts for g in a["groups"]),
        "seed_seconds": round(seconds, 3),
        "seed_calls": calls.as_dict(),
        "accounts": accounts,
    }
    with open(os.path.join(args.work, "scenario.json"), "w") as f:
        json.dump(scenario, f)
    total = sum(calls.operations.values())
    print(f"seeded {args.accounts} accounts x {args.groups} groups x {args.rules} rules "
          f"({n_seeded} rules) in {seconds:.1f} s: {total} calls ({total / max(seconds, 1e-9):.0f}/s), "
          f"method {args.method}, {args.workers} workers; expected changes "
          + ", ".join(f"{k} {v}" for k, v in scenario["expected"].items() if v), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Restore


def restore_account(acct):
    calls = Calls()
    ec2 = ec2_for(calls, acct["id"])
    groups = {g["id"]: g for g in acct["groups"]}
    live = collections.defaultdict(list)
    for r in describe_all(ec2, groups):
        rule = Rule.from_live(r)
        if rule is not None:
            live[rule.group_id].append(rule)
    for gid, grp in groups.items():
        want = {}
        for r, t in grp["seeded"] + [(DEFAULT_EGRESS, False)]:
            rule = to_rule(r, t)
            want[rule.spec()] = rule
        have = {}
        revoke = collections.defaultdict(list)
        for rule in live[gid]:
            if rule.spec() in want and rule.spec() not in have:
                have[rule.spec()] = rule
            else:
                revoke[rule.direction].append(rule.rule_id)
        for d, ids in revoke.items():
            fn = ec2.revoke_security_group_ingress if d == "ingress" else ec2.revoke_security_group_egress
            fn(GroupId=gid, SecurityGroupRuleIds=ids)
        missing_untagged = collections.defaultdict(list)
        for spec, w in want.items():
            h = have.get(spec)
            if h is None:
                if w.tags:
                    authorize(ec2, gid, w.direction, [w], w.tags)
                else:
                    missing_untagged[w.direction].append(w)
                continue
            drop = [k for k in h.tags if k not in w.tags]
            add = {k: v for k, v in w.tags.items() if h.tags.get(k) != v}
            if drop:
                ec2.delete_tags(Resources=[h.rule_id], Tags=[{"Key": k} for k in drop])
            if add:
                ec2.create_tags(Resources=[h.rule_id], Tags=tag_list(add))
        for d, rules in missing_untagged.items():
            authorize(ec2, gid, d, rules)
    return calls


def restore(args):
    with open(os.path.join(args.work, "scenario.json")) as f:
        scenario = json.load(f)
    started = time.monotonic()
    calls = Calls()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for c in pool.map(restore_account, scenario["accounts"]):
            calls.operations.update(c.operations)
            calls.attempts.update(c.attempts)
    seconds = time.monotonic() - started
    total = sum(calls.operations.values())
    print(f"restored the seeded state in {seconds:.1f} s: {total} calls", file=sys.stderr)
    json.dump({"seconds": round(seconds, 3), "calls": calls.as_dict()}, sys.stdout)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--work", required=True)
    s.add_argument("--accounts", type=int, default=100)
    s.add_argument("--groups", type=int, default=5)
    s.add_argument("--rules", type=int, default=40)
    s.add_argument("--method", choices=["per-rule", "batch"], default="per-rule")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--today", default=os.environ.get("SGOPS_TODAY", "2026-11-27"))
    r = sub.add_parser("restore")
    r.add_argument("--work", required=True)
    r.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    if args.cmd == "seed":
        for name in ("accounts", "groups", "rules"):
            if getattr(args, name) < 1:
                sys.exit(f"--{name} must be at least 1")
        if args.groups > 250 or args.rules > 250:
            sys.exit("--groups and --rules must be at most 250 (CIDRs are 10.<group>.<rule>.0/24)")
        seed(args)
    else:
        restore(args)


if __name__ == "__main__":
    main()
