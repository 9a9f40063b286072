"""Governance from the command line: operators, and approving what GIL waits for."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from maestro_helix.cli.main import app

runner = CliRunner()


def _token(db: str, name: str, role: str) -> str:
    r = runner.invoke(app, ["operators", "add", name, "--role", role, "--db", db])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("mh_")
    return token


def _hash(db: str, request_id: str) -> str:
    shown = runner.invoke(app, ["approvals", "show", request_id, "--db", db])
    found = re.search(r"payload hash: ([0-9a-f]{64})", shown.output)
    assert found, shown.output
    return found.group(1)


def _approve(db: str, request_id: str, token: str) -> Result:
    h = _hash(db, request_id)
    return runner.invoke(
        app, ["approvals", "approve", request_id, "--token", token, "--payload-hash", h, "--db", db]
    )


@pytest.fixture(scope="module")
def payment_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo database with payments waiting for two approvers, and one request's id: the
    400-task demo is run once per module (and worker), each test gets its own copy."""
    db = tmp_path_factory.mktemp("gil") / "demo.db"
    r = runner.invoke(app, ["demo", "--tasks", "400", "--db", str(db)])
    assert r.exit_code == 0, r.output
    listed = runner.invoke(app, ["approvals", "list", "--db", str(db)])
    ids = re.findall(r"[0-9a-f-]{36}\.1\.\d+\.escalation", listed.output)
    assert ids, listed.output
    return db, ids[0]


@pytest.fixture
def db_with_payment(payment_demo: tuple[Path, str], tmp_path: Path) -> tuple[str, str]:
    """A copy of the demo database with one payment waiting for two approvers; returns (db,
    request id)."""
    source, request_id = payment_demo
    db = tmp_path / "gil.db"
    src, dst = sqlite3.connect(source), sqlite3.connect(db)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return str(db), request_id


def test_operator_token_is_shown_once_and_stored_hashed(tmp_path: Path) -> None:
    db = str(tmp_path / "ops.db")
    token = _token(db, "ann", "approver")
    listed = runner.invoke(app, ["operators", "list", "--db", db])
    assert "ann" in listed.output and "approver" in listed.output
    assert token not in listed.output
    assert token.encode() not in Path(db).read_bytes()


def test_two_approvers_on_the_command_line_run_the_payment_once(
    db_with_payment: tuple[str, str],
) -> None:
    db, request_id = db_with_payment
    ann, bob = _token(db, "ann", "approver"), _token(db, "bob", "approver")
    unbound = runner.invoke(app, ["approvals", "approve", request_id, "--token", ann, "--db", db])
    assert unbound.exit_code == 2 and "--payload-hash is required" in unbound.output
    first = _approve(db, request_id, ann)
    assert first.exit_code == 0, first.output
    assert "1 of 2" in first.output and "pending" in first.output
    again = _approve(db, request_id, ann)
    assert again.exit_code == 0 and "already recorded" in again.output
    second = _approve(db, request_id, bob)
    assert second.exit_code == 0, second.output
    assert "approved (2 of 2" in second.output
    assert "completed" in second.output
    shown = runner.invoke(app, ["approvals", "show", request_id, "--db", db])
    assert "ann: approve" in shown.output and "bob: approve" in shown.output


def test_viewer_cannot_approve_and_gets_a_clear_refusal(db_with_payment: tuple[str, str]) -> None:
    db, request_id = db_with_payment
    viewer = _token(db, "vic", "viewer")
    r = _approve(db, request_id, viewer)
    assert r.exit_code == 3
    assert "refused (forbidden)" in r.output


def test_forged_token_is_refused(db_with_payment: tuple[str, str]) -> None:
    db, request_id = db_with_payment
    r = _approve(db, request_id, "mh_forged")
    assert r.exit_code == 2 and "unknown or disabled API token" in r.output


def test_reject_needs_a_reason_and_stops_the_run(db_with_payment: tuple[str, str]) -> None:
    db, request_id = db_with_payment
    ann = _token(db, "ann", "approver")
    missing = runner.invoke(app, ["approvals", "reject", request_id, "--token", ann, "--db", db])
    assert missing.exit_code == 2  # --reason is required
    r = runner.invoke(
        app, ["approvals", "reject", request_id, "--token", ann, "-r", "not budgeted", "--db", db]
    )
    assert r.exit_code == 0 and "rejected" in r.output
    run_id = request_id.split(".")[0]
    shown = runner.invoke(app, ["runs", "show", run_id, "--db", db])
    assert "failed" in shown.output


def test_policy_apply_needs_an_admin_and_a_loosening_a_second_one(tmp_path: Path) -> None:
    import json

    db = str(tmp_path / "pol.db")
    root, root2 = _token(db, "root", "admin"), _token(db, "root2", "admin")
    ann = _token(db, "ann", "approver")
    tight, loose = tmp_path / "tight.json", tmp_path / "loose.json"
    tight.write_text(json.dumps({"approvals": 2}))
    loose.write_text(json.dumps({"approvals": 1, "expiry_s": 600}))
    no = runner.invoke(app, ["policy", "apply", str(tight), "--token", ann, "--db", db])
    assert no.exit_code == 2 and "needs an admin" in no.output
    ok = runner.invoke(app, ["policy", "apply", str(tight), "--token", root, "--db", db])
    assert ok.exit_code == 0 and "active policy is now version 2 (by root)" in ok.output
    pending = runner.invoke(app, ["policy", "apply", str(loose), "--token", root, "--db", db])
    assert pending.exit_code == 0 and "a second admin must run" in pending.output
    change_id = re.findall(r"pc_[0-9a-f]{16}", pending.output)[0]
    self_ok = runner.invoke(app, ["policy", "approve", change_id, "--token", root, "--db", db])
    assert self_ok.exit_code == 2 and "a second admin must approve it" in self_ok.output
    done = runner.invoke(app, ["policy", "approve", change_id, "--token", root2, "--db", db])
    assert done.exit_code == 0 and "version 3 (by root2)" in done.output
    shown = runner.invoke(app, ["policy", "show", "--db", db])
    assert "active policy version 3" in shown.output and "root2" in shown.output
    waive = tmp_path / "waive.json"
    waive.write_text(json.dumps({"actions": {"payments.transfer": {"require_approval": False}}}))
    refused = runner.invoke(app, ["policy", "apply", str(waive), "--token", root, "--db", db])
    assert refused.exit_code == 2
    assert "actions.payments.transfer.require_approval: cannot be false" in refused.output
