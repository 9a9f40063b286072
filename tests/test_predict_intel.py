"""The predictor's costs and honesty (issue 13): features that reuse the step's own scan of its
input, the agents' record read from the shared track record (not a scan of every step), and a
result held for approval by the predictor not counted against the agent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.agents.synthetic import (
    TRIAGE_AGENTS as AGENTS,
)
from maestro_helix.agents.synthetic import (
    hidden_failure,
    triage_agents,
    triage_tasks,
    triage_workflow,
)
from maestro_helix.core.route import TrackRecord
from maestro_helix.core.workflow import parse_definition
from maestro_helix.governance.policy import GovernancePolicy
from maestro_helix.governance.predict_policy import PredictionRule
from maestro_helix.helix import injection, pii
from maestro_helix.helix import predict as predict_mod
from maestro_helix.helix.gate import GateConfig
from maestro_helix.helix.predict import AgentHistory, input_signals
from maestro_helix.helix.routing import RoutingConfig
from maestro_helix.ops.risk_model import TrainSettings, train_and_store
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]
TS = "2026-12-01T12:00:00+00:00"
GREEDY = GateConfig(routing=RoutingConfig(explore=0))

MARK = "Kettering bakeries"
FLOW = parse_definition(
    {
        "name": "one-step",
        "steps": [
            {
                "id": "s",
                "capability": "research",
                "task": "Research ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"mentions": ["${input.topic}"]},
            }
        ],
    }
)


def _writer(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"Research on {t}: {t} contracts last ten years and {t} costs fall each year."


async def test_one_attempt_scans_its_input_for_injection_once(
    stores: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The predictor scans the string the risk assessor will scan (task and input), so the
    detector's memo serves the assessor: one scan of the input per attempt, not two."""
    scanned: list[str] = []
    real = injection._detect

    def counting(text: str, use_model: bool) -> Any:
        scanned.append(text)
        return real(text, use_model)

    monkeypatch.setattr(injection, "_detect", counting)
    injection._remembered.cache_clear()
    agents = AgentRegistry([FunctionAgent("r", _writer, {"research"}, inline=True)])
    async with Maestro.open(stores(), agents=agents) as m:
        r = await m.run(FLOW, {"topic": f"solar panel leasing for {MARK}"})
    assert len(r.attempts) == 1
    of_input = [t for t in scanned if MARK in t and not t.startswith("Research on")]  # not outputs
    assert len(of_input) == 1, of_input


def test_a_texts_detector_counts_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = pii.scan

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(pii, "scan", counting)
    predict_mod._detector_counts.cache_clear()
    text = f"Mail ann.lee@example.com about {MARK}"
    a = input_signals({"x": text}, text)
    b = input_signals({"x": text, "y": 3}, text)  # same text, another shape
    assert calls == [text]  # scanned once
    assert (a.pii_count, b.pii_count) == (1, 1)
    assert (a.numbers, b.numbers, b.fields) == (0, 1, 2)  # the shape is the payload's own
    long = "word " * 1000  # past the memo's bound: scanned every time
    input_signals({"x": long}, long)
    input_signals({"x": long}, long)
    assert calls.count(long) == 2


# -- the agents' record: read from the shared track record ---------------------------------------


async def test_the_predictors_record_is_the_track_record_read_without_scanning_steps(
    stores: StoreFactory,
) -> None:
    from sqlalchemy import event

    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as m:
        assert m.predictor is not None
        await m.run_many(triage_workflow(), triage_tasks(30, seed=3))
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
            statements.append(sql)

        engine = m.store._engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", seen)
        try:
            await m.predictor.refresh()
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        records = await m.store.all_track_records()
        via_store = await m.store.agent_history(50)
    assert statements and not any(" steps" in s.lower() for s in statements), statements
    assert any("agent_track" in s for s in statements)
    now = datetime.now(UTC).timestamp()
    for r in records:
        h = m.predictor.history[(r.agent_id, r.capability)]
        want = AgentHistory.of(r, now)
        assert (h.n, h.qsr, h.mri) == (want.n, want.qsr, want.mri)
        assert abs(h.pass_rate - want.pass_rate) < 1e-3
        assert via_store[(r.agent_id, r.capability)].n == h.n <= 50
    assert sum(h.n for h in m.predictor.history.values()) == 30


async def test_the_record_follows_the_batch_without_a_housekeeping_tick(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY) as m:
        assert m.predictor is not None and m.predictor.history == {}
        m.predictor.history_every_s = 0.0  # re-read before every step
        for t in triage_tasks(6, seed=8):  # one after another: each sees the ones before
            await m.run(triage_workflow(), t)
        rows = await m.store.audit_entries(limit=10_000)
    seen = [e["details"]["features"]["agent_n"] for e in rows if e["kind"] == "step.prediction"]
    assert seen[0] == 0 and max(seen) >= 1, seen  # the batch's attempts were seen


def test_a_record_becomes_the_predictors_features() -> None:
    rec = TrackRecord("a", "c", 4.0, 3.0, 3.2, 0.4, 1000.0, 3600.0, 80, 60)
    h = AgentHistory.of(rec, 1000.0, last=50)
    assert (h.pass_rate, h.qsr, h.mri, h.n) == (0.75, 0.8, 0.1, 50)
    later = AgentHistory.of(rec, 1000.0 + 3600.0)  # decay changes sums, not the means
    assert (later.pass_rate, later.qsr) == (0.75, 0.8)
    assert AgentHistory.of(TrackRecord("a", "c"), 0.0) == AgentHistory()


# -- a result held for approval by the predictor is not the agent's failure ----------------------


async def test_a_result_held_by_the_predictor_counts_as_the_agents_success(
    stores: StoreFactory,
) -> None:
    hold_all = GovernancePolicy(
        prediction=PredictionRule(route_above=1.0, tighten_above=0.0, approval_above=0.0)
    )
    safe = [t for t in triage_tasks(300, seed=21) if not any(hidden_failure(a, t) for a in AGENTS)]
    async with Maestro.open(stores(), agents=triage_agents(), gates=GREEDY, policy=hold_all) as m:
        await m.run_many(triage_workflow(), triage_tasks(120, seed=1))
        await train_and_store(m.store, ts=TS, by="ops", settings=TrainSettings(trees=10))
        assert m.predictor is not None
        await m.predictor.refresh()
        before = {r.agent_id: r for r in await m.store.all_track_records()}
        mark = len(await m.store.audit_entries(limit=100_000))
        results = await m.run_many(triage_workflow(), safe[:6])
        rows = (await m.store.audit_entries(limit=100_000))[mark:]
        after = {r.agent_id: r for r in await m.store.all_track_records()}
    held = [e for e in rows if e["kind"] == "step.prediction" and e["details"]["held_for_approval"]]
    assert held and all(r.escalated for r in results)
    gate_passed = Counter(
        e["agent_id"]
        for e in rows
        if e["kind"] == "step.prediction" and e["details"]["outcome"] == "pass"
    )
    for agent, n in gate_passed.items():
        assert after[agent].passes - (before[agent].passes if agent in before else 0) == n
