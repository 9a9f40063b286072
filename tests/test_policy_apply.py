"""`policy apply` sees every loosening, and no applied policy can brick a process.

A rule for an action type the old policy did not mention is compared with the rule that was in
force for it (the policy's defaults); a longer expiry is a loosening. An apply that does not know
the app (no ``--app``) holds a rule for a type it does not know to the floor of an unregistered
type (two people), so it never stores what a process of the app would refuse; and a process
whose housekeeping finds such a policy anyway keeps its last good one (logged, counted)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gil_app import Ledger, actions, agents
from maestro_helix import Maestro
from maestro_helix.core.errors import ConfigError
from maestro_helix.engine.housekeeping import housekeep_once
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.policy import ActionRule, GovernancePolicy, Role
from maestro_helix.governance.policy_admin import apply_policy
from maestro_helix.governance.policy_change import loosenings
from maestro_helix.observability.metrics import HelixMetrics
from maestro_helix.store import schema as t
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]
ROOT = Operator("root", Role.ADMIN)


def _rule(**kw: Any) -> GovernancePolicy:
    return GovernancePolicy(actions={"crm.refund": ActionRule.model_validate(kw)})


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (_rule(require_approval=False), "actions.crm.refund.require_approval: set to false"),
        (
            _rule(tiers=[{"up_to": 100, "approvals": 0}, {"approvals": 2}]),
            "actions.crm.refund.tiers: amounts up to 100 need 0 where the thresholds could "
            "ask for 2",
        ),
        (
            _rule(amount_limit=50_000),
            "actions.crm.refund.amount_limit: raised from 10000 to 50000",
        ),
        (_rule(expiry_s=8 * 3600), "actions.crm.refund.expiry_s: raised from 14400 to 28800"),
        (GovernancePolicy(expiry_s=8 * 3600), "expiry_s: raised from 14400 to 28800"),
    ],
    ids=["waived", "zero-tier", "amount-limit", "action-expiry", "expiry"],
)
def test_a_rule_for_a_type_the_old_policy_did_not_mention_is_compared_with_the_defaults(
    new: GovernancePolicy, expected: str
) -> None:
    assert loosenings(GovernancePolicy(), new) == [expected]


@pytest.mark.parametrize(
    "new",
    [
        _rule(require_approval=True),
        _rule(approvals=2),
        _rule(amount_limit=500),
        _rule(expiry_s=600),
        _rule(tiers=[{"up_to": 100, "approvals": 2}, {"approvals": 3}]),
        _rule(mri=[{"above": 0.2, "approvals": 2}]),
        GovernancePolicy(expiry_s=600),
    ],
)
def test_tightening_a_type_the_old_policy_did_not_mention_is_no_loosening(
    new: GovernancePolicy,
) -> None:
    assert loosenings(GovernancePolicy(), new) == []


def test_the_types_own_magnitude_limit_is_the_one_in_force() -> None:
    from maestro_helix.core.actions import ActionSpec

    spec = ActionSpec("crm.refund", reversible=True, amount_limit=1000)
    new = _rule(amount_limit=5000)  # below the policy's 10,000, above the type's own 1,000
    assert loosenings(GovernancePolicy(), new, {"crm.refund": spec}) == [
        "actions.crm.refund.amount_limit: raised from 1000 to 5000"
    ]


async def test_apply_without_the_app_refuses_what_the_apps_invariants_refuse(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """The probe: an apply knowing no action types stored a waived irreversible transfer; then
    every housekeeping of the app's processes raised and every restart failed."""
    ledger = Ledger(tmp_path / "ledger.txt")
    waive = GovernancePolicy(actions={"payments.transfer": ActionRule(require_approval=False)})
    one = GovernancePolicy(actions={"payments.transfer": ActionRule(approvals=1)})
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m:
        for bad, field in ((waive, "require_approval: cannot be false"), (one, "approvals")):
            with pytest.raises(ConfigError) as e:
                await apply_policy(m.store, bad, ROOT, source="w.json", action_types={})
            text = str(e.value)
            assert f"w.json: actions.payments.transfer.{field}" in text
            assert "not an action type known here" in text and "--app" in text
        assert (await m.store.active_policy()).version == 1
        await housekeep_once(m.engine, m.governance)
        # a rule at the unknown-type floor (two people) is fine without the app
        ok = GovernancePolicy(actions={"payments.transfer": ActionRule(approvals=3)})
        change = await apply_policy(m.store, ok, ROOT, source="ok.json", action_types={})
        assert (change.status, change.version) == ("applied", 2)
        await housekeep_once(m.engine, m.governance)
        assert m.governance.policy_version == 2
    async with Maestro.open(stores(), agents=agents(), action_types=actions(ledger)) as m2:
        assert m2.governance.policy_version == 2


async def test_housekeeping_keeps_the_last_good_policy(
    stores: StoreFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A policy stored behind every check (an older version, by hand) that loosens an invariant
    for this app: the running process keeps its policy, logs and counts it once."""
    ledger = Ledger(tmp_path / "ledger.txt")
    metrics = HelixMetrics(CollectorRegistry())
    async with Maestro.open(
        stores(), agents=agents(), action_types=actions(ledger), metrics=metrics
    ) as m:
        bad = GovernancePolicy(actions={"payments.transfer": ActionRule(require_approval=False)})
        with m.store._engine.begin() as c:  # type: ignore[attr-defined]
            c.execute(
                t.policy_versions.insert(),
                {
                    "version": 2,
                    "digest": bad.digest(),
                    "body": bad.canonical(),
                    "created_at": "2026-12-01T00:00:00+00:00",
                    "created_by": None,
                },
            )
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                await housekeep_once(m.engine, m.governance)  # never raises
        assert m.governance.policy_version == 1
        assert m.governance.policy == GovernancePolicy()
        refused = [r for r in caplog.records if "keeping the last good one" in r.getMessage()]
        assert len(refused) == 1
        value = metrics.registry.get_sample_value("gil_policy_refused_total")
        assert value == 1.0


async def test_a_running_process_scores_with_the_amount_limit_of_a_policy_applied_later(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """MRI's magnitude limits follow the active policy: after `policy apply` lowers the refund
    limit, the running process scores the same refund as a process started afterwards does."""
    import refund_app
    from maestro_helix.governance.policy import parse_policy

    refunds = refund_app.Refunds(tmp_path / "refunds.jsonl")

    def _open() -> Any:
        return Maestro.open(
            stores(),
            agents=refund_app.agents(),
            action_types=refund_app.actions(refunds),
            policy=parse_policy(refund_app.POLICY, "refund policy"),
        )

    async def _mri(m: Maestro) -> float:
        run_id = await m.engine.submit(refund_app.FLOW, {"customer": "C-1", "amount": 50})
        await m.engine.wait(run_id)
        (step,) = await m.store.step_records(run_id)
        assert step.mri is not None
        return step.mri

    async with _open() as m:
        before = await _mri(m)  # limit 1,000: a 50 USD refund is small
        body = dict(refund_app.POLICY["actions"]["crm.refund"], amount_limit=60)
        tighter = GovernancePolicy(actions={"crm.refund": ActionRule.model_validate(body)})
        specs = {a.name: a for a in refund_app.actions(refunds)}
        change = await apply_policy(m.store, tighter, ROOT, source="t.json", action_types=specs)
        assert change.status == "applied", change.loosens
        await housekeep_once(m.engine, m.governance)
        assert m.governance.policy_version == change.version
        after = await _mri(m)
    async with _open() as fresh:
        assert fresh.governance.policy_version == change.version
        started_later = await _mri(fresh)
    assert after > before
    assert after == pytest.approx(started_later)
