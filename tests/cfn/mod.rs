//! The CloudFormation templates of `deploy/`, read the way CloudFormation reads them: a small
//! evaluator of the intrinsic functions they use (long form only: `Ref`, `Fn::Sub`, `Fn::If`,
//! `Fn::Equals`, `Fn::Not`, `Fn::Join`, `Fn::Split`, `Fn::GetAtt`), so tests can look at the
//! policies a stack would create for given parameters, and a small IAM matcher (actions and
//! resources with `*` wildcards, `StringEquals`/`ArnEquals` conditions) to ask whether a call
//! sgops made is granted by them.
//!
//! Not an IAM simulator: no SCPs, permission boundaries, session policies or resource policies
//! beyond the trust policy, and conditions other than exact string matches count as unmet.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// `deploy/<name>`.
pub fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// The template's text.
pub fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("read deploy/{name}: {e}"))
}

/// A template parsed as plain YAML (the short `!Ref` tags would not be).
pub fn load(name: &str) -> Value {
    serde_saphyr::from_str::<Value>(&text(name))
        .unwrap_or_else(|e| panic!("deploy/{name} is not plain YAML: {e}"))
}

/// A template with its parameters and pseudo parameters set and its conditions evaluated.
pub struct Stack {
    pub template: Value,
    pub params: BTreeMap<String, String>,
    pub account: String,
    pub region: String,
    pub conditions: BTreeMap<String, bool>,
}

impl Stack {
    /// `deploy/<name>` in `account` and `region` with `params` (the others at their defaults;
    /// a parameter without default that is not given panics).
    pub fn new(name: &str, account: &str, region: &str, params: &[(&str, &str)]) -> Stack {
        let template = load(name);
        let given: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let declared = template["Parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for k in given.keys() {
            assert!(
                declared.contains_key(k),
                "deploy/{name} has no parameter {k}"
            );
        }
        let mut values = BTreeMap::new();
        for (k, decl) in &declared {
            let v = match given.get(k) {
                Some(v) => v.clone(),
                None => match &decl["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Null => panic!("deploy/{name}: parameter {k} has no default: give it"),
                    other => other.to_string(),
                },
            };
            if let Some(allowed) = decl["AllowedValues"].as_array() {
                assert!(
                    allowed.iter().any(|a| match a {
                        Value::String(a) => *a == v,
                        other => serde_json::from_str::<Value>(&v).ok().as_ref() == Some(other),
                    }),
                    "deploy/{name}: {k}={v} is not one of {allowed:?}"
                );
            }
            values.insert(k.clone(), v);
        }
        let mut stack = Stack {
            template,
            params: values,
            account: account.into(),
            region: region.into(),
            conditions: BTreeMap::new(),
        };
        let conds = stack.template["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (k, c) in conds {
            let v = stack
                .eval(&c)
                .and_then(|v| v.as_bool())
                .unwrap_or_else(|| panic!("deploy/{name}: condition {k} is not a boolean"));
            stack.conditions.insert(k, v);
        }
        stack
    }

    /// The value of a `Ref`.
    fn reference(&self, name: &str) -> Option<Value> {
        Some(match name {
            "AWS::AccountId" => json!(self.account),
            "AWS::Region" => json!(self.region),
            "AWS::Partition" => json!("aws"),
            "AWS::URLSuffix" => json!("amazonaws.com"),
            "AWS::NoValue" => return None,
            _ => {
                if let Some(v) = self.params.get(name) {
                    json!(v)
                } else if self.template["Resources"].get(name).is_some() {
                    // A resource's Ref: its physical id, unknown until created.
                    json!(format!("<{name}>"))
                } else {
                    panic!("Ref to unknown {name}")
                }
            }
        })
    }

    fn sub(&self, s: &str, vars: &BTreeMap<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after.find('}').expect("unclosed ${ in Fn::Sub");
            let name = &after[..end];
            let v = match vars.get(name) {
                Some(v) => v.clone(),
                None if name.contains('.') => json!(format!("<{name}>")),
                None => self.reference(name).expect("Fn::Sub of AWS::NoValue"),
            };
            out.push_str(v.as_str().expect("Fn::Sub of a non-string"));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Evaluates intrinsic functions; `None` is `AWS::NoValue` (the key or item is dropped).
    pub fn eval(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one key");
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().expect("Ref of a name")),
                    "Fn::Sub" => Some(json!(match arg {
                        Value::String(s) => self.sub(s, &BTreeMap::new()),
                        Value::Array(a) => {
                            let vars = a[1]
                                .as_object()
                                .expect("Fn::Sub variables")
                                .iter()
                                .map(|(k, v)| (k.clone(), self.eval(v).expect("a value")))
                                .collect();
                            self.sub(a[0].as_str().expect("Fn::Sub string"), &vars)
                        }
                        _ => panic!("Fn::Sub of {arg}"),
                    })),
                    "Fn::If" => {
                        let a = arg.as_array().expect("Fn::If list");
                        let c = self.conditions[a[0].as_str().expect("condition name")];
                        self.eval(if c { &a[1] } else { &a[2] })
                    }
                    "Fn::Equals" => {
                        let a = arg.as_array().expect("Fn::Equals list");
                        Some(json!(self.eval(&a[0]) == self.eval(&a[1])))
                    }
                    "Fn::Not" => {
                        let a = arg.as_array().expect("Fn::Not list");
                        Some(json!(
                            !self.eval(&a[0]).and_then(|v| v.as_bool()).expect("bool")
                        ))
                    }
                    "Condition" if arg.is_string() => {
                        Some(json!(self.conditions[arg.as_str().expect("name")]))
                    }
                    "Fn::Join" => {
                        let a = arg.as_array().expect("Fn::Join list");
                        let sep = a[0].as_str().expect("separator");
                        let items = self.eval(&a[1]).expect("a list");
                        let parts: Vec<String> = items
                            .as_array()
                            .expect("Fn::Join of a list")
                            .iter()
                            .map(|s| s.as_str().expect("strings").to_string())
                            .collect();
                        Some(json!(parts.join(sep)))
                    }
                    "Fn::Split" => {
                        let a = arg.as_array().expect("Fn::Split list");
                        let sep = a[0].as_str().expect("separator");
                        let s = self.eval(&a[1]).expect("a string");
                        Some(json!(
                            s.as_str()
                                .expect("Fn::Split of a string")
                                .split(sep)
                                .collect::<Vec<_>>()
                        ))
                    }
                    "Fn::GetAtt" => {
                        let a = arg.as_array().expect("Fn::GetAtt list");
                        Some(json!(format!(
                            "<{}.{}>",
                            a[0].as_str().expect("name"),
                            a[1].as_str().expect("attribute")
                        )))
                    }
                    k if k.starts_with("Fn::") => panic!("unsupported {k}"),
                    _ => Some(self.eval_object(m)),
                }
            }
            Value::Object(m) => Some(self.eval_object(m)),
            Value::Array(a) => Some(Value::Array(
                a.iter().filter_map(|x| self.eval(x)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn eval_object(&self, m: &serde_json::Map<String, Value>) -> Value {
        Value::Object(
            m.iter()
                .filter_map(|(k, v)| self.eval(v).map(|v| (k.clone(), v)))
                .collect(),
        )
    }

    /// The resource's properties, evaluated; `None` when its condition is false.
    pub fn resource(&self, logical: &str) -> Option<Value> {
        let r = &self.template["Resources"][logical];
        assert!(!r.is_null(), "no resource {logical}");
        if let Some(c) = r["Condition"].as_str()
            && !self.conditions[c]
        {
            return None;
        }
        self.eval(&r["Properties"])
    }

    /// Logical ids of the resources of `kind` this stack creates.
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.template["Resources"]
            .as_object()
            .expect("Resources")
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .filter(|(k, _)| self.resource(k).is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The trust policy of a role.
    pub fn trust(&self, role: &str) -> Value {
        self.resource(role).expect("role created")["AssumeRolePolicyDocument"].clone()
    }

    /// Every permission statement of a role: its inline `Policies` and the `AWS::IAM::Policy`
    /// resources attached to it.
    pub fn permissions(&self, role: &str) -> Vec<Statement> {
        let props = self.resource(role).expect("role created");
        let mut docs: Vec<Value> = props["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["PolicyDocument"].clone())
            .collect();
        let me = json!(format!("<{role}>"));
        for p in self.resources_of("AWS::IAM::Policy") {
            let props = self.resource(&p).expect("created");
            if props["Roles"].as_array().is_some_and(|r| r.contains(&me)) {
                docs.push(props["PolicyDocument"].clone());
            }
        }
        docs.iter().flat_map(statements).collect()
    }
}

/// A string or a list of strings, as a list.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect(),
        Value::Null => vec![],
        other => panic!("expected strings, got {other}"),
    }
}

/// One statement of a policy document.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub condition: Value,
}

pub fn statements(doc: &Value) -> Vec<Statement> {
    let list = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    list.iter()
        .map(|s| {
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "NotAction/NotResource in {s}"
            );
            Statement {
                sid: s["Sid"].as_str().unwrap_or_default().to_string(),
                allow: s["Effect"] == "Allow",
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                condition: s.get("Condition").cloned().unwrap_or(Value::Null),
            }
        })
        .collect()
}

/// Every action the statements allow, as written.
pub fn allowed_actions(stmts: &[Statement]) -> BTreeSet<String> {
    stmts
        .iter()
        .filter(|s| s.allow)
        .flat_map(|s| s.actions.iter().cloned())
        .collect()
}

/// IAM's wildcard match: `*` any run, `?` one character.
pub fn glob(pattern: &str, s: &str, case_insensitive: bool) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            s.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), s.chars().collect())
    };
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a condition block holds for `context`: only `StringEquals` and `ArnEquals` (and
/// `ArnLike`) are understood; a key missing from `context`, or any other operator, fails.
pub fn condition_holds(cond: &Value, context: &BTreeMap<&str, &str>) -> bool {
    let Some(ops) = cond.as_object() else {
        return cond.is_null();
    };
    ops.iter().all(|(op, keys)| {
        keys.as_object()
            .expect("condition keys")
            .iter()
            .all(|(k, want)| {
                let Some(have) = context.get(k.as_str()) else {
                    return false;
                };
                let want = strings(want);
                match op.as_str() {
                    "StringEquals" | "ArnEquals" => want.iter().any(|w| w == have),
                    "ArnLike" | "StringLike" => want.iter().any(|w| glob(w, have, false)),
                    _ => false,
                }
            })
    })
}

/// Whether `stmts` allow `action` on `resource` in `context` (and no statement denies it).
pub fn allows(
    stmts: &[Statement],
    action: &str,
    resource: &str,
    context: &BTreeMap<&str, &str>,
) -> bool {
    let matches = |s: &Statement| {
        s.actions.iter().any(|a| glob(a, action, true))
            && s.resources.iter().any(|r| glob(r, resource, false))
            && condition_holds(&s.condition, context)
    };
    !stmts.iter().any(|s| !s.allow && matches(s)) && stmts.iter().any(|s| s.allow && matches(s))
}
