"""Workers on PostgreSQL + NATS JetStream, as real processes: share the work, survive kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from conftest import PG_URL, require_pg

HERE = Path(__file__).parent
NATS = os.environ.get("MAESTRO_TEST_NATS", "nats://127.0.0.1:4222")


def _nats_up() -> bool:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(NATS)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def world(pg_schema: str) -> dict[str, str]:
    require_pg()
    if not _nats_up():
        if os.environ.get("CI"):
            pytest.fail(f"NATS at {NATS} unreachable")
        pytest.skip(f"NATS at {NATS} unreachable")
    ns = f"t{uuid.uuid4().hex[:10]}"
    return {
        "db": f"{PG_URL}?options=-csearch_path%3D{pg_schema}",
        "ns": ns,
    }


def _env(world: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["MAESTRO_NAMESPACE"] = world["ns"]
    env["MAESTRO_ACK_WAIT"] = "3"
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    world: dict[str, str], log: Path, metrics_port: int | None = None, concurrency: int = 16
) -> subprocess.Popen[str]:
    # output to a file: a pipe nobody reads would block the worker once it fills
    cmd = [sys.executable, "-m", "maestro_helix.cli.main", "worker", "--db", world["db"],
           "--bus", NATS, "--app", "dist_app:app", "--concurrency", str(concurrency)]  # fmt: skip
    if metrics_port is not None:
        cmd += ["--metrics-port", str(metrics_port)]
    with log.open("w") as f:
        return subprocess.Popen(cmd, env=_env(world), stdout=f, stderr=subprocess.STDOUT, text=True)


async def _submit(world: dict[str, str], n: int) -> list[str]:
    from dist_app import app
    from maestro_helix import Maestro
    from maestro_helix.agents.demo import demo_tasks
    from maestro_helix.bus.workqueue import JetStreamWorkQueue

    spec = app()
    async with (
        JetStreamWorkQueue(NATS, namespace=world["ns"]) as q,
        Maestro.open(
            world["db"],
            agents=spec.agents,
            action_types=spec.action_types,
            dispatcher=q,
            resume=False,
        ) as m,
    ):
        defn = await m.engine.register(spec.workflows[0])
        return await m.engine.submit_many(defn, demo_tasks(n, seed=11))


async def _cleanup(world: dict[str, str]) -> None:
    import nats

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    for name in (f"MAESTRO_WORK_{world['ns']}",):
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
    await nc.close()


def _rows(world: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    import psycopg

    schema = world["db"].rsplit("%3D", 1)[1]
    with psycopg.connect(PG_URL, options=f"-c search_path={schema}") as c:
        return [tuple(r) for r in c.execute(sql).fetchall()]


def _wait_done(world: dict[str, str], n: int, timeout: float = 120) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = Counter(str(s) for (s,) in _rows(world, "SELECT status FROM runs"))
        if sum(statuses[s] for s in ("completed", "escalated", "failed")) == n:
            return statuses
        assert time.monotonic() < deadline, f"runs did not finish: {statuses}"
        time.sleep(0.2)


def _alive(*procs: tuple[subprocess.Popen[str], Path]) -> None:
    for p, log in procs:
        assert p.poll() is None, f"a worker exited at start-up: {log.read_text()[-2000:]}"


def _stop(*procs: subprocess.Popen[str]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


def _ensure_schema(world: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "maestro_helix.cli.main", "runs", "list", "--db", world["db"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _assert_exactly_once(world: dict[str, str], n: int) -> None:
    steps = _rows(world, "SELECT run_id, step_index, attempt, decision FROM steps")
    passes = Counter((r, i) for r, i, _, d in steps if d == "pass")
    assert passes and max(passes.values()) == 1
    per_step: dict[tuple[object, object], list[int]] = {}
    for r, i, a, _ in steps:
        per_step.setdefault((r, i), []).append(int(a))  # type: ignore[arg-type]
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in per_step.values())
    (evaluated,) = _rows(world, "SELECT count(*) FROM reflexive_events WHERE type='step.evaluated'")
    assert evaluated[0] == len(steps)
    (decisions,) = _rows(world, "SELECT count(*) FROM audit_log WHERE kind='step.decision'")
    assert decisions[0] == len(steps)


@pytest.mark.slow
def test_two_workers_share_a_batch_and_record_every_step_once(
    world: dict[str, str], tmp_path: Path
) -> None:
    _ensure_schema(world)
    port = _free_port()
    a = _worker(world, tmp_path / "a.log", metrics_port=port)
    b = _worker(world, tmp_path / "b.log")
    try:
        time.sleep(2.0)
        _alive((a, tmp_path / "a.log"), (b, tmp_path / "b.log"))
        ids = asyncio.run(_submit(world, 40))
        statuses = _wait_done(world, len(ids))
        assert statuses["completed"] >= 35
        _assert_exactly_once(world, len(ids))
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "helix_qsr_count" in text and "maestro_tasks_total" in text
    finally:
        _stop(a, b)
        asyncio.run(_cleanup(world))
    for log in ("a.log", "b.log"):
        assert "Traceback" not in (tmp_path / log).read_text()


@pytest.mark.slow
def test_worker_killed_mid_step_its_steps_are_redelivered_and_recorded_once(
    world: dict[str, str], tmp_path: Path
) -> None:
    _ensure_schema(world)
    victim = _worker(world, tmp_path / "victim.log")
    survivor = _worker(world, tmp_path / "survivor.log")
    try:
        time.sleep(2.0)
        _alive((victim, tmp_path / "victim.log"), (survivor, tmp_path / "survivor.log"))
        ids = asyncio.run(_submit(world, 40))
        deadline = time.monotonic() + 60
        while not _rows(world, "SELECT 1 FROM steps WHERE step_index = 1 LIMIT 1"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=20)
        try:
            statuses = _wait_done(world, len(ids))
        except AssertionError:
            print((tmp_path / "survivor.log").read_text()[-5000:])
            raise
        assert sum(statuses.values()) == len(ids)
        _assert_exactly_once(world, len(ids))
    finally:
        _stop(victim, survivor)
        asyncio.run(_cleanup(world))


async def _verify_audit(world: dict[str, str]) -> tuple[bool, str]:
    from maestro_helix.store.postgres import PostgresStore

    schema = world["db"].rsplit("%3D", 1)[1]
    async with PostgresStore(PG_URL, connect_args={"options": f"-c search_path={schema}"}) as s:
        report = await s.verify_audit()
    return report.ok, report.reason


@pytest.mark.slow
def test_worker_killed_with_a_full_batch_in_hand_loses_nothing_and_runs_nothing_twice(
    world: dict[str, str], tmp_path: Path
) -> None:
    """64 items in hand at the kill: their takes grouped into one statement, their next items
    published together with their acks awaited together. Every run still finishes, every step
    attempt is recorded once, the audit chain verifies."""
    _ensure_schema(world)
    victim = _worker(world, tmp_path / "victim.log", concurrency=64)
    survivor = _worker(world, tmp_path / "survivor.log", concurrency=64)
    try:
        time.sleep(2.0)
        _alive((victim, tmp_path / "victim.log"), (survivor, tmp_path / "survivor.log"))
        ids = asyncio.run(_submit(world, 160))
        deadline = time.monotonic() + 60
        while len(_rows(world, "SELECT 1 FROM steps WHERE step_index = 1 LIMIT 30")) < 30:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=20)
        statuses = _wait_done(world, len(ids), timeout=240)
        assert sum(statuses.values()) == len(ids)
        _assert_exactly_once(world, len(ids))
        ok, why = asyncio.run(_verify_audit(world))
        assert ok, why
    finally:
        _stop(victim, survivor)
        asyncio.run(_cleanup(world))
    assert "Traceback" not in (tmp_path / "survivor.log").read_text()


async def _canary(world: dict[str, str], n: int) -> tuple[int, int, list[str]]:
    """Through the work queue (the worker runs every step): v1 to production, v2 through staging
    with the product owner's sign-off, a canary of v2 at 50 %, then ``n`` runs keyed by customer
    (EU requests: v2 escalates them)."""
    from canary_app import app, brief
    from maestro_helix import Maestro
    from maestro_helix.bus.workqueue import JetStreamWorkQueue
    from maestro_helix.core.rollout import CanaryConfig, Stage
    from maestro_helix.governance.identity import add_operator
    from maestro_helix.governance.policy import Role

    spec = app()
    async with (
        JetStreamWorkQueue(NATS, namespace=world["ns"]) as q,
        Maestro.open(world["db"], agents=spec.agents, dispatcher=q, resume=False) as m,
    ):
        assert m.rollout is not None
        ops = {
            n: (await add_operator(m.store, n, r))[0]
            for n, r in [("gina", Role.APPROVER), ("ada", Role.ADMIN), ("paul", Role.APPROVER)]
        }
        versions = []
        for agent in ("writer", "writer-v2"):
            v = (await m.engine.register(brief(agent))).version
            await m.rollout.promote("canary-brief", v, Stage.STAGING, ops["gina"], "governance")
            await m.rollout.promote("canary-brief", v, Stage.STAGING, ops["ada"], "admin")
            staged = await m.store.get_workflow("canary-brief", v)
            for _ in range(2):
                inp = {"topic": "heat pumps", "region": "us"}
                await m.engine.wait(await m.engine.submit(staged, inp, pin=True))
            await m.rollout.promote(
                "canary-brief", v, Stage.PRODUCTION, ops["paul"], "product_owner"
            )
            versions.append(v)
        cfg = CanaryConfig(share=0.5, min_runs=10)
        await m.rollout.start_canary("canary-brief", versions[1], cfg, ops["gina"])
        inputs = [{"topic": "heat pumps", "region": "eu" if i % 2 else "us"} for i in range(n)]
        ids = await m.engine.submit_many(
            brief("writer"), inputs, keys=[f"customer-{i}" for i in range(n)]
        )
        return versions[0], versions[1], ids


@pytest.mark.slow
def test_a_worker_rolls_a_bad_canary_back_from_what_the_store_says(
    world: dict[str, str], tmp_path: Path
) -> None:
    """The submitter decides each run's version; the worker runs the steps and, in its
    housekeeping, evaluates the canary from the store and rolls it back."""
    _ensure_schema(world)
    env = _env(world)
    cmd = [sys.executable, "-m", "maestro_helix.cli.main", "worker", "--db", world["db"],
           "--bus", NATS, "--app", "canary_app:app", "--concurrency", "16"]  # fmt: skip
    log = tmp_path / "w.log"
    with log.open("w") as f:
        w = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.0)
        _alive((w, log))
        v1, v2, ids = asyncio.run(_canary(world, 60))
        assert len(ids) == 60
        deadline = time.monotonic() + 90
        while True:
            status = _rows(world, "SELECT status, reason FROM canaries")
            if status and status[0][0] != "running":
                break
            assert time.monotonic() < deadline, f"the worker did not decide: {status}"
            time.sleep(0.5)
        assert status[0][0] == "rolled_back" and "bar" in str(status[0][1])
        stages = dict(_rows(world, "SELECT version, stage FROM workflow_stages"))
        assert stages[v2] == "rolled_back" and stages[v1] == "production"
        routed = Counter(
            int(v)  # type: ignore[call-overload]
            for (v,) in _rows(world, "SELECT version FROM run_routes WHERE canary_id IS NOT NULL")
        )
        assert set(routed) == {v1, v2}
        (entry,) = _rows(
            world, "SELECT human_operator_id FROM audit_log WHERE kind='canary.rolled_back'"
        )
        assert entry[0] == ""  # decided by the worker's housekeeping, not a person
    finally:
        _stop(w)
        asyncio.run(_cleanup(world))
    assert "Traceback" not in log.read_text()
