"""The maestro command, through Typer's runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.agents.demo import DEMO_WORKFLOW
from maestro_helix.cli.main import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    p = tmp_path / "flow.json"
    p.write_text(json.dumps(DEMO_WORKFLOW))
    return p


def test_demo_prints_the_summary_and_an_intact_chain(db: str) -> None:
    r = runner.invoke(app, ["demo", "--tasks", "60", "--db", db])
    assert r.exit_code == 0, r.output
    for label in (
        "tasks",
        "passed without escalation",
        "QSR mean / p1",
        "QSR below the gate (0.7)",
        "MRI mean / p99",
        "MRI above the gate (0.3)",
        "wall time (runs)",
        "wall time (whole process)",
        "retries",
        "escalated",
        "throughput",
        "evaluation latency p50 / p99",
    ):
        assert label in r.output
    assert re.search(r"tasks\s+│\s+60\s", r.output)
    assert "audit chain: intact" in r.output


def test_run_file_prints_every_attempt(db: str, flow: Path) -> None:
    task = {"topic": "solar panel leasing", "angle": "costs", "domain": "finance"}
    r = runner.invoke(app, ["run", str(flow), "--input", json.dumps(task), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["status"] == "completed"
    assert [a["step_id"] for a in body["attempts"]][-1] == "synthesis"
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert body["run_id"] in listed.output
    shown = runner.invoke(app, ["runs", "show", body["run_id"], "--db", db])
    assert shown.exit_code == 0 and "research" in shown.output and "completed" in shown.output


def test_run_with_unknown_capability_names_file_and_field(db: str, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(DEMO_WORKFLOW))
    bad["steps"][2]["capability"] = "sumarize"
    p = tmp_path / "flow.json"
    p.write_text(json.dumps(bad))
    r = runner.invoke(app, ["run", str(p), "--input", "{}", "--db", db])
    assert r.exit_code == 2
    assert (
        "flow.json: steps[2].capability: unknown capability 'sumarize' "
        "(known: analysis, research, synthesis)"
    ) in r.output.replace("\n", "")


def test_run_with_bad_input_json_is_refused(db: str, flow: Path) -> None:
    r = runner.invoke(app, ["run", str(flow), "--input", "{topic:", "--db", db])
    assert r.exit_code == 2 and "--input" in r.output and "invalid JSON" in r.output


def test_run_with_missing_input_field_is_refused_and_stores_nothing(db: str, flow: Path) -> None:
    r = runner.invoke(app, ["run", str(flow), "--input", '{"topic": "x"}', "--db", db])
    assert r.exit_code == 2 and "missing input field(s)" in r.output
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert "0 of 0 run(s)" in listed.output


def test_malformed_gate_config_stops_start_up(db: str, tmp_path: Path) -> None:
    gates = tmp_path / "gates.json"
    gates.write_text('{"default": {"min_qsr": 2}}')
    r = runner.invoke(app, ["demo", "--tasks", "5", "--db", db, "--gates", str(gates)])
    assert r.exit_code == 2
    assert "gates.json: default.min_qsr" in r.output.replace("\n", "")
    assert not Path(db).exists(), "nothing is created before the config is accepted"


def test_runs_show_unknown_id_is_clear(db: str) -> None:
    assert runner.invoke(app, ["demo", "-n", "1", "--db", db]).exit_code == 0
    r = runner.invoke(app, ["runs", "show", "nope", "--db", db])
    assert r.exit_code == 2 and "no run with id 'nope'" in r.output


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list"],
        ["runs", "show", "r1"],
        ["approvals", "list"],
        ["approvals", "show", "q1"],
        ["audit", "verify"],
        ["audit", "list"],
        ["audit", "show", "1"],
        ["audit", "prove", "1"],
        ["processes"],
        ["policy", "show"],
        ["policy", "diff", str(Path(__file__).parents[1] / "config" / "governance.json")],
        ["policy", "changes"],
        ["operators", "list"],
        ["workflows", "list"],
        ["workflows", "versions", "w"],
    ],
)
def test_read_commands_never_create_a_database(db: str, command: list[str]) -> None:
    r = runner.invoke(app, [*command, "--db", db])
    assert r.exit_code == 2 and "no such database file" in r.output
    assert not Path(db).exists()


def test_escalated_runs_are_listed_by_status(db: str) -> None:
    runner.invoke(app, ["demo", "--tasks", "400", "--db", db])
    r = runner.invoke(app, ["runs", "list", "--status", "escalated", "--db", db])
    assert r.exit_code == 0
    m = re.search(r"(\d+) of (\d+) run\(s\)", r.output)
    assert m is not None and int(m.group(2)) >= 1, r.output


def test_pause_and_cancel_of_finished_run_are_refused(db: str, flow: Path) -> None:
    task = {"topic": "tea", "angle": "costs", "domain": "food"}
    body = json.loads(
        runner.invoke(
            app, ["run", str(flow), "--input", json.dumps(task), "--db", db, "--json"]
        ).output
    )
    r = runner.invoke(app, ["runs", "pause", body["run_id"], "--db", db])
    assert r.exit_code == 2 and "cannot go from" in r.output
