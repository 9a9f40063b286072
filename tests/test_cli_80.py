"""The list commands at 80 columns (the columns that matter, the reasons wrapped under their row,
nothing cut), and ``--json`` on every list and show, through Typer's runner with COLUMNS=80."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.cli.main import app

runner = CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli80") / "d.db")
    r = runner.invoke(app, ["demo", "--tasks", "250", "--db", path, "--seed", "11"])
    assert r.exit_code == 0, r.output
    return path


def invoke(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def pending(db: str) -> list[dict[str, object]]:
    body = json.loads(invoke("approvals", "list", "--db", db, "--json"))
    reqs: list[dict[str, object]] = body["approvals"]
    assert reqs, "the demo batch should leave requests waiting"
    return reqs


def test_approvals_list_fits_80_columns_and_keeps_ids_and_reasons_whole(db: str) -> None:
    text = invoke("approvals", "list", "--db", db)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in text
    flat = " ".join(line.strip() for line in lines)
    for req in pending(db):
        assert f"{req['request_id']} " in text  # on one line, whole
        reasons = "; ".join(req["reasons"])  # type: ignore[arg-type]
        assert reasons in flat  # wrapped under the row, not cut


def test_runs_list_fits_80_columns_with_the_id_whole(db: str) -> None:
    text = invoke("runs", "list", "--db", db, "--limit", "30")
    assert all(len(line) <= 80 for line in text.splitlines())
    runs = json.loads(invoke("runs", "list", "--db", db, "--limit", "30", "--json"))["runs"]
    assert len(runs) == 30
    for r in runs:
        assert r["run_id"] in text
        assert r["status"] in text


def test_a_failed_runs_error_is_wrapped_under_its_row(tmp_path: Path) -> None:
    flow = tmp_path / "f.json"
    flow.write_text(
        json.dumps(
            {
                "name": "breaks",
                "steps": [
                    {
                        "id": "s",
                        "capability": "research",
                        "input": {"topic": "${input.topic}"},
                        "gate": {"on_exhausted": "fail", "max_attempts": 1, "min_qsr": 1.0},
                        "expect": {"mentions": ["a phrase no demo agent will ever write"]},
                    }
                ],
            }
        )
    )
    db = str(tmp_path / "e.db")
    r = runner.invoke(app, ["run", str(flow), "--input", '{"topic": "tea"}', "--db", db])
    assert r.exit_code == 1, r.output
    runs = json.loads(invoke("runs", "list", "--db", db, "--json"))["runs"]
    error = runs[0]["error"]
    assert error
    text = invoke("runs", "list", "--db", db)
    assert all(len(line) <= 80 for line in text.splitlines())
    flat = " ".join(line.strip() for line in text.splitlines())
    assert error in flat


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list"],
        ["approvals", "list"],
        ["approvals", "list", "--status", "all"],
        ["operators", "list"],
        ["workflows", "list"],
        ["workflows", "versions", "research-pipeline"],
    ],
)
def test_every_list_has_json_for_scripts(db: str, args: list[str]) -> None:
    body = json.loads(invoke(*args, "--db", db, "--json"))
    assert isinstance(body, dict) and body


def test_every_show_has_json_for_scripts(db: str) -> None:
    req = pending(db)[0]
    shown = json.loads(invoke("approvals", "show", str(req["request_id"]), "--db", db, "--json"))
    assert shown["request_id"] == req["request_id"]
    assert shown["payload_hash"] == req["payload_hash"]
    run = json.loads(invoke("runs", "show", str(req["run_id"]), "--db", db, "--json"))
    assert run["run"]["run_id"] == req["run_id"] and run["steps"]


def test_certs_list_has_json(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    invoke("certs", "init", "--dir", str(certs))
    body = json.loads(invoke("certs", "list", "--dir", str(certs), "--json"))
    assert {c["kind"] for c in body["certificates"]} == {"ca", "server", "client"}
