//! `sgops import`: print a rule file for the rules already in a security group.

use std::path::Path;

use jiff::civil::Date;

use crate::aws::{Access, Aws};
use crate::cli::ImportArgs;
use crate::error::{Error, Exit};
use crate::import::{ImportOptions, rule_file};
use crate::live::LiveRead;
use crate::live::aws::AwsEc2;
use crate::rules::{GroupRef, check_resource_id, check_ticket};

/// Import only reads: the accounts' read role.
pub(super) const ACCESS: Access = Access::Read;

pub fn run(config_path: &Path, today: Date, args: &ImportArgs) -> Result<Exit, Error> {
    let cfg = super::load_config(config_path)?;
    let (name, account) = super::account_in(&cfg, &args.account, &args.region)?;
    if !check_resource_id(&args.security_group, "sg-") {
        return Err(Error::Usage(format!(
            "`{}` is not a security group id (sg- and 8 or 17 hex digits)",
            args.security_group
        )));
    }
    check_ticket(&args.ticket).map_err(|m| Error::Usage(format!("--ticket: {m}")))?;
    let rt = super::runtime()?;
    let group = GroupRef::Id(args.security_group.clone());
    let live = rt.block_on(async {
        let aws = Aws::load(&cfg).await.with_access(ACCESS);
        let session = aws.assume(&cfg, name, account).await?;
        let ec2 = AwsEc2 {
            client: session.ec2(&args.region),
        };
        ec2.read(std::slice::from_ref(&group))
            .await
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", args.security_group)))
    })?;
    let rules = match live.groups.get(&group) {
        Some(Ok(g)) => g.rules.clone(),
        Some(Err(e)) => return Err(Error::Usage(e.clone())),
        None => {
            return Err(Error::Usage(format!(
                "{} was not read",
                args.security_group
            )));
        }
    };
    let header = format!(
        "Imported by `sgops import` from {name} ({}) {} {} on {today}.",
        account.id, args.region, args.security_group
    );
    let imported = rule_file(
        &rules,
        &ImportOptions {
            config: &cfg,
            group_id: &args.security_group,
            ticket: &args.ticket,
            only_untagged: args.only_untagged,
            skip_default_egress: args.skip_default_egress,
            header: &header,
        },
    );
    for w in &imported.warnings {
        crate::errln!("warning: {}", crate::escape::terminal(w));
    }
    let (text, n) = (&imported.text, imported.written);
    let commented = match imported.commented {
        0 => String::new(),
        c => format!(" ({c} more commented out, see the warnings)"),
    };
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
