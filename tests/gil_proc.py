"""A real process for the GIL kill -9 test: approve a payout (phase 1) or resume (phase 2)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gil_app import FLOW, Ledger, actions, agents
from maestro_helix import Maestro
from maestro_helix.governance.policy import Decision, Role


async def approve(db: str, ledger: str) -> None:
    async with Maestro.open(db, agents=agents(), action_types=actions(Ledger(Path(ledger)))) as m:
        run_id = await m.engine.submit(
            FLOW, {"supplier": "acme", "amount": 2500}, operator_id="requester"
        )
        await m.engine.wait(run_id)
        (req,) = await m.store.list_requests(run_id=run_id)
        await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        print(run_id, flush=True)
        await m.governance.decide(
            req.request_id,
            operator_id="bob",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        print("executed", flush=True)


async def resume(db: str, ledger: str, run_id: str) -> None:
    """A restarted process: its housekeeping takes the dead claimer's action over once the
    claim expires, with the same idempotency key."""
    async with Maestro.open(
        db,
        agents=agents(),
        action_types=actions(Ledger(Path(ledger))),
        housekeeping_s=0.2,
    ) as m:
        result = await m.engine.wait(run_id)
        while any(i.status == "started" for i in await m.store.intents_of(run_id)):
            await asyncio.sleep(0.1)
        print(result.status.value, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "approve":
        asyncio.run(approve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(resume(sys.argv[2], sys.argv[3], sys.argv[4]))
