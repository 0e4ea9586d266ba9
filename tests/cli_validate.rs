//! The command line through the real binary, in temporary directories: `sgops validate` on the
//! malformed-input corpus of `tests/corpus/` (see its README for the fixture header format),
//! exit codes, GitHub annotations, snapshots of what users read, and the small commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// No input may keep validate busy this long (debug build, loaded CI machine): a hang or an
/// exponential blow-up shows as a timeout instead of a stuck test run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Pinned so expiry checks do not depend on the day the tests run.
const TODAY: &str = "2026-11-27";

/// Where a lone fixture file goes inside the shared fixture repository.
const FILE_DIR: &str = "rules/itx-016/us-east-1";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// A repository in a temporary directory, built from fixtures.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// The shared fixture repository: `base/sgops.yaml` and no rule files yet.
    fn base() -> Repo {
        let repo = Repo::empty();
        repo.copy(&corpus().join("base/sgops.yaml"), "sgops.yaml");
        repo
    }

    fn empty() -> Repo {
        Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A copy of `tests/corpus/repos/<name>/`.
    fn corpus_repo(name: &str) -> Repo {
        let repo = Repo::empty();
        copy_tree(&corpus().join("repos").join(name), repo.dir.path());
        repo
    }

    /// The shared repository with `tests/corpus/files/<name>` as its only rule file.
    fn with_corpus_file(name: &str) -> Repo {
        let repo = Repo::base();
        repo.copy(
            &corpus().join("files").join(name),
            &format!("{FILE_DIR}/{name}"),
        );
        repo
    }

    fn copy(&self, from: &Path, to: &str) {
        let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        self.write(to, bytes);
    }

    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Repo {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        self
    }

    fn validate(&self) -> Run {
        self.run(&["validate"], &[])
    }

    /// Runs `sgops ARGS` here, with GITHUB_ACTIONS unset unless `env` sets it.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_in(self.dir.path(), args, env)
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// What one run of the binary did.
struct Run {
    what: String,
    /// `None` when the process was killed (the timeout).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::cargo_bin("sgops").expect("the sgops binary");
    cmd.current_dir(dir)
        .args(args)
        .env("SGOPS_TODAY", TODAY)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("RUST_LOG")
        .timeout(TIMEOUT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.output().expect("run sgops");
    Run {
        what: format!("sgops {}", args.join(" ")),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

impl Run {
    /// Problems that hold for every run whatever the input: it finished in time, by itself,
    /// without a panic, and nothing on standard error can pass for a workflow command.
    fn invariant_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.code.is_none() || self.elapsed >= TIMEOUT {
            p.push(format!(
                "killed or too slow ({:?}, limit {TIMEOUT:?})",
                self.elapsed
            ));
        }
        if self.stdout.contains("panicked") || self.stderr.contains("panicked") {
            p.push("panicked".into());
        }
        if let Some(l) = self.stderr.lines().find(|l| l.starts_with("::")) {
            p.push(format!(
                "stderr line could pass for a workflow command: {l}"
            ));
        }
        p
    }

    #[track_caller]
    fn assert_code(&self, code: i32) -> &Run {
        let problems = self.invariant_problems();
        assert!(
            problems.is_empty(),
            "{}: {problems:?}\n{}",
            self.what,
            self.stderr
        );
        assert_eq!(
            self.code,
            Some(code),
            "{}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// One diagnostic as shown on standard error: its first line and its note lines.
#[derive(Debug)]
struct Shown {
    head: String,
    notes: Vec<String>,
}

/// `path:line:col: error…` / `…: warning…` lines start a diagnostic; `  path:line:col: note: …`
/// lines belong to the one before. Quoted source lines (`  12 | …`) and the summary are skipped.
fn shown(stderr: &str) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    for line in stderr.lines() {
        if let Some(note) = line.strip_prefix("  ")
            && is_located(note, &["note"])
        {
            out.last_mut()
                .expect("a note follows a diagnostic")
                .notes
                .push(note.to_string());
        } else if is_located(line, &["error", "warning"]) {
            out.push(Shown {
                head: line.to_string(),
                notes: Vec::new(),
            });
        }
    }
    out
}

fn is_located(line: &str, kinds: &[&str]) -> bool {
    let Some((at, rest)) = line.split_once(": ") else {
        return false;
    };
    let mut parts = at.rsplitn(3, ':');
    let numeric =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric(parts.next())
        && numeric(parts.next())
        && parts.next().is_some_and(|p| !p.is_empty())
        && kinds.iter().any(|k| rest.starts_with(k))
}

/// A fixture's header: what validate must report (see tests/corpus/README.md).
#[derive(Debug)]
struct Expected {
    exit: i32,
    diags: Vec<ExpectedDiag>,
}

#[derive(Debug)]
struct ExpectedDiag {
    /// `path:line:col: severity: text` — a prefix of the diagnostic's first line.
    head: String,
    /// `path:line:col: note: text` — prefixes of its note lines.
    notes: Vec<String>,
}

impl Expected {
    /// Reads the header of `text`; `default_path` completes `LINE:COL` without a path.
    fn parse(text: &str, default_path: &str) -> Expected {
        let place = |spec: &str| -> (String, String) {
            let (at, rest) = spec
                .split_once(' ')
                .unwrap_or_else(|| panic!("`{spec}`: want `[PATH:]LINE:COL …`"));
            let full = if at.matches(':').count() == 1 {
                format!("{default_path}:{at}")
            } else {
                at.to_string()
            };
            (full, rest.to_string())
        };
        let mut exit = None;
        let mut diags: Vec<ExpectedDiag> = Vec::new();
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            if let Some(v) = line.strip_prefix("# exit: ") {
                exit = Some(v.trim().parse().expect("exit code"));
            } else if let Some(v) = line.strip_prefix("# expect: ") {
                let (at, rest) = place(v);
                diags.push(ExpectedDiag {
                    head: format!("{at}: {rest}"),
                    notes: Vec::new(),
                });
            } else if let Some(v) = line.strip_prefix("# note: ") {
                let (at, rest) = place(v);
                diags
                    .last_mut()
                    .expect("`# note:` after an `# expect:`")
                    .notes
                    .push(format!("{at}: note: {rest}"));
            }
        }
        Expected {
            exit: exit.expect("an `# exit:` line"),
            diags,
        }
    }

    /// Everything in `run` that differs from this expectation; empty when it matches.
    fn problems(&self, run: &Run) -> Vec<String> {
        let mut p = run.invariant_problems();
        if run.code != Some(self.exit) {
            p.push(format!("exit {:?}, want {}", run.code, self.exit));
        }
        if !run.stdout.is_empty() {
            p.push(format!(
                "stdout not empty outside GitHub Actions: {}",
                run.stdout
            ));
        }
        let shown = shown(&run.stderr);
        if shown.len() != self.diags.len() {
            p.push(format!(
                "{} diagnostics shown, {} expected",
                shown.len(),
                self.diags.len()
            ));
        }
        for want in &self.diags {
            let found = shown.iter().find(|s| {
                s.head.starts_with(&want.head)
                    && s.notes.len() == want.notes.len()
                    && want
                        .notes
                        .iter()
                        .zip(&s.notes)
                        .all(|(w, n)| n.starts_with(w))
            });
            if found.is_none() {
                p.push(format!("missing: {} {:?}", want.head, want.notes));
            }
        }
        let last = run.stderr.lines().last().unwrap_or_default();
        let summary_ok = match self.exit {
            0 => last.starts_with("ok: "),
            1 => last.starts_with("error: validation failed: "),
            3 => last.starts_with("error: refused by guardrails: "),
            _ => false,
        };
        if !summary_ok {
            p.push(format!("last line of stderr: {last:?}"));
        }
        p
    }
}

fn corpus_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus().join("files"))
        .expect("tests/corpus/files")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn corpus_repos() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus().join("repos"))
        .expect("tests/corpus/repos")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs one lone-file fixture and checks it against its header.
fn check_file(name: &str) -> Vec<String> {
    let text = std::fs::read(corpus().join("files").join(name)).expect("fixture");
    let want = Expected::parse(
        &String::from_utf8_lossy(&text),
        &format!("{FILE_DIR}/{name}"),
    );
    let run = Repo::with_corpus_file(name).validate();
    want.problems(&run)
}

fn check_repo(name: &str) -> Vec<String> {
    let config = std::fs::read_to_string(corpus().join("repos").join(name).join("sgops.yaml"))
        .expect("fixture sgops.yaml");
    let want = Expected::parse(&config, "sgops.yaml");
    let run = Repo::corpus_repo(name).validate();
    want.problems(&run)
}

/// Fails with every mismatch of every case at once, with each case's name.
#[track_caller]
fn assert_no_problems(results: Vec<(String, Vec<String>)>) {
    let failed: Vec<String> = results
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(name, p)| format!("{name}:\n  {}", p.join("\n  ")))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The corpus

#[test]
fn corpus_is_large_enough_and_every_fixture_says_what_it_expects() {
    let files = corpus_files();
    let repos = corpus_repos();
    assert!(
        files.len() + repos.len() >= 32,
        "{} fixtures",
        files.len() + repos.len()
    );
    for name in &files {
        let text = std::fs::read(corpus().join("files").join(name)).expect("fixture");
        let text = String::from_utf8_lossy(&text);
        let header = text.lines().next().unwrap_or_default();
        assert!(
            header.starts_with("# ") && !header.starts_with("# exit"),
            "{name}: first line must say in words what is wrong"
        );
        let want = Expected::parse(&text, name);
        assert!(
            want.exit == 0 || !want.diags.is_empty(),
            "{name}: a failing fixture must name its diagnostics"
        );
    }
    for name in &repos {
        let config = std::fs::read_to_string(corpus().join("repos").join(name).join("sgops.yaml"))
            .expect("fixture sgops.yaml");
        assert!(
            !Expected::parse(&config, "sgops.yaml").diags.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn every_corpus_file_gives_its_expected_diagnostics() {
    assert_no_problems(
        corpus_files()
            .into_iter()
            .map(|name| {
                let p = check_file(&name);
                (name, p)
            })
            .collect(),
    );
}

#[test]
fn every_corpus_repository_gives_its_expected_diagnostics() {
    assert_no_problems(
        corpus_repos()
            .into_iter()
            .map(|name| {
                let p = check_repo(&name);
                (name, p)
            })
            .collect(),
    );
}

#[test]
fn the_expectation_checker_catches_wrong_places_counts_and_codes() {
    // The corpus tests are only as good as this comparison: feed it near misses.
    let run = Repo::with_corpus_file("cidr-host-bits.yaml").validate();
    let path = format!("{FILE_DIR}/cidr-host-bits.yaml");
    let right = "# x\n# exit: 1\n# expect: 10:11 error: `10.0.0.1/24` has host bits set\n";
    assert_eq!(
        Expected::parse(right, &path).problems(&run),
        Vec::<String>::new()
    );
    for wrong in [
        "# x\n# exit: 1\n# expect: 10:12 error: `10.0.0.1/24` has host bits set\n",
        "# x\n# exit: 1\n# expect: 9:11 error: `10.0.0.1/24` has host bits set\n",
        "# x\n# exit: 1\n# expect: 10:11 warning: `10.0.0.1/24` has host bits set\n",
        "# x\n# exit: 1\n# expect: 10:11 error: `10.0.0.2/24` has host bits set\n",
        "# x\n# exit: 3\n# expect: 10:11 error: `10.0.0.1/24` has host bits set\n",
        "# x\n# exit: 1\n",
        "# x\n# exit: 1\n# expect: 10:11 error: `10.0.0.1/24`\n# expect: 1:1 error: x\n",
        "# x\n# exit: 1\n# expect: 10:11 error: `10.0.0.1/24`\n# note: 1:1 here\n",
    ] {
        assert!(
            !Expected::parse(wrong, &path).problems(&run).is_empty(),
            "accepted: {wrong}"
        );
    }
}

#[test]
fn an_empty_file_is_an_error() {
    let run = Repo::base()
        .write(&format!("{FILE_DIR}/empty.yaml"), "")
        .validate();
    let want = "# 0 bytes\n# exit: 1\n# expect: 1:1 error: file is empty: a rule file needs `security_group` and `rules`\n";
    assert_eq!(
        Expected::parse(want, &format!("{FILE_DIR}/empty.yaml")).problems(&run),
        Vec::<String>::new()
    );
}

#[test]
fn files_over_one_mebibyte_are_refused_unread_and_one_mebibyte_is_fine() {
    const MIB: usize = 1024 * 1024;
    let head = "security_group: sg-0a1b2c3d4e5f67890\nrules: []\n";
    let padded = |len: usize| {
        let mut s = String::from(head);
        s.push('#');
        s.push_str(&"x".repeat(len - head.len() - 2));
        s.push('\n');
        assert_eq!(s.len(), len);
        s
    };
    let exact = Repo::base();
    exact.write(&format!("{FILE_DIR}/exact.yaml"), padded(MIB));
    exact.validate().assert_code(0);

    let over = Repo::base();
    over.write(&format!("{FILE_DIR}/big.yaml"), padded(MIB + 1));
    let run = over.validate();
    let want = format!(
        "# over\n# exit: 1\n# expect: 1:1 error: file is {} bytes, over the limit of {MIB} bytes (1 MiB): split it into several files\n",
        MIB + 1
    );
    assert_eq!(
        Expected::parse(&want, &format!("{FILE_DIR}/big.yaml")).problems(&run),
        Vec::<String>::new()
    );
}

#[test]
fn a_mebibyte_of_broken_rules_is_checked_in_linear_time_and_its_output_capped() {
    // `{id: A}` is five errors (bad id, no direction, protocol, peer, ticket): 580,000 in
    // all. Time once grew with the square of that count (minutes for this file).
    let head = "security_group: sg-0a1b2c3d4e5f67890\nrules: [";
    let rules = (1024 * 1024 - head.len() - 2) / "{id: A}, ".len();
    let mut text = String::from(head);
    text.push_str(&vec!["{id: A}"; rules].join(", "));
    text.push_str("]\n");
    assert!(text.len() <= 1024 * 1024 && text.len() > 1024 * 1000);
    let repo = Repo::base();
    repo.write(&format!("{FILE_DIR}/big.yaml"), &text);
    let run = repo.validate();
    run.assert_code(1);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
    let errors = 5 * rules;
    assert!(
        run.stderr
            .ends_with(&format!("\nerror: validation failed: {errors} errors\n")),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(500)..]
    );
    // At most 200 shown per file, then one line that counts the rest.
    assert_eq!(shown(&run.stderr).len(), 200);
    assert!(
        run.stderr.contains(&format!(
            "\n{FILE_DIR}/big.yaml: … and {} more problems in this file, not shown: fix those above and run validate again\n",
            errors - 200
        )),
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(500)..]
    );
    // The quoted line is a window around the column, not the first 200 characters.
    let last_quote = run
        .stderr
        .lines()
        .rfind(|l| l.starts_with("  2 | "))
        .expect("a quoted line");
    assert!(last_quote.starts_with("  2 | …"), "{last_quote}");
}

/// A secret-looking file outside the repository that links must not lead validate to print.
fn outside_secret() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("secret.yaml");
    std::fs::write(&path, "TOKEN=ghp_not_to_be_printed\n").expect("write");
    (dir, path)
}

#[test]
fn links_fifos_and_devices_under_rules_are_refused_unread() {
    let (_outside, secret) = outside_secret();
    let repo = Repo::base();
    repo.write(
        &format!("{FILE_DIR}/good.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules: []\n",
    );
    let at = |rel: &str| repo.dir.path().join(rel);
    let link = |target: &Path, rel: &str| {
        std::os::unix::fs::symlink(target, at(rel)).expect("symlink");
    };
    link(&secret, &format!("{FILE_DIR}/secret.yaml"));
    link(Path::new("/dev/zero"), &format!("{FILE_DIR}/zero.yaml"));
    link(
        Path::new("/proc/self/environ"),
        &format!("{FILE_DIR}/environ.yaml"),
    );
    link(
        &at(&format!("{FILE_DIR}/good.yaml")),
        &format!("{FILE_DIR}/inside.yaml"),
    );
    link(&at(FILE_DIR), "rules/itx-046");
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(at(&format!("{FILE_DIR}/pipe.yaml")))
        .status()
        .expect("mkfifo");
    assert!(mkfifo.success());
    let link_msg = "error: is a symbolic link: rule files must be regular files in the repository";
    let want = format!(
        "# links\n# exit: 1\n\
         # expect: 1:1 {link_msg}\n\
         # expect: {FILE_DIR}/inside.yaml:1:1 {link_msg}\n\
         # expect: {FILE_DIR}/pipe.yaml:1:1 error: is a named pipe (FIFO): rule files must be regular files in the repository; remove it\n\
         # expect: {FILE_DIR}/secret.yaml:1:1 {link_msg}\n\
         # expect: {FILE_DIR}/zero.yaml:1:1 {link_msg}\n\
         # expect: rules/itx-046:1:1 {link_msg}\n"
    );
    for env in [&[][..], &[("GITHUB_ACTIONS", "true")]] {
        let run = repo.run(&["validate"], env);
        let mut problems =
            Expected::parse(&want, &format!("{FILE_DIR}/environ.yaml")).problems(&run);
        if env.is_empty() {
            assert_eq!(problems, Vec::<String>::new(), "{}", run.stderr);
        } else {
            problems.retain(|p| !p.starts_with("stdout not empty"));
            assert_eq!(problems, Vec::<String>::new(), "{}", run.stderr);
            assert_eq!(run.stdout.lines().count(), 6, "{}", run.stdout);
        }
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains("ghp_not_to_be_printed"), "{out}");
            assert!(!out.contains("PATH="), "{out}");
        }
    }
}

#[test]
fn a_linked_sgops_yaml_is_read_only_from_its_own_folder() {
    let (_outside, secret) = outside_secret();
    let repo = Repo::empty();
    repo.copy(&corpus().join("base/sgops.yaml"), "config/prod.yaml");
    repo.write(
        &format!("{FILE_DIR}/web.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules: []\n",
    );
    let link = |target: &Path| {
        let at = repo.dir.path().join("sgops.yaml");
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(target, at).expect("symlink");
    };
    link(Path::new("config/prod.yaml"));
    repo.validate().assert_code(0);
    let outside = "error: is a symbolic link to a file outside its folder: link only to a file in the same folder or below it, or put the file itself here";
    for target in [&secret, Path::new("/proc/self/environ")] {
        link(target);
        let run = repo.validate();
        run.assert_code(1);
        assert_eq!(
            run.stderr,
            format!("sgops.yaml:1:1: {outside}\n\nerror: validation failed: 1 error\n")
        );
    }
    // Inside the folder but not a regular file: read nothing, hang on nothing.
    let fifo = repo.dir.path().join("config/pipe.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    link(Path::new("config/pipe.yaml"));
    let run = repo.validate();
    run.assert_code(1);
    assert!(
        run.stderr.starts_with("sgops.yaml:1:1: error: is a named pipe (FIFO), not a regular file: sgops reads only regular files"),
        "{}",
        run.stderr
    );
}

#[test]
fn all_errors_of_all_files_are_reported_together() {
    // Every fixture file at once in one repository: each file's expected diagnostics all appear
    // in the one run, which fails (exit 1) since some are errors.
    let repo = Repo::base();
    let mut want = Vec::new();
    for name in corpus_files() {
        let from = corpus().join("files").join(&name);
        repo.copy(&from, &format!("{FILE_DIR}/{name}"));
        let text = std::fs::read(&from).expect("fixture");
        let path = format!("{FILE_DIR}/{name}");
        want.extend(Expected::parse(&String::from_utf8_lossy(&text), &path).diags);
    }
    let run = repo.validate();
    run.assert_code(1);
    let shown = shown(&run.stderr);
    let missing: Vec<&str> = want
        .iter()
        .filter(|d| !shown.iter().any(|s| s.head.starts_with(&d.head)))
        .map(|d| d.head.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "not reported in the combined run: {missing:#?}"
    );
    // Files that load (warnings, guardrails) and name the same group also clash with each
    // other as duplicates, so there may be more, never fewer.
    assert!(
        shown.len() >= want.len(),
        "{} shown, {} expected",
        shown.len(),
        want.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Exit codes and output channels

#[test]
fn the_example_repository_validates_clean() {
    let run = run_in(Path::new(env!("CARGO_MANIFEST_DIR")), &["validate"], &[]);
    run.assert_code(0);
    assert!(shown(&run.stderr).is_empty(), "{}", run.stderr);
    assert!(run.stderr.starts_with("ok: "), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn a_clean_repository_exits_zero_and_counts_rules_and_files() {
    let repo = Repo::base();
    repo.write(
        &format!("{FILE_DIR}/web.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: web\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 203.0.113.0/24\n    ticket: CHG-1\n",
    );
    repo.write(
        "rules/itx-046/eu-central-2/empty-group.yml",
        "security_group: sg-12345678\nrules: []\n",
    );
    let run = repo.validate();
    run.assert_code(0);
    assert_eq!(run.stderr, "ok: 1 rule in 2 files\n");
    assert_eq!(run.stdout, "");
}

#[test]
fn guardrail_violations_alone_exit_three_and_with_an_error_exit_one() {
    let repo = Repo::base();
    repo.copy(
        &corpus().join("files/world-open-ssh-range.yaml"),
        &format!("{FILE_DIR}/a.yaml"),
    );
    repo.validate().assert_code(3);
    repo.copy(
        &corpus().join("files/ticket-missing.yaml"),
        &format!("{FILE_DIR}/b.yaml"),
    );
    let run = repo.validate();
    run.assert_code(1);
    assert!(
        run.stderr
            .ends_with("error: validation failed: 1 error and 1 guardrail violation\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let run = Repo::with_corpus_file("expired-is-a-warning.yaml").validate();
    run.assert_code(0);
    assert!(
        run.stderr.ends_with("ok: 1 rule in 1 file, 1 warning\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_configuration_or_rules_directory_is_an_error_that_says_what_to_do() {
    let run = Repo::empty().validate();
    run.assert_code(1);
    assert!(
        run.stderr.starts_with(
            "sgops.yaml:1:1: error: configuration file not found: create sgops.yaml (see README) or pass --config FILE\n"
        ),
        "{}",
        run.stderr
    );
    let run = Repo::base().validate();
    run.assert_code(1);
    assert!(
        run.stderr.starts_with(
            "rules:1:1: error: rules directory not found: rules (create it or pass --rules DIR)\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn config_and_rules_flags_choose_the_files_and_name_them_in_diagnostics() {
    let repo = Repo::empty();
    repo.copy(&corpus().join("base/sgops.yaml"), "conf/sg.yaml");
    repo.copy(
        &corpus().join("files/cidr-host-bits.yaml"),
        "tree/itx-016/us-east-1/x.yaml",
    );
    let run = repo.run(
        &["--config", "conf/sg.yaml", "--rules", "tree", "validate"],
        &[],
    );
    run.assert_code(1);
    assert!(
        run.stderr.starts_with(
            "tree/itx-016/us-east-1/x.yaml:10:11: error: `10.0.0.1/24` has host bits set"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_sgops_today_is_a_usage_error() {
    let run = Repo::base().run(&["validate"], &[("SGOPS_TODAY", "27/11/2026")]);
    run.assert_code(1);
    assert_eq!(
        run.stderr,
        "error: SGOPS_TODAY=27/11/2026 is not a date like 2026-11-27\n"
    );
}

#[test]
fn github_actions_gets_one_annotation_per_diagnostic_on_stdout() {
    let name = "many-errors-across-files";
    let config = std::fs::read_to_string(corpus().join("repos").join(name).join("sgops.yaml"))
        .expect("fixture");
    let want = Expected::parse(&config, "sgops.yaml");
    let run = Repo::corpus_repo(name).run(&["validate"], &[("GITHUB_ACTIONS", "true")]);
    run.assert_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), want.diags.len(), "{}", run.stdout);
    for d in &want.diags {
        // `path:line:col: severity: text` → `::kind file=path,line=L,col=C::text`
        let (at, rest) = d.head.split_once(": ").expect("head");
        let mut parts = at.rsplitn(3, ':');
        let (col, line, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let (severity, text) = rest.split_once(": ").expect("severity");
        let kind = if severity == "warning" {
            "warning"
        } else {
            "error"
        };
        let annotation = format!("::{kind} file={path},line={line},col={col}::{text}");
        assert!(
            lines.iter().any(|l| l.starts_with(&annotation)),
            "missing {annotation}\nin:\n{}",
            run.stdout
        );
    }
    // The human-readable diagnostics still go to standard error.
    assert_eq!(shown(&run.stderr).len(), want.diags.len());
}

#[test]
fn a_duplicate_annotation_names_the_first_place_too() {
    let run = Repo::corpus_repo("duplicate-id-across-files")
        .run(&["validate"], &[("GITHUB_ACTIONS", "true")]);
    run.assert_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "::error file=rules/itx-016/us-east-1/b-web-more.yaml,line=3,col=5::rule id `web` is used twice for security group sg-0a1b2c3d4e5f67890: ids must be unique within a group; first used here: rules/itx-016/us-east-1/a-web.yaml:3:5"
        ],
        "{}",
        run.stdout
    );
}

#[test]
fn annotations_keep_a_newline_in_a_value_on_one_line() {
    let run = Repo::with_corpus_file("control-characters.yaml")
        .run(&["validate"], &[("GITHUB_ACTIONS", "true")]);
    run.assert_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    for l in lines {
        assert!(
            l.starts_with("::error file=rules/itx-016/us-east-1/control-characters.yaml,line="),
            "{l}"
        );
    }
    // Shown as the terminal shows it: `\n` and `\u{1b}` as text, nothing for the runner.
    assert!(
        run.stdout.contains("web\\n::error file=evil.yaml"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains('\u{1b}'), "raw escape on stderr");
    assert!(
        !run.stdout.contains('\u{1b}'),
        "raw escape in an annotation"
    );
}

// ---------------------------------------------------------------------------------------------
// Snapshots of what users read

/// Full standard error of validate for each fixture, one section per fixture.
fn stderr_of(files: &[&str], repos: &[&str]) -> String {
    let section = |what: String, run: Run| {
        let code = run.code.map_or("killed".into(), |c| c.to_string());
        format!("── {what} (exit {code})\n{}\n", run.stderr)
    };
    let mut out = String::new();
    for name in files {
        out.push_str(&section(
            format!("files/{name}"),
            Repo::with_corpus_file(name).validate(),
        ));
    }
    for name in repos {
        out.push_str(&section(
            format!("repos/{name}"),
            Repo::corpus_repo(name).validate(),
        ));
    }
    out
}

#[test]
fn snapshot_addresses() {
    insta::assert_snapshot!(
        "addresses",
        stderr_of(
            &[
                "cidr-host-bits.yaml",
                "cidr-ipv6-host-bits.yaml",
                "cidr-ipv6-in-cidr.yaml",
                "cidr-ipv4-in-cidr-ipv6.yaml",
                "cidr-missing-prefix.yaml",
                "cidr-not-an-address.yaml",
            ],
            &[]
        )
    );
}

#[test]
fn snapshot_ports_and_protocols() {
    insta::assert_snapshot!(
        "ports_and_protocols",
        stderr_of(
            &[
                "ports-out-of-range.yaml",
                "ports-backwards.yaml",
                "ports-with-protocol-all.yaml",
                "ports-with-icmp.yaml",
                "icmp-type-with-tcp.yaml",
                "icmp-bad-type.yaml",
                "protocol-unknown.yaml",
                "numbers-in-other-notations.yaml",
            ],
            &[]
        )
    );
}

#[test]
fn snapshot_rule_fields() {
    insta::assert_snapshot!(
        "rule_fields",
        stderr_of(
            &[
                "peer-missing.yaml",
                "peer-two.yaml",
                "rule-id-bad.yaml",
                "description-forbidden-char.yaml",
                "ticket-missing.yaml",
                "expires-bad-date.yaml",
                "expired-is-a-warning.yaml",
                "unknown-key.yaml",
                "rules-each-on-its-own.yaml",
                "number-leading-zero.yaml",
                "security-group-bad-id.yaml",
                "security-group-name-without-vpc.yaml",
            ],
            &[]
        )
    );
}

#[test]
fn snapshot_guardrails() {
    insta::assert_snapshot!(
        "guardrails",
        stderr_of(
            &[
                "expires-too-far.yaml",
                "world-open-ssh-range.yaml",
                "world-open-protocol-all.yaml",
                "world-open-beside-other-errors.yaml",
            ],
            &[]
        )
    );
}

#[test]
fn snapshot_duplicates() {
    insta::assert_snapshot!(
        "duplicates",
        stderr_of(
            &["duplicate-meaning.yaml", "alias-duplicates.yaml"],
            &[
                "duplicate-id-across-files",
                "duplicate-meaning-across-files"
            ]
        )
    );
}

#[test]
fn snapshot_yaml_syntax_and_hostile_input() {
    insta::assert_snapshot!(
        "yaml_and_hostile",
        stderr_of(
            &[
                "yaml-bad-indentation.yaml",
                "yaml-unclosed-flow-sequence.yaml",
                "yaml-tab-indentation.yaml",
                "yaml-duplicate-key.yaml",
                "multi-document.yaml",
                "empty.yaml",
                "non-utf8.yaml",
                "alias-bomb.yaml",
                "alias-count.yaml",
                "deep-nesting.yaml",
                "control-characters.yaml",
            ],
            &[]
        )
    );
}

#[test]
fn snapshot_layout_and_configuration() {
    insta::assert_snapshot!(
        "layout_and_configuration",
        stderr_of(
            &[],
            &[
                "unknown-account-folder",
                "malformed-region-folder",
                "misplaced-files",
                "non-yaml-file",
                "config-unquoted-account-id",
                "config-unknown-key",
                "config-several-problems",
                "config-and-rule-problems",
                "many-errors-across-files",
            ]
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The other commands

#[test]
fn schema_output_is_the_committed_schema() {
    let run = Repo::empty().run(&["schema"], &[]);
    run.assert_code(0);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rule-file.json"),
    )
    .expect("schema/rule-file.json");
    assert!(
        run.stdout == committed,
        "schema/rule-file.json is stale: regenerate it with `sgops schema > schema/rule-file.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema is JSON");
    assert_eq!(
        schema["required"],
        serde_json::json!(["security_group", "rules"])
    );
}

/// The committed schema, compiled by a JSON Schema validator as editors would use it (ECMA-262
/// patterns, draft 2020-12, `format` asserted).
fn compiled_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rule-file.json"),
    )
    .expect("schema/rule-file.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let url = "https://sgops.dev/schema/rule-file.json";
    compiler.add_resource(url, schema).expect("add schema");
    let index = compiler
        .compile(url, &mut schemas)
        .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
    (schemas, index)
}

/// A YAML rule file as the JSON an editor's schema check sees.
fn as_json(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

#[test]
fn the_schema_accepts_the_example_rule_files_and_what_validate_accepts() {
    let (schemas, schema) = compiled_schema();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read rules/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let yaml = std::fs::read_to_string(&path).expect("rule file");
                if let Err(e) = schemas.validate(&as_json(&yaml), schema) {
                    panic!("{}: {e:#}", path.display());
                }
                files += 1;
            }
        }
    }
    assert!(files >= 2, "example rule files found: {files}");

    // Each of these passes `validate` (checked here too) and must pass the schema.
    let rule = |extra: &str| {
        format!(
            "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - direction: ingress\n    cidr: 203.0.113.0/24\n    ticket: CHG-1\n{extra}"
        )
    };
    let accepted = [
        "    id: web\n    protocol: TCP\n    ports: \" 8000 - 8100 \"\n",
        "    id: web\n    protocol: \"-1\"\n",
        "    id: web\n    protocol: \"17\"\n    description:\n",
        "    id: web\n    protocol: -1\n    tags: { Team: x, n: 12 }\n",
        "    id: 12\n    protocol: tcp\n    ports: 65535\n",
        "    id: web\n    protocol: icmp\n    ports: { type: 8, code: -1 }\n    expires: 2027-06-30\n",
    ];
    for extra in accepted {
        let yaml = rule(extra);
        let repo = Repo::base();
        repo.write(&format!("{FILE_DIR}/r.yaml"), &yaml);
        let run = repo.validate();
        assert_eq!(
            run.code,
            Some(0),
            "validate refuses:\n{yaml}\n{}",
            run.stderr
        );
        if let Err(e) = schemas.validate(&as_json(&yaml), schema) {
            panic!("the schema refuses what validate accepts:\n{yaml}\n{e:#}");
        }
    }
    // And the schema still refuses what validate refuses.
    let refused = [
        "    id: web\n    protocol: tcp\n    cidrr: 10.0.0.0/8\n",
        "    id: web\n    protocol: \"06\"\n",
        "    id: web\n    protocol: tcp\n    ports: \"022\"\n",
        "    id: web\n    protocol: tcp\n    ports: \"70000\"\n",
        "    id: web\n    protocol: tcp\n    tags: { \"AWS:x\": y }\n",
        "    id: Web\n    protocol: tcp\n",
        "    id: web\n    protocol: tcp\n    expires: 2027-13-01\n",
    ];
    for extra in refused {
        let yaml = rule(extra);
        assert!(
            schemas.validate(&as_json(&yaml), schema).is_err(),
            "the schema accepts:\n{yaml}"
        );
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = Repo::empty().run(&["completions", shell], &[]);
        run.assert_code(0);
        assert!(run.stdout.len() > 200, "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("validate"), "{shell}: no subcommands");
        assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
    }
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let run = Repo::empty().run(&["--help"], &[]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("Examples:\n  sgops validate"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Exit codes: 0 success"),
        "{}",
        run.stdout
    );
    let run = Repo::empty().run(&["validate", "--help"], &[]);
    run.assert_code(0);
    assert!(run.stdout.contains("GITHUB_ACTIONS=true"), "{}", run.stdout);
    assert!(
        run.stdout.contains("3 only guardrail violations"),
        "{}",
        run.stdout
    );
}

#[test]
fn commands_that_cannot_start_exit_one_with_a_message() {
    // Every command is built now (the `not available in this version yet` stubs are gone);
    // what stays true is that a command refused before any AWS call exits 1 with one line
    // that names the problem, and prints nothing on standard output.
    let repo = Repo::base();
    repo.write(
        &format!("{FILE_DIR}/web.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: web\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 203.0.113.0/24\n    ticket: CHG-1\n",
    );
    let cases: [(&[&str], &str); 2] = [
        (
            &["comment", "--pr", "1", "--plan", "missing.json"],
            "error: cannot read missing.json: ",
        ),
        (
            &["import", "nosuch", "us-east-1", "sg-12345678"],
            "error: unknown account `nosuch`: use a name from sgops.yaml (itx-016, itx-046)",
        ),
    ];
    for (args, want) in cases {
        let run = repo.run(args, &[("AWS_EC2_METADATA_DISABLED", "true")]);
        run.assert_code(1);
        assert!(run.stderr.starts_with(want), "{}: {}", run.what, run.stderr);
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "{}: {}",
            run.what,
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}: {}", run.what, run.stdout);
    }
}

#[test]
fn a_bad_command_line_exits_one_never_two() {
    // 2 means "changes found" to `plan --detailed-exitcode`: a typo must not look like drift.
    for args in [
        &["plan", "--detailed-exitcode", "--nonsense"][..],
        &["nosuchcommand"],
        &["plan", "--shard", "5/4"],
        &["comment", "--pr", "1"],
    ] {
        let run = Repo::base().run(args, &[]);
        run.assert_code(1);
        assert!(
            run.stderr.starts_with("error: "),
            "{}: {}",
            run.what,
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}: {}", run.what, run.stdout);
    }
    let run = Repo::base().run(&["--version"], &[]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("sgops "), "{}", run.stdout);
}

#[test]
fn a_closed_standard_error_is_not_a_crash() {
    let repo = Repo::base();
    repo.write(
        &format!("{FILE_DIR}/web.yaml"),
        "security_group: sg-0a1b2c3d4e5f67890\nrules:\n  - id: web\n    direction: ingress\n    protocol: tcp\n    ports: 443\n    cidr: 10.0.0.1/8\n    ticket: CHG-1\n",
    );
    // `2>&-`: every write to standard error fails with EBADF.
    let out = std::process::Command::new("sh")
        .current_dir(repo.dir.path())
        .env("SGOPS_TODAY", TODAY)
        .arg("-c")
        .arg(format!("'{}' validate 2>&-", env!("CARGO_BIN_EXE_sgops")))
        .output()
        .expect("run sh");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}
