"""`sgops serve` under load, next to the same calls made directly with boto3. Run through
`bench/run serve` (see bench/README.md).

One run: moto (bench/moto_timed.py: moto_server's own app, timing each request inside moto)
on a free loopback port; an allow-list parameter in the seed format and one security group per
client, spread over a few accounts; a local OIDC issuer (discovery document and JWKS served
from this process, tokens signed RS256 here with `cryptography`); `sgops serve --listen
127.0.0.1:0` with its audit lines in a file. Then, at the same concurrency (default 50 clients,
each its own kept-alive connection, spread over several processes so the client is not one
GIL), each client repeats describe_security_group_rules on its group, authorize_security_group_
ingress of a new rule, revoke_security_group_ingress of that rule (so the groups never fill up
and moto's work per request stays the same all run long):

- through sgops (HTTP + bearer token) and directly with boto3 (AssumeRole'd credentials of
  the same accounts), in alternating rounds, at least --requests requests each, after a
  warm-up of each;
- `GET /healthz` through the same client: the round trip of this client to sgops with no work;
- the same two paths at concurrency 1 (no queueing anywhere);
- with `wrk` (when installed): the sgops path driven by a load generator that is not Python.

Measured: requests per second, p50/p99 latency (overall and per action), errors; sgops's own
time per request two more ways: its audit line's duration minus moto's time for the same
request (matched by EC2's request id), and sgops's CPU time per request (/proc); sgops's RSS
sampled all along (after the warm-up, in the middle, at the end). Prints a Markdown report and
saves it with the JSON under bench/results/."""
import argparse
import base64
import ctypes
import datetime
import http.client
import http.server
import json
import math
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Services, aws_env, log, wait_for_line, warm_up  # noqa: E402
from scenario import PARAMETER, ROLE, account_id, account_name  # noqa: E402

REGION = "us-east-1"
AUDIENCE = "api://sgops"
SUBJECT = "bench-client"
ACTIONS = ("describe_security_group_rules", "authorize_security_group_ingress", "revoke_security_group_ingress")
SHORT = {"describe_security_group_rules": "describe", "authorize_security_group_ingress": "authorize",
         "revoke_security_group_ingress": "revoke", "healthz": "healthz"}


def die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The OIDC issuer: a discovery document and a JWKS from a thread, RS256 tokens signed here.


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "bench-rsa-1"
        pub = self.key.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big"))}
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    doc = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys",
                           "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/keys":
                    doc = {"keys": [issuer.jwk]}
                else:
                    self.send_error(404)
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, sub, ttl=7200):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + ttl}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64url(sig)


# ---------------------------------------------------------------------------------------------
# The workload: bodies, and the client processes.


def rule(c, i):
    """Client c's i-th rule: its own /16, a port of its own."""
    port = 1024 + i % 60000
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": f"10.{c % 250}.0.0/16", "Description": "sgops serve bench"}]}


def bodies(c, group, i):
    """The three calls of client c's i-th cycle, as (action, boto3 keyword arguments)."""
    r = rule(c, i)
    bare = dict(r, IpRanges=[{"CidrIp": r["IpRanges"][0]["CidrIp"]}])
    return [
        ("describe_security_group_rules", {"Filters": [{"Name": "group-id", "Values": [group]}]}),
        ("authorize_security_group_ingress", {"GroupId": group, "IpPermissions": [r]}),
        ("revoke_security_group_ingress", {"GroupId": group, "IpPermissions": [bare]}),
    ]


class SgopsClient:
    """One kept-alive HTTP/1.1 connection to sgops."""

    def __init__(self, job, spec):
        u = urllib.parse.urlsplit(job["url"])
        self.host, self.port = u.hostname, u.port
        self.headers = {"Authorization": "Bearer " + job["token"], "Content-Type": "application/json"}
        self.prefix = f"/v1/accounts/{spec['account']}/regions/{REGION}/services/ec2/actions/"
        self.conn = None
        self.connect()
        self.get("/healthz")  # the connection is open before the clock starts

    def connect(self):
        if self.conn:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def get(self, path):
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        r.read()
        return r.status, None

    def call(self, action, kwargs):
        self.conn.request("POST", self.prefix + action, body=json.dumps(kwargs).encode(), headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            return r.status, body[:300].decode(errors="replace")
        return 200, None


class DirectClient:
    """A boto3 EC2 client of its own (its own session and connection pool)."""

    def __init__(self, job, spec):
        import boto3
        from botocore.config import Config
        creds = job["creds"][spec["account"]]
        # Retries as sgops serve makes them (standard mode, 3 attempts).
        cfg = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=1,
                     connect_timeout=5, read_timeout=120)
        self.ec2 = boto3.session.Session().client(
            "ec2", region_name=REGION, endpoint_url=job["endpoint"], config=cfg,
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"])
        self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [spec["group"]]}])

    def connect(self):
        pass

    def call(self, action, kwargs):
        out = getattr(self.ec2, action)(**kwargs)
        return 200, out["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amzn-requestid")


def client_thread(job, spec, ready, go, out):
    records = []
    try:
        client = (SgopsClient if job["kind"] in ("sgops", "healthz") else DirectClient)(job, spec)
    except Exception as e:  # noqa: BLE001 - reported as the client's error
        ready.release()
        out.append({"setup_error": f"{type(e).__name__}: {e}"})
        return
    ready.release()
    go.wait()
    for i in range(job["loops"]):
        if job["kind"] == "healthz":
            calls = [("healthz", None)]
        else:
            calls = bodies(spec["c"], spec["group"], job["offset"] + i)
        for action, kwargs in calls:
            t = time.perf_counter()
            try:
                if action == "healthz":
                    status, detail = client.get("/healthz")
                else:
                    status, detail = client.call(action, kwargs)
            except Exception as e:  # noqa: BLE001 - an error of this request, counted
                status, detail = 0, f"{type(e).__name__}: {str(e)[:300]}"
                client.connect()
            dt = (time.perf_counter() - t) * 1000
            rid = detail if status == 200 else None
            records.append((action, round(dt, 3), status, rid, None if status == 200 else detail))
    out.append({"records": records})


def worker_main(conn):
    """A client process: runs the jobs its parent sends, each on its own threads."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        job = conn.recv()
        if job is None:
            return
        ready, go, outs = threading.Semaphore(0), threading.Event(), []
        threads = []
        for spec in job["clients"]:
            out = []
            outs.append(out)
            t = threading.Thread(target=client_thread, args=(job, spec, ready, go, out), daemon=True)
            t.start()
            threads.append(t)
        for _ in threads:
            ready.acquire()
        conn.send("ready")
        conn.recv()  # go
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        go.set()
        for t in threads:
            t.join()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        records, errors = [], []
        for out in outs:
            for o in out:
                records.extend(o.get("records", []))
                if "setup_error" in o:
                    errors.append(o["setup_error"])
        conn.send({"records": records, "setup_errors": errors,
                   "cpu_seconds": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)})


class Workers:
    """Client processes (spawned: fresh interpreters, no inherited threads), kept for the run."""

    def __init__(self, n):
        ctx = multiprocessing.get_context("spawn")
        self.procs, self.conns = [], []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(child,), daemon=True)
            p.start()
            self.procs.append(p)
            self.conns.append(parent)

    def run(self, job, clients):
        """Spreads `clients` over the processes, starts them together; returns the records,
        the wall time from the start to the last answer, and the clients' CPU seconds."""
        n = min(len(self.conns), len(clients))
        for k in range(n):
            self.conns[k].send(dict(job, clients=clients[k::n]))
        for k in range(n):
            self.conns[k].recv()
        started = time.perf_counter()
        for k in range(n):
            self.conns[k].send("go")
        results = [self.conns[k].recv() for k in range(n)]
        wall = time.perf_counter() - started
        records = [r for res in results for r in res["records"]]
        setup = [e for res in results for e in res["setup_errors"]]
        return records, wall, round(sum(res["cpu_seconds"] for res in results), 2), setup

    def stop(self):
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


# ---------------------------------------------------------------------------------------------
# Measuring


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class RssSampler:
    """sgops's VmRSS every 200 ms, with the number of sgops requests answered so far."""

    def __init__(self, pid):
        self.pid, self.samples, self.served, self.label = pid, [], 0, "start"
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def sample(self, label=None):
        kib = proc_status_kib(self.pid, "VmRSS")
        s = {"t": round(time.monotonic(), 2), "label": label or self.label, "served": self.served,
             "rss_kib": kib}
        self.samples.append(s)
        return s

    def loop(self):
        while not self.stop_event.wait(0.2):
            self.sample()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=2)


def pct(values, q):
    """Nearest-rank percentile of a list (sorted here)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def lat_stats(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(pct(values, 50), 2), "p90": round(pct(values, 90), 2),
            "p99": round(pct(values, 99), 2), "max": round(max(values), 2),
            "mean": round(sum(values) / len(values), 2)}


class Run:
    def __init__(self, args, services, workers, sgops, sampler, job_base):
        self.args, self.services, self.workers = args, services, workers
        self.sgops, self.sampler, self.job_base = sgops, sampler, job_base
        self.phases = []
        self.offset = 0

    def audit_count(self):
        with open(self.args.audit_path, errors="replace") as f:
            return sum(1 for _ in f)

    def phase(self, name, kind, clients, loops, measured=True):
        self.sampler.label = name
        job = dict(self.job_base, kind=kind, loops=loops, offset=self.offset)
        self.offset += loops
        before = {"sgops_cpu": proc_cpu_seconds(self.sgops.pid), "moto_cpu": self.services.cpu_seconds(),
                  "audit": self.audit_count(), "load": round(os.getloadavg()[0], 2)}
        records, wall, client_cpu, setup = self.workers.run(job, clients)
        after = {"sgops_cpu": proc_cpu_seconds(self.sgops.pid), "moto_cpu": self.services.cpu_seconds(),
                 "audit": self.audit_count()}
        if kind in ("sgops", "healthz"):
            self.sampler.served += len(records)
        errors = [r for r in records if r[2] != 200]
        ph = {
            "name": name, "kind": kind, "measured": measured, "clients": len(clients), "loops": loops,
            "requests": len(records), "wall_seconds": round(wall, 3),
            "rps": round(len(records) / wall, 1) if wall else None,
            "errors": len(errors) + len(setup), "error_samples": [r[4] for r in errors[:5]] + setup[:5],
            "latency_ms": lat_stats([r[1] for r in records]),
            "by_action": {a: lat_stats([r[1] for r in records if r[0] == a])
                          for a in sorted({r[0] for r in records})},
            "sgops_cpu_seconds": round(after["sgops_cpu"] - before["sgops_cpu"], 2)
            if None not in (after["sgops_cpu"], before["sgops_cpu"]) else None,
            "moto_cpu_seconds": round(after["moto_cpu"] - before["moto_cpu"], 2),
            "client_cpu_seconds": client_cpu, "load_avg_1m_before": before["load"],
            "audit_lines": [before["audit"], after["audit"]],
            "request_ids": [r[3] for r in records if r[3]] if kind == "direct" else [],
            "latencies_by_rid": {r[3]: r[1] for r in records if r[3]} if kind == "direct" else {},
        }
        ph["_recs"] = records
        ph["_lat"] = [r[1] for r in records]
        self.phases.append(ph)
        log(f"  {name}: {ph['requests']} requests in {wall:.2f} s ({ph['rps']}/s), p50 "
            f"{ph['latency_ms'].get('p50')} ms, p99 {ph['latency_ms'].get('p99')} ms, errors {ph['errors']}; "
            f"CPU s: sgops {ph['sgops_cpu_seconds']}, moto {ph['moto_cpu_seconds']}, clients {client_cpu}")
        return ph

    def wrk(self, clients, seconds, work):
        """The sgops path driven by wrk: one connection per wrk thread, so each connection's
        describe → authorize → revoke order holds."""
        script = os.path.join(work, "serve.lua")
        with open(script, "w") as f:
            f.write(wrk_script(self.job_base["token"], clients, 20000 + self.offset))
        self.offset += 30000
        self.sampler.label = "wrk"
        before = {"sgops_cpu": proc_cpu_seconds(self.sgops.pid), "moto_cpu": self.services.cpu_seconds(),
                  "audit": self.audit_count(), "load": round(os.getloadavg()[0], 2)}
        n = len(clients)
        cmd = ["wrk", "-t", str(n), "-c", str(n), "-d", f"{seconds}s", "--timeout", "60s", "-s", script,
               self.job_base["url"]]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, timeout=seconds + 120)
        wall = time.monotonic() - t0
        after = {"sgops_cpu": proc_cpu_seconds(self.sgops.pid), "moto_cpu": self.services.cpu_seconds(),
                 "audit": self.audit_count()}
        doc = None
        for line in p.stdout.splitlines():
            if line.startswith("WRKJSON "):
                doc = json.loads(line[len("WRKJSON "):])
        if doc is None:
            raise SystemExit(f"wrk gave no result (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        self.sampler.served += doc["requests"]
        ph = {
            "name": "wrk sgops", "kind": "wrk", "measured": True, "clients": n, "loops": None,
            "requests": doc["requests"], "wall_seconds": round(doc["duration_us"] / 1e6, 3),
            "rps": round(doc["requests"] / (doc["duration_us"] / 1e6), 1),
            "errors": doc["errors"], "error_samples": doc.get("samples", []),
            "latency_ms": {"n": doc["requests"], "p50": round(doc["p50_us"] / 1000, 2),
                           "p90": round(doc["p90_us"] / 1000, 2), "p99": round(doc["p99_us"] / 1000, 2),
                           "max": round(doc["max_us"] / 1000, 2), "mean": round(doc["mean_us"] / 1000, 2)},
            "by_action": {},
            "sgops_cpu_seconds": round(after["sgops_cpu"] - before["sgops_cpu"], 2),
            "moto_cpu_seconds": round(after["moto_cpu"] - before["moto_cpu"], 2),
            "client_cpu_seconds": None, "load_avg_1m_before": before["load"],
            "audit_lines": [before["audit"], after["audit"]], "wrk_wall_seconds": round(wall, 2),
            "wrk_errors": doc["socket_errors"], "request_ids": [], "latencies_by_rid": {},
            "_recs": [], "_lat": [],
        }
        self.phases.append(ph)
        log(f"  wrk sgops: {ph['requests']} requests in {ph['wall_seconds']} s ({ph['rps']}/s), p50 "
            f"{ph['latency_ms']['p50']} ms, p99 {ph['latency_ms']['p99']} ms, errors {ph['errors']}")
        return ph


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(token, clients, offset):
    """wrk's Lua: thread k is client k (its account and group); it repeats describe,
    authorize, revoke; every answer that is not 200 is an error, a few kept as samples."""
    specs = ",\n".join("  {account=%s, group=%s, c=%d}" % (lua_str(s["account"]), lua_str(s["group"]), s["c"])
                       for s in clients)
    return f"""-- generated by bench/serve.py
local specs = {{
{specs}
}}
local token = {lua_str(token)}
local offset = {offset}
local threads = {{}}
local created = 0

function setup(thread)
  created = created + 1
  thread:set("k", created)
  table.insert(threads, thread)
end

-- globals, so that done() can read them with thread:get
spec, n, errors, sample = nil, 0, 0, ""

function init(args)
  spec = specs[k]
  n = 0
  errors = 0
  sample = ""
end

local headers = {{["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}}

function request()
  local cycle = math.floor(n / 3)
  local step = n % 3
  n = n + 1
  local prefix = "/v1/accounts/" .. spec.account .. "/regions/{REGION}/services/ec2/actions/"
  local port = 1024 + (offset + cycle) % 60000
  local cidr = "10." .. (spec.c % 250) .. ".0.0/16"
  if step == 0 then
    return wrk.format("POST", prefix .. "describe_security_group_rules", headers,
      '{{"Filters":[{{"Name":"group-id","Values":["' .. spec.group .. '"]}}]}}')
  end
  local perm = '{{"IpProtocol":"tcp","FromPort":' .. port .. ',"ToPort":' .. port
    .. ',"IpRanges":[{{"CidrIp":"' .. cidr .. '"'
  if step == 1 then
    return wrk.format("POST", prefix .. "authorize_security_group_ingress", headers,
      '{{"GroupId":"' .. spec.group .. '","IpPermissions":[' .. perm .. ',"Description":"sgops serve bench"}}]}}]}}')
  end
  return wrk.format("POST", prefix .. "revoke_security_group_ingress", headers,
    '{{"GroupId":"' .. spec.group .. '","IpPermissions":[' .. perm .. '}}]}}]}}')
end

function response(status, hdrs, body)
  if status ~= 200 then
    errors = errors + 1
    if sample == "" then sample = status .. " " .. string.sub(body, 1, 200) end
  end
end

function done(summary, latency, requests)
  local errs, samples = 0, {{}}
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    local s = t:get("sample")
    if s ~= "" and #samples < 5 then table.insert(samples, string.format("%q", s)) end
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests":%d,"duration_us":%d,"errors":%d,' ..
    '"socket_errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d,"samples":[%s]}}\\n',
    summary.requests, summary.duration, errs + e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(samples, ",")))
end
"""


# ---------------------------------------------------------------------------------------------
# Seeding


def seed(args, issuer, endpoint):
    import boto3
    from botocore.config import Config
    cfg = Config(retries={"mode": "standard", "max_attempts": 8})
    allowed = "{" + ",".join(f'"{a}"' for a in ACTIONS) + "}"
    boto3.client("ssm", region_name=REGION, config=cfg).put_parameter(
        Name=PARAMETER, Value=allowed, Type="String", Overwrite=True)
    accounts = [{"name": account_name(a), "id": account_id(a)} for a in range(args.accounts)]
    sts = boto3.client("sts", region_name=REGION, config=cfg)
    creds = {}
    for a in accounts:
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{a['id']}:role/{ROLE}", RoleSessionName="bench-seed")["Credentials"]
        creds[a["name"]] = {k: c[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    ec2s = {a["name"]: boto3.client("ec2", region_name=REGION, config=cfg, aws_access_key_id=creds[a["name"]]["AccessKeyId"],
                                    aws_secret_access_key=creds[a["name"]]["SecretAccessKey"],
                                    aws_session_token=creds[a["name"]]["SessionToken"]) for a in accounts}
    clients = []
    for c in range(args.concurrency):
        a = accounts[c % len(accounts)]
        gid = ec2s[a["name"]].create_security_group(GroupName=f"serve-{c:03d}", Description="sgops serve bench")["GroupId"]
        clients.append({"c": c, "account": a["name"], "account_id": a["id"], "group": gid})

    repo = os.path.join(args.work, "repo")
    os.makedirs(os.path.join(repo, "rules"))
    with open(os.path.join(repo, "sgops.yaml"), "w") as f:
        f.write("# generated by bench/serve.py\n"
                "allowlist:\n  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/\n  region: us-east-1\n"
                f"role_name: {ROLE}\naccounts:\n"
                + "".join(f'  {a["name"]}: "{a["id"]}"\n' for a in accounts)
                + f"serve:\n  issuer: {issuer.url}\n  audience: {AUDIENCE}\n  clients:\n"
                f"    - subject: {SUBJECT}\n      accounts: [\"*\"]\n      actions: [{', '.join(ACTIONS)}]\n")
    return accounts, creds, clients, repo


def start_sgops(args, repo, env):
    err_path = os.path.join(args.work, "sgops-serve.err")
    args.audit_path = os.path.join(args.work, "sgops-serve.audit.jsonl")
    with open(args.audit_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0"], cwd=repo, env=env, stdout=out,
                             stderr=err, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    m = wait_for_line(err_path, r"sgops serve: listening on (http://[0-9.]+:\d+)", p, 60)
    return p, m.group(1)


# ---------------------------------------------------------------------------------------------
# Analysis


def read_moto_timings(path):
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0] != "-":
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return out


def read_audit(path):
    lines = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append(None)
    return lines


def server_side(phases, audit, moto):
    """Per measured sgops phase: the audit line's duration, moto's time for the same request,
    and the difference (sgops's own time plus the loopback hop to moto)."""
    out = {}
    for ph in phases:
        if ph["kind"] not in ("sgops", "wrk") or not ph["measured"]:
            continue
        lo, hi = ph["audit_lines"]
        own, durations, unmatched = [], [], 0
        for a in audit[lo:hi]:
            if not a or a.get("route", "").endswith("healthz"):
                continue
            durations.append(a["duration_ms"])
            m = moto.get(a.get("aws_request_id") or "")
            if m is None:
                unmatched += 1
            else:
                own.append(a["duration_ms"] - m)
        out[ph["name"]] = {"audit_duration_ms": lat_stats(durations), "own_ms": lat_stats(own),
                           "unmatched": unmatched}
    return out


def direct_outside_moto(phases, moto):
    """Per direct phase: the client's latency minus moto's time for the same request (boto3
    and the loopback hop)."""
    out = {}
    for ph in phases:
        if ph["kind"] != "direct":
            continue
        vals = [lat - moto[rid] for rid, lat in ph["latencies_by_rid"].items() if rid in moto]
        out[ph["name"]] = lat_stats(vals)
    return out


# ---------------------------------------------------------------------------------------------
# Report


def f2(x):
    return "–" if x is None else f"{x:.2f}"


def fmt_int(n):
    return "–" if n is None else f"{n:,}"


def report(res):
    p = res["params"]
    lines = [f"## sgops serve: {p['concurrency']} concurrent clients, describe + authorize + revoke, against moto", ""]
    lines.append(f"- binary `{res['binary']}` ({res['binary_profile']}); moto {res['moto_version']}; "
                 f"{res['host']['cpus']} CPUs, 1-minute load average {res['host']['load_avg_1m_start']} at the start; "
                 f"{res['started_utc']}; whole run {res['total_seconds']} s")
    lines.append(f"- {p['accounts']} accounts, one security group per client; each client repeats "
                 "describe_security_group_rules (its group), authorize_security_group_ingress (a new rule), "
                 "revoke_security_group_ingress (that rule) on one kept-alive connection; "
                 f"{p['client_procs']} Python client processes; {p['rounds']} alternating rounds per path after a "
                 f"warm-up of {fmt_int(res['warmup_requests'])} requests each")
    lines.append("")
    lines.append("| path | clients | requests | req/s | errors | p50 ms | p90 ms | p99 ms | max ms "
                 "| sgops CPU ms/req | moto CPU ms/req | client CPU ms/req |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in res["rows"]:
        lat = row["latency_ms"]
        n = row["requests"] or 1
        cpu = lambda k: "–" if row.get(k) is None else f"{row[k] * 1000 / n:.2f}"  # noqa: E731
        lines.append(f"| {row['label']} | {row['clients']} | {fmt_int(row['requests'])} | {row['rps']:.0f} | "
                     f"{row['errors']} | {f2(lat.get('p50'))} | {f2(lat.get('p90'))} | {f2(lat.get('p99'))} | "
                     f"{f2(lat.get('max'))} | {cpu('sgops_cpu_seconds')} | {cpu('moto_cpu_seconds')} | "
                     f"{cpu('client_cpu_seconds')} |")
    lines.append("")
    lines.append("Per action (Python clients, measured rounds):")
    lines.append("")
    lines.append("| path | action | requests | p50 ms | p99 ms |")
    lines.append("|---|---|---:|---:|---:|")
    for label, by in res["by_action"].items():
        for a, s in by.items():
            lines.append(f"| {label} | {SHORT.get(a, a)} | {fmt_int(s['n'])} | {f2(s.get('p50'))} | {f2(s.get('p99'))} |")
    lines.append("")
    o = res["overhead"]
    lines.append("sgops's overhead per request:")
    lines.append("")
    lines.append("| measure | p50 ms | p99 ms |")
    lines.append("|---|---:|---:|")
    for k, v in o.items():
        lines.append(f"| {k} | {f2(v.get('p50'))} | {f2(v.get('p99'))} |")
    lines.append("")
    r = res["rss"]
    lines.append(f"sgops RSS: {r['after_warmup_mib']} MiB after the warm-up ({fmt_int(r['after_warmup_served'])} "
                 f"requests served), {r['middle_mib']} MiB in the middle ({fmt_int(r['middle_served'])}), "
                 f"{r['end_mib']} MiB at the end of the Python rounds ({fmt_int(r['end_served'])})"
                 + (f", {r['after_wrk_mib']} MiB after wrk ({fmt_int(r['after_wrk_served'])})" if r.get("after_wrk_mib") else "")
                 + f"; highest sample {r['max_mib']} MiB, VmHWM {r['hwm_mib']} MiB; {r['samples']} samples.")
    lines.append("")
    if res["problems"]:
        lines.append("**Problems:**")
        lines.append("")
        lines.extend(f"- {q}" for q in res["problems"])
    else:
        lines.append("No errors; no RSS growth between the warm-up and the end.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------


def combine(phases, label):
    """One row from several phases: counts summed, latency recomputed from the kept lists."""
    lat = [x for ph in phases for x in ph["_lat"]]
    wall = sum(ph["wall_seconds"] for ph in phases)
    row = {"label": label, "clients": phases[0]["clients"], "requests": len(lat) if lat else sum(ph["requests"] for ph in phases),
           "rps": sum(ph["requests"] for ph in phases) / wall if wall else 0,
           "errors": sum(ph["errors"] for ph in phases), "latency_ms": lat_stats(lat) if lat else phases[0]["latency_ms"]}
    for k in ("sgops_cpu_seconds", "moto_cpu_seconds", "client_cpu_seconds"):
        vals = [ph.get(k) for ph in phases]
        row[k] = None if any(v is None for v in vals) else sum(vals)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(HERE), "target"),
                               "release", "sgops")
    ap.add_argument("--bin", default=default_bin, help=f"sgops binary (default {default_bin})")
    ap.add_argument("--concurrency", type=int, default=50, help="clients at once (default 50)")
    ap.add_argument("--requests", type=int, default=10000, help="measured requests per path, at least (default 10000)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per path (default 2)")
    ap.add_argument("--warmup", type=int, default=600, help="unmeasured requests per path first (default 600)")
    ap.add_argument("--sequential", type=int, default=300,
                    help="requests per path at concurrency 1 (default 300; 0: skip)")
    ap.add_argument("--healthz", type=int, default=5000, help="GET /healthz requests (default 5000; 0: skip)")
    ap.add_argument("--accounts", type=int, default=2, help="accounts the clients are spread over (default 2)")
    ap.add_argument("--client-procs", type=int, default=5, help="Python client processes (default 5)")
    ap.add_argument("--wrk", choices=["auto", "yes", "no"], default="auto",
                    help="also drive the sgops path with wrk (auto: when wrk is installed)")
    ap.add_argument("--wrk-seconds", type=int, default=0,
                    help="wrk's duration (default: enough for --requests at the Python rounds' rate)")
    ap.add_argument("--today", default="2026-11-27", help="SGOPS_TODAY (default 2026-11-27)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"), help="where the JSON and Markdown go")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (config, logs, audit lines)")
    args = ap.parse_args()
    if min(args.concurrency, args.requests, args.rounds, args.accounts, args.client_procs) < 1:
        ap.error("--concurrency, --requests, --rounds, --accounts, --client-procs must be at least 1")
    if args.concurrency > 250:
        ap.error("--concurrency: at most 250 (each client has its own 10.<c>.0.0/16)")
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        ap.error(f"no sgops binary at {args.bin}: build it (cargo build --release) or pass --bin PATH")
    args.bin = os.path.abspath(args.bin)
    use_wrk = args.wrk == "yes" or (args.wrk == "auto" and shutil.which("wrk"))
    if args.wrk == "yes" and not shutil.which("wrk"):
        ap.error("--wrk yes: wrk is not installed (apt-get install wrk)")
    python = sys.executable

    started_utc = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    load_start = round(os.getloadavg()[0], 2)
    workers = Workers(min(args.client_procs, args.concurrency))  # before any thread of ours
    args.work = tempfile.mkdtemp(prefix="sgops-serve-")
    services = Services(args.work, python)
    sgops, sampler = None, None
    problems = []
    try:
        timings = os.path.join(args.work, "moto-timings.txt")
        endpoint = services.start_moto([python, os.path.join(HERE, "moto_timed.py"), "-H", "127.0.0.1", "-p", "0",
                                        "--timings", timings])
        log(f"moto on {endpoint} (work directory {args.work})")
        os.environ.update(aws_env(endpoint, args.today))
        warm_up(endpoint)
        issuer = Issuer()
        accounts, creds, clients, repo = seed(args, issuer, endpoint)
        log(f"seeded {len(clients)} groups in {len(accounts)} accounts; issuer {issuer.url}")
        env = aws_env(endpoint, args.today)
        env["RUST_LOG"] = "warn"
        sgops, url = start_sgops(args, repo, env)
        log(f"sgops serve on {url} (pid {sgops.pid})")
        sampler = RssSampler(sgops.pid)
        job_base = {"url": url, "token": issuer.token(SUBJECT), "endpoint": endpoint, "creds": creds}
        run = Run(args, services, workers, sgops, sampler, job_base)
        conc = args.concurrency
        per_cycle = 3 * conc
        warm_loops = max(1, math.ceil(args.warmup / per_cycle))
        loops = max(1, math.ceil(args.requests / (per_cycle * args.rounds)))

        log(f"warm-up: {warm_loops * per_cycle} requests per path")
        w1 = run.phase("warm-up sgops", "sgops", clients, warm_loops, measured=False)
        w2 = run.phase("warm-up direct", "direct", clients, warm_loops, measured=False)
        s_warm = sampler.sample("after warm-up")
        mid = None
        log(f"measured: {args.rounds} rounds × {loops * per_cycle} requests per path, alternating")
        for r in range(args.rounds):
            run.phase(f"sgops round {r + 1}", "sgops", clients, loops)
            if r + 1 == math.ceil(args.rounds / 2) and args.rounds > 1:
                mid = sampler.sample("middle")
            run.phase(f"direct round {r + 1}", "direct", clients, loops)
        s_end = sampler.sample("end")
        if mid is None:
            mid = s_end
        if args.healthz:
            run.phase("healthz", "healthz", clients, max(1, math.ceil(args.healthz / conc)))
        if args.sequential:
            seq_loops = max(1, math.ceil(args.sequential / 3))
            run.phase("sequential sgops", "sgops", clients[:1], seq_loops)
            run.phase("sequential direct", "direct", clients[:1], seq_loops)
        s_wrk = None
        if use_wrk:
            py_rounds = [ph for ph in run.phases if ph["name"].startswith("sgops round")]
            rate = sum(ph["requests"] for ph in py_rounds) / sum(ph["wall_seconds"] for ph in py_rounds)
            seconds = args.wrk_seconds or max(10, math.ceil(args.requests / rate * 1.15) + 2)
            log(f"wrk: {conc} connections for {seconds} s")
            run.wrk(clients, seconds, args.work)
            s_wrk = sampler.sample("after wrk")
        sampler.stop()
        hwm = proc_status_kib(sgops.pid, "VmHWM")
        sgops.terminate()
        try:
            sgops.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sgops.kill()
        time.sleep(0.5)

        moto = read_moto_timings(timings)
        audit = read_audit(args.audit_path)
        phases = run.phases
        rows, by_action = [], {}
        measured = lambda kind: [ph for ph in phases if ph["kind"] == kind and ph["measured"]  # noqa: E731
                                 and not ph["name"].startswith("sequential")]
        sg, di = measured("sgops"), measured("direct")
        rows.append(combine(sg, "sgops (Python clients)"))
        rows.append(combine(di, "boto3 direct (Python clients)"))
        for ph in phases:
            if ph["kind"] == "wrk":
                rows.append(combine([ph], "sgops (wrk)"))
            elif ph["kind"] == "healthz":
                rows.append(combine([ph], "sgops GET /healthz (Python clients)"))
        seq = [ph for ph in phases if ph["name"].startswith("sequential")]
        for ph in seq:
            rows.append(combine([ph], ph["name"].replace("sequential sgops", "sgops, 1 client")
                                .replace("sequential direct", "boto3 direct, 1 client")))
        for label, group in (("sgops", sg), ("direct", di)):
            recs = [r for ph in group for r in ph["_recs"]]
            by_action[label] = {a: lat_stats([r[1] for r in recs if r[0] == a]) for a in ACTIONS}
        for ph in seq:
            by_action[ph["name"]] = {a: lat_stats([r[1] for r in ph["_recs"] if r[0] == a]) for a in ACTIONS}

        ss = server_side(phases, audit, moto)
        do = direct_outside_moto(phases, moto)
        own_py, dur_py = [], []
        for ph in sg:
            lo, hi = ph["audit_lines"]
            for a in audit[lo:hi]:
                if a and not a.get("route", "").endswith("healthz"):
                    dur_py.append(a["duration_ms"])
                    m = moto.get(a.get("aws_request_id") or "")
                    if m is not None:
                        own_py.append(a["duration_ms"] - m)
        direct_out = []
        for ph in di:
            direct_out += [lat - moto[rid] for rid, lat in ph["latencies_by_rid"].items() if rid in moto]
        r_sg, r_di = rows[0]["latency_ms"], rows[1]["latency_ms"]
        overhead = {
            f"end to end, {conc} clients: sgops latency − boto3 direct latency (same percentile)": {
                "p50": r_sg["p50"] - r_di["p50"], "p99": r_sg["p99"] - r_di["p99"]},
        }
        if len(seq) == 2:
            a, b = seq[0]["latency_ms"], seq[1]["latency_ms"]
            overhead["end to end, 1 client: sgops latency − boto3 direct latency"] = {
                "p50": a["p50"] - b["p50"], "p99": a["p99"] - b["p99"]}
        own = lat_stats(own_py)
        overhead[f"in sgops, {conc} clients: audit duration − moto's time for the same request"] = own
        wrk_ph = [ph for ph in phases if ph["kind"] == "wrk"]
        if wrk_ph and ss.get("wrk sgops"):
            overhead["in sgops, wrk: audit duration − moto's time for the same request"] = ss["wrk sgops"]["own_ms"]
        if seq and ss.get("sequential sgops"):
            overhead["in sgops, 1 client: audit duration − moto's time for the same request"] = ss["sequential sgops"]["own_ms"]
        overhead[f"boto3, {conc} clients: client latency − moto's time (for comparison)"] = lat_stats(direct_out)
        sg_cpu = sum(ph["sgops_cpu_seconds"] for ph in sg)
        sg_n = sum(ph["requests"] for ph in sg)
        overhead["sgops CPU time per request (mean, /proc)"] = {"p50": sg_cpu * 1000 / sg_n, "p99": None}

        rss = {
            "after_warmup_mib": round(s_warm["rss_kib"] / 1024, 1), "after_warmup_served": s_warm["served"],
            "middle_mib": round(mid["rss_kib"] / 1024, 1), "middle_served": mid["served"],
            "end_mib": round(s_end["rss_kib"] / 1024, 1), "end_served": s_end["served"],
            "max_mib": round(max(s["rss_kib"] for s in sampler.samples if s["rss_kib"]) / 1024, 1),
            "hwm_mib": round(hwm / 1024, 1) if hwm else None, "samples": len(sampler.samples),
        }
        if s_wrk:
            rss["after_wrk_mib"] = round(s_wrk["rss_kib"] / 1024, 1)
            rss["after_wrk_served"] = s_wrk["served"]
        for ph in phases:
            if ph["measured"] and ph["errors"]:
                problems.append(f"{ph['name']}: {ph['errors']} errors, e.g. {ph['error_samples'][:3]}")
        for w in (w1, w2):
            if w["errors"]:
                problems.append(f"{w['name']}: {w['errors']} errors, e.g. {w['error_samples'][:3]}")
        if s_end["rss_kib"] > s_warm["rss_kib"] * 1.10 + 2048:
            problems.append(f"RSS grew from {rss['after_warmup_mib']} MiB after the warm-up to {rss['end_mib']} MiB")
        unmatched = sum(v["unmatched"] for v in ss.values())
        if unmatched:
            problems.append(f"{unmatched} audit lines had no moto timing with their aws_request_id")

        for ph in phases:
            for k in ("_lat", "_recs", "request_ids", "latencies_by_rid"):
                ph.pop(k, None)
        res = {
            "version": 1,
            "started_utc": started_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "binary": args.bin,
            "binary_profile": "release" if "/release/" in args.bin else ("debug" if "/debug/" in args.bin else "?"),
            "moto_version": __import__("moto").__version__,
            "host": {"cpus": os.cpu_count(), "load_avg_1m_start": load_start,
                     "load_avg_1m_end": round(os.getloadavg()[0], 2)},
            "params": {"concurrency": conc, "requests": args.requests, "rounds": args.rounds,
                       "accounts": args.accounts, "client_procs": len(workers.procs), "warmup": args.warmup,
                       "sequential": args.sequential, "healthz": args.healthz, "wrk": bool(use_wrk),
                       "today": args.today},
            "warmup_requests": w1["requests"],
            "phases": phases, "rows": rows, "by_action": by_action, "server_side": ss,
            "direct_outside_moto": do, "overhead": overhead, "rss": rss,
            "rss_samples": sampler.samples, "problems": problems,
        }
        res["total_seconds"] = round(time.monotonic() - t0, 1)
        md = report(res)
        sys.stdout.write(md)
        os.makedirs(args.results, exist_ok=True)
        stem = f"{started_utc.strftime('%Y%m%dT%H%M%SZ')}-serve-c{conc}-n{args.requests}"
        with open(os.path.join(args.results, stem + ".json"), "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        with open(os.path.join(args.results, stem + ".md"), "w") as f:
            f.write(md)
        log(f"saved {os.path.relpath(os.path.join(args.results, stem), os.getcwd())}.json and .md")
        return 1 if problems else 0
    finally:
        if sampler:
            sampler.stop()
        if sgops and sgops.poll() is None:
            sgops.kill()
        workers.stop()
        services.stop()
        if args.keep:
            log(f"kept {args.work}")
        else:
            shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
