"""Prometheus metrics: what MetricsLink records per attempt, under the runbook's names."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.core.clock import FakeClock
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    GateDecision,
    GateThresholds,
    GateVerdict,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.workflow import WorkflowDef, parse_definition
from maestro_helix.engine.bridge import (
    AgentResult,
    EventLink,
    MaestroHelixBridge,
    Scores,
    StepInput,
    StepOutcome,
    default_links,
)
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router
from maestro_helix.observability import HelixMetrics, MetricsLink, metrics_app
from maestro_helix.store.base import ApprovalRequest, RunStatus

FLOW = parse_definition(
    {
        "name": "brief",
        "steps": [
            {"id": "research", "capability": "research", "task": "Research ${input.topic}"},
            {"id": "summary", "capability": "summary"},
        ],
    }
)
OTHER = parse_definition({"name": "other", "steps": [{"id": "only", "capability": "research"}]})

RUNBOOK_NAMES = (
    "helix_qsr",
    "helix_mri",
    "helix_qsr_average",
    "helix_mri_average",
    "gil_escalations_total",
    "reflexive_event_lag_ms",
    "tls_handshake_failures_total",
    "maestro_step_latency_seconds",
    "helix_gate_decisions_total",
    "helix_retries_total",
    "maestro_tasks_total",
)


def step_input(
    workflow: WorkflowDef = FLOW, *, index: int = 0, attempt: int = 1, run_id: str = "run-1"
) -> StepInput:
    return StepInput(
        run_id=run_id,
        workflow=workflow,
        step=workflow.steps[index],
        index=index,
        attempt=attempt,
        scope={"input": {"topic": "solar"}, "steps": {}},
        thresholds=GateThresholds(),
    )


def outcome(
    *,
    workflow: WorkflowDef = FLOW,
    index: int = 0,
    run_id: str = "run-1",
    agent: str | None = "researcher",
    qsr: float | None = 0.8,
    mri: float | None = 0.1,
    decision: GateDecision = GateDecision.PASS,
    requests: Sequence[ApprovalRequest] = (),
    eval_ms: float = 4.0,
) -> StepOutcome:
    return StepOutcome(
        step_input(workflow, index=index, run_id=run_id),
        AgentResult(agent_id=agent or ""),
        Scores(
            QualityScore(qsr)
            if qsr is not None
            else EvaluationFailure("qsr", FailureKind.CRASH, "ValueError: boom"),
            RiskScore(mri) if mri is not None else None,
            eval_ms,
        ),
        GateVerdict(decision),
        requests=tuple(requests),
    )


def approval(kind: str, n: int = 0) -> ApprovalRequest:
    return ApprovalRequest(
        request_id=f"run-1.0.1.{kind}{n}",
        run_id="run-1",
        step_index=0,
        attempt=1,
        kind=kind,
        action_type="payment.send" if kind == "action" else None,
        payload={},
        payload_hash="h",
        reasons=("irreversible",),
        scores={},
        required_approvals=1,
        requester_id=None,
        status="pending",
        created_at="2026-01-01T00:00:00+00:00",
        expires_at="2026-01-01T04:00:00+00:00",
        on_expiry="reject",
        policy_version=1,
    )


class Replay:
    """Terminal link that returns prepared outcomes for the input it is given."""

    def __init__(self, *outs: StepOutcome, clock: FakeClock | None = None, took_s: float = 0.0):
        self.outs = list(outs)
        self.clock = clock
        self.took_s = took_s

    async def __call__(self, inp: StepInput) -> StepOutcome:
        if self.clock is not None:
            self.clock.advance(self.took_s)
        return self.outs.pop(0)


def value(m: HelixMetrics, name: str, **labels: str) -> float:
    v = m.registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> HelixMetrics:
    return HelixMetrics(CollectorRegistry(), clock=clock)


async def run_through_link(metrics: HelixMetrics, *outs: StepOutcome, **kw: Any) -> None:
    bridge = MaestroHelixBridge([MetricsLink(metrics)], Replay(*outs, **kw))
    for out in outs:
        got = await bridge.execute_step(out.input)
        assert got.input is out.input
        for observe in got.observers:  # what the engine does once the attempt is committed
            observe()


async def test_link_counts_nothing_until_the_attempt_is_committed(metrics: HelixMetrics) -> None:
    out = outcome()
    bridge = MaestroHelixBridge([MetricsLink(metrics)], Replay(out))
    got = await bridge.execute_step(out.input)
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(metrics, "helix_qsr_count", **key) == 0
    for observe in got.observers:
        observe()
    assert value(metrics, "helix_qsr_count", **key) == 1


def test_exposition_carries_every_runbook_name(metrics: HelixMetrics) -> None:
    metrics.record(outcome(), 0.1)
    metrics.run_finished("brief", RunStatus.COMPLETED)
    metrics.tls_handshake_failed("api")
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for name in RUNBOOK_NAMES:
        assert f"# TYPE {name} " in text or f"# TYPE {name.removesuffix('_total')} " in text
        assert f"\n{name}" in text, name


def test_render_negotiates_openmetrics(metrics: HelixMetrics) -> None:
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


async def test_link_observes_scores_and_latency_per_workflow_step_agent(
    metrics: HelixMetrics, clock: FakeClock
) -> None:
    await run_through_link(
        metrics,
        outcome(qsr=0.8, mri=0.1),
        outcome(qsr=0.6, mri=0.3),
        clock=clock,
        took_s=0.25,
    )
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(metrics, "helix_qsr_count", **key) == 2
    assert value(metrics, "helix_qsr_sum", **key) == pytest.approx(1.4)
    assert value(metrics, "helix_qsr_bucket", le="0.7", **key) == 1
    assert value(metrics, "helix_mri_count", **key) == 2
    assert value(metrics, "helix_mri_sum", **key) == pytest.approx(0.4)
    assert value(metrics, "helix_mri_bucket", le="0.25", **key) == 1
    assert value(metrics, "maestro_step_latency_seconds_count", **key) == 2
    assert value(metrics, "maestro_step_latency_seconds_sum", **key) == pytest.approx(0.5)
    assert value(metrics, "helix_evaluation_seconds_sum", **key) == pytest.approx(0.008)


def test_a_failed_evaluator_is_not_a_score(metrics: HelixMetrics) -> None:
    metrics.record(outcome(qsr=None, mri=None, decision=GateDecision.ESCALATE))
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(metrics, "helix_qsr_count", **key) == 0
    assert metrics.registry.get_sample_value("helix_qsr_average", {"workflow": "brief"}) is None
    assert value(metrics, "helix_gate_decisions_total", decision="escalate", **key) == 1


def test_average_is_time_decayed_per_workflow(metrics: HelixMetrics, clock: FakeClock) -> None:
    """Half-life 60 s: a score a minute old weighs half as much as a new one."""
    metrics.record(outcome(qsr=1.0, mri=0.0))
    metrics.record(outcome(workflow=OTHER, qsr=0.9, mri=0.2))
    clock.advance(60)
    metrics.record(outcome(qsr=0.0, mri=0.6))
    assert value(metrics, "helix_qsr_average", workflow="brief") == pytest.approx(0.5 / 1.5)
    assert value(metrics, "helix_mri_average", workflow="brief") == pytest.approx(0.6 / 1.5)
    assert value(metrics, "helix_qsr_average", workflow="other") == pytest.approx(0.9)
    clock.advance(3600)  # idle: the average holds
    assert value(metrics, "helix_qsr_average", workflow="brief") == pytest.approx(0.5 / 1.5)
    metrics.record(outcome(qsr=0.7))  # an hour later the old scores weigh ~nothing
    assert value(metrics, "helix_qsr_average", workflow="brief") == pytest.approx(0.7)


def test_average_follows_recent_scores_whatever_the_rate(clock: FakeClock) -> None:
    """1000 good scores then, a minute of bad ones: the average crosses the alert line."""
    m = HelixMetrics(CollectorRegistry(), clock=clock)
    for _ in range(1000):
        m.record(outcome(qsr=0.9))
        clock.advance(0.1)
    for _ in range(600):
        m.record(outcome(qsr=0.3))
        clock.advance(0.1)
    assert value(m, "helix_qsr_average", workflow="brief") < 0.6


@pytest.mark.parametrize(
    ("decision", "requests", "escalation", "action"),
    [
        (GateDecision.ESCALATE, (), 1, 0),  # no GIL link: the decision is the escalation
        (GateDecision.ESCALATE, ("escalation",), 1, 0),  # decision + its request: once
        (GateDecision.PASS, ("action", "action"), 0, 2),  # two actions awaiting approval
        (GateDecision.RETRY, (), 0, 0),
        (GateDecision.FAIL, (), 0, 0),
    ],
)
def test_escalations_count_once_per_escalated_attempt_or_request(
    metrics: HelixMetrics,
    decision: GateDecision,
    requests: tuple[str, ...],
    escalation: int,
    action: int,
) -> None:
    reqs = [approval(kind, i) for i, kind in enumerate(requests)]
    metrics.record(outcome(decision=decision, requests=reqs))
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(metrics, "gil_escalations_total", kind="escalation", **key) == escalation
    assert value(metrics, "gil_escalations_total", kind="action", **key) == action


def test_escalation_series_exist_at_zero_before_the_first_escalation(
    metrics: HelixMetrics,
) -> None:
    """rate() needs a sample before the first increment, or the first escalation is lost."""
    metrics.record(outcome())
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert metrics.registry.get_sample_value(
        "gil_escalations_total", {**key, "kind": "escalation"}
    ) == pytest.approx(0.0)


def test_decisions_and_retries_are_counted(metrics: HelixMetrics) -> None:
    for d in (GateDecision.RETRY, GateDecision.RETRY, GateDecision.PASS, GateDecision.FAIL):
        metrics.record(outcome(decision=d))
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(metrics, "helix_gate_decisions_total", decision="retry", **key) == 2
    assert value(metrics, "helix_gate_decisions_total", decision="pass", **key) == 1
    assert value(metrics, "helix_gate_decisions_total", decision="fail", **key) == 1
    assert value(metrics, "helix_gate_decisions_total", decision="escalate", **key) == 0
    assert value(metrics, "helix_retries_total", **key) == 2


def test_labels_are_bounded_and_never_carry_run_ids(metrics: HelixMetrics) -> None:
    for i in range(200):
        metrics.record(outcome(run_id=f"run-{i}", index=i % 2, agent=("a1", "a2")[i % 2]))
    metrics.record(outcome(agent=None, qsr=None, decision=GateDecision.FAIL))
    allowed = {"workflow", "step", "agent", "decision", "kind", "status", "component", "le"}
    seen_values: set[str] = set()
    series = 0
    for family in metrics.registry.collect():
        for sample in family.samples:
            assert set(sample.labels) <= allowed, sample
            seen_values.update(sample.labels.values())
            series += 1
    assert not any(v.startswith("run-") for v in seen_values)
    assert "none" in seen_values  # an attempt with no agent yet
    assert len(metrics._series) == 3  # (research, a1), (summary, a2), (research, none)
    assert series < 300  # 3 label sets x their buckets, not 200 runs


def test_a_run_that_stops_escalated_then_completes_counts_once(metrics: HelixMetrics) -> None:
    """The engine reports every stop; only the terminal one is a finished task."""
    metrics.run_finished("brief", RunStatus.ESCALATED)
    metrics.run_finished("brief", RunStatus.PAUSED)
    metrics.run_finished("brief", RunStatus.COMPLETED)
    assert value(metrics, "maestro_tasks_total", workflow="brief", status="completed") == 1
    assert value(metrics, "maestro_tasks_total", workflow="brief", status="escalated") == 0
    assert value(metrics, "maestro_tasks_total", workflow="brief", status="paused") == 0


def test_run_finished_counts_tasks_by_status(metrics: HelixMetrics) -> None:
    metrics.run_finished("brief", RunStatus.COMPLETED)
    metrics.run_finished("brief", RunStatus.COMPLETED)
    metrics.run_finished("brief", RunStatus.FAILED)
    assert value(metrics, "maestro_tasks_total", workflow="brief", status="completed") == 2
    assert value(metrics, "maestro_tasks_total", workflow="brief", status="failed") == 1


def test_tls_handshake_failures_are_counted_per_component(metrics: HelixMetrics) -> None:
    metrics.tls_handshake_failed("api")
    metrics.tls_handshake_failed("api")
    assert value(metrics, "tls_handshake_failures_total", component="api") == 2


def test_event_lag_is_read_from_its_source_at_scrape(metrics: HelixMetrics) -> None:
    metrics.set_event_lag_ms(120.0)
    assert value(metrics, "reflexive_event_lag_ms") == 120.0
    lag = [40.0]
    metrics.watch_event_lag(lambda: lag[0])
    assert value(metrics, "reflexive_event_lag_ms") == 40.0
    lag[0] = 700.0
    assert value(metrics, "reflexive_event_lag_ms") == 700.0
    metrics.watch_event_lag(None)
    assert value(metrics, "reflexive_event_lag_ms") == 120.0


def test_a_failing_lag_source_does_not_break_the_scrape(
    metrics: HelixMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> float:
        raise ConnectionError("bus gone")

    metrics.watch_event_lag(broken)
    with caplog.at_level(logging.WARNING):
        body, _ = metrics.render()
    assert b"reflexive_event_lag_ms NaN" in body
    assert "event lag source failed" in caplog.text


def test_each_system_has_its_own_registry(clock: FakeClock) -> None:
    a = HelixMetrics(CollectorRegistry(), clock=clock)
    b = HelixMetrics(CollectorRegistry(), clock=clock)  # no "duplicated timeseries"
    a.record(outcome())
    key = {"workflow": "brief", "step": "research", "agent": "researcher"}
    assert value(a, "helix_qsr_count", **key) == 1
    assert value(b, "helix_qsr_count", **key) == 0


def test_halflife_must_be_positive() -> None:
    with pytest.raises(ValueError, match="average_halflife_s"):
        HelixMetrics(CollectorRegistry(), average_halflife_s=0)


async def test_metrics_app_serves_the_registry(metrics: HelixMetrics) -> None:
    metrics.record(outcome())
    transport = httpx.ASGITransport(app=metrics_app(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'helix_qsr_count{agent="researcher",step="research",workflow="brief"} 1.0' in r.text


def research(inp: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": "Solar leasing research: solar panels, contracts and costs.", "sources": ["k"]}


async def test_metrics_link_in_the_default_chain_sees_the_gate(clock: FakeClock) -> None:
    """Placed outermost, the link records the real chain's scores and decision."""
    metrics = HelixMetrics(CollectorRegistry(), clock=clock)
    agents = AgentRegistry([FunctionAgent("researcher", research, {"research"})])
    gate = HelixQualityGate()
    bridge = default_links(
        agents=agents,
        qsr=QSREvaluator(),
        risk=RiskAssessor(),
        gate=gate,
        router=Router(),
        clock=clock,
    ).with_links(before=EventLink, add=[MetricsLink(metrics)])
    inp = step_input(OTHER)
    inp = StepInput(
        inp.run_id, OTHER, OTHER.steps[0], 0, 1, inp.scope, gate.thresholds_for(OTHER, inp.step)
    )
    out = await bridge.execute_step(inp)
    for observe in out.observers:  # as the engine does after the commit
        observe()
    key = {"workflow": "other", "step": "only", "agent": "researcher"}
    assert out.qsr is not None and out.verdict is not None
    assert value(metrics, "helix_qsr_sum", **key) == pytest.approx(out.qsr)
    assert value(metrics, "helix_gate_decisions_total", decision=out.decision.value, **key) == 1


def test_labels_are_resolved_once_per_workflow_step_and_agent(metrics: HelixMetrics) -> None:
    """10,000 attempts over two (workflow, step, agent) keys build two cached series."""
    outs = [outcome(index=i % 2, agent=("a1", "a2")[i % 2]) for i in range(10_000)]
    for out in outs:
        metrics.record(out, 0.01)
    assert len(metrics._series) == 2
    key = {"workflow": "brief", "step": "research", "agent": "a1"}
    assert value(metrics, "helix_qsr_count", **key) == 5000
    assert not math.isnan(value(metrics, "helix_qsr_average", workflow="brief"))


def test_prediction_metrics_count_each_attempt_under_its_labels() -> None:
    """The prediction's labelled series are resolved once and kept: every attempt still lands
    on its own (workflow, step[, mitigation]) series, with its value."""
    from maestro_helix.observability.predict_metrics import PredictionMetrics

    registry = CollectorRegistry()
    m = PredictionMetrics(registry)
    m.attempt("wf", "a", 0.25, "proceed")
    m.attempt("wf", "a", 0.5, "proceed")
    m.attempt("wf", "a", None, "route")
    m.attempt("wf", "b", 0.75, "proceed")
    m.attempt("other", "a", 0.125, "tighten")
    get = registry.get_sample_value
    assert (
        get(
            "helix_risk_mitigations_total", {"workflow": "wf", "step": "a", "mitigation": "proceed"}
        )
        == 2
    )
    assert (
        get("helix_risk_mitigations_total", {"workflow": "wf", "step": "a", "mitigation": "route"})
        == 1
    )
    assert (
        get(
            "helix_risk_mitigations_total", {"workflow": "wf", "step": "b", "mitigation": "proceed"}
        )
        == 1
    )
    assert (
        get(
            "helix_risk_mitigations_total",
            {"workflow": "other", "step": "a", "mitigation": "tighten"},
        )
        == 1
    )
    assert get("helix_risk_predicted_count", {"workflow": "wf", "step": "a"}) == 2
    assert get("helix_risk_predicted_sum", {"workflow": "wf", "step": "a"}) == 0.75
    assert get("helix_risk_predicted_sum", {"workflow": "wf", "step": "b"}) == 0.75
    assert get("helix_risk_predicted_sum", {"workflow": "other", "step": "a"}) == 0.125
