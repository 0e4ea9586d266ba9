#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy between sgops and a local AWS emulator (moto).

Standard library only. Listens on 127.0.0.1 and forwards every request to an upstream on
loopback, failing a seeded fraction of them the ways AWS and networks fail:

  throttle  HTTP 503, EC2 error `RequestLimitExceeded` (STS: 400 `Throttling`,
            JSON services: 400 `ThrottlingException`), nothing forwarded
  500       HTTP 500 `InternalError`, nothing forwarded
  drop      the connection is closed before the request is forwarded
  slow      forwarded; the response is delayed by --slow-ms
  lost      forwarded (the write happens), then the connection is closed without a reply

--deny-assume ACCOUNT answers AssumeRole into that account with AccessDenied, and
--deny-action ACTION answers every call of that action so (an account that may not call it).

With --fault-rate 1.0 and --max-attempt N, every matching call fails exactly N times and then
goes through: deterministic whatever the order of requests.

--deny-assume ACCOUNT_ID and --deny-role NAME answer an AssumeRole into that account, or of a
role of that name in any account, with 403 AccessDenied, as IAM does when the caller may not
assume the role. Every role asked for is counted by ARN (`assumed_roles` in the stats), so a
test sees which role a command asked for.

The action of a request is the form body's `Action=` (EC2, STS) or the `X-Amz-Target`
suffix (JSON protocols such as SSM); the attempt number comes from the SDK's
`amz-sdk-request: attempt=N` header. `GET /__faultproxy/stats` answers counters as JSON.

The proxy exits on SIGTERM or when its parent process is gone.

    faultproxy.py --listen 0 --upstream http://127.0.0.1:5000 --fault-rate 0.3 \
        --faults throttle,500,drop,slow,lost --seed 7
"""

import argparse
import asyncio
import ipaddress
import json
import os
import random
import re
import signal
import sys
import urllib.parse
import uuid

KINDS = ("throttle", "500", "drop", "slow", "lost")
STATS_PATH = "/__faultproxy/stats"
MAX_BODY = 64 * 1024 * 1024
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
}


class Stats:
    def __init__(self):
        self.requests = 0
        self.by_action = {}
        self.forwarded = {}
        self.retries = {}
        self.faults = {k: 0 for k in KINDS}
        self.faults_by_action = {}
        self.denied_assume = {}
        self.denied_action = {}
        self.denied_role = {}
        self.assumed_roles = {}
        self.upstream_errors = 0

    @staticmethod
    def bump(d, key, n=1):
        d[key] = d.get(key, 0) + n

    def to_json(self):
        return {
            "requests": self.requests,
            "by_action": self.by_action,
            "forwarded": self.forwarded,
            "retries": self.retries,
            "faults": self.faults,
            "faults_total": sum(self.faults.values()),
            "faults_by_action": self.faults_by_action,
            "denied_assume": self.denied_assume,
            "denied_action": self.denied_action,
            "denied_role": self.denied_role,
            "assumed_roles": self.assumed_roles,
            "upstream_errors": self.upstream_errors,
        }


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value), order kept
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def form(self):
        ctype = (self.header("content-type") or "").lower()
        if self.body and ("x-www-form-urlencoded" in ctype or not ctype):
            try:
                return urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return {}
        return {}

    def action(self):
        target = self.header("x-amz-target")
        if target:
            return target.rsplit(".", 1)[-1]
        form = self.form()
        if "Action" in form:
            return form["Action"][0]
        query = urllib.parse.urlsplit(self.target).query
        q = urllib.parse.parse_qs(query)
        if "Action" in q:
            return q["Action"][0]
        return "%s %s" % (self.method, urllib.parse.urlsplit(self.target).path)

    def service(self):
        """`ec2`, `sts`, `ssm`… from the SigV4 credential scope, else a guess."""
        auth = self.header("authorization") or ""
        m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
        if m:
            return m.group(1).lower()
        if self.header("x-amz-target"):
            return "json"
        if self.action() in ("AssumeRole", "GetCallerIdentity", "AssumeRoleWithWebIdentity"):
            return "sts"
        return "ec2"

    def attempt(self):
        m = re.search(r"attempt=(\d+)", self.header("amz-sdk-request") or "")
        return int(m.group(1)) if m else 1

    def keep_alive(self):
        conn = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


class ClientGone(Exception):
    pass


async def read_chunked(reader):
    out = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # Trailers until an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)
        if len(out) > MAX_BODY:
            raise ValueError("body too large")


def parse_head(raw):
    lines = raw.decode("iso-8859-1").split("\r\n")
    first = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return first, headers


def header_of(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def read_body(reader, headers, until_eof):
    te = (header_of(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        return await read_chunked(reader)
    length = header_of(headers, "content-length")
    if length is not None:
        n = int(length)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return await reader.readexactly(n)
    if until_eof:
        out = bytearray()
        while len(out) <= MAX_BODY:
            chunk = await reader.read(65536)
            if not chunk:
                return bytes(out)
            out += chunk
        raise ValueError("body too large")
    return b""


async def read_request(reader):
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ClientGone()
    first, headers = parse_head(raw)
    parts = first.split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line: %r" % first)
    method, target, version = parts
    try:
        body = await read_body(reader, headers, until_eof=False)
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ClientGone()
    return Request(method, target, version, headers, body)


def response_bytes(status, reason, headers, body, keep_alive):
    out = ["HTTP/1.1 %d %s" % (status, reason)]
    for k, v in headers:
        if k.lower() not in HOP_BY_HOP:
            out.append("%s: %s" % (k, v))
    out.append("Content-Length: %d" % len(body))
    out.append("Connection: %s" % ("keep-alive" if keep_alive else "close"))
    return ("\r\n".join(out) + "\r\n\r\n").encode("iso-8859-1") + body


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(service, code, message, status):
    """(status, reason, headers, body) of an AWS error in the shape `service` speaks."""
    rid = str(uuid.uuid4())
    reasons = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
               503: "Service Unavailable"}
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>"
            "<RequestID>%s</RequestID></Response>" % (code, xml_escape(message), rid)
        )
        ctype = "text/xml;charset=UTF-8"
    elif service == "sts" or service == "iam":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>%s</RequestId></ErrorResponse>" % (kind, code, xml_escape(message), rid)
        )
        ctype = "text/xml"
    else:
        body = json.dumps({"__type": code, "message": message})
        ctype = "application/x-amz-json-1.1"
    headers = [("Content-Type", ctype), ("x-amzn-RequestId", rid)]
    return status, reasons.get(status, "Error"), headers, body.encode("utf-8")


def fault_error(kind, service):
    if kind == "throttle":
        if service == "ec2":
            return error_response(service, "RequestLimitExceeded", "Request limit exceeded.", 503)
        if service == "sts":
            return error_response(service, "Throttling", "Rate exceeded", 400)
        return error_response(service, "ThrottlingException", "Rate exceeded", 400)
    if service == "ec2":
        code = "InternalError"
    elif service == "sts":
        code = "InternalFailure"
    else:
        code = "InternalServerError"
    return error_response(service, code, "An internal error has occurred", 500)


def assumed_arn(req):
    return (req.form().get("RoleArn") or [""])[0]


def assumed_account(req):
    m = re.match(r"arn:[^:]*:iam::(\d+):", assumed_arn(req))
    return m.group(1) if m else None


def assumed_role_name(req):
    """The role's name: the last part of `arn:aws:iam::ID:role/[path/]NAME`."""
    m = re.match(r"arn:[^:]*:iam::\d*:role/(?:.*/)?([^/]+)$", assumed_arn(req))
    return m.group(1) if m else None


class Proxy:
    def __init__(self, args):
        self.args = args
        up = urllib.parse.urlsplit(args.upstream)
        if up.scheme != "http" or not up.hostname:
            sys.exit("faultproxy: --upstream must be an http:// URL")
        if up.hostname != "localhost" and not ipaddress.ip_address(up.hostname).is_loopback:
            sys.exit("faultproxy: --upstream must be on loopback, not %s" % up.hostname)
        self.up_host = up.hostname
        self.up_port = up.port or 80
        self.kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
        for k in self.kinds:
            if k not in KINDS:
                sys.exit("faultproxy: unknown fault kind %r (known: %s)" % (k, ",".join(KINDS)))
        self.only = {a.strip() for a in args.only_actions.split(",") if a.strip()}
        self.deny = set(args.deny_assume or [])
        self.deny_actions = set(args.deny_action or [])
        self.deny_roles = set(args.deny_role or [])
        self.rng = random.Random(args.seed)
        self.stats = Stats()
        self.conns = set()

    def draw(self, req, action):
        """The fault for this request, or None."""
        if not self.kinds or self.args.fault_rate <= 0:
            return None
        if self.only and action not in self.only:
            return None
        if req.attempt() > self.args.max_attempt:
            return None
        if self.rng.random() >= self.args.fault_rate:
            return None
        return self.rng.choice(self.kinds)

    async def forward(self, req):
        """Sends `req` upstream on a fresh connection; (status, reason, headers, body)."""
        r, w = await asyncio.open_connection(self.up_host, self.up_port)
        try:
            head = ["%s %s HTTP/1.1" % (req.method, req.target)]
            for k, v in req.headers:
                if k.lower() not in HOP_BY_HOP:
                    head.append("%s: %s" % (k, v))
            head.append("Content-Length: %d" % len(req.body))
            head.append("Connection: close")
            w.write(("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + req.body)
            await w.drain()
            raw = await r.readuntil(b"\r\n\r\n")
            first, headers = parse_head(raw)
            parts = first.split(" ", 2)
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            body = b"" if req.method == "HEAD" or status in (204, 304) else await read_body(
                r, headers, until_eof=True)
            return status, reason, headers, body
        finally:
            w.close()
            try:
                await w.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def handle(self, reader, writer):
        self.conns.add(writer)
        try:
            while True:
                try:
                    req = await read_request(reader)
                except ClientGone:
                    return
                except (ValueError, asyncio.LimitOverrunError) as e:
                    writer.write(response_bytes(400, "Bad Request", [], str(e).encode(), False))
                    await writer.drain()
                    return
                if not await self.serve(req, writer):
                    return
                await writer.drain()
                if not req.keep_alive():
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self.conns.discard(writer)
            writer.close()

    async def serve(self, req, writer):
        """Answers one request; False when the connection must be closed now."""
        if req.method == "GET" and urllib.parse.urlsplit(req.target).path == STATS_PATH:
            body = json.dumps(self.stats.to_json(), indent=1, sort_keys=True).encode()
            writer.write(response_bytes(200, "OK", [("Content-Type", "application/json")],
                                        body, req.keep_alive()))
            return True
        st = self.stats
        action = req.action()
        service = req.service()
        st.requests += 1
        st.bump(st.by_action, action)
        if req.attempt() > 1:
            st.bump(st.retries, action)
        if self.args.latency_ms > 0:
            await asyncio.sleep(self.args.latency_ms / 1000)
        if action == "AssumeRole":
            st.bump(st.assumed_roles, assumed_arn(req))
        denied_account = action == "AssumeRole" and assumed_account(req) in self.deny
        denied_role = action == "AssumeRole" and assumed_role_name(req) in self.deny_roles
        if denied_account or denied_role:
            if denied_account:
                st.bump(st.denied_assume, assumed_account(req))
            if denied_role:
                st.bump(st.denied_role, assumed_role_name(req))
            resp = error_response(
                "sts", "AccessDenied",
                "User: arn:aws:iam::123456789012:user/sgops is not authorized to perform: "
                "sts:AssumeRole on resource: %s" % assumed_arn(req), 403)
            writer.write(response_bytes(*resp, req.keep_alive()))
            return True
        if action in self.deny_actions:
            st.bump(st.denied_action, action)
            code = "AccessDenied" if service in ("ec2", "sts", "iam") else "AccessDeniedException"
            status = 403 if service in ("ec2", "sts", "iam") else 400
            resp = error_response(
                service, code,
                "You don't have permissions to access this resource.", status)
            writer.write(response_bytes(*resp, req.keep_alive()))
            return True
        kind = self.draw(req, action)
        if kind is not None:
            st.faults[kind] += 1
            st.bump(st.faults_by_action.setdefault(action, {}), kind)
            if self.args.verbose:
                print("faultproxy: %s %s attempt %d" % (kind, action, req.attempt()),
                      file=sys.stderr, flush=True)
        if kind in ("throttle", "500"):
            writer.write(response_bytes(*fault_error(kind, service), req.keep_alive()))
            return True
        if kind == "drop":
            return False
        try:
            resp = await self.forward(req)
        except (OSError, ValueError, asyncio.IncompleteReadError) as e:
            st.upstream_errors += 1
            writer.write(response_bytes(502, "Bad Gateway", [("Content-Type", "text/plain")],
                                        ("upstream: %s" % e).encode(), False))
            return False
        st.bump(st.forwarded, action)
        if kind == "lost":
            return False
        if kind == "slow":
            await asyncio.sleep(self.args.slow_ms / 1000)
        writer.write(response_bytes(*resp, req.keep_alive()))
        return True


async def watch_parent(stop):
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.2)


async def main(args):
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen)
    port = server.sockets[0].getsockname()[1]
    print("listening on %d" % port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(watch_parent(stop))
    await stop.wait()
    watcher.cancel()
    server.close()
    for w in list(proxy.conns):
        w.close()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: pick one)")
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the emulator")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests faulted")
    p.add_argument("--faults", default=",".join(KINDS), help="kinds to draw from: " + ",".join(KINDS))
    p.add_argument("--slow-ms", type=int, default=500, help="delay of a `slow` response")
    p.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    p.add_argument("--deny-assume", action="append", metavar="ACCOUNT_ID",
                   help="answer AssumeRole into this account with 403 AccessDenied (repeatable)")
    p.add_argument("--deny-action", action="append", metavar="ACTION",
                   help="answer this action (e.g. ListAccounts) with AccessDenied (repeatable)")
    p.add_argument("--deny-role", action="append", metavar="NAME",
                   help="answer AssumeRole of a role of this name, in any account, with 403 "
                        "AccessDenied (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only-actions", default="", help="fault only these actions (A,B)")
    p.add_argument("--max-attempt", type=int, default=1 << 30, metavar="N",
                   help="fault only attempts 1..N of a call (amz-sdk-request: attempt=K)")
    p.add_argument("--first-attempt-only", dest="max_attempt", action="store_const", const=1,
                   help="same as --max-attempt 1: never fault a retry")
    p.add_argument("-v", "--verbose", action="store_true", help="log each fault on stderr")
    args = p.parse_args(argv)
    if not 0.0 <= args.fault_rate <= 1.0:
        p.error("--fault-rate must be within 0..1")
    return args


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args(sys.argv[1:])))
    except KeyboardInterrupt:
        pass
