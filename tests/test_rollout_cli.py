"""``maestro workflows canary start | abort | status`` on a SQLite file, with events on NATS
JetStream: a canary started and aborted by hand, started again and rolled back by the
evaluation ``canary status`` makes by default; every decision's event reaches the bus."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.app import Maestro
from maestro_helix.cli.main import app
from maestro_helix.core.records import EventRecord
from maestro_helix.core.rollout import CanaryStatus
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from test_distributed import NATS, _nats_up
from test_rollback_runs import World
from test_stages import TOPIC, candidate, flow, people, to_production


async def _published(ns: str, want: int, timeout_s: float = 20.0) -> list[EventRecord]:
    """Every event on the namespace's stream (a durable consumer reads them from the start)."""
    from maestro_helix.bus.nats import JetStreamBus

    got: list[EventRecord] = []
    bus = JetStreamBus(
        NATS, stream=f"REFLEXIVE_{ns}", subject=f"{ns}.reflexive.events", durable="probe"
    )
    await bus.open()
    try:
        sub = await bus.subscribe(got.append)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while len([e for e in got if e.type.startswith("canary.")]) < want:
            if loop.time() > end:
                break
            await asyncio.sleep(0.1)
        await sub.aclose()
    finally:
        await bus.aclose()
    return got


async def _drop_stream(ns: str) -> None:
    import nats

    nc = await nats.connect(NATS)
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(f"REFLEXIVE_{ns}")
    await nc.close()


def test_cli_canary_start_abort_and_a_rollback_by_status_are_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _nats_up():
        if os.environ.get("CI"):
            pytest.fail(f"NATS at {NATS} unreachable")
        pytest.skip(f"NATS at {NATS} unreachable")
    db = str(tmp_path / "c.db")
    ns = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("MAESTRO_NAMESPACE", ns)
    w = World()
    runner = CliRunner()

    def cli(*args: str) -> str:
        r = runner.invoke(app, [*args, "--db", db, "--bus", NATS])
        assert r.exit_code == 0, r.output
        return r.output

    async def setup() -> tuple[int, int, str]:
        async with Maestro.open(db, agents=w.agents()) as m:
            ops = await people(m.store)
            v1 = await to_production(m, ops, flow("good"))
            v2 = await candidate(m, ops)
            _, token = await add_operator(m.store, "olga", Role.OPERATOR)
            return v1, v2, token

    async def bad_traffic() -> None:
        w.good = False
        async with Maestro.open(db, agents=w.agents()) as m:
            ids = await m.engine.submit_many(
                flow("good"), [{"topic": TOPIC}] * 40, keys=[f"c{i}" for i in range(40)]
            )
            for i in ids:
                await m.engine.wait(i)

    async def rollbacks_seen_elsewhere() -> float | None:
        """What a serve or worker process reports after its housekeeping tick: the rollback a CLI
        process decided counts there too (read from the store, not this process's decisions)."""
        async with Maestro.open(db, agents=w.agents(), resume=False) as m:
            await m.rollout.evaluate_all()
            sample = m.metrics.registry.get_sample_value
            mine = {"workflow": "brief", "decision": "rollback"}
            assert sample("maestro_canary_decisions_total", mine) is None  # not this process's
            assert await m.store.recent_rollbacks("9999") == {"brief": 0}  # the window passed
            return sample("maestro_canary_rollbacks_recent", {"workflow": "brief"})

    async def view() -> CanaryStatus:
        async with Maestro.open(db, agents=w.agents(), resume=False) as m:
            c = (await m.store.stage_view("brief")).canary
            assert c is not None
            return c.status

    try:
        v1, v2, token = asyncio.run(setup())
        start = ["workflows", "canary", "start", "brief", str(v2), "--share", "0.5",
                 "--min-runs", "10", "--token", token]  # fmt: skip
        assert "canary of v2 started: 50% of new runs" in cli(*start)
        assert "canary of v2 aborted" in cli(
            "workflows", "canary", "abort", "brief", "--reason", "wrong day", "--token", token
        )
        assert asyncio.run(view()) is CanaryStatus.ABORTED
        assert "started" in cli(*start)  # the candidate stayed in staging: it may try again
        asyncio.run(bad_traffic())
        shown = cli("workflows", "canary", "status", "brief")  # evaluates by default
        assert "rolled_back" in shown or "rolled back" in shown, shown
        assert asyncio.run(view()) is CanaryStatus.ROLLED_BACK
        assert asyncio.run(rollbacks_seen_elsewhere()) == 1.0
        events = asyncio.run(_published(ns, 5))
    finally:
        asyncio.run(_drop_stream(ns))
    kinds = [e.type for e in events if e.type.startswith("canary.")]
    assert kinds == [
        "canary.started",
        "canary.aborted",
        "canary.started",
        "canary.evaluated",
        "canary.rolled_back",
    ], kinds
    aborted = next(e for e in events if e.type == "canary.aborted")
    assert aborted.payload["reason"] == "wrong day" and aborted.payload["stable"] == v1
    rolled = next(e for e in events if e.type == "canary.rolled_back")
    assert rolled.payload["workflow_version"] == v2 and "bar" in rolled.payload["reason"]
