"""OpenTelemetry tracing: one span per step attempt, its ids on the attempt's audit and events."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.core.clock import FakeClock
from maestro_helix.core.errors import ConfigError
from maestro_helix.core.scores import CriterionScore
from maestro_helix.core.workflow import parse_definition
from maestro_helix.engine.bridge import (
    EventLink,
    MaestroHelixBridge,
    StepInput,
    StepOutcome,
    default_links,
)
from maestro_helix.helix.base import EvaluationRequest
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router
from maestro_helix.observability import (
    TracingLink,
    run_span,
    tracer_provider_from_env,
)

FLOW = parse_definition(
    {
        "name": "brief",
        "version": 3,
        "steps": [
            {
                "id": "research",
                "capability": "research",
                "task": "Research ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"mentions": ["${input.topic}"]},
            },
            {"id": "checked", "capability": "research", "evaluators": ["house_style"]},
        ],
    }
)


def research(inp: Mapping[str, Any]) -> dict[str, Any]:
    t = inp.get("topic", "solar")
    return {"text": f"Research on {t}: {t} contracts run ten years; {t} costs fall.", "sources": []}


def broken_criterion(req: EvaluationRequest) -> CriterionScore:
    raise ValueError("house style model not loaded")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider) -> trace.Tracer:
    return provider.get_tracer("maestro_helix.tests")


def chain(tracer: trace.Tracer, clock: FakeClock | None = None) -> MaestroHelixBridge:
    """The real default chain with the tracing link outermost."""
    agents = AgentRegistry([FunctionAgent("researcher", research, {"research"})])
    return default_links(
        agents=agents,
        qsr=QSREvaluator(custom={"house_style": broken_criterion}),
        risk=RiskAssessor(),
        gate=HelixQualityGate(),
        router=Router(),
        clock=clock or FakeClock(),
    ).with_links(before=EventLink, add=[TracingLink(tracer)])


def step_input(index: int = 0, attempt: int = 1, run_id: str = "run-7") -> StepInput:
    step = FLOW.steps[index]
    return StepInput(
        run_id=run_id,
        workflow=FLOW,
        step=step,
        index=index,
        attempt=attempt,
        scope={"input": {"topic": "solar"}, "steps": {}},
        thresholds=HelixQualityGate().thresholds_for(FLOW, step),
    )


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


async def test_one_span_per_attempt_with_step_attributes(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    bridge = chain(tracer)
    first = await bridge.execute_step(step_input(attempt=1))
    second = await bridge.execute_step(step_input(attempt=2))
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["maestro.step", "maestro.step"]
    attrs = dict(spans[0].attributes or {})
    assert attrs == {
        "maestro.workflow": "brief",
        "maestro.workflow_version": 3,
        "maestro.step": "research",
        "maestro.step_index": 0,
        "maestro.attempt": 1,
        "maestro.run_id": "run-7",
        "maestro.agent": "researcher",
        "maestro.latency_ms": first.latency_ms,
        "helix.qsr": first.qsr,
        "helix.mri": first.mri,
        "helix.eval_ms": first.eval_ms,
        "helix.decision": first.decision.value,
    }
    assert (spans[1].attributes or {})["maestro.attempt"] == 2
    assert (spans[1].attributes or {})["helix.decision"] == second.decision.value
    assert spans[0].status.status_code is StatusCode.UNSET
    assert spans[0].context is not None and spans[1].context is not None
    assert spans[0].context.trace_id != spans[1].context.trace_id  # no run span: own traces


async def test_evaluator_failure_sets_error_status(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    out = await chain(tracer).execute_step(step_input(index=1))
    span = only_span(exporter)
    assert out.decision.value == "escalate"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert "house style model not loaded" in span.status.description
    assert "helix.qsr" not in (span.attributes or {})  # a failure is not a score
    (event,) = [e for e in span.events if e.name == "helix.evaluator_failure"]
    assert (event.attributes or {})["helix.evaluator"] == "house_style"


async def test_audit_entries_and_events_carry_the_span_ids(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    out = await chain(tracer).execute_step(step_input())
    span = only_span(exporter)
    assert span.context is not None
    trace_id = f"{span.context.trace_id:032x}"
    span_id = f"{span.context.span_id:016x}"
    assert out.audit and out.events
    for entry in out.audit:
        assert entry.details["trace_id"] == trace_id
        assert entry.details["span_id"] == span_id
        assert "reasons" in entry.details  # the audit link's details are kept
    for ev in out.events:
        assert ev.payload["trace_id"] == trace_id
        assert ev.payload["span_id"] == span_id
        assert ev.payload["decision"] == out.decision.value


async def test_step_spans_are_children_of_the_run_span(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    bridge = chain(tracer)
    with run_span(tracer, "run-7", "brief"):
        out = await bridge.execute_step(step_input())
    step, run = exporter.get_finished_spans()
    assert (run.name, step.name) == ("maestro.run", "maestro.step")
    assert run.context is not None and step.context is not None and step.parent is not None
    assert step.parent.span_id == run.context.span_id
    assert (run.attributes or {})["maestro.run_id"] == "run-7"
    assert out.audit[0].details["trace_id"] == f"{run.context.trace_id:032x}"


async def test_a_link_that_raises_is_recorded_and_reraised(
    tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    async def crash(inp: StepInput) -> StepOutcome:
        raise RuntimeError("store went away")

    bridge = MaestroHelixBridge([TracingLink(tracer)], crash)
    with pytest.raises(RuntimeError, match="store went away"):
        await bridge.execute_step(step_input())
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_without_tracing_the_outcome_is_untouched() -> None:
    out = await chain(trace.NoOpTracer()).execute_step(step_input())
    assert "trace_id" not in out.audit[0].details
    assert "trace_id" not in out.events[0].payload


# -- tracer_provider_from_env ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
        {"OTEL_TRACES_EXPORTER": "console"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_EXPORTER_OTLP_HEADERS": "x=1"},  # configuration, but no request to export
    ],
)
def test_no_provider_unless_the_environment_asks_for_otlp(
    clean_env: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for k, v in env.items():
        clean_env.setenv(k, v)
    assert tracer_provider_from_env() is None


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
    ],
)
def test_a_provider_when_the_environment_asks_for_otlp(
    clean_env: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for k, v in env.items():
        clean_env.setenv(k, v)
    provider = tracer_provider_from_env("svc")
    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "svc"
    finally:
        provider.shutdown()


def test_otel_service_name_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    clean_env.setenv("OTEL_SERVICE_NAME", "maestro-worker-eu")
    provider = tracer_provider_from_env()
    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "maestro-worker-eu"
    finally:
        provider.shutdown()


def test_grpc_protocol_is_a_config_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    clean_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="http/protobuf"):
        tracer_provider_from_env()


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A real HTTP endpoint on localhost standing in for an OTLP collector."""
    received: ClassVar[list[tuple[str, str, bytes]]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_env_provider_exports_step_spans_over_otlp_http(
    clean_env: pytest.MonkeyPatch, collector: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    url, received = collector
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    provider = tracer_provider_from_env()
    assert provider is not None
    try:
        out = await chain(provider.get_tracer("maestro_helix")).execute_step(step_input())
    finally:
        provider.shutdown()  # flushes the batch
    assert [(p, ct) for p, ct, _ in received] == [("/v1/traces", "application/x-protobuf")]
    req = ExportTraceServiceRequest()
    req.ParseFromString(received[0][2])
    (rs,) = req.resource_spans
    resource = {a.key: a.value.string_value for a in rs.resource.attributes}
    assert resource["service.name"] == "maestro-helix"
    (span,) = [s for ss in rs.scope_spans for s in ss.spans]
    assert span.name == "maestro.step"
    assert span.trace_id.hex() == out.audit[0].details["trace_id"]


def test_log_lines_carry_the_current_trace_id() -> None:
    import logging

    from maestro_helix.observability.tracing import TraceIdFilter

    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    f = TraceIdFilter()
    f.filter(record)
    assert record.trace_id == "-"
    with tracer.start_as_current_span("s") as span:
        f.filter(record)
        assert record.trace_id == format(span.get_span_context().trace_id, "032x")
