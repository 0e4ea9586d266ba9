"""Baseline "naive": the script teams write first without sgops, in plain boto3.

    baseline_naive.py plan|apply --repo DIR

Sequential, group by group, the way the old per-group scripts did it. For each security group
of each rule file: an AssumeRole into the account (a fresh session per group), a
DescribeSecurityGroups to check the group, a DescribeSecurityGroupRules for the group, then a
DescribeTags per rule for its tags (one call per rule); the diff (sgops's semantics,
bench/awsbench.py); and one write call per rule: an authorize per created rule (tagged at
creation), a revoke per deleted rule, a modify per updated rule, a CreateTags / DeleteTags per
re-tagged or adopted rule.

The allow-list is read once (one GetParameter). Prints the change counts and the API calls by
operation on stderr, a JSON summary on stdout. Uses AWS_ENDPOINT_URL."""
import collections
import os
import sys

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awsbench import Rule, assume, check_allowed, diff_group, finish, start, tag_list  # noqa: E402

SESSION = "bench-naive"
CONVERGED = ("InvalidPermission.Duplicate", "InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")


def read_group(ec2, gid):
    ec2.describe_security_groups(GroupIds=[gid])  # raises InvalidGroup.NotFound
    rules, token = [], None
    for _ in range(10000):  # bounded pagination
        kw = {"NextToken": token} if token else {}
        resp = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}], **kw)
        rules.extend(resp["SecurityGroupRules"])
        token = resp.get("NextToken")
        if not token:
            break
    live = []
    for r in rules:
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [r["SecurityGroupRuleId"]]}])["Tags"]
        rule = Rule.from_live(r, {t["Key"]: t.get("Value", "") for t in tags})
        if rule is not None:
            live.append(rule)
    return live


def write(ec2, c):
    """One change, one rule per call."""
    d, live = c.desired, c.live
    if c.action in ("create", "replace"):
        fn = ec2.authorize_security_group_ingress if d.direction == "ingress" else ec2.authorize_security_group_egress
        fn(GroupId=c.group_id, IpPermissions=[d.ip_permission()],
           TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": tag_list(d.tags)}])
    if c.action == "update" or (c.action == "adopt" and d.description != live.description):
        ec2.modify_security_group_rules(GroupId=c.group_id, SecurityGroupRules=[
            {"SecurityGroupRuleId": live.rule_id, "SecurityGroupRule": d.rule_request()}])
    if c.action in ("adopt", "update", "retag"):
        add, drop = c.tag_delta()
        if add:
            ec2.create_tags(Resources=[live.rule_id], Tags=tag_list(add))
        if drop:
            ec2.delete_tags(Resources=[live.rule_id], Tags=[{"Key": k} for k in drop])
    if c.action in ("delete", "replace"):
        fn = ec2.revoke_security_group_ingress if live.direction == "ingress" else ec2.revoke_security_group_egress
        fn(GroupId=c.group_id, SecurityGroupRuleIds=[live.rule_id])


def main():
    args, started, calls, config, targets, allowed = start(__doc__)
    all_changes, errors = [], []
    results = collections.Counter()
    for (account, region), groups in targets.items():
        acct = config["_accounts"][account]
        for gid, desired in sorted(groups.items()):
            try:
                creds = assume(calls, acct["id"], acct["role_name"], SESSION, region, config.get("external_id"))
                ec2 = calls.client("ec2", region, creds)
                live = read_group(ec2, gid)
            except Exception as e:  # noqa: BLE001 - one group failing must not stop the others
                errors.append(f"{account} {region} {gid}: {e}")
                continue
            changes = diff_group(gid, desired, live)
            all_changes += changes
            if args.mode != "apply":
                continue
            if check_allowed(changes, allowed):
                sys.stderr.write(f"refused: {gid}: changes need actions the allow-list does not permit\n")
                return 3
            for c in changes:
                try:
                    write(ec2, c)
                    results["applied"] += 1
                except ClientError as e:
                    code = e.response.get("Error", {}).get("Code", "")
                    if code in CONVERGED:
                        results["converged"] += 1
                    else:
                        results["failed"] += 1
                        errors.append(f"{gid} {c.name}: {code}: {e}")
    return finish("naive", args.mode, calls, all_changes, started, dict(results), errors)


if __name__ == "__main__":
    sys.exit(main())
