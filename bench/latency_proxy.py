"""A minimal TCP proxy that adds latency, for benchmarks against a local AWS emulator.

    latency_proxy.py --listen 0 --upstream http://127.0.0.1:PORT --latency-ms 50

Listens on 127.0.0.1 only (port 0: any free port) and prints `listening on PORT` once ready.
Every byte from a client reaches the upstream `--latency-ms` after it arrived, in order (a
fixed one-way delay, like `tc netem delay`), so each HTTP request/response round trip, on a
kept-alive connection or a new one, takes that much longer; replies pass straight through.
No HTTP parsing: it works for any client and keeps connections as the client keeps them.

Standard library only. Exits when its parent process exits (PR_SET_PDEATHSIG on Linux, and a
check of the parent every half second), on SIGTERM/SIGINT, or after --max-seconds."""
import argparse
import asyncio
import ctypes
import os
import signal
import sys
import time
import urllib.parse

CHUNK = 65536


def die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


async def forward(writer, data):
    """Writes one chunk read from the other side; an empty chunk (EOF) half-closes instead.
    Returns whether there is more to come."""
    if not data:
        if writer.can_write_eof():
            writer.write_eof()
        return False
    writer.write(data)
    await writer.drain()
    return True


async def delayed_pipe(reader, writer, delay):
    """Copies reader to writer, each chunk delivered `delay` seconds after it was read."""
    queue = asyncio.Queue()

    async def pump():
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                return

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not await forward(writer, data):
                return

    await asyncio.gather(pump(), deliver())


async def pipe(reader, writer):
    while await forward(writer, await reader.read(CHUNK)):
        pass


async def handle(client_r, client_w, host, port, delay):
    try:
        up_r, up_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(delayed_pipe(client_r, up_w, delay), pipe(up_r, client_w))
    except (ConnectionError, OSError):
        pass
    finally:
        for w in (up_w, client_w):
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass


async def watch_parent(parent, deadline):
    while os.getppid() == parent and time.monotonic() < deadline:
        await asyncio.sleep(0.5)


async def main_async(args):
    up = urllib.parse.urlsplit(args.upstream if "://" in args.upstream else "http://" + args.upstream)
    host, port = up.hostname, up.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"upstream {host}: only loopback upstreams are allowed")
    delay = args.latency_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, host, port, delay), "127.0.0.1", args.listen)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    watcher = asyncio.ensure_future(watch_parent(os.getppid(), time.monotonic() + args.max_seconds))
    await asyncio.wait([stop, watcher], return_when=asyncio.FIRST_COMPLETED)
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--max-seconds", type=float, default=6 * 3600, help="exit after this long anyway")
    args = p.parse_args()
    die_with_parent()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
