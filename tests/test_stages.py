"""Stages, sign-offs, routing and the canary, on SQLite and PostgreSQL, through the real engine.

A workflow with two versions: v1 (good agent) and v2 (its step runs a bad agent that escalates
every run). Promotion to staging needs a governance approver and an admin (distinct people); to
production the staging window's Go/No-Go report and the product owner; a later version reaches
production through a canary that rolls back by itself when it escalates more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.app import Maestro
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.records import RunStatus
from maestro_helix.core.rollout import (
    Arm,
    CanaryConfig,
    CanaryStatus,
    RoutePlan,
    RouteReason,
    RouteRefused,
    Stage,
    StageRefused,
)
from maestro_helix.core.workflow import WorkflowDef, parse_definition
from maestro_helix.governance.identity import Operator, add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.governance.stages import route_runs
from maestro_helix.store.base import Store
from maestro_helix.testing import RecordingBus

StoreFactory = Callable[[], Store]
TOPIC = "solar panel leasing"


def flow(agent: str, actions: tuple[str, ...] = ()) -> WorkflowDef:
    step: dict[str, Any] = {
        "id": "research",
        "agent": agent,
        "task": "Research ${input.topic}",
        "input": {"topic": "${input.topic}"},
        "expect": {"mentions": ["${input.topic}"]},
    }
    if actions:
        step["actions"] = list(actions)
    return parse_definition({"name": "brief", "steps": [step]})


def good(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"Research on {t}: {t} contracts last ten years and {t} costs fall every year."


def agents(state: dict[str, bool] | None = None) -> AgentRegistry:
    """``flaky`` is good while ``state["good"]`` (a candidate that passes staging and then
    meets production traffic it handles badly)."""
    st = state if state is not None else {"good": True}
    return AgentRegistry(
        [
            FunctionAgent("good", good, {"research"}),
            FunctionAgent("other", good, {"research"}),
            FunctionAgent(
                "flaky", lambda inp: good(inp) if st["good"] else "nothing", {"research"}
            ),
        ]
    )


ACTIONS = [ActionSpec("payments.transfer", reversible=False, handler=lambda p: None)]


async def people(store: Store) -> dict[str, Operator]:
    out = {}
    for name, role in [
        ("gina", Role.APPROVER),
        ("ada", Role.ADMIN),
        ("paul", Role.APPROVER),
        ("otto", Role.OPERATOR),
    ]:
        out[name], _ = await add_operator(store, name, role)
    return out


async def to_production(m: Maestro, ops: dict[str, Operator], defn: WorkflowDef) -> int:
    """Register, sign off to staging, run GO in staging, sign off to production."""
    assert m.rollout is not None
    v = (await m.engine.register(defn)).version
    await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
    out = await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
    assert out.stage is Stage.STAGING
    staged = await m.store.get_workflow("brief", v)
    for _ in range(3):  # the staging window: pinned runs of the staging version
        r = await m.engine.run(staged, {"topic": TOPIC}, pin=True)
        assert r.status is RunStatus.COMPLETED
    await m.rollout.promote("brief", v, Stage.PRODUCTION, ops["paul"], "product_owner")
    return v


async def test_sign_offs_refuse_wrong_role_same_person_twice_and_a_missing_report(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(stores(), agents=agents()) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        v = (await m.engine.register(flow("good"))).version
        with pytest.raises(StageRefused, match="needs role approver"):
            await m.rollout.promote("brief", v, Stage.STAGING, ops["otto"], "governance")
        with pytest.raises(StageRefused, match="needs role admin"):
            await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "admin")
        first = await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "governance")
        assert first.missing == ("admin",) and first.stage is Stage.DRAFT
        with pytest.raises(StageRefused, match="distinct people"):
            await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
        with pytest.raises(StageRefused, match="missing sign-off"):  # no sign-off of the caller
            await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"])
        assert (await m.store.stage_view("brief")).versions[0].stage is Stage.DRAFT
        # a second admin completes the review
        ada2, _ = await add_operator(m.store, "ada2", Role.ADMIN)
        done = await m.rollout.promote("brief", v, Stage.STAGING, ada2, "admin")
        assert done.stage is Stage.STAGING
        # production: no run in the staging window yet -> the report is NO-GO -> refused
        with pytest.raises(StageRefused, match="not GO"):
            await m.rollout.promote("brief", v, Stage.PRODUCTION, ops["paul"], "product_owner")
        kinds = [e["kind"] for e in await m.store.audit_entries()]
    assert kinds.count("workflow.signoff") == 2  # the refused ones wrote nothing
    assert kinds.count("workflow.promoted") == 1


async def test_an_irreversible_action_needs_an_explicit_approval_to_leave_draft(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(stores(), agents=agents(), action_types=ACTIONS) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        v = (await m.engine.register(flow("good", ("payments.transfer",)))).version
        await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
        out = await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
        assert out.missing == ("irreversible",) and out.stage is Stage.DRAFT
        with pytest.raises(StageRefused, match="distinct people"):
            await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "irreversible")
        out = await m.rollout.promote("brief", v, Stage.STAGING, ops["paul"], "irreversible")
        assert out.stage is Stage.STAGING
        signs = (await m.store.stage_view("brief")).versions[0].signoffs
    rec = next(s for s in signs if s.signed_as == "irreversible")
    assert rec.details["irreversible_actions"] == ["payments.transfer"]


async def test_from_draft_to_production_then_every_new_run_gets_production(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(stores(), agents=agents()) as m:
        ops = await people(m.store)
        # nothing promoted: a run gets the version submitted (the newest)
        r0 = await m.run(flow("good"), {"topic": TOPIC})
        assert r0.status is RunStatus.COMPLETED
        v1 = await to_production(m, ops, flow("good"))
        assert (await m.store.route_plan("brief")).production == v1
        # a newer draft submitted without a pin still runs production
        r = await m.run(flow("other"), {"topic": TOPIC})
        assert (await m.store.get_run(r.run_id)).workflow_version == v1
        entries = await m.store.audit_entries()
        why = {
            run_id: next(
                e for e in await m.store.events(run_id=run_id) if e.type == "run.submitted"
            )
            for run_id in (r0.run_id, r.run_id)
        }
    # recorded on the run: which version and why
    assert why[r0.run_id].payload["route"]["reason"] == RouteReason.NEWEST
    assert why[r.run_id].payload["route"] == {
        "version": v1,
        "reason": RouteReason.PRODUCTION,
        "canary_id": None,
        "arm": None,
    }
    promoted = [e for e in entries if e["kind"] == "workflow.promoted"]
    assert [p["details"]["to"] for p in promoted] == ["staging", "production"]
    assert promoted[1]["details"]["report"]["verdict"] == "GO"
    assert promoted[1]["details"]["report"]["finished"] == 3


def test_canary_assignment_is_stable_by_key_and_near_the_share() -> None:
    plan = RoutePlan("w", 1, "canary-1", 2, 0.10, token="t")
    ids = [f"run-{i}" for i in range(4000)]
    keys = [f"customer-{i % 400}" for i in range(4000)]
    routes = route_runs(plan, 2, ids, keys)
    by_key: dict[str, set[int]] = {}
    for k, r in zip(keys, routes, strict=True):
        by_key.setdefault(k, set()).add(r.version)
    assert all(len(v) == 1 for v in by_key.values())  # one customer, one side
    share = sum(r.arm is Arm.CANDIDATE for r in routes) / len(routes)
    assert 0.06 < share < 0.14
    again = route_runs(plan, 2, [f"x-{i}" for i in range(4000)], keys)
    assert [r.version for r in again] == [r.version for r in routes]
    # no key: the run id decides; a different canary splits the keys afresh
    other = route_runs(RoutePlan("w", 1, "canary-2", 2, 0.10, token="t"), 2, ids, keys)
    assert [r.version for r in other] != [r.version for r in routes]


def test_a_rolled_back_version_is_refused_when_pinned() -> None:
    plan = RoutePlan("w", 1, None, None, 0.0, frozenset({2}), "t")
    with pytest.raises(RouteRefused):
        route_runs(plan, 2, ["r"], pin=True)
    assert route_runs(plan, 2, ["r"])[0].version == 1  # unpinned: production


async def candidate(m: Maestro, ops: dict[str, Operator], agent: str = "flaky") -> int:
    """A second version through staging (GO) with the product owner's sign-off."""
    assert m.rollout is not None
    v = (await m.engine.register(flow(agent))).version
    await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
    await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
    staged = await m.store.get_workflow("brief", v)
    for _ in range(3):
        assert (
            await m.engine.run(staged, {"topic": TOPIC}, pin=True)
        ).status is RunStatus.COMPLETED
    out = await m.rollout.promote("brief", v, Stage.PRODUCTION, ops["paul"], "product_owner")
    assert "through a canary" in out.message and out.stage is Stage.STAGING
    return v


async def test_a_candidate_that_escalates_more_is_rolled_back_automatically(
    stores: StoreFactory,
) -> None:
    bus = RecordingBus()
    cfg = CanaryConfig(share=0.5, min_runs=10)
    state = {"good": True}
    async with Maestro.open(stores(), agents=agents(state), bus=bus) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        v1 = await to_production(m, ops, flow("good"))
        v2 = await candidate(m, ops)
        state["good"] = False  # production traffic it handles badly
        start = await m.rollout.start_canary("brief", v2, cfg, ops["otto"])
        assert start.canary is not None
        ids = await m.engine.submit_many(
            flow("good"), [{"topic": TOPIC} for _ in range(60)], keys=[f"c{i}" for i in range(60)]
        )
        results = [await m.engine.wait(i) for i in ids]
        versions = [(await m.store.get_run(i)).workflow_version for i in ids]
        assert {v1, v2} == set(versions)
        assert all(
            (r.status is RunStatus.ESCALATED) == (v == v2)
            for r, v in zip(results, versions, strict=True)
        )
        out = await m.rollout.evaluate("brief")
        assert out is not None and out.canary is not None
        assert out.canary.status is CanaryStatus.ROLLED_BACK
        assert "bar" in out.message or "stable" in out.message
        view = await m.store.stage_view("brief")
        assert {s.version: s.stage for s in view.versions}[v2] is Stage.ROLLED_BACK
        # every new run goes to stable at once, and v2 never starts again
        after = await m.engine.submit_many(flow("good"), [{"topic": TOPIC} for _ in range(30)])
        assert {(await m.store.get_run(i)).workflow_version for i in after} == {v1}
        with pytest.raises(RouteRefused):
            await m.engine.submit(
                await m.store.get_workflow("brief", v2), {"topic": TOPIC}, pin=True
            )
        for i in after:
            await m.engine.wait(i)
        entries = await m.store.audit_entries()
        rollbacks = m.metrics.canary.decisions.labels("brief", "rollback")._value.get()
    evaluated = [e for e in entries if e["kind"] == "canary.evaluated"]
    assert evaluated and evaluated[-1]["details"]["decision"] == "rollback"
    d = evaluated[-1]["details"]
    assert d["candidate"]["runs"] >= 10 and d["threshold"] == 40.0 and d["e_bar"] >= 40.0
    assert [e["kind"] for e in entries].count("canary.rolled_back") == 1
    assert any(e.type == "canary.rolled_back" for e in bus.events)
    assert rollbacks == 1


async def test_in_flight_runs_never_switch_version(stores: StoreFactory) -> None:
    async with Maestro.open(stores(), agents=agents()) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        v1 = await to_production(m, ops, flow("good"))
        v2 = await candidate(m, ops, agent="other")
        await m.engine.pause_workflow("brief")  # runs stored on v1 wait, unstarted
        held = await m.engine.submit_many(flow("good"), [{"topic": TOPIC} for _ in range(4)])
        await m.rollout.start_canary("brief", v2, CanaryConfig(share=0.5, min_runs=10), ops["otto"])
        out = await m.rollout.promote("brief", v2, Stage.PRODUCTION, ops["paul"])  # by a person
        assert out.stage is Stage.PRODUCTION
        resumed = await m.engine.resume_workflow("brief")
        assert sorted(resumed) == sorted(held)
        done = [await m.engine.wait(i) for i in held]
        steps = [await m.store.step_records(i) for i in held]
        fresh = await m.run(flow("good"), {"topic": TOPIC})
        view = await m.store.stage_view("brief")
    assert all(r.status is RunStatus.COMPLETED for r in done)
    assert all(s[0].agent_id == "good" for s in steps)  # v1's agent, after v2 went live
    assert fresh.attempts[0].agent_id == "other"
    assert {s.version: s.stage for s in view.versions}[v1] is Stage.RETIRED
    assert view.canary is not None and view.canary.status is CanaryStatus.PROMOTED


async def test_a_clean_canary_promotes_itself_after_its_sample(stores: StoreFactory) -> None:
    cfg = CanaryConfig(share=0.5, min_runs=10, promote_after=10)
    async with Maestro.open(stores(), agents=agents()) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        await to_production(m, ops, flow("good"))
        v2 = await candidate(m, ops)
        await m.rollout.start_canary("brief", v2, cfg, ops["otto"])
        nothing = await m.rollout.evaluate("brief")  # no data is never a pass
        assert nothing is not None and nothing.canary is not None
        assert nothing.canary.status is CanaryStatus.RUNNING
        ids = await m.engine.submit_many(flow("good"), [{"topic": TOPIC} for _ in range(60)])
        for i in ids:
            await m.engine.wait(i)
        out = await m.rollout.evaluate("brief")
        assert m.rollout is not None
    assert out is not None and out.canary is not None
    assert out.canary.status is CanaryStatus.PROMOTED, out.message
    assert out.canary.candidate == v2


def test_no_data_and_small_samples_never_decide() -> None:
    from maestro_helix.core.rollout import CanaryDecision
    from maestro_helix.governance.sequential import ArmCounts, evaluate

    cfg = CanaryConfig(promote_after=30)
    assert evaluate(ArmCounts(), ArmCounts(), cfg).decision is CanaryDecision.CONTINUE
    few_bad = evaluate(ArmCounts(29, 29), ArmCounts(1000, 0), cfg)
    assert few_bad.decision is CanaryDecision.CONTINUE and "minimum sample" in few_bad.reason
    assert evaluate(ArmCounts(30, 30), ArmCounts(1000, 0), cfg).decision is CanaryDecision.ROLLBACK
    assert evaluate(ArmCounts(30, 0), ArmCounts(10, 0), cfg).decision is CanaryDecision.CONTINUE
    assert evaluate(ArmCounts(30, 0), ArmCounts(300, 0), cfg).decision is CanaryDecision.PROMOTE


def test_canary_settings_may_only_tighten_the_guardrails() -> None:
    bad = CanaryConfig(share=0.9, min_runs=3, alpha=0.2, bar=0.05).problems()
    assert {f for f, _ in bad} == {"share", "min_runs", "alpha", "bar"}
    assert CanaryConfig(bar=0.01, alpha=0.01).problems() == []
