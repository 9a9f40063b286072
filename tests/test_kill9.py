"""kill -9 in the middle of a batch: a restart resumes every run; no committed step runs twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# runs in the batch; it is killed once KILL_AT steps are committed (a seventh of them), with the
# engine's 64 runs in flight and most of the batch (about 500 runs) left for the restart
N = 600
KILL_AT = 240


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def _env(log: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MAESTRO_TEST_LOG"] = str(log)
    env["MAESTRO_LEASE_S"] = "2"  # the killed process's runs are taken over 2 s after the kill
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return env


def _log(path: Path) -> list[tuple[str, str, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        run_id, step, attempt = line.split()
        rows.append((run_id, step, int(attempt)))
    return rows


@pytest.mark.slow
def test_kill9_mid_batch_then_resume_loses_nothing_and_repeats_no_committed_step(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    log1, log2 = tmp_path / "phase1.log", tmp_path / "phase2.log"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "kill9_batch.py"), str(db), str(N)],
        env=_env(log1),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == f"submitted {N}", proc.stderr.read() if proc.stderr else line
    deadline = time.monotonic() + 60
    while _count(db, "SELECT count(*) FROM steps") < KILL_AT:
        assert proc.poll() is None, "the batch finished before it could be killed"
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reap it and close its pipes
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(db)
    committed = {(r, s, a) for r, s, a in con.execute("SELECT run_id, step_id, attempt FROM steps")}
    unfinished = con.execute(
        "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')"
    ).fetchone()[0]
    con.close()
    assert unfinished > 0, "the kill came too late to test anything"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "maestro_helix.cli.main",
            "resume",
            "--db",
            str(db),
            "--app",
            "kill9_agents:registry",
        ],
        env=_env(log2),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    assert f"resumed {unfinished} run(s)" in done.stdout

    con = sqlite3.connect(db)
    statuses = Counter(s for (s,) in con.execute("SELECT status FROM runs"))
    steps = list(con.execute("SELECT run_id, step_index, step_id, attempt, decision FROM steps"))
    n_audit = con.execute("SELECT count(*) FROM audit_log WHERE kind = 'step.decision'").fetchone()[
        0
    ]
    n_evaluated = con.execute(
        "SELECT count(*) FROM reflexive_events WHERE type = 'step.evaluated'"
    ).fetchone()[0]
    con.close()

    # nothing lost: every submitted run reached an end state
    assert sum(statuses.values()) == N
    assert set(statuses) <= {"completed", "escalated"}, statuses
    # no step committed twice: one pass per (run, step) and attempts numbered 1..k
    passes = Counter((r, i) for r, i, _, _, d in steps if d == "pass")
    assert max(passes.values()) == 1
    attempts: dict[tuple[str, int], list[int]] = {}
    for r, i, _, a, _ in steps:
        attempts.setdefault((r, i), []).append(a)
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in attempts.values())
    # no committed step ran again after the restart
    rerun = [x for x in _log(log2) if x in committed]
    assert rerun == [], f"{len(rerun)} committed step attempts ran again"
    # what phase 1 started but did not commit is at most what was in flight (concurrency 64)
    lost_in_flight = {x for x in _log(log1) if x not in committed}
    assert len(lost_in_flight) <= 64
    # every attempt is audited and published exactly once
    assert n_audit == len(steps) == n_evaluated

    verify = subprocess.run(
        [sys.executable, "-m", "maestro_helix.cli.main", "audit", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
