#!/usr/bin/env python3
"""Small helpers of tests/bench/run.sh that are clearer in Python than in bash.

    bench.py freeport                  a free TCP port on 127.0.0.1
    bench.py cpu SPEC...               CPU clock ticks, one number per SPEC:
                                         self:PID  the process (all threads)
                                         tree:PID  the process, the children it
                                                   reaped, and its live children
    bench.py hwm PID                   peak RSS (VmHWM) in KiB
    bench.py log FILE PREFIX           requests in an nginx access log (run.sh's
                                       format) whose URI starts with PREFIX:
                                       "count first_start last_end max_overlap
                                        mean_request_ms mean_content_length"
    bench.py latency EVENTS FILE       publish -> received: joins the loadgen's
                                       "event_id due_us" lines with the access
                                       log's webhook-id column (first arrival):
                                       "received missing p50_ms p95_ms p99_ms max_ms"
                                       (nginx logs whole milliseconds)
    bench.py table TSV                 the result rows as an aligned table
    bench.py wait TARGET SECS PID:PORT...
                                       polls each worker's /metrics (in this
                                       one process, every 20 ms) until their
                                       delivered counters sum to TARGET, SECS
                                       pass, or a PID exits: "sum end_us why"
                                       (why: done, timeout, exited)
"""
import os
import re
import socket
import sys
import time
import urllib.request

_DELIVERED = re.compile(
    rb'^webhooks_deliveries_total\{[^}]*outcome="delivered"[^}]*\} (\S+)$', re.M)


def freeport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces: split after the last ')'.
    return data[data.rindex(")") + 2:].split()


def _ticks(fields, children):
    # Fields (1-based after the name): 12 utime, 13 stime, 14 cutime, 15 cstime.
    # cutime/cstime hold the CPU of children that exited and were reaped, so a
    # PostgreSQL backend that ends during a measurement is still counted.
    n = int(fields[11]) + int(fields[12])
    if children:
        n += int(fields[13]) + int(fields[14])
    return n


def cpu(specs):
    # One pass over /proc for the parent links that tree: needs.
    by_parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                by_parent.setdefault(int(fields[1]), []).append(fields)
    out = []
    for spec in specs:
        kind, _, pid = spec.partition(":")
        fields = _stat(int(pid))
        if fields is None:
            out.append("0")
            continue
        if kind == "self":
            out.append(str(_ticks(fields, children=False)))
        elif kind == "tree":
            total = _ticks(fields, children=True)
            for child in by_parent.get(int(pid), []):
                total += _ticks(child, children=True)
            out.append(str(total))
        else:
            sys.exit("unknown cpu spec: " + spec)
    print(" ".join(out))


def hwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    print(line.split()[1])
                    return
    except OSError:
        pass
    print(0)


def log(path, prefix):
    events = []
    count = 0
    total_time = 0.0
    total_length = 0
    first_start = last_end = 0.0
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[2].startswith(prefix):
                continue
            end = float(parts[0])
            took = float(parts[1])
            start = end - took
            count += 1
            total_time += took
            total_length += int(parts[4]) if parts[4].isdigit() else 0
            first_start = start if count == 1 else min(first_start, start)
            last_end = max(last_end, end)
            # Times are in whole milliseconds: round so that equal times
            # compare equal, and let an end at the same millisecond as a start
            # come first (touching requests do not overlap).
            events.append((round(start, 3), 1))
            events.append((round(end, 3), -1))
    events.sort()
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    mean_ms = 1000.0 * total_time / count if count else 0.0
    mean_len = total_length / count if count else 0.0
    print("%d %.3f %.3f %d %.3f %.1f" % (count, first_start, last_end, peak,
                                        mean_ms, mean_len))


def latency(events_path, log_path):
    due = {}
    with open(events_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                due[parts[0]] = int(parts[1])
    arrived = {}
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6 or parts[5] not in due:
                continue
            end_us = int(round(float(parts[0]) * 1000)) * 1000
            arrived[parts[5]] = min(end_us, arrived.get(parts[5], end_us))
    ms = sorted((arrived[i] - due[i]) / 1000.0 for i in arrived)

    def q(f):
        return ms[min(len(ms) - 1, int(f * len(ms)))] if ms else 0.0
    print("%d %d %.1f %.1f %.1f %.1f" % (len(ms), len(due) - len(ms), q(0.5),
                                        q(0.95), q(0.99), ms[-1] if ms else 0.0))


def table(tsv):
    header = ["scenario", "figure", "value", "baseline", "ratio", "note"]
    rows = [header]
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                cells = line.split("\t")
                rows.append((cells + [""] * len(header))[:len(header)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {2, 3, 4}  # numbers
    lines = []
    for n, r in enumerate(rows):
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i])
                 for i in range(len(header))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    sys.stdout.write("\n".join(lines) + "\n")


def _delivered(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port,
                                    timeout=1) as r:
            page = r.read()
    except OSError:
        return 0  # counts 0 this time; a dead worker ends the wait anyway
    return int(sum(float(v) for v in _DELIVERED.findall(page)))


def _alive(pid):
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"  # a zombie has exited


def wait(target, secs, workers):
    """A forked curl and awk per worker every 50 ms cost the machine about a
    tenth of its CPU during a run (perf, all processes): one process polling
    every 20 ms costs next to nothing."""
    end = time.monotonic() + secs
    pairs = [w.split(":") for w in workers]
    while True:
        total = sum(_delivered(port) for _, port in pairs)
        why = ""
        if total >= target:
            why = "done"
        elif any(not _alive(int(pid)) for pid, _ in pairs):
            why = "exited"
        elif time.monotonic() >= end:
            why = "timeout"
        if why:
            print(total, time.time_ns() // 1000, why)
            return
        time.sleep(0.02)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "freeport":
        freeport()
    elif cmd == "cpu":
        cpu(args)
    elif cmd == "hwm":
        hwm(int(args[0]))
    elif cmd == "log":
        log(args[0], args[1])
    elif cmd == "wait":
        wait(int(argv[2]), float(argv[3]), argv[4:])
    elif cmd == "latency":
        latency(args[0], args[1])
    elif cmd == "table":
        table(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
