"""Alert rules and the Grafana dashboard: valid, tested with promtool, and in step with the
metrics HelixMetrics exports. Without ``promtool`` the promtool tests are skipped with the
reason, except under CI (``CI`` set), where that is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from maestro_helix.observability import HelixMetrics

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "helix-metrics.json"

# the runbook's section 5 table: metric -> the alert on it
RUNBOOK_ALERTS = {
    "helix_qsr_average": "HelixQsrAverageLow",
    "helix_mri_average": "HelixMriAverageHigh",
    "gil_escalations_total": "GilEscalationRateHigh",
    "reflexive_event_lag_ms": "ReflexiveEventLagHigh",
    "tls_handshake_failures_total": "TlsHandshakeFailures",
}


def exported_metrics() -> dict[str, str]:
    """Every metric HelixMetrics registers, by the name queries use, with its type."""
    out: dict[str, str] = {}
    for family in HelixMetrics(CollectorRegistry()).registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        out[name] = family.type
    return out


def mentions(expr: str, metric: str, kind: str) -> bool:
    suffix = r"(_bucket|_sum|_count)?" if kind == "histogram" else ""
    return re.search(rf"(?<![\w]){re.escape(metric)}{suffix}(?![\w])", expr) is not None


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool not found (Debian/Ubuntu: apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def load_all_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def load_rules() -> list[dict[str, Any]]:
    """The alerting rules (not the recording rules)."""
    return [rule for rule in load_all_rules() if "alert" in rule]


def recorded() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in load_all_rules() if "record" in rule}


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for p in dash["panels"]:
        found.append(p)
        found.extend(p.get("panels", []))  # collapsed rows hold theirs
    return [p for p in found if p["type"] != "row"]


# -- alert rules -------------------------------------------------------------------------------


def test_promtool_accepts_the_alert_rules() -> None:
    r = run("check", "rules", str(ALERTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests_of_the_alert_rules_pass() -> None:
    r = run("test", "rules", str(ALERTS_TEST))
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_in_alerts_yml_is_unit_tested() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())
    tested = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {r["alert"] for r in load_rules()} == tested


@pytest.mark.parametrize(("metric", "alert"), sorted(RUNBOOK_ALERTS.items()))
def test_each_runbook_row_has_its_alert(metric: str, alert: str) -> None:
    rules = {r["alert"]: r for r in load_rules()}
    rule = rules[alert]
    assert mentions(rule["expr"], metric, "gauge")
    assert rule["labels"]["severity"] == "page"
    assert rule["labels"]["team"]
    assert rule["annotations"]["summary"] and rule["annotations"]["runbook_action"]


def test_rules_only_use_metrics_helix_exports() -> None:
    exported = exported_metrics()
    known = set(exported) | {
        f"{name}{suffix}"
        for name, kind in exported.items()
        if kind == "histogram"
        for suffix in ("_bucket", "_sum", "_count")
    }
    ours = re.compile(r"(?<![\w:])(?:helix|gil|maestro|reflexive|tls)_[a-z_]+\b")
    for rule in load_all_rules():
        for name in ours.findall(rule["expr"]):
            assert name in known, f"{rule.get('alert', rule.get('record'))} uses {name}"


def test_every_recorded_series_an_alert_reads_is_recorded() -> None:
    records = recorded()
    for rule in load_rules():
        for name in re.findall(r"\b[a-z_]+:[a-z_]+:[a-z0-9_]+\b", rule["expr"]):
            assert name in records, f"{rule['alert']} reads {name}, which no rule records"


@pytest.mark.parametrize("score", ["qsr", "mri"])
def test_average_alerts_use_a_window_of_the_histograms_not_the_gauge(score: str) -> None:
    """The gauges keep their last value when traffic stops; a windowed mean has none then, so
    the alert resolves when the workflow is paused."""
    rules = {r["alert"]: r for r in load_rules()}
    alert = rules["HelixQsrAverageLow" if score == "qsr" else "HelixMriAverageHigh"]
    assert f"helix_{score}_average{{" not in alert["expr"].replace(" ", "")
    assert re.search(rf"(?<!:)\bhelix_{score}_average\b(?!:)", alert["expr"]) is None
    average = recorded()[f"workflow:helix_{score}_average:rate5m"]
    assert f"rate(helix_{score}_sum[5m])" in average
    assert f"rate(helix_{score}_count[5m])" in average
    assert f"workflow:helix_{score}_average:rate5m" in alert["expr"]
    assert f"workflow:helix_{score}_count:increase5m >= 20" in alert["expr"]  # minimum volume
    assert alert["for"] == "5m"


def test_escalation_rate_alerts_hold_and_need_volume() -> None:
    rules = {r["alert"]: r for r in load_rules()}
    for name in ("GilEscalationRateHigh", "GilEscalationsWithoutFinishedTasks"):
        assert rules[name]["for"] == "5m"
        assert "increase(gil_escalations_total[10m])) >= 5" in rules[name]["expr"]


# -- dashboard ---------------------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard_on_the_datasource_variable() -> None:
    dash = load_dashboard()
    assert dash["schemaVersion"] >= 36 and dash["uid"] and dash["title"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    everything = dash["panels"] + [p for row in dash["panels"] for p in row.get("panels", [])]
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels(dash):
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert t["expr"].strip()


@pytest.mark.parametrize(("metric", "kind"), sorted(exported_metrics().items()))
def test_dashboard_has_a_panel_for_each_metric(metric: str, kind: str) -> None:
    titled = [
        p
        for p in panels(load_dashboard())
        if metric in p["title"] and any(mentions(t["expr"], metric, kind) for t in p["targets"])
    ]
    assert titled, f"no panel titled with and querying {metric}"


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each panel query, with the dashboard's variables filled in, as a recording rule: promtool
    checks the PromQL."""
    exprs = [
        t["expr"].replace("$workflow", ".*") for p in panels(load_dashboard()) for t in p["targets"]
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    r = run("check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
