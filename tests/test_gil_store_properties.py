"""The same properties through the real store (SQLite): random sequences of decisions by
operators of every role, some with a stale hash, some on a payload an attacker edited in the
database. Whatever happens, a refund runs only after enough distinct eligible people accepted the
exact payload they saw, and exactly once."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

import refund_app
from maestro_helix import Maestro
from maestro_helix.governance.policy import Decision, Role, parse_policy
from maestro_helix.store import schema as t
from maestro_helix.store.sqlite import SQLiteStore

PEOPLE = {"requester": Role.ADMIN, "vic": Role.VIEWER, "olga": Role.OPERATOR}
PEOPLE |= {"ann": Role.APPROVER, "bob": Role.APPROVER, "ada": Role.ADMIN, "abe": Role.ADMIN}

decision = st.tuples(
    st.sampled_from(sorted(PEOPLE)),
    st.sampled_from(list(Decision)),
    st.sampled_from([None, "ok"]),
    st.booleans(),  # sends the hash shown (else a stale one)
)
case = st.tuples(
    st.sampled_from([300.0, 899.0]),  # one person / two people
    st.booleans(),  # the stored payload is edited after the request was made
    st.lists(decision, max_size=8),
)


async def _case(m: Maestro, amount: float, tamper: bool, seq: list[Any]) -> None:
    run_id = await m.engine.submit(
        refund_app.FLOW, {"customer": "C-11", "amount": amount}, operator_id="requester"
    )
    await m.engine.wait(run_id)
    (req,) = await m.store.list_requests(run_id=run_id)
    if tamper:
        body = json.loads(json.dumps(req.payload))
        body["output"]["actions"][0]["payload"]["amount"] = 9_999_999
        with m.store._engine.begin() as c:  # type: ignore[attr-defined]
            c.execute(
                update(t.approval_requests)
                .where(t.approval_requests.c.request_id == req.request_id)
                .values(payload=body)
            )
    for who, d, reason, fresh in seq:
        await m.governance.decide(
            req.request_id,
            operator_id=who,
            role=PEOPLE[who],
            decision=d,
            reason=reason,
            payload_hash_seen=req.payload_hash if fresh else "0" * 64,
        )
    after, records = await m.store.get_request(req.request_id)
    accepted = {r.operator_id for r in records if r.decision != "reject"}
    intents = await m.store.intents_of(run_id)
    if after.status in ("approved", "overridden"):
        assert not tamper
        assert len(accepted) >= (2 if amount > 500 else 1)
        assert all(PEOPLE[o].at_least(Role.APPROVER) and o != "requester" for o in accepted)
        assert [i.status for i in intents] == ["succeeded"]
        assert intents[0].payload["amount"] == amount
    else:
        assert intents == []
    for r in records:
        assert r.operator_id != "requester" and PEOPLE[r.operator_id].at_least(Role.APPROVER)
        if r.decision == "override":
            assert PEOPLE[r.operator_id] is Role.ADMIN and r.reason


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(case, min_size=1, max_size=6))
def test_random_decisions_through_the_store_never_clear_too_little(cases: list[Any]) -> None:
    async def main(folder: Path) -> None:
        refunds = refund_app.Refunds(folder / "refunds.jsonl")
        async with Maestro.open(
            SQLiteStore(folder / "p.db"),
            agents=refund_app.agents(),
            action_types=refund_app.actions(refunds),
            policy=parse_policy(refund_app.POLICY, "refund policy"),
        ) as m:
            for amount, tamper, seq in cases:
                await _case(m, amount, tamper, seq)
            n_ok = sum(
                1
                for q in await m.store.list_requests(status=None, limit=1000)
                if q.status in ("approved", "overridden")
            )
            assert len(refunds.entries()) == n_ok, "each accepted refund ran exactly once"
            assert (await m.verify_audit()).ok

    with tempfile.TemporaryDirectory() as d:
        asyncio.run(main(Path(d)))
