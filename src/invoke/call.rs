//! The one EC2 call of a request, and what came of it. The only I/O of `invoke`.

use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types as ec2;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};

use crate::aws::{describe_sdk_error, error_code, is_unreachable};

use super::answer::*;
use super::sdk::*;
use super::*;

/// What EC2 answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response, in boto3's shape.
    Done(Value),
    /// DryRun was set and EC2 answered `DryRunOperation`: the call would have succeeded.
    DryRun { message: String },
}

impl Outcome {
    /// What `sgops invoke` prints on standard output.
    pub fn to_json(&self) -> Value {
        match self {
            Outcome::Done(v) => v.clone(),
            Outcome::DryRun { message } => json!({
                "DryRun": true,
                "Code": DRY_RUN_OK,
                "Message": message,
            }),
        }
    }

    /// What happened, in a few words for standard error: `ok, 1 rule created`.
    pub fn summary(&self, action: Action) -> String {
        let Outcome::Done(v) = self else {
            return "dry run: the call would have succeeded (DryRunOperation)".into();
        };
        let len = |key: &str| v.get(key).and_then(Value::as_array).map(Vec::len);
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts: Vec<String> = Vec::new();
        match action {
            Action::AuthorizeIngress | Action::AuthorizeEgress => {
                parts.extend(len("SecurityGroupRules").map(|n| count(n, "rule") + " created"));
            }
            Action::RevokeIngress | Action::RevokeEgress => {
                parts.extend(
                    len("RevokedSecurityGroupRules").map(|n| count(n, "rule") + " revoked"),
                );
                parts.extend(
                    len("UnknownIpPermissions")
                        .filter(|n| *n > 0)
                        .map(|n| count(n, "permission") + " matched no rule"),
                );
            }
            Action::DescribeRules => {
                parts.extend(len("SecurityGroupRules").map(|n| count(n, "rule")))
            }
            Action::DescribeGroups => {
                parts.extend(len("SecurityGroups").map(|n| count(n, "group")))
            }
            _ => {}
        }
        if v.get("NextToken").is_some() {
            parts.push("more with NextToken".into());
        }
        // EC2 answers false where a call did nothing it was asked to; no exception then.
        let head = if v.get("Return") == Some(&Value::Bool(false)) {
            "EC2 answered Return: false"
        } else {
            "ok"
        };
        std::iter::once(head.to_string())
            .chain(parts)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The error code with which EC2 says a DryRun call would have succeeded.
pub(super) const DRY_RUN_OK: &str = "DryRunOperation";

/// A call EC2 answered, and the id of its answer (for audit trails and AWS support).
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    pub outcome: Outcome,
    pub request_id: Option<String>,
}

/// A failed call, with AWS's code kept in the message (`InvalidPermission.Duplicate: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    /// EC2 was not reached or did not answer in time.
    pub unreachable: bool,
    pub request_id: Option<String>,
}

/// The code with which EC2 refuses to create a rule that exists.
pub(super) const DUPLICATE: &str = "InvalidPermission.Duplicate";

impl CallError {
    /// The message to show, given how many HTTP attempts the call took: an authorize that
    /// was retried and then heard "duplicate" most likely created the rule on an attempt
    /// whose reply was lost, so the rule the caller asked for probably exists.
    pub fn explain(&self, attempts: u64) -> String {
        let authorize = matches!(
            self.operation,
            "ec2:AuthorizeSecurityGroupIngress" | "ec2:AuthorizeSecurityGroupEgress"
        );
        if authorize && attempts > 1 && self.code.as_deref() == Some(DUPLICATE) {
            format!(
                "{} (the call was sent {attempts} times: an earlier attempt probably created the rule and its reply was lost; describe_security_group_rules shows it)",
                self.message
            )
        } else {
            self.message.clone()
        }
    }
}

/// Makes the one EC2 call of `req`. `dry_run` (or the body's own `DryRun`) sets DryRun.
pub async fn call(
    ec2: &aws_sdk_ec2::Client,
    req: &Request,
    dry_run: bool,
) -> Result<Called, CallError> {
    let dry = dry_run || req.body_dry_run();
    let op = req.action().operation();
    let dry_flag = dry.then_some(true);
    // Each ingress/egress pair differs only in its SDK builder and how it names the group: one
    // expansion per pair, so the two can never drift apart.
    macro_rules! authorize {
        ($builder:expr, $b:expr) => {
            finish(
                op,
                dry,
                $builder
                    .set_ip_permissions(Some(
                        $b.ip_permissions.iter().map(IpPermission::sdk).collect(),
                    ))
                    .set_tag_specifications(tag_specifications(&$b.tag_specifications))
                    .set_dry_run(dry_flag)
                    .send()
                    .await,
                |o| {
                    json!({
                        "Return": o.r#return,
                        "SecurityGroupRules": o.security_group_rules.as_deref().map(rules_json),
                    })
                },
            )
        };
    }
    macro_rules! revoke {
        ($builder:expr, $b:expr) => {
            finish(
                op,
                dry,
                $builder
                    .set_ip_permissions(permissions(&$b.ip_permissions))
                    .set_security_group_rule_ids($b.security_group_rule_ids.clone())
                    .set_dry_run(dry_flag)
                    .send()
                    .await,
                |o| {
                    revoke_json(
                        o.r#return,
                        o.unknown_ip_permissions.as_deref(),
                        o.revoked_security_group_rules.as_deref(),
                    )
                },
            )
        };
    }
    macro_rules! update_descriptions {
        ($builder:expr, $b:expr) => {
            finish(
                op,
                dry,
                $builder
                    .set_group_id($b.group_id.clone())
                    .set_group_name($b.group_name.clone())
                    .set_ip_permissions(permissions(&$b.ip_permissions))
                    .set_security_group_rule_descriptions(rule_descriptions(
                        &$b.security_group_rule_descriptions,
                    ))
                    .set_dry_run(dry_flag)
                    .send()
                    .await,
                |o| json!({ "Return": o.r#return }),
            )
        };
    }
    match req {
        Request::AuthorizeIngress(b) => authorize!(
            ec2.authorize_security_group_ingress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone()),
            b
        ),
        Request::AuthorizeEgress(b) => {
            authorize!(
                ec2.authorize_security_group_egress().group_id(&b.group_id),
                b
            )
        }
        Request::RevokeIngress(b) => revoke!(
            ec2.revoke_security_group_ingress()
                .set_group_id(b.group_id.clone())
                .set_group_name(b.group_name.clone()),
            b
        ),
        Request::RevokeEgress(b) => {
            revoke!(ec2.revoke_security_group_egress().group_id(&b.group_id), b)
        }
        Request::ModifyRules(b) => finish(
            op,
            dry,
            ec2.modify_security_group_rules()
                .group_id(&b.group_id)
                .set_security_group_rules(Some(
                    b.security_group_rules
                        .iter()
                        .map(|u| {
                            ec2::SecurityGroupRuleUpdate::builder()
                                .security_group_rule_id(&u.security_group_rule_id)
                                .security_group_rule(u.security_group_rule.sdk())
                                .build()
                        })
                        .collect(),
                ))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| json!({ "Return": o.r#return }),
        ),
        Request::UpdateDescriptionsIngress(b) => {
            update_descriptions!(ec2.update_security_group_rule_descriptions_ingress(), b)
        }
        Request::UpdateDescriptionsEgress(b) => {
            update_descriptions!(ec2.update_security_group_rule_descriptions_egress(), b)
        }
        Request::CreateTags(b) => finish(
            op,
            dry,
            ec2.create_tags()
                .set_resources(Some(b.resources.clone()))
                .set_tags(Some(sdk_tags(&b.tags)))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |_| json!({}),
        ),
        Request::DeleteTags(b) => finish(
            op,
            dry,
            ec2.delete_tags()
                .set_resources(Some(b.resources.clone()))
                .set_tags(b.tags.as_deref().map(sdk_tags))
                .set_dry_run(dry_flag)
                .send()
                .await,
            |_| json!({}),
        ),
        Request::DescribeRules(b) => finish(
            op,
            dry,
            ec2.describe_security_group_rules()
                .set_filters(filters(&b.filters))
                .set_security_group_rule_ids(b.security_group_rule_ids.clone())
                .set_next_token(b.next_token.clone())
                .set_max_results(b.max_results)
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "SecurityGroupRules": rules_json(o.security_group_rules()),
                    "NextToken": o.next_token,
                })
            },
        ),
        Request::DescribeGroups(b) => finish(
            op,
            dry,
            ec2.describe_security_groups()
                .set_filters(filters(&b.filters))
                .set_group_ids(b.group_ids.clone())
                .set_group_names(b.group_names.clone())
                .set_next_token(b.next_token.clone())
                .set_max_results(b.max_results)
                .set_dry_run(dry_flag)
                .send()
                .await,
            |o| {
                json!({
                    "SecurityGroups": o.security_groups().iter().map(group_json).collect::<Vec<_>>(),
                    "NextToken": o.next_token,
                })
            },
        ),
    }
}

pub(super) fn rule_descriptions(
    d: &Option<Vec<SecurityGroupRuleDescription>>,
) -> Option<Vec<ec2::SecurityGroupRuleDescription>> {
    d.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                ec2::SecurityGroupRuleDescription::builder()
                    .security_group_rule_id(&r.security_group_rule_id)
                    .set_description(r.description.clone())
                    .build()
            })
            .collect()
    })
}

/// Turns a call's result into an [`Outcome`]. Under DryRun only `DryRunOperation` is success:
/// a real answer means the endpoint ignored DryRun and acted, which the caller must hear.
pub(super) fn finish<T, E>(
    operation: &'static str,
    dry: bool,
    result: Result<T, aws_sdk_ec2::error::SdkError<E, HttpResponse>>,
    to_json: impl FnOnce(T) -> Value,
) -> Result<Called, CallError>
where
    T: RequestId,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let request_id = match &result {
        Ok(out) => out.request_id(),
        Err(e) => e.request_id(),
    }
    .map(str::to_string);
    match result {
        Ok(_) if dry => Err(CallError {
            operation,
            code: None,
            unreachable: false,
            message: "DryRun was set, but the endpoint carried the call out instead of answering DryRunOperation (moto does so for some actions): check what it changed".into(),
            request_id,
        }),
        Ok(out) => Ok(Called {
            outcome: Outcome::Done(strip_nulls(to_json(out))),
            request_id,
        }),
        Err(e) if dry && error_code(&e).as_deref() == Some(DRY_RUN_OK) => Ok(Called {
            outcome: Outcome::DryRun {
                message: e
                    .message()
                    .unwrap_or("Request would have succeeded, but DryRun flag is set.")
                    .to_string(),
            },
            request_id,
        }),
        Err(e) => Err(CallError {
            operation,
            code: error_code(&e),
            message: describe_sdk_error(&e),
            unreachable: is_unreachable(&e),
            request_id,
        }),
    }
}
