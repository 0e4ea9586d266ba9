"""Seeds a moto server for the sgops demo: two workload accounts, each with a VPC and a
baseline security group holding untagged rules, and the central EC2 allow-list in SSM in the
seed's {"a","b"} format. Writes a ready rules repository into the directory given."""
import json
import os
import sys

import boto3

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
ACCOUNTS = {"itx-016": "111111111111", "itx-046": "222222222222"}
REGION = "us-east-1"
ALLOWED = [
    "authorize_security_group_ingress",
    "authorize_security_group_egress",
    "revoke_security_group_ingress",
    "revoke_security_group_egress",
    "modify_security_group_rules",
    "create_tags",
    "delete_tags",
]


def ec2_in(account):
    creds = boto3.client("sts", endpoint_url=ENDPOINT, region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        "ec2",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def seed_account(name, account):
    ec2 = ec2_in(account)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="payments-app", Description="baseline", VpcId=vpc)["GroupId"]
    # Baseline rules (as Firewall Manager would deploy them): untagged, never touched by sgops.
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "baseline https from corp"}]},
            # An exception granted by hand before sgops: the plan adopts it.
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
             "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "Partner API"}]},
        ],
    )
    return vpc, sg


def main(repo):
    os.makedirs(repo, exist_ok=True)
    ssm = boto3.client("ssm", endpoint_url=ENDPOINT, region_name=REGION)
    ssm.put_parameter(
        Name="/vpcx/aws/boto3-proxy/allowed-actions/ec2",
        Value="{" + ",".join(f'"{a}"' for a in ALLOWED) + "}",
        Type="String",
        Overwrite=True,
    )
    with open(os.path.join(repo, "sgops.yaml"), "w") as f:
        f.write(
            "allowlist:\n  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/\n  region: us-east-1\n"
            "role_name: sgops-reconciler\naccounts:\n"
            + "".join(f'  {n}: "{a}"\n' for n, a in ACCOUNTS.items())
            + 'rule_tags:\n  vpcx:skip_enforcement: "yes"\n'
        )
    seeded = {}
    for name, account in ACCOUNTS.items():
        vpc, sg = seed_account(name, account)
        seeded[name] = {"account": account, "vpc": vpc, "security_group": sg}
        d = os.path.join(repo, "rules", name, REGION)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "payments-app.yaml"), "w") as f:
            f.write(f"""security_group: {{ name: payments-app, vpc: {vpc} }}
rules:
  - id: partner-api
    direction: ingress
    protocol: tcp
    ports: 8443
    cidr: 198.51.100.0/24
    description: Partner API
    ticket: CHG-10001
  - id: partner-callbacks-https
    direction: ingress
    protocol: tcp
    ports: 443
    cidr: 203.0.113.0/24
    description: Partner callbacks
    ticket: CHG-12345
    expires: 2027-06-30
    tags: {{ team: payments }}
  - id: reporting-db
    direction: egress
    protocol: tcp
    ports: 5432
    cidr: 10.20.0.0/16
    description: Reporting database
    ticket: CHG-12346
""")
    json.dump(seeded, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
