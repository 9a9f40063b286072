"""The router: a track record shared through the store (folded in each step commit, decayed,
the same in every process and after a restart), Thompson sampling over the composite's
posterior, the MRI ceiling, and exploration that never reaches people."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.app import Maestro
from maestro_helix.core.records import AuditFilter
from maestro_helix.core.route import RouteMode, TrackRecord
from maestro_helix.core.scores import GateDecision, GateThresholds, GateVerdict
from maestro_helix.core.workflow import parse_definition
from maestro_helix.helix.gate import GateConfig
from maestro_helix.helix.routing import (
    Observation,
    Router,
    RoutingConfig,
    RoutingWeights,
    explore_guard,
    fold,
    observation,
)
from maestro_helix.ops.report import build_report, render_html
from maestro_helix.ops.routing_report import shares
from maestro_helix.store.base import RunStatus, Store
from maestro_helix.store.router_sql import _epoch

StoreFactory = Callable[[], Store]
TOPIC = "solar panel leasing"
FLOW = parse_definition(
    {
        "name": "routed",
        "steps": [
            {
                "id": "research",
                "capability": "research",
                "task": "Research ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"required_fields": ["sources"], "mentions": ["${input.topic}"]},
            }
        ],
    }
)


def good(inp: Mapping[str, Any]) -> dict[str, Any]:
    t = inp["topic"]
    return {
        "text": f"Research on {t}: {t} contracts last ten years and {t} costs fall each year.",
        "sources": ["kb://1"],
    }


def weak(inp: Mapping[str, Any]) -> str:
    return "Nothing to report."


def two_agents() -> AgentRegistry:
    reg = AgentRegistry()
    reg.add("good", good, {"research"}, inline=True)
    reg.add("weak", weak, {"research"}, inline=True)
    return reg


# -- the record: pure -----------------------------------------------------------------------------

obs_st = st.builds(
    Observation,
    agent_id=st.just("a"),
    capability=st.just("c"),
    t=st.floats(0, 10 * 86400),
    qsr=st.floats(0, 1),
    mri=st.floats(0, 1),
    passed=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(obs_st, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_folding_is_order_independent(obs: list[Observation], rnd: random.Random) -> None:
    """Processes committing concurrently fold the same observations in different orders: the
    record is the same either way."""
    shuffled = list(obs)
    rnd.shuffle(shuffled)
    a = b = TrackRecord("a", "c")
    for o in obs:
        a = fold(a, o, 86400.0)
    for o in shuffled:
        b = fold(b, o, 86400.0)
    assert (a.total, a.passes, a.as_of) == (b.total, b.passes, b.as_of)
    for f in ("n", "passed", "qsr_sum", "mri_sum"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-9, abs=1e-12)


def test_an_observation_halves_after_one_half_life() -> None:
    rec = fold(TrackRecord("a", "c"), Observation("a", "c", 1000.0, 0.8, 0.1, True), 3600.0)
    later = rec.at(1000.0 + 3600.0)
    assert later.n == pytest.approx(0.5) and later.qsr_sum == pytest.approx(0.4)
    assert later.total == 1  # plain counts do not decay
    assert rec.at(500.0) == rec  # reading in the past never grows a record


def test_observation_rules_are_one_for_live_and_rebuilt() -> None:
    kw: dict[str, Any] = {"agent_id": "a", "capability": "c", "t": 0.0}
    crashed = observation(
        **kw, decision="retry", qsr=None, mri=None, agent_failed=True, policy_escalation=False
    )
    assert crashed is not None and (crashed.qsr, crashed.mri, crashed.passed) == (0.0, 1.0, False)
    evaluator_crash = observation(
        **kw, decision="escalate", qsr=None, mri=None, agent_failed=False, policy_escalation=False
    )
    assert evaluator_crash is None  # not the agent's doing
    tier = observation(
        **kw, decision="escalate", qsr=0.9, mri=0.2, agent_failed=False, policy_escalation=True
    )
    assert tier is not None and tier.passed  # people asked for by the policy's amount tier


# -- choosing: pure -------------------------------------------------------------------------------


def record(agent: str, n: int, qsr: float, mri: float, pass_rate: float) -> TrackRecord:
    return TrackRecord(agent, "c", n, n * pass_rate, n * qsr, n * mri, 0.0, 86400.0, n, n)


def test_an_agent_over_the_mri_ceiling_is_not_chosen() -> None:
    router = Router(RoutingConfig(seed=1, mri_ceiling=0.25))
    recs = [record("risky", 40, 0.99, 0.4, 1.0), record("safe", 40, 0.8, 0.05, 0.9)]
    picks = {router.choose("c", ["risky", "safe"], recs, now=0.0).chosen for _ in range(50)}
    assert picks == {"safe"}
    d = router.choose("c", ["risky", "safe"], recs, now=0.0)
    (risky,) = [c for c in d.candidates if c.agent_id == "risky"]
    assert risky.excluded is not None and "ceiling" in risky.excluded


def test_the_ceiling_cannot_be_switched_off() -> None:
    with pytest.raises(ValueError, match="mri_ceiling"):
        RoutingConfig(mri_ceiling=0.9)


def test_thompson_prefers_the_better_record_and_explains_the_draw() -> None:
    router = Router(RoutingConfig(seed=3))
    recs = [record("a", 30, 0.9, 0.05, 0.95), record("b", 30, 0.6, 0.2, 0.5)]
    picks = [router.choose("c", ["a", "b"], recs, now=0.0) for _ in range(200)]
    share = sum(p.chosen == "a" for p in picks) / len(picks)
    assert share > 0.95
    d = picks[0]
    assert d.mode is RouteMode.THOMPSON and d.best == "a"
    assert all(c.draw is not None for c in d.candidates) and d.why
    assert set(d.to_dict()) >= {"candidates", "chosen", "best", "exploratory", "why", "weights"}


def test_an_equally_good_newcomer_catches_up() -> None:
    """The old router's fixed 5 % left a newcomer behind for good; with a posterior, a newcomer
    as good as the veteran gets chosen, its record grows, and it ends up with a fair share."""
    router = Router(RoutingConfig(seed=5))
    recs = {"veteran": record("veteran", 200, 0.85, 0.05, 0.92), "new": TrackRecord("new", "c")}
    rnd = random.Random(9)
    picks = []
    for i in range(600):
        a = router.choose("c", ["veteran", "new"], recs, now=float(i)).chosen
        picks.append(a)
        ok = rnd.random() < 0.92  # both agents are the same: QSR 0.85, MRI 0.05, 92 % pass
        recs[a] = fold(recs[a], Observation(a, "c", float(i), 0.85, 0.05, ok), 86400.0)
    assert picks[:100].count("new") < picks[-200:].count("new")
    assert picks[-200:].count("new") / 200 > 0.3


def test_weights_are_configurable_and_retries_never_explore() -> None:
    quality_only = Router(RoutingConfig(weights=RoutingWeights(qsr=1, risk=0, reliability=0)))
    recs = [record("sharp", 50, 0.95, 0.25, 0.5), record("steady", 50, 0.75, 0.0, 1.0)]
    assert quality_only.choose("c", ["sharp", "steady"], recs, now=0.0, attempt=2).chosen == "sharp"
    safety = Router(RoutingConfig(weights=RoutingWeights(qsr=0, risk=1, reliability=1)))
    d = safety.choose("c", ["sharp", "steady"], recs, now=0.0, attempt=2)
    assert d.chosen == "steady" and d.mode is RouteMode.BEST and not d.exploratory


def test_an_exploratory_failure_becomes_a_retry_on_the_best_agent() -> None:
    router = Router(RoutingConfig(seed=0))
    recs = [record("a", 5, 0.8, 0.1, 0.8), record("b", 5, 0.79, 0.1, 0.8)]
    d = next(
        d
        for d in (router.choose("c", ["a", "b"], recs, now=0.0) for _ in range(100))
        if d.exploratory
    )
    t = GateThresholds()
    for decision in (GateDecision.ESCALATE, GateDecision.FAIL, GateDecision.RETRY):
        v = explore_guard(d, GateVerdict(decision, ("MRI 0.400 > 0.3 (agent.record)",), t))
        assert v.decision is GateDecision.RETRY and "best agent" in v.reasons[-1]
    passed = GateVerdict(GateDecision.PASS, (), t)
    assert explore_guard(d, passed) is passed


# -- the record in the store ---------------------------------------------------------------------


async def expected_records(store: Store, run_ids: list[str], half_life: float) -> dict[str, Any]:
    """The records rebuilt from the stored steps alone (what a restart would see)."""
    recs: dict[str, TrackRecord] = {}
    for rid in run_ids:
        for s in await store.step_records(rid):
            o = observation(
                agent_id=s.agent_id,
                capability=s.capability,
                t=_epoch(s.finished_at),
                decision=s.decision,
                qsr=s.qsr,
                mri=s.mri,
                agent_failed=s.output is None,
                policy_escalation=False,
            )
            if o is not None:
                k = o.agent_id
                recs[k] = fold(recs.get(k) or TrackRecord(k, o.capability), o, half_life)
    return {k: (round(r.n, 9), round(r.qsr_sum, 9), r.total, r.passes) for k, r in recs.items()}


def summary(recs: list[TrackRecord]) -> dict[str, Any]:
    return {r.agent_id: (round(r.n, 9), round(r.qsr_sum, 9), r.total, r.passes) for r in recs}


async def test_the_track_record_is_shared_by_two_processes_and_survives_a_restart(
    stores: StoreFactory,
) -> None:
    """Two systems on one database (two processes' worth: own store, engine, owner id) run
    steps at the same time; both read one record, equal to the fold of every committed step,
    and a system opened afterwards reads it unchanged."""
    gates = GateConfig(routing=RoutingConfig(seed=11))
    async with (
        Maestro.open(stores(), agents=two_agents(), gates=gates) as one,
        Maestro.open(stores(), agents=two_agents(), gates=gates) as two,
    ):
        ids_one = await one.engine.submit_many(FLOW, [{"topic": TOPIC}] * 12)
        ids_two = await two.engine.submit_many(FLOW, [{"topic": TOPIC}] * 12)
        await asyncio.gather(*(one.engine.wait(i) for i in ids_one))
        await asyncio.gather(*(two.engine.wait(i) for i in ids_two))
        seen_one = summary(await one.store.all_track_records())
        seen_two = summary(await two.store.all_track_records())
        half = one.store.track_half_life_s
        expected = await expected_records(one.store, ids_one + ids_two, half)
    assert seen_one == seen_two == expected
    assert sum(v[2] for v in expected.values()) >= 24
    async with Maestro.open(stores(), agents=two_agents(), gates=gates, resume=False) as again:
        assert summary(await again.store.all_track_records()) == expected


async def test_no_escalation_is_caused_by_exploration_and_every_decision_says_why(
    stores: StoreFactory,
) -> None:
    """One attempt per step (max_attempts 1): a weak agent's exploratory pick would go straight
    to people. It is retried on the best agent instead; every step.decision entry carries the
    routing explanation."""
    gates = GateConfig.model_validate(
        {
            "default": {"min_qsr": 0.7, "max_mri": 0.3, "max_attempts": 1},
            "routing": {"seed": 2},
        }
    )
    async with Maestro.open(stores(), agents=two_agents(), gates=gates) as m:
        results = [await m.run(FLOW, {"topic": TOPIC}) for _ in range(25)]
        entries = [
            e
            for r in results
            for e in await m.store.find_audit(AuditFilter(run_id=r.run_id, limit=50))
            if e["kind"] == "step.decision"
        ]
        report = await build_report(m.store)
    explored = [e for e in entries if e["details"]["routing"]["exploratory"]]
    assert explored, "the weak agent was never explored: the test proves nothing"
    assert all(e["gate_decision"] == "retry" for e in explored if e["agent_id"] == "weak")
    assert {r.status for r in results} == {RunStatus.COMPLETED}
    assert not any(r.escalated for r in results)
    for e in entries:
        routing = e["details"]["routing"]
        assert routing["chosen"] == e["agent_id"] and routing["why"]
        assert {c["agent_id"] for c in routing["candidates"]} == {"good", "weak"}
    later = [e["agent_id"] for e in entries[-10:] if e["attempt"] == 1]
    assert later.count("good") > later.count("weak")
    page = render_html(report)
    assert 'id="routing"' in page and "<td>weak</td>" in page
    (good_share,) = [r for r in report.routing if r.agent_id == "good"]
    assert good_share.late >= good_share.early and good_share.record is not None


def test_routing_shares_compare_the_first_and_last_third() -> None:
    runs = [[("s", 1, "a")]] * 3 + [[("s", 1, "b"), ("s", 2, "a")]] * 3 + [[("s", 1, "b")]] * 3
    by = {r.agent_id: r for r in shares(runs)}
    assert (by["a"].early, by["a"].late, by["b"].early, by["b"].late) == (1.0, 0.0, 0.0, 1.0)
    assert shares([[("s", 1, "a")]] * 4) == ()  # one agent: nothing was routed


def test_epochs_parse_the_stored_timestamps() -> None:
    assert _epoch("2026-01-01T00:00:00.000000+00:00") == 1767225600.0
