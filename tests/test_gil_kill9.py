"""kill -9 between approval and execution: after a restart the approved action runs once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["MAESTRO_LEASE_S"] = "2"  # a killed process's claims are taken over 2 s later
    env.update(extra)
    return env


def _transfer_status(db: Path) -> str | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        row = con.execute(
            "SELECT status FROM action_executions WHERE action_type = 'payments.transfer'"
        ).fetchone()
        con.close()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    "when", ["GIL_SLOW_BEFORE", "GIL_SLOW_AFTER"], ids=["before-the-effect", "after-the-effect"]
)
def test_kill9_during_execution_then_restart_runs_the_action_exactly_once(
    tmp_path: Path, when: str
) -> None:
    db, ledger = tmp_path / "gil.db", tmp_path / "ledger.txt"
    with subprocess.Popen(
        [sys.executable, str(HERE / "gil_proc.py"), "approve", str(db), str(ledger)],
        env=_env(**{when: "60"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 60
        while _transfer_status(db) != "started" or (
            when == "GIL_SLOW_AFTER" and not ledger.exists()
        ):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the approval never reached execution"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert _transfer_status(db) == "started", "killed mid-execution, as intended"
    before = ledger.read_text().splitlines() if ledger.exists() else []
    assert len(before) == (1 if when == "GIL_SLOW_AFTER" else 0)

    done = subprocess.run(
        [sys.executable, str(HERE / "gil_proc.py"), "resume", str(db), str(ledger), run_id],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "completed"
    transfers = [line for line in ledger.read_text().splitlines() if " transfer " in line]
    assert len(transfers) == 1, transfers
    assert _transfer_status(db) == "succeeded"
