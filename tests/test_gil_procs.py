"""Governance across real processes: a disabled operator's token is refused at once by a
``maestro serve`` that was already running, and processes started with different ``--policy``
files leave the active policy alone (the first one on a fresh database installs its own)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from maestro_helix.cli.main import app

runner = CliRunner()
MAESTRO = [sys.executable, "-m", "maestro_helix.cli.main"]
START_TIMEOUT_S = 30.0


def _token(db: str, name: str, role: str) -> str:
    r = runner.invoke(app, ["operators", "add", name, "--role", role, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAESTRO, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def _status(port: int, token: str) -> int:
    r = httpx.get(
        f"http://127.0.0.1:{port}/approvals", headers={"Authorization": f"Bearer {token}"}
    )
    return r.status_code


def _wait_up(p: subprocess.Popen[str], port: int, token: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert p.poll() is None, f"serve exited: {log.read_text()[-2000:]}"
        try:
            if _status(port, token) == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not come up: {log.read_text()[-2000:]}")


def test_a_disabled_operators_token_is_refused_by_a_running_server(tmp_path: Path) -> None:
    db = str(tmp_path / "gil.db")
    root, ann = _token(db, "root", "admin"), _token(db, "ann", "approver")
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as f:
        server = subprocess.Popen(
            [*MAESTRO, "serve", "--db", db, "--port", str(port)],
            cwd=tmp_path,
            stdout=f,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_up(server, port, ann, log)
        done = _cli("operators", "disable", "ann", "--token", root, "--db", db, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert _status(port, ann) == 401, "another process disabled ann: refused at once"
        assert _cli("operators", "enable", "ann", "--db", db, cwd=tmp_path).returncode == 0
        assert _status(port, ann) == 200
        rotated = _cli(
            "operators", "rotate-token", "ann", "--token", root, "--db", db, cwd=tmp_path
        )
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.strip().splitlines()[-1]
        assert new.startswith("mh_") and new != ann
        assert (_status(port, ann), _status(port, new)) == (401, 200)
        # and through the API: an admin disables, the approver is out at once
        r = httpx.post(
            f"http://127.0.0.1:{port}/operators/ann/disable",
            headers={"Authorization": f"Bearer {root}"},
        )
        assert r.status_code == 200, r.text
        assert _status(port, new) == 401
        forbidden = httpx.post(
            f"http://127.0.0.1:{port}/operators/root/disable",
            headers={"Authorization": f"Bearer {new}"},
        )
        assert forbidden.status_code == 401
    finally:
        _stop(server)
    audit = _cli("audit", "verify", "--db", db, cwd=tmp_path)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    kinds = _operator_kinds(db)
    assert kinds == [
        ("operator.disable", "root"),
        ("operator.enable", ""),
        ("operator.rotate-token", "root"),
        ("operator.disable", "root"),
    ]


def _operator_kinds(db: str) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT kind, human_operator_id FROM audit_log WHERE kind LIKE 'operator.%' "
            "AND kind != 'operator.added' ORDER BY seq"
        ).fetchall()
    return [(str(k), str(h)) for k, h in rows]


def _policy_versions(db: str) -> list[tuple[int, str]]:
    import asyncio

    from maestro_helix.app import open_store

    async def read() -> list[tuple[int, str]]:
        async with open_store(db) as store:
            return [(v.version, v.digest) for v in await store.policy_versions()]

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for processes to share: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "p.db")
    from conftest import PG_URL

    schema = request.getfixturevalue("pg_schema")
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def test_processes_with_different_policies_leave_the_active_policy_unchanged(
    tmp_path: Path, db_url: str
) -> None:
    db, n = db_url, 2
    files = []
    for i, body in enumerate([{"approvals": 2}, {"expiry_s": 7200}, {"risk_threshold": 0.2}]):
        p = tmp_path / f"policy{i}.json"
        p.write_text(json.dumps(body))
        files.append(p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # the schema first (processes racing to create it are issue 8's start-up race), no policy yet
    added = _cli("operators", "add", "root", "--role", "admin", "--db", db, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert _policy_versions(db) == []
    # two processes at once on a database without a policy: exactly one installs its own
    procs = [
        subprocess.Popen(
            [*MAESTRO, "demo", "--tasks", "5", "--db", db, "--policy", str(f)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for f in files[:n]
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    versions = _policy_versions(db)
    assert len(versions) == 1, versions
    # a third, with yet another file, says so and changes nothing
    third = _cli("demo", "--tasks", "5", "--db", db, "--policy", str(files[2]), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "differs from the active policy (version 1): not applied" in third.stderr
    assert _policy_versions(db) == versions
    shown = _cli("policy", "show", "--db", db, cwd=tmp_path)
    assert "active policy version 1" in shown.stdout and "no operator" in shown.stdout
    diff = _cli("policy", "diff", str(files[2]), "--db", db, cwd=tmp_path)
    assert diff.returncode == 1 and "risk_threshold" in diff.stdout
