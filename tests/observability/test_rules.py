"""The Prometheus rules, their unit tests, the scrape configuration and the dashboard in
deploy/observability/: valid for promtool, every alert unit-tested and given a runbook, and every
metric they read one that docs/observability.md lists (a renamed metric cannot silently blind an alert).

promtool comes from Debian's `prometheus` package (`apt-get install prometheus`); the promtool tests
skip where it is missing, the others always run.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULE_FILES = sorted((OBSERVABILITY / "rules").glob("*.yml"))
RULE_TESTS = sorted((OBSERVABILITY / "tests").glob("*.test.yml"))
DASHBOARD = OBSERVABILITY / "grafana" / "shop-dashboard.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
METRICS_DOC = ROOT / "docs" / "observability.md"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)


def load_yaml(path: Path) -> Any:
    """PyYAML (installed with the development tools, for yamllint), untyped as it comes."""
    return importlib.import_module("yaml").safe_load(path.read_text())


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=OBSERVABILITY, capture_output=True, text=True, timeout=120)


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", *(str(path) for path in RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    tested = promtool("test", "rules", *(str(path) for path in RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_configuration() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_in_a_unit_test_and_is_quiet_in_another() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for expectation in case.get("alert_rule_test", []):
                (fired if expectation.get("exp_alerts") else quiet).add(expectation["alertname"])
    assert set(alerts()) <= fired, f"never seen firing: {set(alerts()) - fired}"
    assert set(alerts()) <= quiet, f"never seen quiet: {set(alerts()) - quiet}"


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^#{2,4} (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    }
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"page", "ticket", "warning"}, name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/runbooks.md has no section {name}"


# Words of PromQL that look like metric names.
_PROMQL_WORDS = {
    "by",
    "on",
    "and",
    "or",
    "unless",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
}


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names an expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)  # label matchers, ranges
    text = re.sub(r"\b(?:by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)) - _PROMQL_WORDS
    return {
        re.sub(r"_(bucket|count|sum)$", "", name) for name in names if not re.fullmatch(r"e\d*|inf|nan", name)
    }


def documented_metrics() -> set[str]:
    return set(re.findall(r"^\| `([a-z_:]+)` \|", METRICS_DOC.read_text(), re.MULTILINE)) | {"up"}


def test_rules_and_dashboard_read_only_documented_metrics() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = documented_metrics() | recorded
    expressions = [rule["expr"] for rule in rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for expr in expressions:
        assert metric_names(expr) <= known, f"undocumented metric in {expr!r}: {metric_names(expr) - known}"


def test_the_metric_name_reader_finds_names_and_skips_the_rest() -> None:
    expr = 'sum by (le, slo) (rate(http_request_duration_seconds_bucket{le="1.0"}[5m])) > on (slo) 2 * x:y:z'
    assert metric_names(expr) == {"http_request_duration_seconds", "x:y:z"}
