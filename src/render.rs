//! Plans as text (like `terraform plan`), Markdown (the PR comment body) and JSON.
//! Each renderer is a pure function of the plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

use crate::plan::{Action, Change, Plan, PlanError};
use crate::rules::RuleView;

/// The JSON plan of SPEC section 7, pretty-printed, with a final newline.
pub fn json(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Adopt => "&",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Retag => "~",
        Action::Delete => "-",
    }
}

fn style(a: Action) -> Style {
    let c = match a {
        Action::Create | Action::Adopt => AnsiColor::Green,
        Action::Update | Action::Retag => AnsiColor::Yellow,
        Action::Replace | Action::Delete => AnsiColor::Red,
    };
    Style::new().fg_color(Some(c.into()))
}

/// One line per counted action: `2 to create, 0 to adopt, …`.
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut line = format!(
        "{} to create, {} to adopt, {} to update, {} to replace, {} to retag, {} to delete",
        s.create, s.adopt, s.update, s.replace, s.retag, s.delete
    );
    if s.denied > 0 {
        let _ = write!(line, "; {} denied by the allow-list", s.denied);
    }
    if !plan.errors.is_empty() {
        let _ = write!(line, "; {} errors", plan.errors.len());
    }
    line
}

/// A rule as YAML-like lines, for diffs.
fn rule_lines(v: &RuleView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "direction: {}", v.direction);
    let _ = writeln!(s, "protocol: {}", v.protocol);
    match &v.ports {
        Some(serde_json::Value::String(p)) => {
            let _ = writeln!(s, "ports: {p}");
        }
        Some(p) => {
            let _ = writeln!(s, "ports: {p}");
        }
        None => {}
    }
    for (k, val) in [
        ("cidr", &v.cidr),
        ("cidr_ipv6", &v.cidr_ipv6),
        ("prefix_list", &v.prefix_list),
        ("security_group", &v.security_group),
        ("description", &v.description),
    ] {
        if let Some(val) = val {
            let _ = writeln!(s, "{k}: {val}");
        }
    }
    for (k, val) in &v.tags {
        let _ = writeln!(s, "tag {k}: {val}");
    }
    s
}

/// A short, one-line description of a rule.
pub fn rule_brief(v: &RuleView) -> String {
    let peer = v
        .cidr
        .as_deref()
        .or(v.cidr_ipv6.as_deref())
        .or(v.prefix_list.as_deref())
        .or(v.security_group.as_deref())
        .unwrap_or("?");
    let ports = match &v.ports {
        None => String::new(),
        Some(serde_json::Value::String(s)) => format!(" {s}"),
        Some(p) => format!(" {p}"),
    };
    let dir = if v.direction == crate::rules::Direction::Ingress {
        "from"
    } else {
        "to"
    };
    format!("{} {}{ports} {dir} {peer}", v.direction, v.protocol)
}

/// Unified diff of two rules (or of one against nothing), `+`/`-` marked.
fn rule_diff(before: Option<&RuleView>, after: Option<&RuleView>, color: bool) -> String {
    let a = before.map(rule_lines).unwrap_or_default();
    let b = after.map(rule_lines).unwrap_or_default();
    let diff = TextDiff::from_lines(&a, &b);
    let mut out = String::new();
    for ch in diff.iter_all_changes() {
        let (sign, st) = match ch.tag() {
            ChangeTag::Delete => ("-", Style::new().fg_color(Some(AnsiColor::Red.into()))),
            ChangeTag::Insert => ("+", Style::new().fg_color(Some(AnsiColor::Green.into()))),
            ChangeTag::Equal => (" ", Style::new()),
        };
        let line = format!("        {sign} {}", ch.value().trim_end());
        if color && ch.tag() != ChangeTag::Equal {
            let _ = writeln!(out, "{}{line}{}", st.render(), st.render_reset());
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

type Section<'a> = BTreeMap<(&'a str, &'a str, &'a str), Vec<&'a Change>>;

fn by_target(plan: &Plan) -> Section<'_> {
    let mut m: Section = BTreeMap::new();
    for c in &plan.changes {
        m.entry((&c.account, &c.account_id, &c.region))
            .or_default()
            .push(c);
    }
    m
}

/// Terminal output like `terraform plan`; `color` adds ANSI colours.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = |s: &str, st: Style| {
        if color {
            format!("{}{s}{}", st.render(), st.render_reset())
        } else {
            s.to_string()
        }
    };
    let bold = Style::new().bold();
    let mut out = String::new();
    if plan.changes.is_empty() && plan.errors.is_empty() {
        out.push_str("No changes. Live security-group rules match the rule files.\n");
        return out;
    }
    for ((account, account_id, region), changes) in by_target(plan) {
        let _ = writeln!(
            out,
            "{}",
            paint(&format!("{account} ({account_id}) {region}"), bold)
        );
        let mut group = "";
        for c in changes {
            if c.security_group != group {
                group = &c.security_group;
                let _ = writeln!(out, "  {group}");
            }
            let head = format!("{:>3} {} {}", symbol(c.action), c.action.as_str(), c.rule);
            let _ = write!(out, "    {}", paint(&head, style(c.action)));
            if let Some(id) = &c.live_rule_id {
                let _ = write!(out, " ({id})");
            }
            out.push('\n');
            if !c.allowed {
                let denied: Vec<&str> = c.api_actions.iter().map(String::as_str).collect();
                let line = format!(
                    "        denied: needs {} (not in the allow-list)",
                    denied.join(", ")
                );
                let _ = writeln!(
                    out,
                    "{}",
                    paint(
                        &line,
                        Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
                    )
                );
            }
            out.push_str(&rule_diff(c.before.as_ref(), c.after.as_ref(), color));
        }
        out.push('\n');
    }
    if !plan.errors.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                "Errors:",
                Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
            )
        );
        for e in &plan.errors {
            let _ = writeln!(out, "  {} {}: {}", e.account, e.region, e.message);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Plan: {}.", summary_line(plan));
    let _ = writeln!(out, "Fingerprint: {}", plan.fingerprint);
    out
}

/// Escapes text from rule files or AWS for Markdown and HTML: no tags, no table breaks,
/// no @mentions, no code-span or emphasis games.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("&#124;"),
            '@' => out.push_str("@\u{200b}"),
            '`' | '*' | '_' | '[' | ']' | '\\' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Per-account counts for the Markdown summary table.
#[derive(Default)]
struct Counts {
    by_action: BTreeMap<Action, usize>,
    denied: usize,
    errors: usize,
}

/// The Markdown body of the plan (the PR comment's content).
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### sgops plan\n");
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    let mut counts: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    for c in &plan.changes {
        let e = counts.entry((&c.account, &c.region)).or_default();
        *e.by_action.entry(c.action).or_default() += 1;
        if !c.allowed {
            e.denied += 1;
        }
    }
    for e in &plan.errors {
        counts.entry((&e.account, &e.region)).or_default().errors += 1;
    }
    if counts.is_empty() {
        out.push_str("No changes. Live security-group rules match the rule files.\n");
    } else {
        out.push_str("| account | region | create | adopt | update | replace | retag | delete | denied | errors |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for ((account, region), c) in &counts {
            let n = |a: Action| c.by_action.get(&a).copied().unwrap_or(0);
            let loud = |n: usize| {
                if n > 0 {
                    format!("**{n}**")
                } else {
                    "0".into()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md_escape(account),
                md_escape(region),
                n(Action::Create),
                n(Action::Adopt),
                n(Action::Update),
                n(Action::Replace),
                n(Action::Retag),
                loud(n(Action::Delete)),
                loud(c.denied),
                loud(c.errors)
            );
        }
    }
    let _ = writeln!(out, "\nFingerprint: `{}`\n", plan.fingerprint);
    for ((account, account_id, region), changes) in by_target(plan) {
        let _ = writeln!(
            out,
            "<details><summary>{} ({account_id}) {} — {} changes</summary>\n",
            md_escape(account),
            md_escape(region),
            changes.len()
        );
        out.push_str("```diff\n");
        for c in changes {
            let denied = if c.allowed {
                ""
            } else {
                "  [DENIED by the allow-list]"
            };
            let _ = writeln!(
                out,
                "{} {} {} {}{}",
                symbol(c.action),
                c.action.as_str(),
                fence_safe(&c.security_group),
                fence_safe(&c.rule),
                denied
            );
            out.push_str(&fence_safe(&rule_diff(
                c.before.as_ref(),
                c.after.as_ref(),
                false,
            )));
        }
        out.push_str("```\n\n</details>\n\n");
    }
    if !plan.errors.is_empty() {
        out.push_str("#### Errors\n\n");
        for PlanError {
            account,
            region,
            message,
        } in &plan.errors
        {
            let _ = writeln!(
                out,
                "- **{}** {}: {}",
                md_escape(account),
                md_escape(region),
                md_escape(message)
            );
        }
    }
    out
}

/// Text inside a fenced block cannot close the fence.
fn fence_safe(s: &str) -> String {
    s.replace("```", "`\u{200b}``")
}
