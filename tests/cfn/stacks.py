#!/usr/bin/env python3
"""Deploys a deploy/ template into moto's CloudFormation for tests/e2e_deploy.rs, and reports
what the stack created, as JSON on standard output. boto3 (from the moto venv) does the
CloudFormation and IAM calls, which sgops's own SDK crates do not cover.

    stacks.py ENDPOINT oidc ACCOUNT
        creates token.actions.githubusercontent.com's OIDC provider in ACCOUNT (moto's
        CloudFormation accepts AWS::IAM::OIDCProvider but creates nothing): {"arn": ...}
    stacks.py ENDPOINT deploy ACCOUNT TEMPLATE STACK [KEY=VALUE]...
        creates the stack; {"status", "reason", "outputs", "resources": [{"logical", "type",
        "physical"}], "roles": {name: {"trust", "policies"}}, "parameters": {name: value}}

Each ACCOUNT is entered by AssumeRole, as moto isolates accounts by the caller's credentials.
"""

import json
import sys

import boto3

REGION = "us-east-1"


def client(endpoint, service, creds=None):
    kw = {"endpoint_url": endpoint, "region_name": REGION}
    if creds:
        kw.update(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    else:
        kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client(service, **kw)


def enter(endpoint, account):
    sts = client(endpoint, "sts")
    out = sts.assume_role(
        RoleArn="arn:aws:iam::%s:role/stack-deployer" % account, RoleSessionName="deployer"
    )
    return out["Credentials"]


def oidc(endpoint, account):
    iam = client(endpoint, "iam", enter(endpoint, account))
    arn = iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["0" * 40],
    )["OpenIDConnectProviderArn"]
    return {"arn": arn}


def deploy(endpoint, account, template, stack, params):
    creds = enter(endpoint, account)
    cfn = client(endpoint, "cloudformation", creds)
    with open(template, encoding="utf-8") as f:
        body = f.read()
    cfn.create_stack(
        StackName=stack,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    resources = [
        {
            "logical": r.get("LogicalResourceId"),
            "type": r.get("ResourceType"),
            "physical": r.get("PhysicalResourceId"),
        }
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        if r.get("LogicalResourceId")
    ]
    iam = client(endpoint, "iam", creds)
    ssm = client(endpoint, "ssm", creds)
    roles, parameters = {}, {}
    for r in resources:
        if r["type"] == "AWS::IAM::Role":
            role = iam.get_role(RoleName=r["physical"])["Role"]
            roles[r["physical"]] = {
                "arn": role["Arn"],
                "trust": role["AssumeRolePolicyDocument"],
                "policies": sorted(iam.list_role_policies(RoleName=r["physical"])["PolicyNames"]),
            }
        elif r["type"] == "AWS::SSM::Parameter":
            parameters[r["physical"]] = ssm.get_parameter(Name=r["physical"])["Parameter"]["Value"]
    return {
        "status": s["StackStatus"],
        "reason": s.get("StackStatusReason"),
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])},
        "resources": resources,
        "roles": roles,
        "parameters": parameters,
    }


def main(argv):
    endpoint, command, account = argv[1], argv[2], argv[3]
    if command == "oidc":
        out = oidc(endpoint, account)
    elif command == "deploy":
        params = [a.split("=", 1) for a in argv[6:]]
        out = deploy(endpoint, account, argv[4], argv[5], params)
    else:
        raise SystemExit("unknown command %s" % command)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv)
