"""sgops at scale against moto, next to two boto3 baselines. Run through bench/run (see
bench/README.md): starts moto on a free loopback port, seeds the scenario (bench/scenario.py),
measures `sgops plan --stats`, `sgops apply --stats` and each baseline's plan and apply (wall
time, API calls by operation, peak RSS), checks that every contender found the same changes and
that every apply converged (a plan afterwards shows nothing to do), restores the seeded state
between applies, and prints a Markdown report; the JSON goes to bench/results/."""
import argparse
import ctypes
import datetime
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from awsbench import ACTIONS, is_read  # noqa: E402

BASELINES = ("competent", "naive")
SHORT = {"create": "C", "adopt": "A", "update": "U", "replace": "Rp", "retag": "Rt", "delete": "D"}
STATS_LINE = re.compile(r"^\s+(\S+:\S+)\s+(\d+)\s+\((\d+) attempts\)\s*$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this process dies, however it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def wait_for_line(path, pattern, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with open(path, errors="replace") as f:
                m = re.search(pattern, f.read())
            if m:
                return m
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    with open(path, errors="replace") as f:
        tail = f.read()[-2000:]
    raise SystemExit(f"{proc.args[0]} did not start within {timeout} s (exit {proc.poll()}):\n{tail}")


class Services:
    """moto (and the latency proxy), stopped with the harness."""

    def __init__(self, work, python):
        self.work, self.python = work, python
        self.procs = []

    def start_moto(self, cmd=None):
        """moto_server on a free loopback port, or `cmd` (which must print what moto_server
        prints: bench/moto_timed.py)."""
        moto = os.path.join(os.path.dirname(self.python), "moto_server")
        path = os.path.join(self.work, "moto.log")
        with open(path, "w") as out:
            p = subprocess.Popen(cmd or [moto, "-H", "127.0.0.1", "-p", "0"], stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.procs.append(p)
        self.moto = p
        m = wait_for_line(path, r"Running on http://127\.0\.0\.1:(\d+)", p, 60)
        return f"http://127.0.0.1:{m.group(1)}"

    def start_proxy(self, upstream, latency_ms, which):
        fault = os.path.join(ROOT, "scripts", "faultproxy.py")
        if which == "faultproxy" or (which == "auto" and os.path.exists(fault)):
            script = fault
        else:
            script = os.path.join(HERE, "latency_proxy.py")
        path = os.path.join(self.work, "proxy.log")
        with open(path, "w") as out:
            p = subprocess.Popen([self.python, script, "--listen", "0", "--upstream", upstream,
                                  "--latency-ms", str(latency_ms)], stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.procs.append(p)
        m = wait_for_line(path, r"listening on (\d+)", p, 30)
        return f"http://127.0.0.1:{m.group(1)}", os.path.relpath(script, ROOT)

    def cpu_seconds(self):
        """CPU seconds (user + system) moto has used so far: the emulator's side of a measured
        run, read around it. moto serves requests on threads under one GIL, so this is time no
        client can overlap: the wall-time floor of any client, however parallel. (The latency
        proxy is another process and is not counted.)"""
        try:
            with open(f"/proc/{self.moto.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError, AttributeError):
            return 0.0

    def moto_peak_rss_mib(self):
        try:
            with open(f"/proc/{self.moto.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024, 1)
        except (OSError, AttributeError):
            pass
        return None

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)


def aws_env(endpoint, today):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_", "SGOPS_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "SGOPS_TODAY": today, "SGOPS_SESSION_NAME": "sgops-bench", "NO_COLOR": "1",
    })
    return env


def warm_up(endpoint):
    """The first EC2 call to a fresh moto takes seconds: pay it before anything is timed."""
    import boto3
    for service in ("sts", "ec2", "ssm"):
        c = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
        getattr(c, {"sts": "get_caller_identity", "ec2": "describe_vpcs", "ssm": "describe_parameters"}[service])()


def run_step(args, name, cmd, cwd, env, timeout):
    """Runs `cmd` under /usr/bin/time -v; returns wall seconds, exit code, peak RSS, outputs."""
    base = os.path.join(args.work, name.replace(" ", "-"))
    tfile = base + ".time"
    started = time.monotonic()
    with open(base + ".out", "w") as out, open(base + ".err", "w") as err:
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + cmd, cwd=cwd, env=env, stdout=out,
                             stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except BaseException:  # the timeout, or Ctrl-C: stop the command and what it started
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
            rc = "timeout"
            if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise
    wall = time.monotonic() - started
    rss, cpu = None, None
    try:
        with open(tfile) as f:
            text = f.read()
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        rss = int(m.group(1)) if m else None
        u = re.search(r"User time \(seconds\): ([\d.]+)", text)
        k = re.search(r"System time \(seconds\): ([\d.]+)", text)
        cpu = round(float(u.group(1)) + float(k.group(1)), 2) if u and k else None
    except OSError:
        pass
    with open(base + ".out") as f:
        stdout = f.read()
    with open(base + ".err") as f:
        stderr = f.read()
    return {"wall_seconds": round(wall, 3), "rc": rc, "peak_rss_mib": round(rss / 1024, 1) if rss else None,
            "client_cpu_seconds": cpu, "stdout": stdout, "stderr": stderr}


def sgops_stats(stderr):
    ops, attempts = {}, {}
    for line in stderr.splitlines():
        m = STATS_LINE.match(line)
        if m:
            ops[m.group(1)] = int(m.group(2))
            attempts[m.group(1)] = int(m.group(3))
    return ops, attempts


def summarize_step(step, ops, attempts, summary):
    step.pop("stdout", None)
    err = step.pop("stderr", "")
    step["operations"] = dict(sorted(ops.items()))
    step["calls"] = sum(ops.values())
    step["attempts"] = sum(attempts.values())
    step["reads"] = sum(n for op, n in ops.items() if is_read(op))
    step["writes"] = step["calls"] - step["reads"]
    step["summary"] = {a: (summary or {}).get(a, 0) for a in ACTIONS}
    if step["rc"] not in (0,):
        step["stderr_tail"] = err[-1500:]
    return step


def run_sgops(args, mode, repo, env):
    cmd = [args.bin, mode, "--stats", "--format", "json"]
    if mode == "apply":
        cmd += ["--allow-many", "--journal", os.path.join(args.work, "sgops-apply.jsonl")]
    step = run_step(args, f"sgops {mode}", cmd, repo, env, args.timeout)
    ops, attempts = sgops_stats(step["stderr"])
    summary, result = None, None
    try:
        doc = json.loads(step["stdout"])
        if mode == "plan":
            summary = doc["summary"]
        else:
            result = doc["summary"]
            summary = {a: 0 for a in ACTIONS}
            for r in doc.get("results", []):
                summary[r["action"]] += 1
    except (ValueError, KeyError):
        pass
    step = summarize_step(step, ops, attempts, summary)
    if result is not None:
        step["results"] = result
    return step


def run_report_live(args, repo, env):
    """`sgops report --live` on the same state: the plan's reads, no allow-list read."""
    cmd = [args.bin, "report", "--live", "--stats", "--format", "json"]
    step = run_step(args, "sgops report-live", cmd, repo, env, args.timeout)
    ops, attempts = sgops_stats(step["stderr"])
    statuses = {}
    try:
        for r in json.loads(step["stdout"])["rules"]:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    except (ValueError, KeyError):
        pass
    step = summarize_step(step, ops, attempts, None)
    step.pop("summary", None)
    step["statuses"] = dict(sorted(statuses.items()))
    return step


def run_baseline(args, kind, mode, repo, env):
    cmd = [args.python, os.path.join(HERE, f"baseline_{kind}.py"), mode, "--repo", repo]
    step = run_step(args, f"{kind} {mode}", cmd, repo, env, args.timeout)
    try:
        doc = json.loads(step["stdout"])
    except ValueError:
        doc = {}
    step = summarize_step(step, doc.get("calls", {}).get("operations", {}),
                          doc.get("calls", {}).get("attempts", {}), doc.get("summary"))
    if mode == "apply":
        step["results"] = doc.get("results", {})
    if doc.get("errors"):
        step["errors"] = doc["errors"][:20]
    return step


def proxy_requests(endpoint, proxy):
    """Requests the fault proxy has seen so far (None for bench/latency_proxy.py)."""
    if not proxy or "faultproxy" not in proxy:
        return None
    import urllib.request
    try:
        with urllib.request.urlopen(endpoint + "/__faultproxy/stats", timeout=10) as r:
            return json.load(r).get("requests")
    except (OSError, ValueError):
        return None


def converged(args, repo, env):
    """A plan after an apply: exit 0 with --detailed-exitcode means nothing left to do."""
    p = subprocess.run([args.bin, "plan", "--detailed-exitcode", "--format", "json"], cwd=repo, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=args.timeout, text=True)
    try:
        left = json.loads(p.stdout)["summary"]
    except (ValueError, KeyError):
        left = None
    return p.returncode == 0, left


def floors(scenario):
    """Read floor (per run), batched write floor and the tag-contract write floor (per apply),
    as defined in bench/README.md."""
    reads = 1  # one SSM GetParameter for the one service (ec2)
    for a in scenario["accounts"]:
        # one region per account here: its AssumeRole + its DescribeSecurityGroupRules pages
        reads += 1 + math.ceil(max(1, a["live_rules"]) / 1000)
    writes, contract = 0, 0
    for a in scenario["accounts"]:
        for g in a["groups"]:
            kinds = {(k, d) for k, d, n in g["kinds"] if n}
            for d in ("ingress", "egress"):
                writes += ("create", d) in kinds        # one authorize
                writes += ("delete", d) in kinds        # one revoke
                writes += ("adopt", d) in kinds         # one CreateTags
                contract += ("delete", d) in kinds
            writes += any(k == "update" for k, _ in kinds)  # one ModifySecurityGroupRules
            contract += any(k == "update" for k, _ in kinds)
            # Each new or adopted rule carries its own `sgops:rule=<id>` (SPEC section 4), and a
            # call's TagSpecifications or CreateTags give every rule in it the same tags: one
            # authorize per created rule, one CreateTags per adopted rule.
            contract += sum(n for k, _, n in g["kinds"] if k in ("create", "adopt"))
    return reads, writes, contract


# ---------------------------------------------------------------------------------------------
# Report


def fmt_num(x):
    return "–" if x is None else f"{x:.2f}"


def bound_lines(by, baselines):
    """What the emulator allows: moto spends its CPU on sgops's calls one at a time, so even a
    client with no cost of its own needs that long. The best ratio any client making sgops's
    calls could reach against a baseline is the baseline's wall ÷ that CPU time."""
    out = []
    for mode in ("plan", "apply"):
        s = by.get(("sgops", mode))
        if not s or not s.get("emulator_cpu_seconds"):
            continue
        floor = s["emulator_cpu_seconds"]
        parts = [f"sgops {mode}: {s['wall_seconds']:.2f} s wall for {floor:.2f} s of moto CPU "
                 f"({s['wall_seconds'] / floor:.2f}× the emulator's floor)"]
        for b in baselines:
            t = by.get((b, mode))
            if t:
                parts.append(f"best possible vs {b}: {t['wall_seconds'] / floor:.2f}× faster, "
                             f"reached: {t['wall_seconds'] / s['wall_seconds']:.2f}×")
        out.append("- " + "; ".join(parts))
    if out:
        out.insert(0, "Emulator bound (moto serves requests under one GIL: its CPU time for a run is "
                      "the shortest wall time any client making the same calls could have):")
        out.insert(1, "")
        out.append("")
    return out


def fmt_ratio(a, b):
    if not b:
        return "–"
    return f"{a / b:.2f}×"


def report(res):
    p = res["params"]
    lines = []
    lat = f", {p['latency_ms']} ms added latency per call ({res.get('proxy')})" if p["latency_ms"] else ""
    lines.append(f"## sgops benchmark: {p['accounts']} accounts × {p['groups']} groups × {p['rules']} rules{lat}")
    lines.append("")
    lines.append(f"- binary `{res['binary']}` ({res['binary_profile']}), concurrency {p.get('concurrency', 16)}; "
                 f"moto {res['moto_version']}; "
                 f"{res['host']['cpus']} CPUs; SGOPS_TODAY={p['today']}; {res['started_utc']}")
    sc = res["scenario"]
    lines.append(f"- seeded {sc['seeded_rules']} rules ({sc['desired_rules']} desired in "
                 f"{p['accounts'] * p['groups']} files) in {sc['seed_seconds']} s "
                 f"({sc['seed_calls']} calls, method {p['seed_method']}, {p['seed_workers']} workers); "
                 f"restores: {', '.join(str(r) + ' s' for r in res['restore_seconds']) or 'none'}; "
                 f"moto peak RSS {res.get('moto_peak_rss_mib')} MiB; whole run {res['total_seconds']} s")
    exp = res["expected"]
    lines.append("- expected changes: " + ", ".join(f"{exp[a]} {a}" for a in ACTIONS if exp[a])
                 + f" ({sum(exp.values())} in all)")
    rf, wf = res["floors"]["reads"], res["floors"]["writes"]
    cf = res["floors"].get("writes_contract", wf)
    lines.append(f"- floors: reads {rf} per plan or apply (1 AssumeRole per account, 1 DescribeSecurityGroupRules "
                 f"per 1000 rules per account × region, + 1 GetParameter); writes {wf} per apply "
                 f"(1 authorize, 1 revoke, 1 CreateTags per group and direction that needs it, "
                 f"1 modify per group); {cf} under the tag contract (each created or adopted rule "
                 f"has its own `sgops:rule` value, so one authorize or CreateTags each)")
    lines.append("")
    lines.append("| run | wall s | moto CPU s | client CPU s | API calls | reads (floor) | writes (floor / contract) "
                 "| attempts | peak RSS MiB | changes found | check |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for s in res["steps"]:
        is_apply = s["mode"] == "apply"
        changes = " ".join(f"{s['summary'][a]}{SHORT[a]}" for a in ACTIONS if s["summary"].get(a))
        check = []
        check.append("counts ✓" if s["counts_ok"] else "counts ✗")
        if is_apply:
            check.append("converged ✓" if s.get("converged") else "converged ✗")
        if s["rc"] != 0:
            check.append(f"exit {s['rc']}")
        wfloor = f"{wf} / {cf}" if is_apply else "0"
        lines.append(
            f"| {s['tool']} {s['mode']} | {s['wall_seconds']:.2f} | {fmt_num(s.get('emulator_cpu_seconds'))} | "
            f"{fmt_num(s.get('client_cpu_seconds'))} | {s['calls']} | {s['reads']} ({rf}) | "
            f"{s['writes']} ({wfloor}) | {s['attempts']} | {s['peak_rss_mib']} | {changes or '–'} | "
            f"{', '.join(check)} |")
    lines.append("")
    by = {(s["tool"], s["mode"]): s for s in res["steps"]}
    bl = [b for b in BASELINES if (b, "plan") in by or (b, "apply") in by]
    if bl:
        lines.append("| sgops ÷ baseline | plan wall | plan calls | apply wall | apply calls | apply writes |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for b in bl:
            row = [f"÷ {b}"]
            for mode, keys in (("plan", ("wall_seconds", "calls")), ("apply", ("wall_seconds", "calls", "writes"))):
                for k in keys:
                    s, t = by.get(("sgops", mode)), by.get((b, mode))
                    row.append(fmt_ratio(s[k], t[k]) if s and t else "–")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        lines.extend(bound_lines(by, bl))
    cols = [(s["tool"], s["mode"]) for s in res["steps"]]
    ops = sorted({op for s in res["steps"] for op in s["operations"]})
    lines.append("API calls by operation:")
    lines.append("")
    lines.append("| operation | " + " | ".join(f"{t} {m}" for t, m in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for op in ops:
        lines.append(f"| {op} | " + " | ".join(str(by[c]["operations"].get(op, 0)) for c in cols) + " |")
    lines.append("")
    seen = [f"{s['tool']} {s['mode']} {s['proxy_requests']}" for s in res["steps"] if "proxy_requests" in s]
    if seen:
        lines.append("Requests the proxy saw (should equal the attempts column): " + ", ".join(seen) + ".")
        lines.append("")
    worse = res["sgops_worse"]
    if worse:
        lines.append("Where sgops did worse than a baseline:")
        lines.append("")
        lines.extend(f"- {w}" for w in worse)
    else:
        lines.append("sgops did no worse than any baseline on wall time, calls, reads or writes.")
    if res["problems"]:
        lines.append("")
        lines.append("**Problems:**")
        lines.append("")
        lines.extend(f"- {p_}" for p_ in res["problems"])
    return "\n".join(lines) + "\n"


def sgops_worse(steps):
    by = {(s["tool"], s["mode"]): s for s in steps}
    out = []
    for mode in ("plan", "apply"):
        s = by.get(("sgops", mode))
        if not s:
            continue
        for b in BASELINES:
            t = by.get((b, mode))
            if not t:
                continue
            for key, what in (("wall_seconds", "wall time (s)"), ("calls", "API calls"),
                              ("reads", "read calls"), ("writes", "write calls")):
                if s[key] > t[key]:
                    out.append(f"{mode}: {what} {s[key]} vs {b} {t[key]}")
            for op in sorted(set(s["operations"]) | set(t["operations"])):
                a, c = s["operations"].get(op, 0), t["operations"].get(op, 0)
                if a > c:
                    out.append(f"{mode}: {op} {a} calls vs {b} {c}")
    return out


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--accounts", type=int, help="default 100 (--quick: 5)")
    ap.add_argument("--groups", type=int, help="default 5 (--quick: 2)")
    ap.add_argument("--rules", type=int, help="default 40 (--quick: 10)")
    ap.add_argument("--quick", action="store_true", help="5 accounts × 2 groups × 10 rules (sizes given win)")
    ap.add_argument("--latency-ms", type=int, default=0, help="add this latency to every call of the measured runs")
    ap.add_argument("--proxy", choices=["auto", "faultproxy", "bench"], default="auto",
                    help="latency proxy: scripts/faultproxy.py when it exists (auto), or bench/latency_proxy.py")
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release", "sgops")
    ap.add_argument("--bin", default=default_bin, help=f"sgops binary (default {default_bin})")
    ap.add_argument("--concurrency", type=int, default=16,
                    help="sgops.yaml `concurrency` for sgops (default 16, sgops's default)")
    ap.add_argument("--baselines", default="competent,naive", help="comma-separated: competent,naive (or none)")
    ap.add_argument("--seed-method", choices=["per-rule", "batch"], default="batch",
                    help="batch (default, measured ~9%% faster) or per-rule; see bench/README.md")
    ap.add_argument("--seed-workers", type=int, default=2, help="client threads for seeding and restores")
    ap.add_argument("--today", default="2026-11-27", help="SGOPS_TODAY for every run")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds allowed per measured command")
    ap.add_argument("--results", default=os.path.join(HERE, "results"), help="where the JSON and Markdown go")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (repository, logs, outputs)")
    args = ap.parse_args()
    args.python = sys.executable
    q = args.quick
    args.accounts = args.accounts or (5 if q else 100)
    args.groups = args.groups or (2 if q else 5)
    args.rules = args.rules or (10 if q else 40)
    baselines = [b for b in args.baselines.split(",") if b and b != "none"]
    for b in baselines:
        if b not in BASELINES:
            ap.error(f"--baselines: unknown {b} (known: {', '.join(BASELINES)})")
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        ap.error(f"no sgops binary at {args.bin}: build it (cargo build --release) or pass --bin PATH")
    args.bin = os.path.abspath(args.bin)
    if not os.access("/usr/bin/time", os.X_OK):
        ap.error("GNU time is missing (/usr/bin/time): apt-get install time (bench/run does it when root)")

    started_utc = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    args.work = tempfile.mkdtemp(prefix="sgops-bench-")
    services = Services(args.work, args.python)
    problems = []
    try:
        direct = services.start_moto()
        log(f"moto on {direct} (work directory {args.work})")
        warm_up(direct)
        log(f"seeding {args.accounts} accounts × {args.groups} groups × {args.rules} rules ...")
        seed_env = aws_env(direct, args.today)
        subprocess.run([args.python, os.path.join(HERE, "scenario.py"), "seed", "--work", args.work,
                        "--accounts", str(args.accounts), "--groups", str(args.groups), "--rules", str(args.rules),
                        "--method", args.seed_method, "--workers", str(args.seed_workers), "--today", args.today],
                       env=seed_env, check=True, timeout=args.timeout, stdin=subprocess.DEVNULL)
        with open(os.path.join(args.work, "scenario.json")) as f:
            scenario = json.load(f)
        expected = scenario["expected"]
        repo = os.path.join(args.work, "repo")
        cfg_path = os.path.join(repo, "sgops.yaml")
        with open(cfg_path) as f:
            cfg = f.read()
        with open(cfg_path, "w") as f:
            f.write(re.sub(r"(?m)^concurrency: \d+$", f"concurrency: {args.concurrency}", cfg))
        endpoint, proxy = direct, None
        if args.latency_ms:
            endpoint, proxy = services.start_proxy(direct, args.latency_ms, args.proxy)
            log(f"latency proxy {proxy} on {endpoint}: +{args.latency_ms} ms per call")
        env = aws_env(endpoint, args.today)
        check_env = aws_env(direct, args.today)

        steps = []

        def measure(fn, *a):
            before = proxy_requests(endpoint, proxy)
            cpu = services.cpu_seconds()
            step = fn(*a)
            step["emulator_cpu_seconds"] = round(services.cpu_seconds() - cpu, 2)
            after = proxy_requests(endpoint, proxy)
            if before is not None and after is not None:
                step["proxy_requests"] = after - before
            return step

        def record(step, tool, mode):
            step.update(tool=tool, mode=mode)
            step["counts_ok"] = all(step["summary"].get(a, 0) == expected[a] for a in ACTIONS)
            if not step["counts_ok"]:
                problems.append(f"{tool} {mode} found {step['summary']}, expected {expected}")
            if step["rc"] != 0:
                problems.append(f"{tool} {mode} exited {step['rc']}: {step.get('stderr_tail', '')[-300:]}")
            steps.append(step)
            log(f"  {tool} {mode}: {step['wall_seconds']:.2f} s, {step['calls']} calls "
                f"({step['reads']} reads, {step['writes']} writes), peak RSS {step['peak_rss_mib']} MiB, "
                f"moto CPU {step['emulator_cpu_seconds']} s, client CPU {step['client_cpu_seconds']} s")

        def check_converged(step, tool):
            ok, left = converged(args, repo, check_env)
            step["converged"] = ok
            if not ok:
                problems.append(f"after {tool} apply, a plan still finds changes: {left}")

        log("plans on the seeded state:")
        record(measure(run_sgops, args, "plan", repo, env), "sgops", "plan")
        for b in baselines:
            record(measure(run_baseline, args, b, "plan", repo, env), b, "plan")
        plan_step = steps[0]
        rl = measure(run_report_live, args, repo, env)
        rl["calls_vs_plan"] = f"{rl['calls']} / {plan_step['calls']}"
        if rl["rc"] != 0 or rl["calls"] > plan_step["calls"]:
            problems.append(f"sgops report --live exited {rl['rc']} with {rl['calls']} calls "
                            f"(plan: {plan_step['calls']})")
        log(f"  sgops report --live: {rl['wall_seconds']:.2f} s, {rl['calls']} calls (plan: "
            f"{plan_step['calls']}), peak RSS {rl['peak_rss_mib']} MiB, statuses {rl['statuses']}")
        log("applies, each from the seeded state:")
        record(measure(run_sgops, args, "apply", repo, env), "sgops", "apply")
        check_converged(steps[-1], "sgops")
        restores = []
        for b in baselines:
            r = subprocess.run([args.python, os.path.join(HERE, "scenario.py"), "restore", "--work", args.work,
                                "--workers", str(args.seed_workers)], env=seed_env, check=True,
                               timeout=args.timeout, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            restores.append(json.loads(r.stdout)["seconds"])
            record(measure(run_baseline, args, b, "apply", repo, env), b, "apply")
            check_converged(steps[-1], b)

        rf, wf, cf = floors(scenario)
        res = {
            "version": 1,
            "started_utc": started_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "binary": args.bin,
            "binary_profile": "release" if "/release/" in args.bin else ("debug" if "/debug/" in args.bin else "?"),
            "moto_version": __import__("moto").__version__,
            "host": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
            "params": {"accounts": args.accounts, "groups": args.groups, "rules": args.rules,
                       "latency_ms": args.latency_ms, "today": args.today, "concurrency": args.concurrency, "seed_method": args.seed_method,
                       "seed_workers": args.seed_workers, "baselines": baselines},
            "proxy": proxy,
            "scenario": {"seeded_rules": scenario["seeded_rules"], "desired_rules": scenario["desired_rules"],
                         "seed_seconds": scenario["seed_seconds"],
                         "seed_calls": sum(scenario["seed_calls"]["operations"].values()),
                         "live_rules": sum(a["live_rules"] for a in scenario["accounts"])},
            "expected": expected,
            "floors": {"reads": rf, "writes": wf, "writes_contract": cf},
            "restore_seconds": restores,
            "moto_peak_rss_mib": services.moto_peak_rss_mib(),
            "steps": steps,
            "report_live": rl,
            "sgops_worse": sgops_worse(steps),
            "problems": problems,
        }
        res["total_seconds"] = round(time.monotonic() - t0, 1)
        md = report(res)
        md += (f"\n`sgops report --live` on the seeded state: {rl['wall_seconds']:.2f} s, {rl['calls']} API calls "
               f"(the plan: {plan_step['calls']}), peak RSS {rl['peak_rss_mib']} MiB, statuses {rl['statuses']}\n")
        sys.stdout.write(md)
        os.makedirs(args.results, exist_ok=True)
        stem = (f"{started_utc.strftime('%Y%m%dT%H%M%SZ')}-{args.accounts}x{args.groups}x{args.rules}"
                + (f"-lat{args.latency_ms}ms" if args.latency_ms else ""))
        with open(os.path.join(args.results, stem + ".json"), "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        with open(os.path.join(args.results, stem + ".md"), "w") as f:
            f.write(md)
        log(f"saved {os.path.relpath(os.path.join(args.results, stem), os.getcwd())}.json and .md")
        return 1 if problems else 0
    except subprocess.CalledProcessError as e:
        log(f"error: {os.path.basename(e.cmd[1])} {e.cmd[2]} exited {e.returncode} (output above)")
        return 1
    except subprocess.TimeoutExpired as e:
        log(f"error: {' '.join(map(str, e.cmd[:3]))} … took over --timeout {args.timeout:g} s")
        return 1
    finally:
        services.stop()
        if args.keep:
            log(f"kept {args.work}")
        else:
            shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
