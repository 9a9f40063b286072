"""OpenTelemetry tracing: one span per step attempt, joinable with the audit log.

Library code never touches the global tracer provider: :class:`TracingLink` and
:func:`run_span` take a :class:`~opentelemetry.trace.Tracer` (``provider.get_tracer(...)``), and
:func:`tracer_provider_from_env` builds a provider only when the standard ``OTEL_*`` variables ask
for OTLP export. Whoever builds the provider owns it and calls ``provider.shutdown()`` on exit
(that flushes the spans still queued).

The trace id (32 hex digits) and span id (16) of each attempt are written into the attempt's
audit entries (``details["trace_id"]``, ``details["span_id"]``) and reflexive event payloads
(``payload["trace_id"]``, ``payload["span_id"]``), so an audit entry leads to its trace and back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from maestro_helix.core.errors import ConfigError
from maestro_helix.core.extras import require
from maestro_helix.core.outputs import Usage
from maestro_helix.core.scores import EvaluationFailure
from maestro_helix.core.steps import Next, StepInput, StepOutcome

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "SPAN_ID_KEY",
    "STEP_SPAN",
    "TRACE_ID_KEY",
    "TracingLink",
    "annotate_current_span",
    "run_span",
    "tracer_provider_from_env",
]

STEP_SPAN = "maestro.step"
RUN_SPAN = "maestro.run"
TRACE_ID_KEY = "trace_id"
SPAN_ID_KEY = "span_id"


class TracingLink:
    """A bridge link that wraps each step attempt in a ``maestro.step`` span.

    Attributes set: ``maestro.workflow``, ``maestro.workflow_version``, ``maestro.step``,
    ``maestro.step_index``, ``maestro.attempt``, ``maestro.run_id``, and once the attempt is
    done ``maestro.agent``, ``helix.qsr``, ``helix.mri``, ``helix.decision``,
    ``helix.eval_ms``, ``maestro.latency_ms``, ``gil.requests`` (absent when unknown: a failed
    evaluator has no score). An agent that reports its model call's usage (``ChatAgent``) adds
    the OpenTelemetry GenAI attributes ``gen_ai.usage.input_tokens``,
    ``gen_ai.usage.output_tokens``, ``gen_ai.response.model`` and ``maestro.agent.call_ms``,
    ``maestro.agent.cost_usd``, ``maestro.agent.tries``. The status is ERROR when an evaluator
    failed, the agent failed, its input could not be built, or a link raised (the exception is
    recorded too); a gate decision other than PASS is a normal outcome, not an error.

    The span is a child of whatever span is current, e.g. a :func:`run_span` the engine opens
    around a run; without one each attempt is its own trace, and ``maestro.run_id`` ties a
    run's attempts together.

    Put it **outermost** in the chain, so the audit entries and events built by the links
    inside it get the span's ids::

        bridge.with_links(before=EventLink, add=[TracingLink(tracer), MetricsLink(metrics)])
    """

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        attributes: dict[str, str | int] = {
            "maestro.workflow": inp.workflow.name,
            "maestro.workflow_version": inp.workflow.version,
            "maestro.step": inp.step.id,
            "maestro.step_index": inp.index,
            "maestro.attempt": inp.attempt,
            "maestro.run_id": inp.run_id,
        }
        with self.tracer.start_as_current_span(
            STEP_SPAN, kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            out = await nxt(inp)
            _describe(span, out)
            ctx = span.get_span_context()
            if not ctx.is_valid:  # tracing is off (no-op tracer): nothing to join on
                return out
            ids = {
                TRACE_ID_KEY: trace.format_trace_id(ctx.trace_id),
                SPAN_ID_KEY: trace.format_span_id(ctx.span_id),
            }
            return _with_ids(out, ids)


def _describe(span: Span, out: StepOutcome) -> None:
    if not span.is_recording():
        return
    attrs: dict[str, str | float | int] = {
        "maestro.latency_ms": out.latency_ms,
    }
    if out.agent_id is not None:
        attrs["maestro.agent"] = out.agent_id
    if out.qsr is not None:
        attrs["helix.qsr"] = out.qsr
    if out.mri is not None:
        attrs["helix.mri"] = out.mri
    if out.quality is not None:
        attrs["helix.eval_ms"] = out.eval_ms
    if out.verdict is not None:
        attrs["helix.decision"] = out.verdict.decision.value
    if out.requests:
        attrs["gil.requests"] = len(out.requests)
    if out.output is not None and out.output.usage is not None:
        attrs.update(_usage_attributes(out.output.usage))
    span.set_attributes(attrs)
    problems: list[str] = []
    for result in (out.quality, out.risk):
        if isinstance(result, EvaluationFailure):
            span.add_event(
                "helix.evaluator_failure",
                {
                    "helix.evaluator": result.evaluator,
                    "helix.failure_kind": result.kind.value,
                    "helix.failure_message": result.message,
                },
            )
            problems.append(f"{result.evaluator} evaluator {result.kind.value}: {result.message}")
    if out.agent_error is not None:
        problems.append(f"agent: {out.agent_error}")
    if out.input_error is not None:
        problems.append(f"input: {out.input_error}")
    if problems:
        span.set_status(Status(StatusCode.ERROR, "; ".join(problems)))


def _usage_attributes(u: Usage) -> dict[str, str | float | int]:
    """A model call's usage under the OpenTelemetry GenAI names where they exist."""
    attrs: dict[str, str | float | int] = {
        "gen_ai.usage.input_tokens": u.prompt_tokens,
        "gen_ai.usage.output_tokens": u.completion_tokens,
        "maestro.agent.call_ms": u.latency_ms,
        "maestro.agent.cost_usd": u.cost_usd,
        "maestro.agent.tries": u.tries,
    }
    if u.model:
        attrs["gen_ai.response.model"] = u.model
    return attrs


def _with_ids(out: StepOutcome, ids: Mapping[str, str]) -> StepOutcome:
    if not out.audit and not out.events:
        return out
    return replace(
        out,
        audit=tuple(replace(a, details={**a.details, **ids}) for a in out.audit),
        events=tuple(replace(e, payload={**e.payload, **ids}) for e in out.events),
    )


@contextmanager
def run_span(tracer: Tracer, run_id: str, workflow: str) -> Iterator[Span]:
    """A ``maestro.run`` span, current for the block: step spans started inside are its
    children. For the engine, around one run's execution::

        with run_span(tracer, run_id, workflow.name):
            ...  # execute the steps
    """
    with tracer.start_as_current_span(
        RUN_SPAN,
        kind=SpanKind.INTERNAL,
        attributes={"maestro.run_id": run_id, "maestro.workflow": workflow},
    ) as span:
        yield span


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def tracer_provider_from_env(service_name: str = "maestro-helix") -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP, if the environment asks for one.

    Export is on when ``OTEL_TRACES_EXPORTER`` lists ``otlp``, or when it is unset and
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set. It is off
    (``None``) otherwise, and always with ``OTEL_SDK_DISABLED=true`` or
    ``OTEL_TRACES_EXPORTER=none``. The exporter reads the other standard variables itself
    (endpoint, headers, timeout, certificates, compression). ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` are honoured.

    The caller owns the provider: call ``shutdown()`` when done (it flushes queued spans). The
    global provider is left alone.

    Raises:
        ConfigError: ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or ``..._TRACES_PROTOCOL``) names a
            protocol other than ``http/protobuf``: only OTLP over HTTP is shipped.
    """
    if _env("OTEL_SDK_DISABLED").lower() == "true":
        return None
    exporters = {e.strip().lower() for e in _env("OTEL_TRACES_EXPORTER").split(",") if e.strip()}
    if exporters:
        if "otlp" not in exporters:
            return None
    elif not (_env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = _env(var)
        if protocol:
            if protocol != "http/protobuf":
                raise ConfigError(
                    var,
                    "",
                    f"OTLP protocol {protocol!r} is not supported; use http/protobuf "
                    "(OTLP over HTTP, usually port 4318)",
                )
            break

    for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http"):
        require(module, extra="otel", feature="OTLP trace export (OTEL_* variables)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, Any] = {}
    # attributes given here override the environment's, so name the service only if it did not
    if SERVICE_NAME not in OTELResourceDetector().detect().attributes:
        attributes[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class TraceIdFilter(logging.Filter):
    """Puts the current trace id (32 hex, or ``-``) on every log record as ``trace_id``, so a
    log line joins the trace and the audit entry of the step it was written in."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else "-"
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    """Log to stderr, structured, with the trace id on each line: kept for callers of the old
    place; see :func:`maestro_helix.observability.logs.configure_logging`."""
    from maestro_helix.observability.logs import configure_logging as configure

    configure(level)


def annotate_current_span(attributes: Mapping[str, str | float | int]) -> None:
    """Add attributes to the current span (the attempt's ``maestro.step`` span inside a
    :class:`TracingLink`); nothing when no span is recording."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(dict(attributes))
