"""A model call's tokens, latency and cost reach the Prometheus metrics and the step's span.

The agent is a real ``ChatAgent`` talking to a real (scripted) OpenAI-compatible server on a
loopback port; the chain is the real default one with the tracing and metrics links outermost.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.agents.chat import ChatAgent
from maestro_helix.core.clock import FakeClock
from maestro_helix.core.outputs import AgentOutput, Usage
from maestro_helix.core.scores import GateDecision, GateThresholds, GateVerdict, QualityScore
from maestro_helix.core.steps import AgentResult, Scores
from maestro_helix.core.workflow import parse_definition
from maestro_helix.engine.bridge import (
    EventLink,
    MaestroHelixBridge,
    StepInput,
    StepOutcome,
    default_links,
)
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router
from maestro_helix.observability import HelixMetrics, MetricsLink, TracingLink
from maestro_helix.observability.metrics import MAX_MODELS_PER_AGENT
from openai_server import Reply, ScriptedServer, chat_reply

FLOW = parse_definition(
    {
        "name": "invoices",
        "steps": [
            {
                "id": "summarise",
                "capability": "summarise",
                "task": "Summarise invoice ${input.doc}",
                "input": {"doc": "${input.doc}"},
            }
        ],
    }
)
TEXT = "Invoice INV-7 from Acme: total 120 EUR, due 2026-01-31, payable by bank transfer."


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer().start()
    yield s
    s.stop()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


def chain(
    agents: AgentRegistry, metrics: HelixMetrics, provider: TracerProvider
) -> MaestroHelixBridge:
    return default_links(
        agents=agents,
        qsr=QSREvaluator(),
        risk=RiskAssessor(),
        gate=HelixQualityGate(),
        router=Router(),
        clock=FakeClock(),
    ).with_links(
        before=EventLink,
        add=[TracingLink(provider.get_tracer("tests")), MetricsLink(metrics)],
    )


def step_input() -> StepInput:
    step = FLOW.steps[0]
    return StepInput(
        run_id="run-1",
        workflow=FLOW,
        step=step,
        index=0,
        attempt=1,
        scope={"input": {"doc": "INV-7"}, "steps": {}},
        thresholds=HelixQualityGate().thresholds_for(FLOW, step),
    )


def sample(m: HelixMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


async def run_once(bridge: MaestroHelixBridge) -> StepOutcome:
    out = await bridge.execute_step(step_input())
    for observe in out.observers:  # what the engine does once the attempt is committed
        observe()
    return out


async def test_chat_usage_is_counted_per_agent_and_model_and_on_the_span(
    server: ScriptedServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """One retried call: tokens, cost, call time and the extra try land in the metrics with
    labels ``agent``/``model`` and on the step span under the GenAI names."""
    server.then(Reply(status=503, body={"error": "busy"}), chat_reply(TEXT, usage=(30, 9)))
    agent = ChatAgent.from_config(
        "llm",
        {"summarise"},
        {
            "base_url": server.base_url,
            "model": "m",
            "tries": 3,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.02,
            "price_in_per_mtok": 1.0,
            "price_out_per_mtok": 2.0,
        },
    )
    metrics = HelixMetrics(CollectorRegistry())
    out = await run_once(chain(AgentRegistry([agent]), metrics, provider))

    assert out.output is not None and out.output.usage is not None
    usage = out.output.usage
    assert (usage.model, usage.prompt_tokens, usage.completion_tokens, usage.tries) == (
        "scripted",
        30,
        9,
        2,
    )
    key = {"agent": "llm", "model": "scripted"}
    assert sample(metrics, "maestro_agent_tokens_total", type="input", **key) == 30
    assert sample(metrics, "maestro_agent_tokens_total", type="output", **key) == 9
    assert sample(metrics, "maestro_agent_cost_usd_total", **key) == pytest.approx(48e-6)
    assert sample(metrics, "maestro_agent_call_retries_total", **key) == 1
    assert sample(metrics, "maestro_agent_call_seconds_count", **key) == 1
    assert sample(metrics, "maestro_agent_call_seconds_sum", **key) == pytest.approx(
        usage.latency_ms / 1000.0
    )
    assert usage.latency_ms >= 10.0  # the backoff pause is part of the call's time

    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == 30
    assert attrs["gen_ai.usage.output_tokens"] == 9
    assert attrs["gen_ai.response.model"] == "scripted"
    assert attrs["maestro.agent.cost_usd"] == pytest.approx(48e-6)
    assert attrs["maestro.agent.call_ms"] == usage.latency_ms
    assert attrs["maestro.agent.tries"] == 2


async def test_an_agent_without_usage_adds_no_model_series_nor_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    agents = AgentRegistry([FunctionAgent("fn", lambda inp: TEXT, {"summarise"})])
    metrics = HelixMetrics(CollectorRegistry())
    await run_once(chain(agents, metrics, provider))
    body, _ = metrics.render()
    assert b"maestro_agent_tokens_total{" not in body
    assert b"maestro_agent_call_seconds_count{" not in body
    (span,) = exporter.get_finished_spans()
    assert not [k for k in (span.attributes or {}) if k.startswith(("gen_ai.", "maestro.agent."))]


def outcome_with(model: str, tokens: int = 1) -> StepOutcome:
    step = FLOW.steps[0]
    inp = StepInput("run-1", FLOW, step, 0, 1, {"input": {}, "steps": {}}, GateThresholds())
    usage = Usage(model=model, prompt_tokens=tokens, completion_tokens=tokens, latency_ms=5.0)
    return StepOutcome(
        inp,
        AgentResult(agent_id="llm", output=AgentOutput(text="x", usage=usage)),
        Scores(QualityScore(0.9)),
        GateVerdict(GateDecision.PASS),
    )


def test_model_labels_are_bounded_per_agent() -> None:
    """An endpoint naming a new model on every call cannot grow the series (nor the cache):
    past MAX_MODELS_PER_AGENT names the rest are counted under ``model="other"``."""
    metrics = HelixMetrics(CollectorRegistry())
    for i in range(MAX_MODELS_PER_AGENT + 50):
        metrics.record(outcome_with(f"model-{i}"), 0.01)
    metrics.record(outcome_with("model-0", tokens=5), 0.01)  # a known one keeps its series
    models = {
        s.labels["model"]
        for fam in metrics.registry.collect()
        if fam.name == "maestro_agent_tokens"
        for s in fam.samples
    }
    assert models == {f"model-{i}" for i in range(MAX_MODELS_PER_AGENT)} | {"other"}
    assert len(metrics._usage) == MAX_MODELS_PER_AGENT + 1
    other = {"agent": "llm", "model": "other", "type": "input"}
    assert sample(metrics, "maestro_agent_tokens_total", **other) == 50
    known = {"agent": "llm", "model": "model-0", "type": "input"}
    assert sample(metrics, "maestro_agent_tokens_total", **known) == 6


def test_a_model_the_endpoint_did_not_name_is_unknown() -> None:
    metrics = HelixMetrics(CollectorRegistry())
    metrics.record(outcome_with(""), 0.01)
    assert sample(metrics, "maestro_agent_call_seconds_count", agent="llm", model="unknown") == 1
