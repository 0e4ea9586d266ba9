//! `sgops accounts`: compare `accounts` of sgops.yaml with AWS Organizations, and with
//! `--write` bring its `accounts:` block in step (and move the rule folders of renamed
//! accounts, so the repository still validates).

use std::path::{Path, PathBuf};

use crate::aws::Aws;
use crate::cli::{AccountsArgs, AccountsFormat};
use crate::config::is_valid_ou_id;
use crate::error::{Error, Exit};
use crate::org::report::Report;
use crate::org::{map, read, rewrite};

pub fn run(config_path: &Path, rules_dir: &Path, args: &AccountsArgs) -> Result<Exit, Error> {
    let cfg = super::load_config(config_path)?;
    let ous = if args.ous.is_empty() {
        cfg.organization.ous.clone()
    } else {
        args.ous.clone()
    };
    for ou in &args.ous {
        if !is_valid_ou_id(ou) {
            return Err(Error::Usage(format!(
                "--ou {}: not an OU id (ou-ab12-cdefgh34) or a root id (r-ab12)",
                crate::escape::terminal(ou)
            )));
        }
    }
    let rt = super::runtime()?;
    let listed = rt.block_on(async {
        let aws = Aws::load(&cfg).await;
        read::read(&aws.organizations(&cfg.organization.region), &ous).await
    })?;
    let managed = map::managed(&listed, &cfg.organization).map_err(|e| {
        for m in &e.0 {
            crate::errln!("error: {m}");
        }
        Error::Usage(format!(
            "{} naming problem(s) in the organization's accounts: sgops.yaml was not changed",
            e.0.len()
        ))
    })?;
    let diff = map::diff(&managed, &cfg, &ous);
    let rules_shown = rules_dir.display().to_string();
    let mut report = Report::new(&managed, &diff, &ous, &rules_shown);
    for r in &diff.removed {
        if rules_dir.join(&r.name).exists() {
            report.notes.push(format!(
                "{rules_shown}/{}/ holds rule files of a removed account: delete them (validate refuses a folder of an unknown account)",
                r.name
            ));
        }
    }
    for c in &diff.id_changed {
        if rules_dir.join(&c.name).exists() {
            report.notes.push(format!(
                "{rules_shown}/{}/ holds the rule files of account {}; `{}` is now account {}: review them",
                c.name, c.from, c.name, c.to
            ));
        }
    }
    if args.write && !diff.is_empty() {
        // An empty answer is far likelier a wrong account, OU or region than an organization
        // that lost every account: never empty the map on its word.
        if managed.accounts.is_empty() {
            return Err(Error::Usage(format!(
                "AWS Organizations lists no active account {}: {} was not changed; check the credentials (the management account or a delegated administrator) and the OUs",
                if ous.is_empty() {
                    "in the organization".to_string()
                } else {
                    format!("under {}", ous.join(", "))
                },
                config_path.display()
            )));
        }
        let path = config_path.display().to_string();
        let text = std::fs::read_to_string(config_path).map_err(|source| Error::Read {
            path: config_path.to_path_buf(),
            source,
        })?;
        let new = rewrite::rewrite(&path, &text, &cfg, &managed.accounts, &diff)?;
        write_atomically(config_path, &new)?;
        report.written = true;
        for r in &diff.renamed {
            report.notes.push(move_folder(rules_dir, &r.from, &r.to));
        }
    }
    let out = match args.format {
        AccountsFormat::Json => report.json(),
        AccountsFormat::Text => report.text(&config_path.display().to_string()),
    };
    super::print_stdout(&out)?;
    Ok(if args.detailed_exitcode && report.differs {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Moves `rules/<from>/` to `rules/<to>/` when there is one to move and nothing in the way;
/// says what it did or what is left to do.
fn move_folder(rules: &Path, from: &str, to: &str) -> String {
    let (src, dst) = (rules.join(from), rules.join(to));
    let shown = |p: &Path| format!("{}/", p.display());
    if !src.is_dir() {
        return format!("no rule folder {} to move", shown(&src));
    }
    if dst.exists() {
        return format!(
            "{} exists, so {} was not moved: merge the two folders by hand",
            shown(&dst),
            shown(&src)
        );
    }
    match std::fs::rename(&src, &dst) {
        Ok(()) => format!("moved {} to {}", shown(&src), shown(&dst)),
        Err(e) => format!(
            "could not move {} to {} ({e}): move it by hand",
            shown(&src),
            shown(&dst)
        ),
    }
}

/// Replaces the file's content all at once: a temporary file beside it, then a rename, so
/// a reader never sees half a file. A link is followed: the file it points to is replaced
/// (with its permissions), the link stays.
fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |p: &Path, source| Error::Write {
        path: p.to_path_buf(),
        source,
    };
    let real: PathBuf = std::fs::canonicalize(path).map_err(|e| fail(path, e))?;
    let dir = real.parent().unwrap_or(Path::new("."));
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sgops.yaml".into());
    let tmp = dir.join(format!(".{name}.sgops-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::write(&tmp, text)?;
        if let Ok(meta) = std::fs::metadata(&real) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, &real)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&real, e));
    }
    Ok(())
}
