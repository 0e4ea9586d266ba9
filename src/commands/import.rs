//! `sgops import`: a rule file for the rules already in one security group, or with `--all`
//! one for every group that holds exceptions in every account × region. Both render through
//! [`crate::import::rule_file`].

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use jiff::civil::Date;

use crate::aws::{Access, Aws};
use crate::cli::ImportArgs;
use crate::config::Config;
use crate::error::{Error, Exit};
use crate::import::all::{self, GroupFile};
use crate::import::{ImportOptions, Imported, rule_file};
use crate::live::LiveRead;
use crate::live::Target;
use crate::live::aws::AwsEc2;
use crate::rules::{GroupRef, check_resource_id, check_rule_tag, check_ticket, is_valid_region};

/// Import only reads: the accounts' read role.
pub(super) const ACCESS: Access = Access::Read;

pub fn run(config_path: &Path, today: Date, args: &ImportArgs) -> Result<Exit, Error> {
    check_ticket(&args.ticket).map_err(|m| Error::Usage(format!("--ticket: {m}")))?;
    match (&args.account, &args.region, &args.security_group) {
        (Some(account), Some(region), Some(group)) if !args.all => {
            one(config_path, today, args, (account, region, group))
        }
        _ => every(config_path, today, args),
    }
}

/// Says how many rules went where, and any rule left out.
fn commented_note(imported: &Imported) -> String {
    match imported.commented {
        0 => String::new(),
        c => format!(" ({c} more commented out, see the warnings)"),
    }
}

/// The one-group form.
fn one(
    config_path: &Path,
    today: Date,
    args: &ImportArgs,
    (account, region, security_group): (&str, &str, &str),
) -> Result<Exit, Error> {
    let cfg = super::load_config(config_path)?;
    let (name, account) = super::account_in(&cfg, account, region)?;
    if !check_resource_id(security_group, "sg-") {
        return Err(Error::Usage(format!(
            "`{security_group}` is not a security group id (sg- and 8 or 17 hex digits)",
        )));
    }
    let rt = super::runtime()?;
    let group = GroupRef::Id(security_group.to_string());
    let (live, aws) = rt.block_on(async {
        let aws = Aws::load(&cfg).await.with_access(ACCESS);
        let session = aws.assume(&cfg, name, account).await?;
        let ec2 = AwsEc2 {
            client: session.ec2(region),
        };
        let live = ec2
            .read(std::slice::from_ref(&group))
            .await
            .map_err(|e| Error::Usage(format!("cannot read {security_group}: {e}")))?;
        Ok::<_, Error>((live, aws))
    })?;
    if args.stats {
        super::print_stats(&aws);
    }
    let rules = match live.groups.get(&group) {
        Some(Ok(g)) => g.rules.clone(),
        Some(Err(e)) => return Err(Error::Usage(e.clone())),
        None => {
            return Err(Error::Usage(format!("{security_group} was not read")));
        }
    };
    let header = format!(
        "Imported by `sgops import` from {name} ({}) {region} {security_group} on {today}.",
        account.id
    );
    let imported = rule_file(
        &rules,
        &ImportOptions {
            config: &cfg,
            group_id: security_group,
            ticket: &args.ticket,
            tagged: None,
            only_untagged: args.only_untagged,
            skip_default_egress: args.skip_default_egress,
            header: &header,
        },
    );
    for w in &imported.warnings {
        crate::errln!("warning: {}", crate::escape::terminal(w));
    }
    let (text, n) = (&imported.text, imported.written);
    let commented = commented_note(&imported);
    match &args.out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(path, text).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            crate::errln!("wrote {n} rules to {}{commented}", path.display());
        }
        None => {
            super::print_stdout(text)?;
            crate::errln!("imported {n} rules{commented}");
        }
    }
    Ok(Exit::Ok)
}

/// The account × region pairs of `--all`: the accounts named (or all) × the regions named
/// (or each account's `regions`).
fn targets(cfg: &Config, args: &ImportArgs) -> Result<Vec<Target>, Error> {
    for r in &args.regions {
        if !is_valid_region(r) {
            return Err(Error::Usage(format!(
                "--region {}: not an AWS region name (like us-east-1)",
                crate::escape::terminal(r)
            )));
        }
    }
    let mut accounts = Vec::new();
    for a in &args.accounts {
        let found = cfg.account(a).ok_or_else(|| {
            Error::Usage(format!(
                "--account {}: no such account in sgops.yaml (known: {})",
                crate::escape::terminal(a),
                cfg.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        accounts.push(found);
    }
    if args.accounts.is_empty() {
        accounts = cfg.accounts.iter().map(|(n, a)| (n.as_str(), a)).collect();
    }
    accounts.sort_by_key(|(n, _)| *n);
    accounts.dedup_by_key(|(n, _)| *n);
    let mut out = Vec::new();
    let mut without = Vec::new();
    for (name, account) in accounts {
        let regions = if args.regions.is_empty() {
            cfg.regions_of(account)
        } else {
            &args.regions
        };
        if regions.is_empty() {
            without.push(name);
        }
        out.extend(regions.iter().map(|r| Target {
            account: name.to_string(),
            account_id: account.id.clone(),
            region: r.clone(),
        }));
    }
    if !without.is_empty() {
        return Err(Error::Usage(format!(
            "no region to read for account {}: pass --region R, or list `regions` in sgops.yaml",
            without.join(", ")
        )));
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "sgops.yaml lists no account to import from".into(),
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Creates `dir` and checks that files can be made in it, before anything is read.
fn check_writable(dir: &Path) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::Usage(format!(
            "--out-dir {}: cannot write there ({e}): choose a folder you may write to; nothing was read or written",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".sgops-write-check-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// What became of one file.
enum Outcome {
    Written,
    Skipped,
}

/// Writes one file: never over an existing one unless `force` (then it is replaced whole).
fn write_file(dir: &Path, f: &GroupFile, force: bool) -> Result<Outcome, String> {
    let path = dir.join(&f.path);
    let shown = path.display();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {shown}: {e}"))?;
    }
    if force {
        let tmp = path.with_extension(format!("yaml.sgops-{}.tmp", std::process::id()));
        std::fs::write(&tmp, &f.imported.text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {shown}: {e}")
            })?;
        return Ok(Outcome::Written);
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut file) => file
            .write_all(f.imported.text.as_bytes())
            .map(|()| Outcome::Written)
            .map_err(|e| format!("cannot write {shown}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Outcome::Skipped),
        Err(e) => Err(format!("cannot write {shown}: {e}")),
    }
}

/// The `--all` form.
fn every(config_path: &Path, today: Date, args: &ImportArgs) -> Result<Exit, Error> {
    let dir: PathBuf = args
        .out_dir
        .clone()
        .ok_or_else(|| Error::Usage("--all needs --out-dir DIR".into()))?;
    let cfg = super::load_config(config_path)?;
    let tagged: BTreeMap<String, String> = if args.tagged.is_empty() {
        cfg.rule_tags.clone()
    } else {
        args.tagged.iter().cloned().collect()
    };
    if tagged.is_empty() {
        return Err(Error::Usage(
            "no tag to find the exceptions by: pass --tagged KEY=VALUE (e.g. vpcx:skip_enforcement=yes) or set rule_tags in sgops.yaml".into(),
        ));
    }
    for (k, v) in &tagged {
        check_rule_tag(k, v).map_err(|m| Error::Usage(format!("--tagged: {m}")))?;
    }
    let targets = targets(&cfg, args)?;
    check_writable(&dir)?;
    let template = ImportOptions {
        config: &cfg,
        group_id: "",
        ticket: &args.ticket,
        tagged: Some(&tagged),
        only_untagged: args.only_untagged,
        skip_default_egress: args.skip_default_egress,
        header: "",
    };
    let rt = super::runtime()?;
    let (read, aws) = rt.block_on(async {
        let aws = Aws::load(&cfg).await.with_access(ACCESS);
        let read = all::read(&aws, &cfg, &targets, &|r| template.chooses(r)).await;
        (read, aws)
    });
    if args.stats {
        super::print_stats(&aws);
    }
    let mut summary = Summary::default();
    // Failures by account: (regions, message).
    let mut failures: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (t, result) in &read {
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                failures
                    .entry(format!("{} ({})", t.account, t.account_id))
                    .or_default()
                    .push((t.region.clone(), e.clone()));
                continue;
            }
        };
        summary.read += 1;
        for f in all::files(t, r, &template, today) {
            let shown = dir.join(&f.path).display().to_string();
            for w in &f.imported.warnings {
                crate::errln!("warning: {shown}: {}", crate::escape::terminal(w));
            }
            match write_file(&dir, &f, args.force) {
                Ok(Outcome::Written) => {
                    crate::errln!(
                        "wrote {shown}: {} rules{}",
                        f.imported.written,
                        commented_note(&f.imported)
                    );
                    summary.written += 1;
                    summary.rules += f.imported.written;
                    summary.commented += f.imported.commented;
                }
                Ok(Outcome::Skipped) => {
                    crate::errln!("skipped {shown}: it exists (--force replaces it)");
                    summary.skipped += 1;
                }
                Err(e) => failures
                    .entry(format!("{} ({})", t.account, t.account_id))
                    .or_default()
                    .push((t.region.clone(), e)),
            }
        }
    }
    crate::errln!(
        "import --all: {} of {} accounts × regions read; {} groups written, {} skipped (files exist); {} rules imported, {} commented out",
        summary.read,
        targets.len(),
        summary.written,
        summary.skipped,
        summary.rules,
        summary.commented
    );
    for (account, problems) in &failures {
        for (region, message) in problems {
            crate::errln!(
                "failed: {account} {region}: {}",
                crate::escape::terminal(message)
            );
        }
    }
    if failures.is_empty() {
        Ok(Exit::Ok)
    } else {
        Err(Error::Usage(format!(
            "import --all failed for account {}; the others were imported",
            failures.keys().cloned().collect::<Vec<_>>().join(", ")
        )))
    }
}

#[derive(Default)]
struct Summary {
    read: usize,
    written: usize,
    skipped: usize,
    rules: usize,
    commented: usize,
}
