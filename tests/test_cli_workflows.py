"""``maestro workflows``: versions, restore (history kept), pause and resume."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from maestro_helix.agents.demo import DEMO_WORKFLOW
from maestro_helix.cli.main import app

runner = CliRunner()
TASK = json.dumps({"topic": "tea", "angle": "costs", "domain": "food"})


def _token(db: str, name: str, role: str) -> str:
    r = runner.invoke(app, ["operators", "add", name, "--role", role, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output.strip().splitlines()[-1]


def test_restore_makes_an_old_version_the_head_and_keeps_history(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps(DEMO_WORKFLOW))
    changed = json.loads(json.dumps(DEMO_WORKFLOW))
    changed["description"] = "a change that turned out badly"
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps(changed))
    for f in (v1, v2):
        assert runner.invoke(app, ["run", str(f), "--input", TASK, "--db", db]).exit_code == 0
    admin = _token(db, "root", "admin")
    viewer = _token(db, "vic", "viewer")
    refused = runner.invoke(
        app, ["workflows", "restore", "research-pipeline", "1", "--token", viewer, "--db", db]
    )
    assert refused.exit_code == 2 and "cannot do this" in refused.output
    r = runner.invoke(
        app, ["workflows", "restore", "research-pipeline", "1", "--token", admin, "--db", db]
    )
    assert r.exit_code == 0, r.output
    assert "restored as new head version 3" in r.output
    versions = runner.invoke(app, ["workflows", "versions", "research-pipeline", "--db", db])
    rows = [line for line in versions.output.splitlines() if line.strip().startswith("│")]
    assert len(rows) == 3 and "head" in rows[-1]


def test_pause_and_resume_a_workflow(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    assert runner.invoke(app, ["demo", "--tasks", "5", "--db", db]).exit_code == 0
    op = _token(db, "ops", "operator")
    r = runner.invoke(app, ["workflows", "pause", "research-pipeline", "--token", op, "--db", db])
    assert r.exit_code == 0 and "paused" in r.output
    listed = runner.invoke(app, ["workflows", "list", "--db", db])
    assert "│ paused │" in listed.output
    r = runner.invoke(app, ["workflows", "resume", "research-pipeline", "--token", op, "--db", db])
    assert r.exit_code == 0 and "resumed" in r.output
    assert "│ paused │" not in runner.invoke(app, ["workflows", "list", "--db", db]).output
