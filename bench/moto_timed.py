"""moto_server, with each request's time inside moto written down: for bench/serve.py.

    moto_timed.py -p 0 --timings FILE

The same WSGI application, request handler and threaded werkzeug server as `moto_server`
(moto.server.main), wrapped in a middleware that writes one line per request to FILE:
`<x-amzn-requestid> <milliseconds>`, from the moment werkzeug hands the request to moto until
the last byte of moto's answer is produced. The request id is the one moto puts in the
`x-amzn-requestid` header, which boto3 returns as ResponseMetadata.HTTPHeaders and sgops writes
as `aws_request_id` in its audit line: so a request's time in moto can be subtracted from the
time the caller (or sgops) saw. Prints werkzeug's `Running on http://127.0.0.1:PORT` like
moto_server. Exits with its parent (PR_SET_PDEATHSIG) or on SIGTERM."""
import argparse
import ctypes
import os
import signal
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class Timed:
    """WSGI middleware: the time moto spends on each request, by its request id."""

    def __init__(self, app, out):
        self.app, self.out = app, out
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        seen = {}

        def start(status, headers, exc_info=None):
            for k, v in headers:
                if k.lower() == "x-amzn-requestid":
                    seen["id"] = v
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        try:
            for chunk in body:
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            ms = (time.perf_counter() - started) * 1000
            with self.lock:
                self.out.write(f"{seen.get('id', '-')} {ms:.3f}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=0)
    ap.add_argument("--timings", required=True)
    args = ap.parse_args()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does
    out = open(args.timings, "w", buffering=1)
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(args.host, args.port, Timed(app, out), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
