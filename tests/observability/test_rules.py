"""The alert rules: promtool accepts them, promtool's unit tests (each alert fires for what should fire it,
only for that, only after its ``for:``) pass, every metric they read is exported by a program, and every
alert has a unit test and a runbook section."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.observability.conftest import ROOT, RULES
from tests.observability.promql import metric_names

RULE_TESTS = RULES.with_name("guardian.rules.test.yml")
RUNBOOKS = ROOT / "docs" / "runbooks.md"

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool (Debian prometheus) not installed (scripts/setup.sh)")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for rule in rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']}: no case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']}: no case where it does not"


def test_every_metric_a_rule_reads_is_exported(all_exported: set[str]) -> None:
    missing = {rule["alert"]: sorted(metric_names(rule["expr"]) - all_exported) for rule in rules()}
    assert {alert: names for alert, names in missing.items() if names} == {}


def test_every_alert_links_its_runbook_section() -> None:
    # GitHub's anchors: the heading lowercased, spaces to dashes, punctuation dropped.
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
               for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")}
    for rule in rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbooks.md" and anchor in anchors, f"{rule['alert']}: {url}"
