"""GIL: approvals with the two-person rule, refusals, expiry, and actions that run once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gil_app import FLOW, Ledger, actions, agents
from maestro_helix import ActionSpec, AgentRegistry, Maestro, RiskClass, parse_definition
from maestro_helix.core.actions import ActionSpec as _Spec
from maestro_helix.core.errors import ConfigError, MaestroError
from maestro_helix.core.outputs import ProposedAction
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.policy import (
    ActionRule,
    Decision,
    GovernancePolicy,
    Role,
    load_policy,
    payload_hash,
    requirement_for_action,
)
from maestro_helix.governance.policy_admin import apply_policy, decide_policy_change
from maestro_helix.store.base import RunStatus, Store
from maestro_helix.testing import FakeClock

StoreFactory = Callable[[], Store]
INPUT = {"supplier": "acme", "amount": 2500}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.txt")


async def _payout(m: Maestro, operator: str = "requester") -> tuple[str, Any]:
    run_id = await m.engine.submit(FLOW, INPUT, operator_id=operator)
    result = await m.engine.wait(run_id)
    assert result.status is RunStatus.ESCALATED
    (req,) = await m.store.list_requests(run_id=run_id)
    return run_id, req


async def test_high_risk_payout_needs_two_distinct_approvers_then_runs_once(
    stores: StoreFactory, ledger: Ledger
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        run_id, req = await _payout(m)
        assert req.kind == "escalation" and req.required_approvals == 2
        assert any("two-person" in r for r in req.reasons)
        g = m.governance
        first = await g.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert first.result == "recorded" and first.request.status == "pending"
        assert ledger.entries() == [], "nothing runs on one approval"
        again = await g.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert again.result == "replayed" and again.request.status == "pending"
        second = await g.decide(
            req.request_id,
            operator_id="bob",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert second.request.status == "approved"
        assert second.run_status is RunStatus.RUNNING
        await m.engine.resume_unfinished()
        done = await m.engine.wait(run_id)
        assert done.status is RunStatus.COMPLETED
        assert [a.step_id for a in done.attempts][-1] == "confirm"
        # the replayed approval changed nothing; the transfer ran exactly once
        transfers = [e for e in ledger.entries() if " transfer " in e]
        assert len(transfers) == 1 and "acme 2500" in transfers[0]
        decisions = [e for e in await m.store.audit_entries() if e["kind"] == "approval.decision"]
        assert [(e["human_operator_id"], e["gil_decision"]) for e in decisions] == [
            ("ann", "approved 1 of 2"),
            ("bob", "approved"),
        ]
        executed = [e for e in await m.store.audit_entries() if e["kind"] == "action.executed"]
        assert {e["gil_decision"] for e in executed} == {"executed"}
        assert (await m.verify_audit()).ok


async def test_operator_who_started_the_run_cannot_approve(
    stores: StoreFactory, ledger: Ledger
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        _, req = await _payout(m, operator="carol")
        out = await m.governance.decide(
            req.request_id,
            operator_id="carol",
            role=Role.ADMIN,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert out.result == "refused" and out.refusal is not None
        assert out.refusal.code in ("requester", "run_operator")
        refused = [e for e in await m.store.audit_entries() if e["kind"] == "approval.refused"]
        assert refused[0]["human_operator_id"] == "carol"


@pytest.mark.parametrize(
    ("role", "decision", "reason", "code"),
    [
        (Role.VIEWER, Decision.APPROVE, None, "forbidden"),
        (Role.OPERATOR, Decision.APPROVE, None, "forbidden"),
        (Role.APPROVER, Decision.OVERRIDE, "looks fine", "forbidden"),
        (Role.APPROVER, Decision.REJECT, "  ", "reason_required"),
    ],
)
async def test_decisions_outside_the_operators_rights_are_refused(
    stores: StoreFactory,
    ledger: Ledger,
    role: Role,
    decision: Decision,
    reason: str | None,
    code: str,
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        _, req = await _payout(m)
        out = await m.governance.decide(
            req.request_id, operator_id="dan", role=role, decision=decision, reason=reason
        )
        assert out.result == "refused" and out.refusal is not None
        assert out.refusal.code == code


async def test_approver_cannot_change_their_decision(stores: StoreFactory, ledger: Ledger) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        _, req = await _payout(m)
        g = m.governance
        await g.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        out = await g.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.REJECT,
            reason="changed my mind",
        )
        assert out.refusal is not None and out.refusal.code == "already_decided"


async def test_changed_payload_voids_the_decision(stores: StoreFactory, ledger: Ledger) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        _, req = await _payout(m)
        stale = payload_hash("escalation", {**req.payload, "step": "tampered"})
        out = await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=stale,
        )
        assert out.refusal is not None and out.refusal.code == "payload_changed"
        ok = await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert ok.result == "recorded"


async def test_expired_request_cannot_be_approved_and_the_run_fails(
    stores: StoreFactory, ledger: Ledger
) -> None:
    clock = FakeClock()
    async with Maestro.open(
        stores(), agents=agents(), action_types=actions(ledger), clock=clock
    ) as m:
        run_id, req = await _payout(m)
        clock.advance(4 * 3600 + 1)
        out = await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        assert out.refusal is not None and "expired" in out.refusal.message
        assert (await m.store.get_run(run_id)).status is RunStatus.FAILED
        assert ledger.entries() == []


async def test_expiry_can_escalate_to_one_more_approver(
    stores: StoreFactory, ledger: Ledger
) -> None:
    clock = FakeClock()
    policy = GovernancePolicy(on_expiry="escalate")
    async with Maestro.open(
        stores(), agents=agents(), action_types=actions(ledger), clock=clock, policy=policy
    ) as m:
        await _payout(m)
        clock.advance(timedelta(hours=4, seconds=1).total_seconds())
        (after,) = await m.governance.expire()
        assert after.status == "pending" and after.required_approvals == 3
        assert after.on_expiry == "deny"


async def test_rejection_stops_the_run_and_nothing_runs(
    stores: StoreFactory, ledger: Ledger
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        run_id, req = await _payout(m)
        out = await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.REJECT,
            reason="wrong supplier",
        )
        assert out.request.status == "rejected" and out.run_status is RunStatus.FAILED
        rec = await m.store.get_run(run_id)
        assert rec.status is RunStatus.FAILED and "rejected" in (rec.error or "")
        assert ledger.entries() == []


async def test_an_override_never_lowers_the_quorum_two_admins_settle_it(
    stores: StoreFactory, ledger: Ledger
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        run_id, req = await _payout(m)
        assert req.required_approvals == 2
        one = await m.governance.decide(
            req.request_id,
            operator_id="root",
            role=Role.ADMIN,
            decision=Decision.OVERRIDE,
            reason="CFO signed offline",
            payload_hash_seen=req.payload_hash,
        )
        assert one.result == "recorded" and one.request.status == "pending"
        assert ledger.entries() == [], "one admin alone cannot clear a two-person request"
        two = await m.governance.decide(
            req.request_id,
            operator_id="root2",
            role=Role.ADMIN,
            decision=Decision.OVERRIDE,
            reason="confirmed with the CFO by phone",
            payload_hash_seen=req.payload_hash,
        )
        assert two.request.status == "overridden"
        assert (await m.engine.wait(run_id)).status is RunStatus.COMPLETED
        entries = [e for e in await m.store.audit_entries() if e["kind"] == "approval.decision"]
        assert [e["gil_decision"] for e in entries] == ["approved 1 of 2", "overridden"]
        assert [e["details"]["reason"] for e in entries] == [
            "CFO signed offline",
            "confirmed with the CFO by phone",
        ]
        assert len([e for e in ledger.entries() if " transfer " in e]) == 1


async def test_policy_can_require_approval_for_a_reversible_action(
    stores: StoreFactory, ledger: Ledger
) -> None:
    reg = AgentRegistry()
    reg.add(
        "mailer",
        lambda inp: {
            "text": f"Mail to {inp['to']} drafted.",
            "to": inp["to"],
            "actions": [{"type": "email.send", "payload": {"to": inp["to"]}}],
        },
        {"mail"},
    )
    flow = parse_definition(
        {
            "name": "mail",
            "steps": [
                {
                    "id": "send",
                    "capability": "mail",
                    "input": {"to": "${input.to}"},
                    "actions": ["email.send"],
                }
            ],
        }
    )
    email = _Spec("email.send", reversible=True, risk_class=RiskClass.LOW, handler=ledger.email)
    policy = GovernancePolicy(actions={"email.send": {"require_approval": True}})  # type: ignore[dict-item]
    async with Maestro.open(stores(), agents=reg, action_types=[email], policy=policy) as m:
        run_id = await m.engine.submit(flow, {"to": "ops"}, operator_id="eve")
        r = await m.engine.wait(run_id)
        assert r.status is RunStatus.ESCALATED and r.attempts[0].decision == "pass"
        (req,) = await m.store.list_requests(run_id=run_id)
        assert req.kind == "action" and req.action_type == "email.send"
        assert req.required_approvals == 1
        await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
        )
        await m.engine.resume_unfinished()
        assert (await m.engine.wait(run_id)).status is RunStatus.COMPLETED
    assert len(ledger.entries()) == 1


async def test_reversible_low_risk_action_runs_without_approval(
    stores: StoreFactory, ledger: Ledger
) -> None:
    reg = AgentRegistry()
    reg.add(
        "mailer",
        lambda inp: {
            "text": f"Mail to {inp['to']} drafted.",
            "actions": [{"type": "email.send", "payload": {"to": inp["to"]}}],
        },
        {"mail"},
    )
    flow = parse_definition(
        {
            "name": "mail",
            "steps": [
                {
                    "id": "send",
                    "capability": "mail",
                    "input": {"to": "${input.to}"},
                    "actions": ["email.send"],
                }
            ],
        }
    )
    email = _Spec("email.send", reversible=True, risk_class=RiskClass.LOW, handler=ledger.email)
    async with Maestro.open(stores(), agents=reg, action_types=[email]) as m:
        r = await m.run(flow, {"to": "ops"})
        assert r.status is RunStatus.COMPLETED
        assert await m.store.list_requests(run_id=r.run_id) == []
    assert len(ledger.entries()) == 1


async def test_a_process_never_overwrites_the_active_policy(stores: StoreFactory) -> None:
    async with Maestro.open(stores(), agents=agents()) as m:
        assert m.governance.policy_version == 1
    async with Maestro.open(stores(), agents=agents(), policy=GovernancePolicy(approvals=2)) as m2:
        assert m2.governance.policy_version == 1
        assert m2.governance.policy.approvals == 1, "the active policy stays in force"
        changes = [e for e in await m2.store.audit_entries() if e["kind"] == "policy.changed"]
        assert [c["details"]["version"] for c in changes] == [1]


async def test_policy_apply_tightens_at_once_and_a_loosening_needs_a_second_admin(
    stores: StoreFactory,
) -> None:
    ann, bob = Operator("ann", Role.ADMIN), Operator("bob", Role.ADMIN)
    async with Maestro.open(stores(), agents=agents()) as m:
        tight = await apply_policy(
            m.store, GovernancePolicy(approvals=2), ann, source="t.json", action_types={}
        )
        assert (tight.status, tight.version) == ("applied", 2)
        loose = await apply_policy(
            m.store, GovernancePolicy(approvals=1), ann, source="l.json", action_types={}
        )
        assert loose.status == "pending" and loose.version is None
        assert any("approvals: lowered from 2 to 1" in x for x in loose.loosens)
        assert (await m.store.active_policy()).version == 2
        with pytest.raises(MaestroError, match="second admin"):
            await decide_policy_change(m.store, loose.change_id, ann, approve=True)
        done = await decide_policy_change(m.store, loose.change_id, bob, approve=True)
        assert (done.status, done.version) == ("applied", 3)
        assert await m.governance.refresh_policy()
        assert m.governance.policy_version == 3
        kinds = [
            (e["kind"], e["human_operator_id"])
            for e in await m.store.audit_entries()
            if e["kind"].startswith("policy.")
        ]
        assert kinds == [
            ("policy.changed", ""),
            ("policy.changed", "ann"),
            ("policy.proposed", "ann"),
            ("policy.refused", "ann"),
            ("policy.changed", "bob"),
        ]
        # refused outright, and audited: a viewer, and a rule loosening an invariant
        transfer = _Spec("payments.transfer", reversible=False, risk_class=RiskClass.HIGH)
        waive = GovernancePolicy(actions={"payments.transfer": ActionRule(require_approval=False)})
        with pytest.raises(MaestroError, match="needs an admin"):
            await apply_policy(
                m.store, waive, Operator("vic", Role.VIEWER), source="w.json", action_types={}
            )
        with pytest.raises(ConfigError, match="require_approval: cannot be false"):
            await apply_policy(
                m.store, waive, bob, source="w.json", action_types={transfer.name: transfer}
            )
        refused = [e for e in await m.store.audit_entries() if e["kind"] == "policy.refused"]
        assert [e["human_operator_id"] for e in refused] == ["ann", "vic", "bob"]
        assert (await m.store.active_policy()).version == 3


def test_irreversible_action_needs_one_approval_high_risk_two() -> None:
    p = GovernancePolicy()
    spec = ActionSpec("crm.refund", reversible=False, risk_class=RiskClass.MEDIUM)
    low = requirement_for_action(p, ProposedAction("crm.refund", {}, amount=10), spec, 0.1)
    assert (low.needed, low.approvals) == (True, 1)
    big = requirement_for_action(p, ProposedAction("crm.refund", {}, amount=500_000), spec, 0.1)
    assert (big.needed, big.approvals) == (True, 2)
    risky = requirement_for_action(p, ProposedAction("crm.refund", {}), spec, 0.7)
    assert risky.approvals == 2


def test_reversible_low_risk_action_needs_no_approval() -> None:
    spec = ActionSpec("email.send", reversible=True, risk_class=RiskClass.LOW)
    req = requirement_for_action(GovernancePolicy(), ProposedAction("email.send", {}), spec, 0.1)
    assert not req.needed


def test_payload_hash_binds_type_and_payload() -> None:
    a = payload_hash("payments.transfer", {"amount": 10, "to": "x"})
    assert a == payload_hash("payments.transfer", {"to": "x", "amount": 10})
    assert a != payload_hash("payments.transfer", {"amount": 11, "to": "x"})
    assert a != payload_hash("crm.refund", {"amount": 10, "to": "x"})


def test_malformed_policy_file_names_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "governance.json"
    p.write_text(json.dumps({"high_risk_approvals": 0, "actions": {"x": {"approvals": "two"}}}))
    with pytest.raises(ConfigError) as e:
        load_policy(p)
    text = str(e.value)
    assert "governance.json: high_risk_approvals" in text
    assert "governance.json: actions.x.approvals" in text


def test_policy_with_high_bar_below_low_bar_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "governance.json"
    p.write_text(json.dumps({"risk_threshold": 0.5, "high_risk_threshold": 0.4}))
    with pytest.raises(ConfigError, match="high_risk_threshold: must not be below"):
        load_policy(p)


def test_repo_policy_file_is_valid() -> None:
    policy = load_policy(Path(__file__).parents[1] / "config" / "governance.json")
    assert policy.high_risk_approvals == 2


async def test_a_closing_process_finishes_the_handler_call_it_started(
    stores: StoreFactory, ledger: Ledger
) -> None:
    """Closing (SIGTERM, a CLI command ending) waits for an action handler in flight: the
    effect and its finished attempt are both recorded, nothing is left for another process to
    call again."""
    import asyncio

    started, specs = _slow_transfers(ledger, 1.5)
    store = stores()
    async with Maestro.open(store, agents=agents(), action_types=specs) as m:
        _, req = await _payout(m)
        for who in ("ann", "bob"):
            decision = m.governance.decide(
                req.request_id,
                operator_id=who,
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=req.payload_hash,
            )
            if who == "ann":
                await decision
        deciding = asyncio.ensure_future(decision)
        await asyncio.to_thread(started.wait, 10)
        assert not deciding.done(), "the handler is still running when the process closes"
    # closed: the handler's call finished and was recorded before the store closed
    assert [e for e in ledger.entries() if " transfer " in e], "the effect happened"
    async with Maestro.open(stores(), agents=agents(), action_types=specs) as again:
        intents = await again.store.intents_of(req.run_id)
        (intent,) = [i for i in intents if i.action_type == "payments.transfer"]
        assert intent.status == "succeeded"
        attempts = await again.store.action_attempts(intent.idempotency_key)
        assert len(attempts) == 1 and attempts[0].outcome == "succeeded"
    with contextlib.suppress(Exception):
        await deciding


async def test_late_lease_renewals_never_hand_an_action_in_flight_to_another_caller(
    stores: StoreFactory, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live process whose renewals are stuck (its writer queued behind a slow transaction, a
    starved CPU) keeps the action it is calling: neither its own housekeeping nor another
    process calls the handler again while its heartbeat goes on. (CI found this: a driver's
    housekeeping re-claimed five of its own transfers mid-call, 11 s into a stalled writer.)"""
    import asyncio

    from maestro_helix.core.lease import Ownership

    # the heartbeat beats every ttl/3 on its own thread: a ttl of 0.6 s flaked on a loaded CI
    # machine (a heartbeat starved past its time lapses, and a take-over is then right)
    started, specs = _slow_transfers(ledger, 4.0)
    store = stores()
    async with Maestro.open(
        store, agents=agents(), action_types=specs, ownership=Ownership(ttl_s=1.5)
    ) as m:
        _, req = await _payout(m)

        async def stuck(owner: str, ttl_s: float) -> int:
            return 0  # the renewal never reaches the database

        monkeypatch.setattr(store, "renew_leases", stuck)
        decisions = [
            m.governance.decide(
                req.request_id,
                operator_id=who,
                role=Role.APPROVER,
                decision=Decision.APPROVE,
                payload_hash_seen=req.payload_hash,
            )
            for who in ("ann", "bob")
        ]
        await decisions[0]
        deciding = asyncio.ensure_future(decisions[1])
        assert await asyncio.to_thread(started.wait, 10)
        await asyncio.sleep(2.0)  # the claim's own time (1.5 s) is over; renewals never came
        assert await m.governance.execute() == [], "its own housekeeping called it again"
        async with Maestro.open(stores(), agents=agents(), action_types=specs) as other:
            assert await other.governance.execute() == [], "another process called it again"
        await deciding
        intents = await m.store.intents_of(req.run_id)
        (intent,) = [i for i in intents if i.action_type == "payments.transfer"]
        attempts = await m.store.action_attempts(intent.idempotency_key)
    assert [a.outcome for a in attempts] == ["succeeded"]
    assert len([e for e in ledger.entries() if " transfer " in e]) == 1


def _slow_transfers(ledger: Ledger, seconds: float) -> tuple[Any, list[_Spec]]:
    """The payout's action types with a transfer handler that takes ``seconds``; the event is
    set when a call starts."""
    import dataclasses
    import threading
    import time

    started = threading.Event()

    def slow_transfer(payload: Any, key: str) -> Any:
        started.set()
        time.sleep(seconds)
        return ledger.transfer(payload, key)

    specs = [
        dataclasses.replace(a, handler=slow_transfer) if a.name == "payments.transfer" else a
        for a in actions(ledger)
    ]
    return started, specs
