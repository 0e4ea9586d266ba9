"""Baseline "competent": what a careful team writes without sgops, in plain boto3.

    baseline_competent.py plan|apply --repo DIR

Sequential (one account x region after the other). Per account x region: one AssumeRole, one
DescribeSecurityGroupRules filtered by the group ids of the rule files (paginated, 1000 a
page), DescribeSecurityGroups only for groups that showed no rule; the diff in memory (sgops's
semantics, bench/awsbench.py). Writes batched wherever EC2 allows it:

  - revokes: one call per group and direction (by rule id);
  - creates: one authorize per group and direction with every new rule, tagged at creation
    with the tags all of them share (rule_tags); each rule's own `sgops:rule` value then
    needs a CreateTags per rule (a call's TagSpecifications go to every rule it creates).
    The new rule ids come from the authorize response when it lists them all (AWS), else
    (moto lists only the last permission's) from one DescribeSecurityGroupRules per account;
  - modifies: one call per group;
  - other tag changes: one CreateTags / DeleteTags per distinct tag set.

The allow-list is read once (one GetParameter); a change needing an action it does not allow
stops the run before any write (exit 3), like sgops. Prints the plan's change counts and the
API calls by operation on stderr, a JSON summary on stdout. Uses AWS_ENDPOINT_URL."""
import collections
import os
import sys

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awsbench import RULE_TAG, Rule, assume, check_allowed, diff_group, finish, start, tag_list  # noqa: E402

SESSION = "bench-competent"


def describe_rules(ec2, group_ids):
    out = []
    ids = sorted(group_ids)
    for i in range(0, len(ids), 200):  # at most 200 values per filter
        token = None
        for _ in range(10000):  # bounded pagination
            kw = {"NextToken": token} if token else {}
            resp = ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": ids[i:i + 200]}], MaxResults=1000, **kw)
            out.extend(resp["SecurityGroupRules"])
            token = resp.get("NextToken")
            if not token:
                break
    return out


def read_target(calls, config, account, region, groups):
    acct = config["_accounts"][account]
    creds = assume(calls, acct["id"], acct["role_name"], SESSION, region, config.get("external_id"))
    ec2 = calls.client("ec2", region, creds)
    live = collections.defaultdict(list)
    seen = set()
    for r in describe_rules(ec2, groups):
        seen.add(r["GroupId"])
        rule = Rule.from_live(r)
        if rule is not None:
            live[rule.group_id].append(rule)
    unseen = [g for g in groups if g not in seen]
    if unseen:  # a group with no rule at all: does it exist?
        found = {g["GroupId"] for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-id", "Values": unseen}])["SecurityGroups"]}
        missing = [g for g in unseen if g not in found]
        if missing:
            raise RuntimeError(f"security groups do not exist: {', '.join(missing)}")
    return ec2, live


class Writer:
    """Batched writes for one account x region; counts results per change."""

    def __init__(self, ec2):
        self.ec2 = ec2
        self.results = collections.Counter()
        self.errors = []

    def _try(self, changes, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("InvalidPermission.Duplicate", "InvalidPermission.NotFound",
                        "InvalidSecurityGroupRuleId.NotFound"):
                return None
            for c in changes:
                self.errors.append(f"{c.group_id} {c.name}: {code}: {e}")
            return None

    def revoke(self, gid, changes):
        by_dir = collections.defaultdict(list)
        for c in changes:
            by_dir[c.live.direction].append(c)
        for d, cs in sorted(by_dir.items()):
            fn = self.ec2.revoke_security_group_ingress if d == "ingress" else self.ec2.revoke_security_group_egress
            self._try(cs, fn, GroupId=gid, SecurityGroupRuleIds=[c.live.rule_id for c in cs])

    def authorize(self, gid, changes):
        """Authorizes per direction; returns changes whose new rule id is still unknown."""
        unknown = []
        by_dir = collections.defaultdict(list)
        for c in changes:
            by_dir[c.desired.direction].append(c)
        for d, cs in sorted(by_dir.items()):
            common = dict(cs[0].desired.tags)
            for c in cs[1:]:
                common = {k: v for k, v in common.items() if c.desired.tags.get(k) == v}
            common.pop(RULE_TAG, None)
            fn = self.ec2.authorize_security_group_ingress if d == "ingress" else self.ec2.authorize_security_group_egress
            kw = {"TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": tag_list(common)}]} if common else {}
            resp = self._try(cs, fn, GroupId=gid, IpPermissions=[c.desired.ip_permission() for c in cs], **kw)
            got = {}
            for r in (resp or {}).get("SecurityGroupRules", []):
                rule = Rule.from_live(r)
                if rule is not None:
                    got[rule.key()] = r["SecurityGroupRuleId"]
            for c in cs:
                c.desired.tags = {k: v for k, v in c.desired.tags.items() if k not in common}
                c.desired.rule_id = got.get(c.desired.key())
                if c.desired.rule_id is None:
                    unknown.append(c)
        return unknown

    def modify(self, gid, changes):
        if changes:
            self._try(changes, self.ec2.modify_security_group_rules, GroupId=gid, SecurityGroupRules=[
                {"SecurityGroupRuleId": c.live.rule_id, "SecurityGroupRule": c.desired.rule_request()}
                for c in changes])

    def tags(self, items):
        """items: (change, rule id, tags to set, keys to delete); one call per distinct set."""
        creates, deletes = collections.defaultdict(list), collections.defaultdict(list)
        for c, rid, add, drop in items:
            if add:
                creates[tuple(sorted(add.items()))].append((c, rid))
            if drop:
                deletes[tuple(sorted(drop))].append((c, rid))
        for tags, cs in creates.items():
            self._try([c for c, _ in cs], self.ec2.create_tags, Resources=[r for _, r in cs], Tags=tag_list(dict(tags)))
        for keys, cs in deletes.items():
            self._try([c for c, _ in cs], self.ec2.delete_tags, Resources=[r for _, r in cs], Tags=[{"Key": k} for k in keys])


def apply_target(ec2, changes):
    w = Writer(ec2)
    by_group = collections.defaultdict(list)
    for c in changes:
        by_group[c.group_id].append(c)
    to_tag, unknown = [], []
    for gid, cs in sorted(by_group.items()):
        w.revoke(gid, [c for c in cs if c.action == "delete"])
        created = [c for c in cs if c.action in ("create", "replace")]
        unknown += w.authorize(gid, created)
        to_tag += [(c, c.desired.rule_id, c.desired.tags, []) for c in created if c.desired.rule_id]
        w.modify(gid, [c for c in cs if c.action == "update"
                       or (c.action == "adopt" and c.desired.description != c.live.description)])
        to_tag += [(c, c.live.rule_id) + c.tag_delta() for c in cs if c.action in ("adopt", "update", "retag")]
    if unknown:  # moto: the authorize responses did not list every new rule
        ids = {}
        for r in describe_rules(ec2, {c.group_id for c in unknown}):
            rule = Rule.from_live(r)
            if rule is not None:
                ids[(rule.group_id, rule.key())] = r["SecurityGroupRuleId"]
        for c in unknown:
            rid = ids.get((c.group_id, c.desired.key()))
            if rid is None:
                w.errors.append(f"{c.group_id} {c.name}: the new rule was not found")
            else:
                to_tag.append((c, rid, c.desired.tags, []))
    w.tags(to_tag)
    for gid, cs in sorted(by_group.items()):
        w.revoke(gid, [c for c in cs if c.action == "replace"])
    return w


def main():
    args, started, calls, config, targets, allowed = start(__doc__)
    all_changes, errors = [], []
    results = collections.Counter()
    for (account, region), groups in targets.items():
        try:
            ec2, live = read_target(calls, config, account, region, groups)
        except Exception as e:  # noqa: BLE001 - one account failing must not stop the others
            errors.append(f"{account} {region}: {e}")
            continue
        changes = []
        for gid, desired in sorted(groups.items()):
            changes += diff_group(gid, desired, live.get(gid, []))
        all_changes += changes
        if args.mode == "apply" and changes:
            denied = check_allowed(changes, allowed)
            if denied:
                sys.stderr.write(f"refused: {len(denied)} changes need actions the allow-list does not permit\n")
                return 3
            w = apply_target(ec2, changes)
            errors += w.errors
            results["applied"] += len(changes) - len(w.errors)
            results["failed"] += len(w.errors)
    if args.mode == "plan" and check_allowed(all_changes, allowed):
        sys.stderr.write("refused: changes need actions the allow-list does not permit\n")
    return finish("competent", args.mode, calls, all_changes, started, dict(results), errors)


if __name__ == "__main__":
    sys.exit(main())
