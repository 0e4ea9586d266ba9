//! Plans as text (like `terraform plan`), Markdown (the PR comment body) and JSON.
//! Each renderer is a pure function of the plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

use crate::escape;
use crate::escape::terminal;
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

/// A rule as YAML-like lines, for diffs. Values come from rule files and AWS: every control
/// character is escaped, so no value can add a line to the diff (or to a CI log).
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
            let _ = writeln!(s, "{k}: {}", terminal(val));
        }
    }
    for (k, val) in &v.tags {
        let _ = writeln!(s, "tag {}: {}", terminal(k), terminal(val));
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

/// How diff lines are laid out: indented under the change for terminals, or with the sign in
/// the first column so a Markdown ```diff block colours them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Terminal { color: bool },
    Markdown,
}

/// Unified diff of two rules (or of one against nothing), `+`/`-` marked.
fn rule_diff(before: Option<&RuleView>, after: Option<&RuleView>, layout: Layout) -> String {
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
        let line = match layout {
            Layout::Terminal { .. } => format!("        {sign} {}", ch.value().trim_end()),
            Layout::Markdown => format!("{sign}     {}", ch.value().trim_end()),
        };
        if layout == (Layout::Terminal { color: true }) && ch.tag() != ChangeTag::Equal {
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
    if !plan.policy_changes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                "Policy changes in sgops.yaml (take effect after merge; this plan obeys the base branch's):",
                bold
            )
        );
        for c in &plan.policy_changes {
            let _ = writeln!(
                out,
                "  {}: {} -> {}",
                terminal(&c.key),
                terminal(&c.base),
                terminal(&c.proposed)
            );
        }
        out.push('\n');
    }
    if plan.changes.is_empty() && plan.errors.is_empty() {
        out.push_str("No changes. Live security-group rules match the rule files.\n");
        warnings_text(&mut out, plan);
        expiring_text(&mut out, plan);
        return out;
    }
    for ((account, account_id, region), changes) in by_target(plan) {
        let _ = writeln!(
            out,
            "{}",
            paint(
                &terminal(&format!("{account} ({account_id}) {region}")),
                bold
            )
        );
        let mut group = "";
        for c in changes {
            if c.security_group != group {
                group = &c.security_group;
                let _ = writeln!(out, "  {}", terminal(group));
            }
            let head = format!(
                "{:>3} {} {}",
                symbol(c.action),
                c.action.as_str(),
                terminal(&c.rule)
            );
            let _ = write!(out, "    {}", paint(&head, style(c.action)));
            if let Some(id) = &c.live_rule_id {
                let _ = write!(out, " ({})", terminal(id));
            }
            out.push('\n');
            if !c.allowed {
                let denied: Vec<&str> = c.api_actions.iter().map(String::as_str).collect();
                let line = format!(
                    "        denied: needs {} (not in the allow-list)",
                    terminal(&denied.join(", "))
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
            out.push_str(&rule_diff(
                c.before.as_ref(),
                c.after.as_ref(),
                Layout::Terminal { color },
            ));
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
        for e in crate::plan::errors_by_account(&plan.errors) {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                terminal(&e.account),
                terminal(&e.region),
                terminal(&e.message)
            );
        }
        out.push('\n');
    }
    warnings_text(&mut out, plan);
    expiring_text(&mut out, plan);
    let _ = writeln!(out, "Plan: {}.", summary_line(plan));
    let _ = writeln!(out, "Fingerprint: {}", plan.fingerprint);
    out
}

/// The plan's warnings, one line each, after a heading.
fn warnings_text(out: &mut String, plan: &Plan) {
    if plan.warnings.is_empty() {
        return;
    }
    out.push_str("Warnings:\n");
    for w in &plan.warnings {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            terminal(&w.account),
            terminal(&w.region),
            terminal(&w.message)
        );
    }
    out.push('\n');
}

/// The rules that expire soon, one line each, after a heading.
fn expiring_text(out: &mut String, plan: &Plan) {
    if plan.expiring.is_empty() {
        return;
    }
    out.push_str("Expiring soon (revoked on their expiry date unless extended):\n");
    for e in &plan.expiring {
        let owners = if e.owners.is_empty() {
            "no owner in CODEOWNERS".to_string()
        } else {
            format!("owners {}", e.owners.join(" "))
        };
        let _ = writeln!(
            out,
            "  {} {} {} {}: expires {} (in {} {}), ticket {}, {}",
            terminal(&e.account),
            terminal(&e.region),
            terminal(&e.security_group),
            terminal(&e.rule),
            terminal(&e.expires),
            e.days_left,
            if e.days_left == 1 { "day" } else { "days" },
            terminal(&e.ticket),
            terminal(&owners)
        );
    }
    out.push('\n');
}

/// The rules that expire soon as a Markdown table, cut at `limit` bytes of `out`. Owners are
/// code spans: a plan comment notifies nobody.
fn expiring_markdown(out: &mut String, plan: &Plan, limit: usize, cut_note: &str) {
    if plan.expiring.is_empty() {
        return;
    }
    let n = plan.expiring.len();
    let _ = writeln!(
        out,
        "#### ⏳ Expiring soon: {n} {}\n\nRevoked on their expiry date unless a pull request extends them (a new `expires` and ticket).\n",
        if n == 1 { "rule" } else { "rules" }
    );
    out.push_str("| account | region | security group | rule | expires | days left | ticket | owners |\n|---|---|---|---|---|---:|---|---|\n");
    for (i, e) in plan.expiring.iter().enumerate() {
        let owners = if e.owners.is_empty() {
            "none".to_string()
        } else {
            e.owners
                .iter()
                .map(|o| escape::code_span(o))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let row = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            escape::markdown(&e.account),
            escape::markdown(&e.region),
            escape::markdown(&e.security_group),
            escape::markdown(&e.rule),
            escape::markdown(&e.expires),
            e.days_left,
            escape::markdown(&excerpt(&e.ticket, 200)),
            owners
        );
        if out.len() + row.len() + 200 > limit {
            let _ = writeln!(
                out,
                "\n**{} more expiring rules not shown.** {cut_note}",
                n - i
            );
            break;
        }
        out.push_str(&row);
    }
    out.push('\n');
}

/// Per-account counts for the Markdown summary table.
#[derive(Default)]
struct Counts {
    by_action: BTreeMap<Action, usize>,
    denied: usize,
    errors: usize,
}

/// How a Markdown plan is framed and bounded.
#[derive(Debug, Clone)]
pub struct MdOptions<'a> {
    /// First line (a heading).
    pub title: &'a str,
    /// Commit the plan was made for, shown beside the fingerprint.
    pub commit: Option<&'a str>,
    /// Most bytes the result may have; details are cut at change boundaries to fit.
    pub limit: usize,
    /// Said where details were cut (where to find the full plan).
    pub cut_note: &'a str,
}

impl Default for MdOptions<'_> {
    fn default() -> Self {
        MdOptions {
            title: "### sgops plan",
            commit: None,
            limit: usize::MAX,
            cut_note: "",
        }
    }
}

/// The Markdown body of the plan, whole.
pub fn markdown(plan: &Plan) -> String {
    markdown_with(plan, &MdOptions::default())
}

/// Room kept for the closing note when details are cut.
const CUT_RESERVE: usize = 600;

/// The Markdown plan: a summary table per account (deletions, denials and errors in bold),
/// commit and fingerprint, errors, then per-account `<details>` with rule diffs. When over
/// `limit`, details are cut between changes, never inside a code block, and a note says so.
pub fn markdown_with(plan: &Plan, opts: &MdOptions<'_>) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{}\n", opts.title);
    policy_markdown(&mut head, plan, opts.limit / 4);
    let s = &plan.summary;
    let mut alarms = Vec::new();
    if s.delete + s.replace > 0 {
        alarms.push(format!(
            "⚠️ **{} to delete, {} to replace**",
            s.delete, s.replace
        ));
    }
    if s.denied > 0 {
        alarms.push(format!(
            "⛔ **{} denied by the allow-list: apply will refuse**",
            s.denied
        ));
    }
    if !plan.errors.is_empty() {
        alarms.push(format!("❌ **{} errors**", plan.errors.len()));
    }
    let _ = writeln!(head, "{}\n", summary_line(plan));
    if !alarms.is_empty() {
        let _ = writeln!(head, "{}\n", alarms.join(" · "));
    }
    match opts.commit {
        Some(c) => {
            let _ = writeln!(
                head,
                "Commit `{}` · fingerprint `{}`\n",
                commit_id(c),
                plan.fingerprint
            );
        }
        None => {
            let _ = writeln!(head, "Fingerprint `{}`\n", plan.fingerprint);
        }
    }
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
    // The table and the errors grow with accounts: the table stops at a quarter of `limit`,
    // the errors at half, so details keep room.
    let (table_limit, head_limit) = (opts.limit / 4, opts.limit / 2);
    if counts.is_empty() {
        head.push_str("No changes. Live security-group rules match the rule files.\n");
    } else {
        head.push_str("| account | region | create | adopt | update | replace | retag | delete | denied | errors |\n");
        head.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (i, ((account, region), c)) in counts.iter().enumerate() {
            let n = |a: Action| c.by_action.get(&a).copied().unwrap_or(0);
            let loud = |n: usize| {
                if n > 0 {
                    format!("**{n}**")
                } else {
                    "0".into()
                }
            };
            let row = format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                escape::markdown(account),
                escape::markdown(region),
                n(Action::Create),
                n(Action::Adopt),
                n(Action::Update),
                loud(n(Action::Replace)),
                n(Action::Retag),
                loud(n(Action::Delete)),
                loud(c.denied),
                loud(c.errors)
            );
            if head.len() + row.len() > table_limit {
                let _ = writeln!(
                    head,
                    "\n**{} more account/region rows not shown.** {}",
                    counts.len() - i,
                    opts.cut_note
                );
                break;
            }
            head.push_str(&row);
        }
    }
    head.push('\n');
    md_list(
        &mut head,
        "#### Errors",
        &crate::plan::errors_by_account(&plan.errors),
        "errors",
        head_limit,
    );
    md_list(
        &mut head,
        "#### Warnings",
        &plan.warnings,
        "warnings",
        head_limit,
    );
    // Up to three quarters of the room: details keep at least a quarter.
    expiring_markdown(&mut head, plan, opts.limit / 4 * 3, opts.cut_note);

    let mut out = head;
    let targets = by_target(plan);
    let total = targets.len();
    for (done, ((account, account_id, region), changes)) in targets.into_iter().enumerate() {
        let budget = opts.limit.saturating_sub(out.len() + CUT_RESERVE);
        let (section, complete) = details(account, account_id, region, &changes, budget);
        out.push_str(&section);
        if !complete {
            let _ = writeln!(
                out,
                "**Details cut to fit: {} of {total} accounts shown in full.** {}\n",
                done, opts.cut_note
            );
            break;
        }
    }
    out
}

/// The pull request's changes to the policy, first: the plan obeys the base branch's, and a
/// reviewer must see what would change after merge. Cut at `limit` bytes of `out`.
fn policy_markdown(out: &mut String, plan: &Plan, limit: usize) {
    if plan.policy_changes.is_empty() {
        return;
    }
    out.push_str("#### ⚠️ Policy changes in this pull request: they take effect after merge\n\n");
    out.push_str(
        "This plan obeys the policy of the base branch. After merge, sgops.yaml says:\n\n",
    );
    out.push_str("| setting | base branch (in force) | this pull request |\n|---|---|---|\n");
    for (i, c) in plan.policy_changes.iter().enumerate() {
        let row = format!(
            "| {} | {} | {} |\n",
            escape::markdown(&c.key),
            escape::markdown(&excerpt(&c.base, 300)),
            escape::markdown(&excerpt(&c.proposed, 300))
        );
        if out.len() + row.len() > limit {
            let _ = writeln!(
                out,
                "\n**{} more policy changes not shown**: see the job summary.",
                plan.policy_changes.len() - i
            );
            break;
        }
        out.push_str(&row);
    }
    out.push('\n');
}

/// A list of errors or warnings under `heading`, each cut to 1,000 characters, the list to
/// 50 items and to `limit` bytes of `out`; what is left out is counted.
fn md_list(out: &mut String, heading: &str, items: &[PlanError], what: &str, limit: usize) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{heading}\n");
    for (i, e) in items.iter().enumerate() {
        let line = format!(
            "- **{}** {}: {}\n",
            escape::markdown(&e.account),
            escape::markdown(&e.region),
            escape::markdown(&excerpt(&e.message, 1000))
        );
        if i == 50 || out.len() + line.len() > limit {
            let _ = writeln!(out, "- … and {} more {what}", items.len() - i);
            break;
        }
        out.push_str(&line);
    }
    out.push('\n');
}

/// One account's `<details>` block, within `budget` bytes; `false` when changes were left out.
fn details(
    account: &str,
    account_id: &str,
    region: &str,
    changes: &[&Change],
    budget: usize,
) -> (String, bool) {
    let open = format!(
        "<details><summary>{} ({}) {} — {} changes</summary>\n\n```diff\n",
        escape::markdown(account),
        escape::markdown(account_id),
        escape::markdown(region),
        changes.len()
    );
    let close = "```\n\n</details>\n\n";
    let mut body = String::new();
    let mut shown = 0;
    for c in changes {
        let denied = if c.allowed {
            ""
        } else {
            "  [DENIED by the allow-list]"
        };
        let mut chunk = format!(
            "{} {} {} {}{}\n",
            symbol(c.action),
            c.action.as_str(),
            escape::in_fence(&c.security_group),
            escape::in_fence(&c.rule),
            denied
        );
        chunk.push_str(&escape::in_fence(&rule_diff(
            c.before.as_ref(),
            c.after.as_ref(),
            Layout::Markdown,
        )));
        if open.len() + body.len() + chunk.len() + close.len() + 80 > budget {
            break;
        }
        body.push_str(&chunk);
        shown += 1;
    }
    if shown == 0 {
        return (String::new(), false);
    }
    let complete = shown == changes.len();
    if !complete {
        let _ = writeln!(body, "… {} more changes not shown", changes.len() - shown);
    }
    (format!("{open}{body}{close}"), complete)
}

/// A commit as it may appear in Markdown: at most 40 ASCII letters and digits, so a value
/// from the environment cannot break out of its code span.
fn commit_id(c: &str) -> String {
    c.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect()
}

/// The start of `s`, at most `n` characters, with `…` when cut: one message (an AWS error
/// body) cannot take a comment's whole room.
fn excerpt(s: &str, n: usize) -> String {
    let mut short: String = s.chars().take(n).collect();
    if short.len() < s.len() {
        short.push('…');
    }
    short
}

/// Room kept at the end of an apply comment for the note that says what was cut.
const APPLY_NOTE_RESERVE: usize = 400;

/// The apply comment when apply stopped before changing anything: refused by policy (stale
/// plan, denied actions, too many changes, invalid rules) or failed to start. The message is
/// quoted line by line within `limit` bytes; past it, a note says how many lines were left out
/// and that the whole message is in the job log (no journal is written: nothing ran).
pub fn apply_stopped_markdown(message: &str, refused: bool, commit: &str, limit: usize) -> String {
    let mut out = String::from("### sgops apply\n\n");
    let _ = writeln!(
        out,
        "{} Nothing was changed.\n",
        if refused {
            "⛔ **Apply refused.**"
        } else {
            "❌ **Apply failed before any change.**"
        }
    );
    let _ = writeln!(out, "Commit `{}`\n", commit_id(commit));
    let lines: Vec<&str> = message.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let quoted = format!(
            "> {}\n",
            escape::markdown(&excerpt(line.trim_start(), 1000))
        );
        if out.len() + quoted.len() + APPLY_NOTE_RESERVE > limit {
            let _ = writeln!(
                out,
                "> … and {} more lines\n\n**Cut to fit: {} of {} lines shown.** The full message is in this run's job log.",
                lines.len() - i,
                i,
                lines.len()
            );
            break;
        }
        out.push_str(&quoted);
    }
    out
}

/// The apply result as Markdown for the merged pull request: counts, account/region errors,
/// then one table row per change, within `limit` bytes. The errors stop at half of `limit`, the
/// rows where the rest ends; what is cut is counted in a closing note that says where the whole
/// report is (the job log; the changes made, in the `sgops-apply` journal artifact).
pub fn apply_markdown(r: &crate::apply::ApplyReport, commit: Option<&str>, limit: usize) -> String {
    use crate::apply::Status;
    let m = &r.summary;
    let mut out = String::from("### sgops apply\n\n");
    let _ = writeln!(
        out,
        "{} applied, {} converged, {} failed, {} skipped{}\n",
        m.applied,
        m.converged,
        if m.failed > 0 {
            format!("**{}**", m.failed)
        } else {
            "0".into()
        },
        m.skipped,
        if r.errors.is_empty() {
            String::new()
        } else {
            format!(", **{} account/region errors**", r.errors.len())
        }
    );
    if let Some(c) = commit {
        let _ = writeln!(
            out,
            "Commit `{}` · fingerprint `{}`\n",
            commit_id(c),
            r.fingerprint
        );
    }
    let mut cut = Vec::new();
    let errors = crate::plan::errors_by_account(&r.errors);
    for (i, e) in errors.iter().enumerate() {
        let line = format!(
            "- ❌ **{}** {}: {}\n",
            escape::markdown(&e.account),
            escape::markdown(&e.region),
            escape::markdown(&excerpt(&e.message, 1000))
        );
        if out.len() + line.len() + APPLY_NOTE_RESERVE > limit / 2 {
            let left = errors.len() - i;
            let _ = writeln!(out, "- … and {left} more errors");
            cut.push(format!("{i} of {} errors", errors.len()));
            break;
        }
        out.push_str(&line);
    }
    if !r.results.is_empty() {
        out.push_str("\n| status | action | account | region | group | rule | detail |\n|---|---|---|---|---|---|---|\n");
    }
    for (i, res) in r.results.iter().enumerate() {
        let c = &res.change;
        let status = match res.status {
            Status::Failed => format!("**{}**", Status::Failed.label()),
            other => other.label().to_string(),
        };
        let row = format!(
            "| {status} | {} | {} | {} | {} | {} | {} |\n",
            c.action.as_str(),
            escape::markdown(&c.account),
            escape::markdown(&c.region),
            escape::markdown(&c.security_group),
            escape::markdown(&c.rule),
            escape::markdown(&excerpt(res.message.as_deref().unwrap_or(""), 1000))
        );
        if out.len() + row.len() + APPLY_NOTE_RESERVE > limit {
            let _ = writeln!(out, "\n… {} more results", r.results.len() - i);
            cut.push(format!("{i} of {} results", r.results.len()));
            break;
        }
        out.push_str(&row);
    }
    if !cut.is_empty() {
        let _ = writeln!(
            out,
            "\n**Cut to fit: {} shown.** The full report is in this run's job log; every change made is in the `sgops-apply` artifact.",
            cut.join(" and ")
        );
    }
    out
}
