#!/usr/bin/env python3
"""Checks the alert rules of deploy/k8s/base/alerts.yaml with promtool: the
PrometheusRule's spec is a Prometheus rules file, so it is written out as
one, `promtool check rules` checks it and `promtool test rules` runs the unit
tests of tests/deploy/alerts_test.yaml against it. Also checks that every
alert rule has a unit test that fires and one that must not. Exits non-zero,
naming each problem. Run by ctest (label deploy)."""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "k8s" / "base" / "alerts.yaml"
TESTS = Path(__file__).resolve().parent / "alerts_test.yaml"


def fail(text):
    print("PROBLEM:", text, file=sys.stderr)
    return 1


def coverage_problems(rules, tests):
    """Alerts without a test case that fires, or without one that must not."""
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    fires, quiet = set(), set()
    for group in tests.get("tests", []):
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    out = []
    for a in alerts:
        if a not in fires:
            out.append(f"{a}: no alert_rule_test case where it fires")
        if a not in quiet:
            out.append(f"{a}: no alert_rule_test case where it must not fire (exp_alerts: [])")
    for a in sorted((fires | quiet) - set(alerts)):
        out.append(f"{a}: tested in {TESTS.name} but not an alert in {ALERTS.name}")
    return out


def run(args):
    """Runs promtool; prints its output and returns its exit code."""
    done = subprocess.run(args, capture_output=True, text=True)
    print(f"$ {' '.join(args)}\n{done.stdout}{done.stderr}", end="")
    return done.returncode


def main():
    # A missing promtool must fail, not skip: a skipped test reads as a pass.
    # scripts/install-deps.sh unpacks it into .cache/tools where the
    # prometheus package is not installed.
    promtool = shutil.which("promtool")
    unpacked = ROOT / ".cache" / "tools" / "usr" / "bin" / "promtool"
    if promtool is None and unpacked.exists():
        promtool = str(unpacked)
    if promtool is None:
        return fail("promtool not found on PATH nor in .cache/tools (run scripts/install-deps.sh)")
    rule = yaml.safe_load(ALERTS.read_text())
    if rule.get("kind") != "PrometheusRule" or "groups" not in rule.get("spec", {}):
        return fail(f"{ALERTS}: not a PrometheusRule with spec.groups")
    tests = yaml.safe_load(TESTS.read_text())
    problems = coverage_problems(rule["spec"], tests)
    with tempfile.TemporaryDirectory(prefix="webhooks-alerts-") as tmp:
        rules_file = Path(tmp) / "webhooks.rules.yaml"
        rules_file.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
        # promtool resolves rule_files against the test file's folder: the
        # copy names the extracted rules by their absolute path instead.
        tests["rule_files"] = [str(rules_file)]
        test_file = Path(tmp) / "alerts_test.yaml"
        test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
        if run([promtool, "check", "rules", str(rules_file)]) != 0:
            problems.append("promtool check rules failed (output above)")
        elif run([promtool, "test", "rules", str(test_file)]) != 0:
            problems.append(f"promtool test rules {TESTS.name} failed (output above)")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
