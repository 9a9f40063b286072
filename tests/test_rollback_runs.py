"""What happens to a candidate's runs when its canary is rolled back, on SQLite and PostgreSQL.

A run routed to the candidate that has not started a step when the rollback lands never runs on
the candidate: at its first step (however it gets there: the local queue, a resume, a workflow
resume, a worker's first item, the CLI) it is re-routed to the stable version, audited
(``run.rerouted``). Runs that already ran candidate steps finish, or are paused with
``pause_in_flight``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.app import Maestro
from maestro_helix.core.records import RunStatus
from maestro_helix.core.rollout import CanaryConfig, CanaryStatus
from maestro_helix.core.work import WorkItem
from maestro_helix.governance.identity import Operator
from maestro_helix.store.base import Store
from maestro_helix.testing import RecordingBus
from test_stages import TOPIC, candidate, flow, good, people, to_production

StoreFactory = Callable[[], Store]


class World:
    """v2's agent (``flaky``) is good in staging, bad in production; both agents can be held
    (``hold``) so runs queue up behind one that is running."""

    def __init__(self) -> None:
        self.good = True
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.rolled_back = False
        self.flaky_after: list[str] = []  # candidate agent calls after the rollback

    async def _held(self, inp: Mapping[str, Any]) -> None:
        if inp["topic"].startswith("hold"):
            self.entered.set()
            await self.gate.wait()

    def agents(self) -> AgentRegistry:
        async def stable(inp: Mapping[str, Any]) -> str:
            await self._held(inp)
            return good(inp)

        async def flaky(inp: Mapping[str, Any]) -> str:
            if self.rolled_back and inp["topic"] != "hold":  # "hold" started before it
                self.flaky_after.append(inp["topic"])
            await self._held(inp)
            return good(inp) if self.good else "nothing"

        return AgentRegistry(
            [
                FunctionAgent("good", stable, {"research"}),
                FunctionAgent("flaky", flaky, {"research"}),
            ]
        )


async def canary_with_bad_candidate(
    m: Maestro, w: World, cfg: CanaryConfig
) -> tuple[int, int, dict[str, Operator]]:
    """v1 in production, v2 in a canary at 50 % that has escalated enough to be rolled back at
    the next evaluation (40 runs settled)."""
    assert m.rollout is not None
    ops = await people(m.store)
    v1 = await to_production(m, ops, flow("good"))
    v2 = await candidate(m, ops)
    await m.rollout.start_canary("brief", v2, cfg, ops["otto"])
    w.good = False
    ids = await m.engine.submit_many(
        flow("good"), [{"topic": TOPIC}] * 40, keys=[f"c{i}" for i in range(40)]
    )
    for i in ids:
        await m.engine.wait(i)
    return v1, v2, ops


async def roll_back(m: Maestro, w: World) -> None:
    assert m.rollout is not None
    out = await m.rollout.evaluate("brief")
    assert out is not None and out.canary is not None
    assert out.canary.status is CanaryStatus.ROLLED_BACK, out.message
    w.rolled_back = True


async def versions(m: Maestro, ids: Sequence[str]) -> dict[str, int]:
    return {i: (await m.store.get_run(i)).workflow_version for i in ids}


async def check_rerouted(
    m: Maestro, w: World, on_candidate: Sequence[str], v1: int, v2: int
) -> None:
    """Each run routed to v2 before the rollback ran v1's agent, on v1, audited once."""
    assert on_candidate, "no run went to the candidate: pick other keys"
    assert w.flaky_after == []
    for i in on_candidate:
        rec = await m.store.get_run(i)
        steps = await m.store.step_records(i)
        assert rec.status is RunStatus.COMPLETED, (rec.status, rec.error)
        assert rec.workflow_version == v1
        assert [s.agent_id for s in steps] == ["good"]
    entries = [e for e in await m.store.audit_entries() if e["kind"] == "run.rerouted"]
    assert sorted(e["run_id"] for e in entries) == sorted(on_candidate)
    d = entries[0]["details"]
    assert d["from_version"] == v2 and d["to_version"] == v1
    assert "rolled back" in d["reason"]
    assert (await m.verify_audit()).ok


async def test_queued_candidate_runs_run_on_stable_after_a_rollback(stores: StoreFactory) -> None:
    """The local queue: runs submitted (to the candidate) but waiting behind a running one."""
    w, bus = World(), RecordingBus()
    cfg = CanaryConfig(share=0.5, min_runs=10)
    async with Maestro.open(stores(), agents=w.agents(), bus=bus, concurrency=1) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, cfg)
        w.gate.clear()
        w.entered.clear()
        hold = await m.engine.submit(flow("good"), {"topic": "hold"}, key="h")
        await asyncio.wait_for(w.entered.wait(), 20)
        queued = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC}] * 12, keys=[f"q{i}" for i in range(12)]
        )
        before = await versions(m, queued)
        await roll_back(m, w)
        w.gate.set()
        for i in [hold, *queued]:
            await asyncio.wait_for(m.engine.wait(i), 30)
        await check_rerouted(m, w, [i for i, v in before.items() if v == v2], v1, v2)
    assert any(e.type == "run.rerouted" for e in bus.events)


async def test_runs_held_by_a_workflow_pause_resume_on_stable(stores: StoreFactory) -> None:
    """resume_workflow (and so resume) of runs stored paused, never started."""
    w = World()
    async with Maestro.open(stores(), agents=w.agents()) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, CanaryConfig(share=0.5, min_runs=10))
        await m.engine.pause_workflow("brief")
        held = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC}] * 12, keys=[f"p{i}" for i in range(12)]
        )
        before = await versions(m, held)
        await roll_back(m, w)
        assert sorted(await m.engine.resume_workflow("brief")) == sorted(held)
        for i in held:
            await asyncio.wait_for(m.engine.wait(i), 30)
        await check_rerouted(m, w, [i for i, v in before.items() if v == v2], v1, v2)


class Collect:
    """A dispatcher that keeps the items (the workers are this test's calls)."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    async def dispatch(self, items: Sequence[WorkItem]) -> None:
        self.items.extend(items)


async def test_a_workers_first_item_of_a_rolled_back_candidate_runs_stable(
    stores: StoreFactory,
) -> None:
    """engine.execute_item, as a worker takes a run's first item from the work queue."""
    w = World()
    async with Maestro.open(stores(), agents=w.agents()) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, CanaryConfig(share=0.5, min_runs=10))
        queue = Collect()
        async with Maestro.open(stores(), agents=w.agents(), dispatcher=queue) as front:
            ids = await front.engine.submit_many(
                flow("good"), [{"topic": TOPIC}] * 12, keys=[f"w{i}" for i in range(12)]
            )
            before = await versions(m, ids)
            await roll_back(m, w)
            for item in list(queue.items):
                nxt = await front.engine.execute_item(item.run_id, item.step_index, item.attempt)
                assert nxt is None  # one step: done
        await check_rerouted(m, w, [i for i, v in before.items() if v == v2], v1, v2)


async def test_pause_in_flight_pauses_the_candidates_runs_and_resume_runs_stable(
    stores: StoreFactory,
) -> None:
    """pause_in_flight: the rollback pauses every pending or running candidate run (counted in
    its audit entry, a ``run.paused`` event each); resuming one that had not started runs it on
    stable."""
    w, bus = World(), RecordingBus()
    cfg = CanaryConfig(share=0.5, min_runs=10, pause_in_flight=True)
    async with Maestro.open(stores(), agents=w.agents(), bus=bus, concurrency=1) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, cfg)
        w.gate.clear()
        w.entered.clear()
        hold = await m.engine.submit(flow("good"), {"topic": "hold"}, key="h")
        await asyncio.wait_for(w.entered.wait(), 20)
        queued = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC}] * 12, keys=[f"q{i}" for i in range(12)]
        )
        before = await versions(m, [hold, *queued])
        on_candidate = [i for i, v in before.items() if v == v2]
        await roll_back(m, w)
        w.gate.set()
        for i in [hold, *queued]:
            await asyncio.wait_for(m.engine.wait(i), 30)
        status = {i: (await m.store.get_run(i)).status for i in before}
        assert {i for i, s in status.items() if s is RunStatus.PAUSED} == set(on_candidate)
        assert all(s is RunStatus.COMPLETED for i, s in status.items() if i not in on_candidate)
        paused = [e for e in bus.events if e.type == "run.paused"]
        assert sorted(e.run_id for e in paused) == sorted(on_candidate)
        assert all(e.payload["reason"] == "canary rolled back" for e in paused)
        entries = await m.store.audit_entries()
        rb = [e for e in entries if e["kind"] == "canary.rolled_back"]
        assert len(rb) == 1 and rb[0]["details"]["paused_runs"] == len(on_candidate)
        unstarted = [i for i in on_candidate if i != hold]
        await m.engine.resume(unstarted[0])
        await asyncio.wait_for(m.engine.wait(unstarted[0]), 30)
        await check_rerouted(m, w, unstarted[:1], v1, v2)


def test_the_cli_resumes_a_paused_candidate_run_on_stable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``maestro runs resume`` of a run the rollback paused before it started: stable."""
    from maestro_helix.cli.main import app

    db = tmp_path / "r.db"
    (tmp_path / "rb_app.py").write_text(
        "from test_rollback_runs import World\n\napp = World().agents()\n"
    )
    w = World()

    async def setup() -> tuple[int, int, list[str]]:
        cfg = CanaryConfig(share=0.5, min_runs=10, pause_in_flight=True)
        async with Maestro.open(db, agents=w.agents()) as m:
            v1, v2, _ = await canary_with_bad_candidate(m, w, cfg)
            await m.engine.pause_workflow("brief")
            held = await m.engine.submit_many(
                flow("good"), [{"topic": TOPIC}] * 12, keys=[f"p{i}" for i in range(12)]
            )
            await roll_back(m, w)
            await m.store.set_workflow_paused("brief", False, "2026-01-01T00:00:00+00:00", None)
            return v1, v2, [i for i, v in (await versions(m, held)).items() if v == v2]

    v1, v2, on_candidate = asyncio.run(setup())
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    r = CliRunner().invoke(
        app, ["runs", "resume", on_candidate[0], "--db", str(db), "--app", "rb_app:app"]
    )
    assert r.exit_code == 0 and "completed" in r.output, r.output

    async def after() -> None:
        async with Maestro.open(db, agents=w.agents(), resume=False) as m:
            await check_rerouted(m, w, on_candidate[:1], v1, v2)

    asyncio.run(after())


async def test_the_api_resumes_a_paused_candidate_run_on_stable(stores: StoreFactory) -> None:
    """``POST /runs/{id}/resume`` of a run that had not started when the canary rolled back."""
    import httpx

    from maestro_helix.api import create_app
    from maestro_helix.governance.identity import add_operator
    from maestro_helix.governance.policy import Role

    w = World()
    async with Maestro.open(stores(), agents=w.agents()) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, CanaryConfig(share=0.5, min_runs=10))
        await m.engine.pause_workflow("brief")
        held = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC}] * 12, keys=[f"p{i}" for i in range(12)]
        )
        on_candidate = [i for i, v in (await versions(m, held)).items() if v == v2]
        await roll_back(m, w)
        await m.store.set_workflow_paused("brief", False, "2026-01-01T00:00:00+00:00", None)
        _, token = await add_operator(m.store, "olga", Role.OPERATOR)
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
            r = await c.post(
                f"/runs/{on_candidate[0]}/resume", headers={"Authorization": f"Bearer {token}"}
            )
        assert r.status_code == 200, r.text
        await asyncio.wait_for(m.engine.wait(on_candidate[0]), 30)
        await check_rerouted(m, w, on_candidate[:1], v1, v2)


async def test_runs_taken_up_after_their_queue_lost_them_run_stable(
    stores: StoreFactory,
) -> None:
    """resume_unfinished (take_up): runs handed to a work queue that lost them (their hand-off
    lapsed) before the rollback are taken up by another process, on stable."""
    from maestro_helix.core.lease import Ownership

    w = World()
    async with Maestro.open(stores(), agents=w.agents()) as m:
        v1, v2, _ = await canary_with_bad_candidate(m, w, CanaryConfig(share=0.5, min_runs=10))
        lost = Collect()  # items handed out, never worked on
        front_owner = Ownership(handoff_s=0.3)
        async with Maestro.open(
            stores(), agents=w.agents(), dispatcher=lost, ownership=front_owner, resume=False
        ) as front:
            ids = await front.engine.submit_many(
                flow("good"), [{"topic": TOPIC}] * 12, keys=[f"l{i}" for i in range(12)]
            )
        before = await versions(m, ids)
        await roll_back(m, w)
        await asyncio.sleep(0.5)  # the hand-off lapses
        taken = await m.engine.resume_unfinished()
        assert set(ids) <= set(taken)
        for i in ids:
            await asyncio.wait_for(m.engine.wait(i), 30)
        await check_rerouted(m, w, [i for i, v in before.items() if v == v2], v1, v2)
