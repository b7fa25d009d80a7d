#!/usr/bin/env python3
"""Renders every overlay of deploy/k8s with `kubectl kustomize` and checks
what a cluster would be given: probes, resources, security contexts, labels
that selectors actually match, Secrets that are templates only, the worker's
egress fence, alert rules that each name a runbook that exists, and the
Grafana dashboard ConfigMap. Exits non-zero, naming each problem, when any
check fails. Run by ctest (label deploy).

--runbooks FILE reads the runbook headings from FILE instead of
deploy/README.md (to try runbooks written elsewhere before they are merged);
the alerts' runbook annotations must still name deploy/README.md."""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# What every alert's `runbook` annotation names, "deploy/README.md#anchor".
RUNBOOK_DOC = "deploy/README.md"
SEVERITIES = ("critical", "warning", "info")
DASHBOARD_CONFIGMAP = "webhooks-grafana-dashboard"
problems = []


def problem(overlay, obj, text):
    problems.append(f"{overlay}: {obj.get('kind')}/{obj['metadata']['name']}: {text}")


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def pod_spec(obj):
    kind = obj["kind"]
    if kind in ("Deployment", "Job"):
        return obj["spec"]["template"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def heading_anchors(markdown):
    """The anchors GitHub gives the Markdown headings of `markdown`: the text
    lower-cased, punctuation other than '-' and '_' dropped, spaces as '-'."""
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not in_code:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def check_alerts(overlay, rules, anchors):
    for r in rules:
        labels = r["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/name") != "webhooks" or \
                labels.get("app.kubernetes.io/part-of") != "webhooks":
            problem(overlay, r, "lacks the app.kubernetes.io/name and part-of labels")
        groups = r.get("spec", {}).get("groups", [])
        alerts = [a for g in groups for a in g.get("rules", []) if "alert" in a]
        if not alerts:
            problem(overlay, r, "has no alerts")
        for a in alerts:
            name = a["alert"]
            severity = a.get("labels", {}).get("severity")
            if severity not in SEVERITIES:
                problem(overlay, r, f"{name}: severity {severity!r} is not one of {SEVERITIES}")
            notes = a.get("annotations", {})
            for need in ("summary", "description", "runbook"):
                if not str(notes.get(need, "")).strip():
                    problem(overlay, r, f"{name}: no {need} annotation")
            runbook = str(notes.get("runbook", ""))
            doc, _, anchor = runbook.partition("#")
            if runbook and (doc != RUNBOOK_DOC or not anchor):
                problem(overlay, r, f"{name}: runbook {runbook!r} is not {RUNBOOK_DOC}#<anchor>")
            elif anchor and anchor not in anchors:
                problem(overlay, r, f"{name}: runbook anchor #{anchor} is no heading "
                                    f"of the runbooks (a heading '### {name}' makes it)")


def check_dashboard(overlay, config_maps):
    found = [c for c in config_maps if c["metadata"]["name"] == DASHBOARD_CONFIGMAP]
    if not found:
        problems.append(f"{overlay}: no ConfigMap {DASHBOARD_CONFIGMAP} (the Grafana dashboard; "
                        "a hash suffix on its name would hide it too)")
        return
    c = found[0]
    if c["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
        problem(overlay, c, 'lacks the label grafana_dashboard: "1" the Grafana sidecar looks for')
    files = c.get("data", {})
    if not files:
        problem(overlay, c, "holds no dashboard")
    for key, text in files.items():
        try:
            dash = json.loads(text)
        except ValueError as e:
            problem(overlay, c, f"{key} is not JSON: {e}")
            continue
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        ds = variables.get("datasource", {})
        if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problem(overlay, c, f"{key}: no template variable datasource of type prometheus")
        panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
        if not panels:
            problem(overlay, c, f"{key}: no panels")
        for p in panels:
            for where in [p] + p.get("targets", []):
                if where.get("datasource", {}).get("uid") != "${datasource}":
                    problem(overlay, c, f"{key}: panel {p.get('title')!r} does not query "
                                        "${datasource}")
                    break
            if not any(t.get("expr") for t in p.get("targets", [])):
                problem(overlay, c, f"{key}: panel {p.get('title')!r} has no query")


def image_user():
    """The uid the Dockerfile's runtime stage runs as (its last USER)."""
    users = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return int(users[-1]) if users else None


IMAGE_USER = image_user()

# Flags both binaries have, with different defaults or meanings.
PER_BINARY_VARIABLES = {
    "WEBHOOKS_DB_POOL_SIZE", "WEBHOOKS_SHUTDOWN_GRACE", "WEBHOOKS_SHUTDOWN_DELAY",
    "WEBHOOKS_SOURCE_ADDRESS", "WEBHOOKS_METRICS_ADDR", "WEBHOOKS_CONNECT_TIMEOUT",
    "WEBHOOKS_REQUEST_TIMEOUT", "WEBHOOKS_NAME",
}


def duration_seconds(text):
    """Seconds in a Go/Abseil duration such as 5s, 1m30s or 250ms."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def check(overlay, objects, anchors):
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    templates = []  # (workload, pod template labels)
    for o in objects:
        template = pod_spec(o)
        if template is None:
            continue
        labels = template["metadata"].get("labels", {})
        templates.append((o, labels))
        spec = template["spec"]
        sc = spec.get("securityContext", {})
        if not sc.get("runAsNonRoot"):
            problem(overlay, o, "pod securityContext.runAsNonRoot is not true")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problem(overlay, o, "pod seccompProfile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problem(overlay, o, "the service account token is mounted")
        if spec.get("enableServiceLinks") is not False:
            problem(overlay, o, "service links on: they add WEBHOOKS_* variables, read as flags")
        for c in spec["containers"]:
            csc = c.get("securityContext", {})
            if csc.get("readOnlyRootFilesystem") is not True:
                problem(overlay, o, f"{c['name']}: root filesystem is writable")
            if csc.get("allowPrivilegeEscalation") is not False:
                problem(overlay, o, f"{c['name']}: privilege escalation allowed")
            if csc.get("capabilities", {}).get("drop") != ["ALL"]:
                problem(overlay, o, f"{c['name']}: capabilities not all dropped")
            res = c.get("resources", {})
            for need in ("cpu", "memory"):
                if need not in res.get("requests", {}):
                    problem(overlay, o, f"{c['name']}: no {need} request")
            if "memory" not in res.get("limits", {}):
                problem(overlay, o, f"{c['name']}: no memory limit")
            if not c.get("image", "").startswith("webhooks:"):
                problem(overlay, o, f"{c['name']}: image {c.get('image')} has no tag")
            # Configuration only from the environment and mounted files: a
            # flag in the command would differ from what the ConfigMap says.
            if c.get("args") or any(str(a).startswith("-") for a in c.get("command", [])):
                problem(overlay, o, f"{c['name']}: flags in command/args; use WEBHOOKS_ variables")
            if sc.get("runAsUser") != IMAGE_USER:
                problem(overlay, o, f"runAsUser {sc.get('runAsUser')} is not the image's user "
                                    f"{IMAGE_USER} (Dockerfile USER)")
            for e in c.get("env", []):
                if "value" in e and "WEBHOOKS_" in e["name"] and any(
                        s in e["name"] for s in ("KEY", "TOKEN", "DATABASE_URL")) and \
                        not e["name"].endswith("_FILE"):
                    problem(overlay, o, f"{c['name']}: secret {e['name']} given as a value")
        if o["kind"] == "Deployment":
            if not matches(o["spec"]["selector"]["matchLabels"], labels):
                problem(overlay, o, "selector does not match the pod template")
    deployments = {o["metadata"]["name"]: o for o in by_kind.get("Deployment", [])}
    api = deployments.get("webhooks-api")
    worker = deployments.get("webhooks-worker")
    if api is None or worker is None:
        problems.append(f"{overlay}: the API and worker Deployments must both exist")
        return
    c = api["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        if c.get(probe, {}).get("grpc", {}).get("port") != 50051:
            problem(overlay, api, f"{probe} is not gRPC health on 50051")
    # Readiness asks the overall status, which turns NOT_SERVING on SIGTERM;
    # liveness the "liveness" service, which stays SERVING while draining
    # (a restart then would cut the calls in flight).
    if c.get("readinessProbe", {}).get("grpc", {}).get("service", "") != "":
        problem(overlay, api, "readinessProbe does not ask the overall health status")
    if c.get("livenessProbe", {}).get("grpc", {}).get("service") != "liveness":
        problem(overlay, api, "livenessProbe does not ask the health service 'liveness'")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    delay = duration_seconds(env.get("WEBHOOKS_SHUTDOWN_DELAY", "0s"))
    grace = duration_seconds(env.get("WEBHOOKS_SHUTDOWN_GRACE", "10s"))
    if delay <= 0:
        problem(overlay, api, "no WEBHOOKS_SHUTDOWN_DELAY: calls are refused before the pod "
                              "leaves its Service")
    if api["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30) <= delay + grace:
        problem(overlay, api, f"terminationGracePeriodSeconds not above the shutdown delay "
                              f"and grace ({delay + grace:g} s)")
    if api["spec"].get("replicas", 1) < 2 and overlay == "prod":
        problem(overlay, api, "fewer than 2 replicas")
    w = worker["spec"]["template"]["spec"]
    wc = w["containers"][0]
    if wc.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problem(overlay, worker, "readiness is not GET /readyz")
    if wc.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problem(overlay, worker, "liveness is not GET /healthz")
    # The worker drains within --shutdown_grace (25 s by default).
    if w.get("terminationGracePeriodSeconds", 30) <= 25:
        problem(overlay, worker, "terminationGracePeriodSeconds not above the 25 s drain")
    for s in by_kind.get("Service", []):
        if not any(matches(s["spec"]["selector"], labels) for _, labels in templates):
            problem(overlay, s, "selects no pod template")
    for p in by_kind.get("PodDisruptionBudget", []):
        if not any(matches(p["spec"]["selector"]["matchLabels"], labels)
                   for _, labels in templates):
            problem(overlay, p, "selects no pod template")
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        if h["spec"]["scaleTargetRef"]["name"] not in deployments:
            problem(overlay, h, "scales no Deployment")
    services = by_kind.get("Service", [])
    for m in by_kind.get("ServiceMonitor", []):
        sel = m["spec"]["selector"]["matchLabels"]
        ports = [e["port"] for e in m["spec"]["endpoints"]]
        hit = [s for s in services if matches(sel, s["metadata"].get("labels", {}))]
        if not hit:
            problem(overlay, m, "selects no Service")
        for s in hit:
            names = [p["name"] for p in s["spec"]["ports"]]
            for port in ports:
                if port not in names:
                    problem(overlay, m, f"port {port} not on Service {s['metadata']['name']}")
    for n in by_kind.get("NetworkPolicy", []):
        if not any(matches(n["spec"]["podSelector"]["matchLabels"], labels)
                   for _, labels in templates):
            problem(overlay, n, "applies to no pod")
    fence = [r for n in by_kind.get("NetworkPolicy", [])
             if matches(n["spec"]["podSelector"]["matchLabels"],
                        worker["spec"]["template"]["metadata"]["labels"])
             for r in n["spec"].get("egress", [])]
    public = [t["ipBlock"] for r in fence for t in r.get("to", []) if "ipBlock" in t]
    if not public:
        problems.append(f"{overlay}: the worker has no egress rule to public addresses")
    for block in public:
        for must in ("169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
            if must not in block.get("except", []):
                problems.append(f"{overlay}: worker egress {block['cidr']} does not except {must}")
    for r in fence:
        if any("ipBlock" in t for t in r.get("to", [])) and \
                [p["port"] for p in r.get("ports", [])] != [443]:
            problems.append(f"{overlay}: worker egress to public addresses is not 443 only")
    for s in by_kind.get("Secret", []):
        if s.get("data"):
            problem(overlay, s, "has data: Secrets here are templates, use stringData placeholders")
        for k, v in s.get("stringData", {}).items():
            if not str(v).startswith("REPLACE"):
                problem(overlay, s, f"{k} holds a value, not a REPLACE placeholder")
    # The shared ConfigMap reaches both binaries (envFrom); a flag the two
    # read differently must be set per container.
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("webhooks-config"):
            for key in cm.get("data", {}):
                if key in PER_BINARY_VARIABLES:
                    problem(overlay, cm, f"{key} means different things to the API and the "
                                         "worker: set it in one container's env")
    check_alerts(overlay, by_kind.get("PrometheusRule", []), anchors)
    check_dashboard(overlay, by_kind.get("ConfigMap", []))
    # Production must not render the template: `kubectl apply` would replace
    # the real Secret's values with placeholders. Other overlays carry it.
    if overlay == "prod":
        for s in by_kind.get("Secret", []):
            problem(overlay, s, "rendered in prod: applying it would overwrite the real Secret")
    elif "Secret" not in by_kind:
        problems.append(f"{overlay}: no Secret template")
    for kind in ("Job", "CronJob", "ConfigMap", "Service", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"):
        if kind not in by_kind:
            problems.append(f"{overlay}: no {kind}")
    commands = [c.get("command") for o, _ in templates for c in pod_spec(o)["spec"]["containers"]]
    for needed in (["webhooks-api", "migrate"], ["webhooks-api", "cleanup"]):
        if needed not in commands:
            problems.append(f"{overlay}: nothing runs {' '.join(needed)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runbooks", type=Path, default=ROOT / RUNBOOK_DOC,
                        help="Markdown file whose headings the runbook anchors must match "
                             f"(default {RUNBOOK_DOC})")
    args = parser.parse_args()
    anchors = heading_anchors(args.runbooks.read_text())
    overlays = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
    if not overlays:
        print("no overlays under deploy/k8s/overlays", file=sys.stderr)
        return 1
    for overlay in overlays:
        objects = render(overlay)
        check(overlay, objects, anchors)
        print(f"{overlay}: {len(objects)} objects rendered")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
