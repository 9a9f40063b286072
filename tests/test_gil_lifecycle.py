"""GIL end to end on both backends: amount tiers and the rule in words, decisions that follow
the run, payload binding, missing handlers, and invariants no policy can loosen."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import refund_app
from gil_app import FLOW as PAYOUT
from gil_app import Ledger
from gil_app import actions as payout_actions
from gil_app import agents as payout_agents
from maestro_helix import Maestro
from maestro_helix.core.errors import ConfigError
from maestro_helix.governance.policy import Decision, Role, load_policy, parse_policy
from maestro_helix.store import schema as t
from maestro_helix.store.base import RunStatus, Store

StoreFactory = Callable[[], Store]


@pytest.fixture
def refunds(tmp_path: Path) -> refund_app.Refunds:
    return refund_app.Refunds(tmp_path / "refunds.jsonl")


def _open(stores: StoreFactory, refunds: refund_app.Refunds, **kw: Any) -> Any:
    return Maestro.open(
        stores(),
        agents=refund_app.agents(),
        action_types=refund_app.actions(refunds),
        policy=parse_policy(refund_app.POLICY, "refund policy"),
        **kw,
    )


async def _refund(m: Maestro, amount: float, operator: str = "requester") -> tuple[str, Any]:
    run_id = await m.engine.submit(
        refund_app.FLOW, {"customer": "C-11", "amount": amount}, operator_id=operator
    )
    result = await m.engine.wait(run_id)
    reqs = await m.store.list_requests(run_id=run_id)
    return run_id, (result, reqs)


async def _approve(m: Maestro, req: Any, who: str) -> Any:
    return await m.governance.decide(
        req.request_id,
        operator_id=who,
        role=Role.APPROVER,
        decision=Decision.APPROVE,
        payload_hash_seen=req.payload_hash,
    )


async def test_refund_tiers_automatic_one_person_two_people(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    async with _open(stores, refunds) as m:
        _, (small, none) = await _refund(m, 50)
        assert small.status is RunStatus.COMPLETED and none == []
        assert [e["amount"] for e in refunds.entries()] == [50.0]

        _, (mid, (one,)) = await _refund(m, 300)
        assert mid.status is RunStatus.ESCALATED and one.required_approvals == 1
        assert one.scores["rule"] == "refunds above 100 up to 500 USD need one person"
        assert one.reasons[0] == one.scores["rule"]
        (view,) = one.scores["actions"]
        assert view["display"] == {"amount": 300.0, "currency": "USD", "customer": "C-11"}

        run_id, (big, (two,)) = await _refund(m, 899)
        assert big.status is RunStatus.ESCALATED
        assert two.required_approvals == 2
        assert two.scores["rule"] == "refunds above 500 USD need two people"
        first = await _approve(m, two, "ann")
        assert first.request.status == "pending" and len(refunds.entries()) == 1
        second = await _approve(m, two, "bob")
        assert second.request.status == "approved"
        assert (await m.engine.wait(run_id)).status is RunStatus.COMPLETED
        (intent,) = [i for i in await m.store.intents_of(run_id)]
        assert intent.status == "succeeded" and intent.result == {"refund_id": "R-0002"}
        # the request's creation is audited with the payload hash the approvers bound to
        created = [
            e
            for e in await m.store.audit_entries()
            if e["kind"] == "approval.requested" and e["run_id"] == run_id
        ]
        assert [e["details"]["payload_hash"] for e in created] == [two.payload_hash]
        assert created[0]["details"]["rule"] == "refunds above 500 USD need two people"


async def test_a_cancelled_runs_request_is_withdrawn_and_cannot_be_approved(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    async with _open(stores, refunds) as m:
        run_id, (_, (req,)) = await _refund(m, 899)
        await m.engine.cancel(run_id)
        (after,) = await m.store.list_requests(run_id=run_id)
        assert after.status == "withdrawn"
        for who in ("ann", "bob"):
            out = await _approve(m, req, who)
            assert out.result == "refused" and out.refusal is not None
            assert out.refusal.code == "withdrawn"
        assert refunds.entries() == [] and await m.store.intents_of(run_id) == []
        kinds = [e["kind"] for e in await m.store.audit_entries() if e["run_id"] == run_id]
        assert "approval.withdrawn" in kinds and kinds.count("approval.refused") == 2
        assert (await m.verify_audit()).ok


async def test_a_payload_edited_in_the_database_is_never_approved(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    async with _open(stores, refunds) as m:
        run_id, (_, (req,)) = await _refund(m, 899)
        await _approve(m, req, "ann")
        body = json.loads(json.dumps(req.payload))
        body["output"]["actions"][0]["payload"]["amount"] = 9_999_999
        body["output"]["actions"][0]["payload"]["customer"] = "MALLORY"
        engine = m.store._engine
        with engine.begin() as c:  # an attacker with write access to the database
            c.execute(
                update(t.approval_requests)
                .where(t.approval_requests.c.request_id == req.request_id)
                .values(payload=body)
            )
        out = await _approve(m, req, "bob")
        assert out.result == "refused" and out.refusal is not None
        assert out.refusal.code == "payload_tampered"
        assert refunds.entries() == [] and await m.store.intents_of(run_id) == []


async def test_approval_without_a_handler_is_refused_before_it_is_recorded(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    async with _open(stores, refunds) as m:
        run_id, (_, (req,)) = await _refund(m, 300)
    # a second process that does not know the refund app (no --app): the demo's action types
    async with Maestro.open(stores(), agents=refund_app.agents()) as other:
        out = await _approve(other, req, "ann")
        assert out.result == "refused" and out.refusal is not None
        assert out.refusal.code == "no_handler"
        assert "crm.refund" in out.refusal.message and "--app" in out.refusal.message
        assert out.approvals == () and (await other.store.get_request(req.request_id))[0].status
        assert await other.store.intents_of(run_id) == []


async def test_approve_without_the_payload_hash_is_refused(
    stores: StoreFactory, ledger_path: Path
) -> None:
    ledger = Ledger(ledger_path)
    async with Maestro.open(
        stores(), agents=payout_agents(), action_types=payout_actions(ledger)
    ) as m:
        run_id = await m.engine.submit(PAYOUT, {"supplier": "acme", "amount": 2500})
        await m.engine.wait(run_id)
        (req,) = await m.store.list_requests(run_id=run_id)
        out = await m.governance.decide(
            req.request_id, operator_id="ann", role=Role.APPROVER, decision=Decision.APPROVE
        )
        assert out.refusal is not None and out.refusal.code == "payload_hash_required"


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.txt"


async def test_a_loosening_policy_file_is_refused_at_load(
    stores: StoreFactory, tmp_path: Path, ledger_path: Path
) -> None:
    p = tmp_path / "loose.json"
    p.write_text(json.dumps({"actions": {"payments.transfer": {"require_approval": False}}}))
    with pytest.raises(ConfigError) as e:
        async with Maestro.open(
            stores(),
            agents=payout_agents(),
            action_types=payout_actions(Ledger(ledger_path)),
            policy=p,
        ):
            pass
    text = str(e.value)
    assert f"{p}: actions.payments.transfer.require_approval: cannot be false" in text
    p.write_text(json.dumps({"actions": {"payments.transfer": {"approvals": 1}}}))
    with pytest.raises(ConfigError, match="approvals: must be at least 2"):
        async with Maestro.open(
            stores(),
            agents=payout_agents(),
            action_types=payout_actions(Ledger(ledger_path)),
            policy=p,
        ):
            pass


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"approve_irreversible": "no"}, "approve_irreversible", "valid boolean"),
        ({"approve_irreversible": False}, "approve_irreversible", "cannot be false"),
        ({"high_risk_approvals": 1}, "high_risk_approvals", "at least 2"),
        ({"approvals": True}, "approvals", "valid integer"),
        ({"risk_threshold": "0.3"}, "risk_threshold", "valid number"),
        ({"actions": {"x": {"tiers": [{"up_to": 5, "approvals": 1}]}}}, "actions.x", "last tier"),
    ],
)
def test_policy_files_are_parsed_strictly(
    tmp_path: Path, body: dict[str, Any], field: str, reason: str
) -> None:
    p = tmp_path / "governance.json"
    p.write_text(json.dumps(body))
    with pytest.raises(ConfigError) as e:
        load_policy(p)
    assert f"{p}: {field}" in str(e.value) and reason in str(e.value)


def test_gate_files_are_parsed_strictly(tmp_path: Path) -> None:
    from maestro_helix.helix.gate import load_gate_config

    p = tmp_path / "gates.json"
    p.write_text(json.dumps({"default": {"max_attempts": True}}))
    with pytest.raises(ConfigError, match=r"gates.json: default.max_attempts: .*valid integer"):
        load_gate_config(p)


async def test_text_the_store_cannot_hold_is_an_input_error_never_retryable(
    stores: StoreFactory, refunds: refund_app.Refunds, backend: str
) -> None:
    from maestro_helix.core.errors import InputError

    async with _open(stores, refunds) as m:
        _, (_, (req,)) = await _refund(m, 300)
        reject = m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.REJECT,
            reason="no\x00way",
        )
        if backend == "postgresql":
            with pytest.raises(InputError, match="cannot hold"):
                await reject
            (after, _) = await m.store.get_request(req.request_id)
            assert after.status == "pending", "nothing was written"
        else:  # SQLite keeps NUL characters
            assert (await reject).request.status == "rejected"


async def test_processes_starting_together_install_the_policy_once(stores: StoreFactory) -> None:
    import asyncio

    from maestro_helix.governance.policy import GovernancePolicy

    a, b = stores(), stores()
    await a.open()
    await b.open()
    try:
        got = await asyncio.gather(
            a.install_policy(GovernancePolicy(approvals=2), "2026-12-01T10:00:00+00:00"),
            b.install_policy(GovernancePolicy(expiry_s=600), "2026-12-01T10:00:00+00:00"),
        )
        assert got[0].version == got[1].version == 1
        assert got[0].digest == got[1].digest
        assert [v.version for v in await a.policy_versions()] == [1]
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_loosened_policy_stored_by_an_older_version_is_refused_and_can_be_replaced(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    from maestro_helix.governance.identity import Operator
    from maestro_helix.governance.policy import GovernancePolicy
    from maestro_helix.governance.policy_admin import apply_policy

    async with _open(stores, refunds) as m:
        engine = m.store._engine
        body = {**GovernancePolicy().canonical(), "approve_irreversible": False}
        with engine.begin() as c:  # what `record_policy` of an older version let through
            c.execute(
                t.policy_versions.insert(),
                {
                    "version": 2,
                    "digest": "x" * 64,
                    "body": body,
                    "created_at": "2026-11-30T00:00:00+00:00",
                    "created_by": None,
                },
            )
    with pytest.raises(ConfigError, match=r"stored policy version 2 .*approve_irreversible"):
        async with _open(stores, refunds):
            pass
    store = stores()
    await store.open()
    try:
        change = await apply_policy(
            store,
            GovernancePolicy(),
            Operator("root", Role.ADMIN),
            source="fixed.json",
            action_types={},
        )
        assert (change.status, change.version) == ("applied", 3)
    finally:
        await store.aclose()
    async with _open(stores, refunds) as m:
        assert m.governance.policy_version == 3


def test_approvers_by_risk_class_and_by_mri_only_raise_the_number() -> None:
    from maestro_helix.core.actions import ActionSpec, RiskClass
    from maestro_helix.core.outputs import ProposedAction
    from maestro_helix.governance.policy import requirement_for_action

    p = parse_policy(
        {
            "risk_classes": {"medium": 2},
            "actions": {
                "crm.refund": {
                    "label": "refunds",
                    "currency": "EUR",
                    "tiers": [{"up_to": 100, "approvals": 0}, {"approvals": 1}],
                    "mri": [{"above": 0.5, "approvals": 3}],
                }
            },
        },
        "p.json",
    )
    low = ActionSpec("crm.refund", reversible=True, risk_class=RiskClass.LOW)
    medium = ActionSpec("crm.refund", reversible=True, risk_class=RiskClass.MEDIUM)
    small = ProposedAction("crm.refund", {}, amount=50)
    auto = requirement_for_action(p, small, low, 0.1)
    assert (auto.needed, auto.rule) == (False, "refunds up to 100 EUR run automatically")
    by_class = requirement_for_action(p, small, medium, 0.1)
    assert (by_class.approvals, by_class.rule) == (2, "medium-risk actions need two people")
    by_mri = requirement_for_action(p, ProposedAction("crm.refund", {}, amount=500), low, 0.7)
    assert (by_mri.approvals, by_mri.rule) == (3, "refunds with MRI above 0.5 need three people")


def test_tiers_that_would_run_an_irreversible_action_without_a_person_are_refused() -> None:
    from maestro_helix.core.actions import ActionSpec, RiskClass
    from maestro_helix.governance.policy import check_invariants

    p = parse_policy(
        {"actions": {"crm.refund": {"tiers": [{"up_to": 100, "approvals": 0}, {"approvals": 1}]}}},
        "t.json",
    )
    spec = ActionSpec("crm.refund", reversible=False, risk_class=RiskClass.MEDIUM)
    with pytest.raises(ConfigError) as e:
        check_invariants(p, {spec.name: spec}, "t.json")
    assert "t.json: actions.crm.refund.tiers[0].approvals: must be at least 1" in str(e.value)


async def test_an_action_payload_edited_after_quorum_is_refused_audited_and_counted(
    stores: StoreFactory, refunds: refund_app.Refunds
) -> None:
    """The approved action's stored payload is rewritten between the deciding approval and the
    handler call: the hash recomputed before the handler runs differs, so nothing runs, the
    refusal is audited and gil_decisions_refused_total{code="payload_mismatch"} counts it."""
    from prometheus_client import CollectorRegistry

    from maestro_helix.observability.metrics import HelixMetrics

    metrics = HelixMetrics(CollectorRegistry())
    async with _open(stores, refunds, metrics=metrics) as m:
        run_id, (_, (req,)) = await _refund(m, 300)
        out = await m.governance.decide(
            req.request_id,
            operator_id="ann",
            role=Role.APPROVER,
            decision=Decision.APPROVE,
            payload_hash_seen=req.payload_hash,
            execute=False,
        )
        assert out.request.status == "approved" and len(out.intents) == 1
        with m.store._engine.begin() as c:  # an attacker with write access to the database
            c.execute(
                update(t.action_executions)
                .where(t.action_executions.c.run_id == run_id)
                .values(payload={"customer": "MALLORY", "amount": 9_999_999, "currency": "USD"})
            )
        assert await m.governance.execute(run_id=run_id) == []
        (intent,) = await m.store.intents_of(run_id)
        assert intent.status == "refused"
        assert intent.error is not None and intent.error.startswith("payload_mismatch:")
        assert refunds.entries() == []
        (refused,) = [
            e
            for e in await m.store.audit_entries()
            if e["run_id"] == run_id and e["kind"] == "action.refused"
        ]
        assert refused["details"]["reason"] == intent.error
        assert refused["details"]["payload_hash"] == out.intents[0].payload_hash
        count = metrics.registry.get_sample_value(
            "gil_decisions_refused_total", {"code": "payload_mismatch"}
        )
        assert count == 1.0
        assert (await m.verify_audit()).ok
