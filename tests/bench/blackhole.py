#!/usr/bin/env python3
"""A "black hole" webhook endpoint: accepts TCP connections on loopback and
never answers (not even the TLS handshake), keeping every accepted socket
open, like a receiver that hangs. Senders see it only through their timeouts.

    blackhole.py --port-file F --status-file S --lifetime SECONDS

Listens on 127.0.0.1 on a free port and writes the port to F. Reads and
drops whatever arrives. Writes "accepted=N open=M peak=P" to S whenever that
changes. Exits after --lifetime seconds or on SIGTERM, and never holds more
than --max-conns sockets (later ones are closed at once), so it cannot run
away even if the benchmark that started it dies.
"""
import argparse
import os
import selectors
import signal
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--status-file", required=True)
    p.add_argument("--lifetime", type=float, default=900.0)
    p.add_argument("--max-conns", type=int, default=4096)
    args = p.parse_args()

    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.replace(tmp, args.port_file)  # run.sh polls for the file: write it whole

    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    conns = set()
    accepted = peak = 0
    last_status = None
    deadline = time.monotonic() + args.lifetime

    def write_status():
        nonlocal last_status
        status = "accepted=%d open=%d peak=%d\n" % (accepted, len(conns), peak)
        if status != last_status:
            with open(args.status_file + ".tmp", "w") as f:
                f.write(status)
            os.replace(args.status_file + ".tmp", args.status_file)
            last_status = status

    write_status()
    while not stop and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj is listener:
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                accepted += 1
                if len(conns) >= args.max_conns:
                    conn.close()
                    continue
                conn.setblocking(False)
                conns.add(conn)
                sel.register(conn, selectors.EVENT_READ)
                peak = max(peak, len(conns))
            else:
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the sender gave up (timeout) and closed
                    sel.unregister(conn)
                    conn.close()
                    conns.discard(conn)
        write_status()
    for conn in conns:
        conn.close()
    listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
