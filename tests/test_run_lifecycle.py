"""A run's lifecycle read the same way everywhere: the last step accepted by people completes the
run with all its outputs; live results, ``Engine.wait`` and the store agree; a workflow paused from
another process stops this process's runs at the next step boundary."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from gil_app import Ledger, actions, agents
from maestro_helix import Maestro, parse_definition
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.governance.policy import Decision, Role
from maestro_helix.helix.gate import GateConfig
from maestro_helix.helix.routing import RoutingConfig
from maestro_helix.store.base import RunStatus

PAY_LAST = parse_definition(
    {
        "name": "pay-last",
        "steps": [
            {
                "id": "confirm",
                "capability": "writing",
                "task": "Confirm the payout to ${input.supplier}",
                "input": {"supplier": "${input.supplier}"},
                "expect": {"mentions": ["${input.supplier}"]},
            },
            {
                "id": "prepare",
                "capability": "payments",
                "task": "Prepare the payout of ${input.amount} EUR to supplier ${input.supplier}",
                "input": {"supplier": "${input.supplier}", "amount": "${input.amount}",
                          "notify": False},
                "expect": {"required_fields": ["supplier", "amount"]},
                "actions": ["payments.transfer"],
            },
        ],
    }
)  # fmt: skip


async def test_a_last_step_approved_by_two_people_completes_the_run_with_all_outputs(
    stores, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(tmp_path / "ledger.txt")
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        run_id = await m.engine.submit(
            PAY_LAST, {"supplier": "acme", "amount": 2500}, operator_id="requester"
        )
        waiting = await m.engine.wait(run_id)
        assert waiting.status is RunStatus.ESCALATED
        (req,) = await m.store.list_requests(run_id=run_id)
        assert req.required_approvals == 2
        for who in ("ann", "bob"):
            await m.governance.decide(
                req.request_id,
                operator_id=who,
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=req.payload_hash,
            )
        done = await m.engine.wait(run_id)
        stored = await m.engine.result_from_store(run_id)
        rec = await m.store.get_run(run_id)
    assert done.status is RunStatus.COMPLETED and rec.status is RunStatus.COMPLETED
    assert set(done.outputs) == {"confirm", "prepare"}, "the accepted last step's output is kept"
    assert done == stored
    assert [line.split()[1] for line in ledger.entries()] == ["transfer"]


async def test_live_result_wait_and_store_give_the_same_run(stores) -> None:  # type: ignore[no-untyped-def]
    async with Maestro.open(stores(), agents=demo_agents(), action_types=demo_actions()) as m:
        defn = await m.engine.register(demo_workflow())
        for task in demo_tasks(12):
            live = await m.run(defn, task)
            assert live == await m.engine.wait(live.run_id)
            assert live == await m.engine.result_from_store(live.run_id)
            if live.status is RunStatus.COMPLETED:
                assert set(live.outputs) == {s.id for s in defn.steps}


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "maestro_helix.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
async def test_a_workflow_paused_from_another_process_stops_runs_here_at_the_next_boundary(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "p.db")
    token = _cli("operators", "add", "ops", "--role", "admin", "--db", db).strip().splitlines()[-1]
    gate = asyncio.Event()
    demo = demo_agents()

    class Gated:
        """The analysis agent waits for the test, so the pause lands mid-run."""

        def __init__(self, inner):  # type: ignore[no-untyped-def]
            self.inner, self.id, self.capabilities = inner, inner.id, inner.capabilities

        async def run(self, inp, ctx):  # type: ignore[no-untyped-def]
            await gate.wait()
            return await self.inner.run(inp, ctx)

    from maestro_helix import AgentRegistry

    reg = AgentRegistry(
        Gated(demo.get(i)) if i.startswith("analysis") else demo.get(i) for i in sorted(demo.ids())
    )
    greedy = GateConfig(routing=RoutingConfig(explore=0))  # research on the first agent
    async with Maestro.open(db, agents=reg, action_types=demo_actions(), gates=greedy) as m:
        defn = await m.engine.register(demo_workflow())
        ids = await m.engine.submit_many(defn, demo_tasks(6))
        while await m.store.count("steps") < 6:  # every run is inside its analysis step
            await asyncio.sleep(0.02)
        await asyncio.to_thread(_cli, "workflows", "pause", defn.name, "--db", db, "--token", token)
        gate.set()
        paused = [await m.engine.wait(i) for i in ids]
        assert {r.status for r in paused} == {RunStatus.PAUSED}
        assert all(len(r.attempts) == 2 for r in paused), "stopped right after the analysis step"
        await asyncio.to_thread(
            _cli, "workflows", "resume", defn.name, "--db", db, "--token", token
        )
        # this process's housekeeping is not running: another process resumed them; take them
        await m.engine.resume_unfinished()
        finished = [await m.engine.wait(i) for i in ids]
    assert {r.status for r in finished} <= {RunStatus.COMPLETED, RunStatus.ESCALATED}
    assert all(len(r.attempts) >= 3 for r in finished)


async def test_an_attempt_whose_run_was_taken_over_is_neither_stored_nor_learned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fencing: another process took the run over (a new epoch) while this one's agent worked;
    the late commit writes nothing, and the router learns nothing from it."""
    import sqlite3

    from maestro_helix import AgentRegistry

    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(inp):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return "Summary: tea is a drink brewed from leaves; tea differs by oxidation."

    agents = AgentRegistry()
    agents.add("writer", slow, {"explain"})
    flow = parse_definition(
        {"name": "one", "steps": [{"id": "s", "capability": "explain", "task": "Explain tea"}]}
    )
    db = tmp_path / "f.db"
    async with Maestro.open(db, agents=agents) as m:
        run_id = await m.engine.submit(flow, {})
        await started.wait()
        con = sqlite3.connect(db, timeout=30)  # "another process" takes the run over
        con.execute("UPDATE runs SET owner = 'other:1:x', epoch = epoch + 1 WHERE run_id = ?",
                    (run_id,))  # fmt: skip
        con.commit()
        con.close()
        with caplog.at_level(logging.INFO, logger="maestro_helix.engine.engine"):
            release.set()
            for _ in range(500):  # until the engine has tried to commit and been refused
                if any("taken over" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the late commit was never refused")
        assert await m.store.step_records(run_id) == []
        assert await m.store.all_track_records() == []
        assert (await m.store.get_run(run_id)).owner == "other:1:x"
