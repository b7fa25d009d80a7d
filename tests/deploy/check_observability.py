#!/usr/bin/env python3
"""Checks that the alert rules (deploy/k8s/base/alerts.yaml) and the Grafana
dashboard (deploy/k8s/base/dashboards/webhooks.json) query only metrics the
real binaries expose. Starts webhooks-api and webhooks-worker on free
loopback ports against a fresh database, makes every metric family appear
(a subscription and an event through webhooksctl, so that the API counts
calls and the worker makes an attempt, to a closed port), scrapes both
/metrics, and fails listing every metric name, and every label name, that an
expression uses and no scraped sample has. Run by ctest (label deploy,
postgres fixture).

The database server: WEBHOOKS_TEST_DATABASE_URL, or the URL in
$WEBHOOKS_TEST_PG_STATE/url (the ctest fixture; scripts/pg.sh); a database
of its own is created in it and dropped afterwards."""
import argparse
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "k8s" / "base" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "k8s" / "base" / "dashboards" / "webhooks.json"
TENANT = "observability"
# Labels Prometheus (and the Operator) put on every series from the target,
# not the binaries: expressions may use them although no scrape shows them.
TARGET_LABELS = {"namespace", "job", "pod", "instance", "service", "endpoint", "container"}
# Series Prometheus makes itself, and kube-state-metrics' (kube-prometheus-
# stack) that the alerts use: not ours to expose.
PROMETHEUS_METRICS = {"up", "kube_deployment_status_replicas_available"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and",
                   "or", "unless", "bool", "offset", "inf", "nan"}


class Failure(Exception):
    """A check that cannot go on; the message says why."""


# ---- PromQL: which metrics and labels an expression uses ----

def promql_uses(expr):
    """(metric -> label names in its matchers, label names grouped on) of a
    PromQL expression, which may hold Grafana variables ($__rate_interval,
    ${datasource}). Not a parser: enough for the expressions we write."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    metrics = {}
    grouping = set()

    def selector(m):
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", m.group(2)))
        if m.group(1):
            metrics.setdefault(m.group(1), set()).update(labels)
        return (m.group(1) or "") + " "

    text = re.sub(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}", selector, text)

    def group(m):
        grouping.update(re.findall(r"[A-Za-z_]\w*", m.group(2)))
        return " "

    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", group,
                  text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    # An identifier not inside a number (0.95, 1e3) and not a function call.
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?", text):
        if m.group(2) is None and m.group(1).lower() not in PROMQL_KEYWORDS:
            metrics.setdefault(m.group(1), set())
    return metrics, grouping


def dashboard_queries(dashboard):
    """(where, PromQL) for every query of the dashboard: each target's expr,
    and the selector of each label_values() variable with its label."""
    out = []

    def walk(node, where):
        if isinstance(node, dict):
            where = node.get("title", where)
            if isinstance(node.get("expr"), str):
                out.append((f"dashboard panel {where!r}", node["expr"]))
            for v in node.values():
                walk(v, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    walk(dashboard.get("panels", []), "")
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        query = v.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query)
        if m:
            # by (label) stands for "this label must exist on the series".
            out.append((f"dashboard variable {v.get('name')!r}",
                        f"count by ({m.group(2)}) ({m.group(1)})"))
        elif query.strip():
            out.append((f"dashboard variable {v.get('name')!r}", query))
    return out


def alert_queries(rule):
    return [(f"alert {r.get('alert') or r.get('record')}", r["expr"])
            for g in rule["spec"]["groups"] for r in g["rules"]]


# ---- The binaries ----

def server_url():
    url = os.environ.get("WEBHOOKS_TEST_DATABASE_URL", "").strip()
    if url:
        return url
    state = os.environ.get("WEBHOOKS_TEST_PG_STATE", "").strip()
    if not state:
        raise Failure("no test database: run through ctest (the postgres fixture), or set "
                      "WEBHOOKS_TEST_DATABASE_URL (scripts/pg.sh start DIR; scripts/pg.sh url DIR)")
    try:
        return Path(state, "url").read_text().strip()
    except OSError:
        raise Failure(f"no PostgreSQL running for {state} (scripts/pg.sh start {state})")


def psql(url, sql):
    done = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"psql {sql!r}: {done.stderr.strip()}")


def clean_env(extra):
    """This process's environment without WEBHOOKS_* (the binaries read
    their flags from such variables: the caller's must not leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOKS_")}
    env.update(extra)
    return env


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name, argv, env, logs):
        self.name = name
        self.log = logs / f"{name}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)

    def tail(self, lines=30):
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(f"  {self.name}| {line}" for line in text[-lines:])

    def wait_for_line(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if marker in line:
                    return line
            if self.popen.poll() is not None:
                raise Failure(f"{self.name} exited ({self.popen.returncode}) before logging "
                              f"{marker!r}:\n{self.tail()}")
            time.sleep(0.1)
        raise Failure(f"{self.name} did not log {marker!r} within {timeout} s:\n{self.tail()}")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def port_after(line, key):
    m = re.search(re.escape(key) + r"(\d+)", line)
    if not m:
        raise Failure(f"no port after {key!r} in: {line}")
    return int(m.group(1))


def run(argv, env, what):
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what} did not finish within 60 s")
    if done.returncode != 0:
        raise Failure(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


# Loopback scrapes must not go through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(port):
    """{sample name: {label name: set of values}} of GET /metrics on port."""
    with OPENER.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        m = re.match(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s", line)
        if not m or line.startswith("#"):
            continue
        labels = samples.setdefault(m.group(1), {})
        for name, value in re.findall(r'([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""):
            labels.setdefault(name, set()).add(value)
    return samples


def scrape_until(port, name, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if name in samples or time.monotonic() > deadline:
            if name not in samples:
                raise Failure(f"{what}: no {name} sample within {timeout} s")
            return samples
        time.sleep(0.25)


def exposed_metrics(args, logs):
    """Starts the API and a worker, causes the activity that makes every
    family appear, and returns the union of their scrapes."""
    server = server_url()
    database = f"observability_{secrets.token_hex(8)}"
    # The database part of the URL is the path after the last '/'.
    url = server[:server.rfind("/") + 1] + database
    psql(server, f"CREATE DATABASE {database}")
    processes = []
    # Bound but not listening: connecting is refused at once, an attempt of
    # class connect_error, and nobody else can take the port meanwhile.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        token = secrets.token_hex(20)
        tokens = logs / "api-tokens"
        tokens.write_text(f"observability {token} *\n")
        env = clean_env({
            "WEBHOOKS_DATABASE_URL": url,
            "WEBHOOKS_SEALING_KEY": base64.b64encode(os.urandom(32)).decode(),
            "WEBHOOKS_API_TOKENS_FILE": str(tokens),
        })
        run([args.api, "migrate"], env, "webhooks-api migrate")
        # One warm connection, not 8: a few calls are all this needs.
        api = Process("api", [args.api, "serve", "--grpc_addr=127.0.0.1:0",
                              "--metrics_addr=127.0.0.1:0", "--db_pool_min_idle=1"], env, logs)
        processes.append(api)
        # "serving gRPC on 127.0.0.1:0 (port N), metrics on 127.0.0.1:0 (port M), ..."
        line = api.wait_for_line("serving gRPC", 30)
        grpc_port = port_after(line, "(port ")
        api_metrics_port = port_after(line[line.find("metrics on"):], "(port ")
        worker = Process("worker", [args.worker, "--metrics_addr=127.0.0.1:0",
                                    "--allow_cidrs=127.0.0.0/8", "--poll_interval=250ms",
                                    "--stats_interval=1s", "--connect_timeout=2s",
                                    "--request_timeout=5s", "--shutdown_grace=2s"],
                         env, logs)
        processes.append(worker)
        worker_metrics_port = port_after(worker.wait_for_line("delivering", 30), "(port ")

        ctl_env = clean_env({"WEBHOOKS_API_ADDR": f"127.0.0.1:{grpc_port}",
                             "WEBHOOKS_API_TOKEN": token})
        target = f"https://127.0.0.1:{closed.getsockname()[1]}/hook"
        run([args.ctl, "CreateSubscription", json.dumps({
            "tenant_id": TENANT,
            "subscription": {"name": "observability", "target_url": target,
                             "event_types": ["engagement_dispatched"]}})], ctl_env,
            "webhooksctl CreateSubscription")
        published = json.loads(run([args.ctl, "PublishEvent", json.dumps({
            "tenant_id": TENANT,
            "event": {"type": "engagement_dispatched",
                      "occurred_at": "2026-11-26T14:03:11.512Z",
                      "engagement": {"yess_id": "eng_1", "channel": "email",
                                     "action": "new_thread_email"}}})], ctl_env,
            "webhooksctl PublishEvent"))
        if str(published.get("deliveriesCreated", published.get("deliveries_created"))) != "1":
            raise Failure(f"PublishEvent created no delivery: {published}")

        # prometheus-cpp shows a family only once it has a series: the API's
        # after its first call, webhooks_attempts_total after an attempt
        # (every other family has its series from the start).
        samples = {}
        for port, name, what in (
                (api_metrics_port, "webhooks_grpc_requests_total", "webhooks-api /metrics"),
                (worker_metrics_port, "webhooks_attempts_total", "webhooks-worker /metrics")):
            for sample, labels in scrape_until(port, name, 60, what).items():
                merged = samples.setdefault(sample, {})
                for label, values in labels.items():
                    merged.setdefault(label, set()).update(values)
        return samples
    except Failure as e:
        raise Failure(f"{e}\n" + "\n".join(p.tail() for p in processes))
    finally:
        for p in processes:
            p.stop()
        closed.close()
        try:
            psql(server, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        except Failure as e:
            print(f"warning: {e}", file=sys.stderr)


def check(queries, samples):
    problems = []
    for where, expr in queries:
        metrics, grouping = promql_uses(expr)
        for name, labels in sorted(metrics.items()):
            if name in PROMETHEUS_METRICS:
                continue
            if name not in samples:
                families = sorted(s for s in samples if s.startswith(name + "_"))
                hint = f" (exposed: {', '.join(families)})" if families else ""
                problems.append(f"{where}: metric {name} is not exposed{hint}")
                continue
            for label in sorted(labels - TARGET_LABELS - {"__name__"} - set(samples[name])):
                problems.append(f"{where}: {name} has no label {label!r}")
        known = set(TARGET_LABELS)
        for name in metrics:
            known.update(samples.get(name, {}))
        for label in sorted(grouping - known):
            problems.append(f"{where}: no metric it uses has the label {label!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the webhooks-api binary")
    parser.add_argument("--worker", required=True, help="the webhooks-worker binary")
    parser.add_argument("--ctl", required=True, help="the webhooksctl binary")
    args = parser.parse_args()
    for tool in (args.api, args.worker, args.ctl):
        if not os.access(tool, os.X_OK):
            print(f"PROBLEM: {tool}: not an executable (build it first)", file=sys.stderr)
            return 1
    if shutil.which("psql") is None:
        print("PROBLEM: psql not found (it creates the test database)", file=sys.stderr)
        return 1
    queries = alert_queries(yaml.safe_load(ALERTS.read_text()))
    queries += dashboard_queries(json.loads(DASHBOARD.read_text()))
    logs = Path(tempfile.mkdtemp(prefix="webhooks-observability-"))
    try:
        samples = exposed_metrics(args, logs)
    except Failure as e:
        kept = f"\n(logs in {logs})" if any(logs.iterdir()) else ""
        if not kept:
            logs.rmdir()
        print(f"PROBLEM: {e}{kept}", file=sys.stderr)
        return 1
    problems = check(queries, samples)
    used = {n for _, e in queries for n in promql_uses(e)[0]} - PROMETHEUS_METRICS
    print(f"{len(queries)} expressions use {len(used)} metrics; "
          f"{len(samples)} sample names scraped")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    if problems:
        print(f"(logs in {logs})", file=sys.stderr)
        return 1
    shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
