"""A run cancelled while its step is in flight: the step still commits (its work is recorded),
but nothing it cleared runs. Its automatic actions are stored refused (audited, with the
reason) and its approval requests withdrawn, in the step's own commit transaction; the engine
that made the step runs nothing. Cancelled from the same process and from another one (the
``maestro runs cancel`` CLI, which this process learns of only through the database)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import refund_app
from conftest import PG_URL
from maestro_helix import AgentRegistry, Maestro
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.governance.policy import Decision, Role, parse_policy
from maestro_helix.store.base import RunStatus, Store

StoreFactory = Callable[[], Store]
MAESTRO = [sys.executable, "-m", "maestro_helix.cli.main"]


class Held:
    """A refund agent that waits, mid-step, until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self, inp: Mapping[str, Any]) -> AgentOutput:
        self.started.set()
        self.go.wait(30)
        return refund_app.refund_agent(inp)


def _db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The same database as ``stores``, as the CLI's ``--db``."""
    if backend == "sqlite":
        return str(tmp_path / "maestro.db")
    schema = request.getfixturevalue("pg_schema")
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def _cancel_elsewhere(db: str, run_id: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run(
        [*MAESTRO, "runs", "cancel", run_id, "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "cancelled" in p.stdout


@pytest.mark.parametrize("where", ["here", "another process"])
@pytest.mark.parametrize("amount", [50, 300])
async def test_a_run_cancelled_mid_step_runs_nothing_its_step_cleared(
    stores: StoreFactory,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    where: str,
    amount: int,
) -> None:
    """50 USD: the 0-approval tier (an automatic action); 300 USD: one person (a request)."""
    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")
    held = Held()
    reg = AgentRegistry()
    reg.add("support.clerk", held, {"support"})
    db = _db_url(backend, tmp_path, request)
    async with Maestro.open(
        stores(),
        agents=reg,
        action_types=refund_app.actions(refunds),
        policy=parse_policy(refund_app.POLICY, "refund policy"),
    ) as m:
        run_id = await m.engine.submit(
            refund_app.FLOW, {"customer": "C-1", "amount": amount}, operator_id="requester"
        )
        while not held.started.is_set():
            await asyncio.sleep(0.01)
        if where == "here":
            await m.engine.cancel(run_id)
        else:
            await asyncio.to_thread(_cancel_elsewhere, db, run_id)
        assert (await m.store.get_run(run_id)).status is RunStatus.CANCELLED
        held.go.set()
        result = await asyncio.wait_for(m.engine.wait(run_id), 30)
        assert result.status is RunStatus.CANCELLED
        await m.governance.drain()
        # the step itself is recorded: the work was done
        assert len(await m.store.step_records(run_id)) == 1
        assert (await m.store.get_run(run_id)).status is RunStatus.CANCELLED
        intents = await m.store.intents_of(run_id)
        reqs = await m.store.list_requests(run_id=run_id)
        audit = [e for e in await m.store.audit_entries() if e["run_id"] == run_id]
        kinds = [e["kind"] for e in audit]
        if amount == 50:
            (intent,) = intents
            assert intent.status == "refused", intent
            assert intent.error is not None and intent.error.startswith("run_stopped:")
            assert intent.attempts == 0 and intent.owner is None
            assert reqs == []
            (refused,) = [e for e in audit if e["kind"] == "action.refused"]
            assert refused["details"]["reason"] == intent.error
            assert "action.executed" not in kinds
            # nobody takes it up later either: housekeeping's execute claims nothing
            assert await m.governance.execute(run_id=run_id) == []
        else:
            assert intents == []
            (req,) = reqs
            assert req.status == "withdrawn"
            assert "approval.withdrawn" in kinds
            out = await m.governance.decide(
                req.request_id,
                operator_id="ann",
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=req.payload_hash,
            )
            assert out.refusal is not None and out.refusal.code == "withdrawn"
        assert refunds.entries() == []
        assert (await m.verify_audit()).ok
