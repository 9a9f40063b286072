"""Prometheus metrics for Maestro + Helix, under the names the runbook's alert table uses.

Everything is registered on a :class:`~prometheus_client.CollectorRegistry` passed in (never the
global one), so each system, and each test, has its own. :class:`MetricsLink` records every step
attempt from the bridge chain; the rest is fed by whoever knows the fact (the engine for finished
runs, the TLS listener for handshake failures, the bus for its lag).

Exposition: :meth:`HelixMetrics.render` gives ``(body, content_type)`` for a ``/metrics`` handler,
or mount :func:`metrics_app` (an ASGI app) directly, e.g. ``app.mount("/metrics",
metrics_app(metrics))`` in FastAPI. It answers without authentication: serve it on an internal
port or behind the network policy, not on the public API listener.

Labels are bounded by the definitions: ``workflow``, ``step``, ``agent`` (and ``decision``,
``kind``, ``status``, ``component`` from small fixed sets). Run ids never become labels; they
are on the trace spans (see :mod:`maestro_helix.observability.tracing`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
)
from prometheus_client.exposition import choose_encoder

from maestro_helix.core.clock import Clock, SystemClock
from maestro_helix.core.outputs import Usage
from maestro_helix.core.scores import GateDecision
from maestro_helix.core.steps import Next, StepInput, StepOutcome
from maestro_helix.observability.canary_metrics import CanaryMetrics
from maestro_helix.observability.predict_metrics import PredictionMetrics

log = logging.getLogger(__name__)

__all__ = [
    "LATENCY_BUCKETS",
    "MAX_MODELS_PER_AGENT",
    "SCORE_BUCKETS",
    "ASGIApp",
    "HelixMetrics",
    "MetricsLink",
    "metrics_app",
]

# Scores live in 0..1; the edges sit on the runbook's lines: MRI normal <= 0.25, gate 0.3,
# alert 0.4; QSR alert 0.6, gate 0.7, normal >= 0.75.
SCORE_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.75,
    0.8,
    0.9,
    0.95,
    1.0,
)
# One attempt through the chain: from a few ms (function agents) to minutes (LLM calls).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
# QSR + MRI evaluation; the runbook's target is < 200 ms.
EVAL_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)

_STEP_LABELS = ("workflow", "step", "agent")
# RunStatus.finished, spelled out: observability does not import the store
_TERMINAL = frozenset({"completed", "failed", "cancelled"})
_NO_AGENT = "none"  # an attempt that failed before routing (Prometheus treats "" as absent)
_USAGE_LABELS = ("agent", "model")
# the model is what the endpoint answered: a few per agent are kept, the rest become "other" so
# an endpoint that answers with a new name each call cannot grow the series without bound
MAX_MODELS_PER_AGENT = 8
_OTHER_MODEL = "other"
_NO_MODEL = "unknown"

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class _DecayingAverage:
    """Time-decayed mean of a workflow's scores, written to its gauge series.

    Each score weighs ``0.5 ** (age / halflife)``. The mean does not drift while nothing
    arrives (numerator and denominator decay together), and it does not depend on traffic rate:
    with a 60 s half-life the last minute carries half the weight whether there were 10 or 10,000
    attempts in it. The series is created with the first score: a workflow whose evaluator never
    produced one has no average (not 0.0, which would read as a quality alert).
    """

    __slots__ = ("_child", "_gauge", "_halflife", "_last", "_sum", "_weight", "_workflow")

    def __init__(self, gauge: Gauge, workflow: str, halflife_s: float) -> None:
        self._gauge = gauge
        self._workflow = workflow
        self._child: Gauge | None = None
        self._halflife = halflife_s
        self._sum = 0.0
        self._weight = 0.0
        self._last = -math.inf

    def add(self, x: float, now: float) -> None:
        if now > self._last:
            if self._weight:
                decay = 0.5 ** ((now - self._last) / self._halflife)
                self._sum *= decay
                self._weight *= decay
            self._last = now
        self._sum += x
        self._weight += 1.0
        child = self._child
        if child is None:
            child = self._child = self._gauge.labels(self._workflow)
        child.set(self._sum / self._weight)


@dataclass(frozen=True, slots=True)
class _StepSeries:
    """The labelled children of one (workflow, step, agent), resolved once."""

    qsr: Histogram
    mri: Histogram
    latency: Histogram
    evaluation: Histogram
    decisions: dict[GateDecision, Counter]
    retries: Counter
    escalations: Counter
    action_approvals: Counter
    qsr_average: _DecayingAverage
    mri_average: _DecayingAverage


@dataclass(frozen=True, slots=True)
class _UsageSeries:
    """The labelled children of one (agent, model) for model-call usage, resolved once."""

    input_tokens: Counter
    output_tokens: Counter
    cost: Counter
    latency: Histogram
    retries: Counter


class HelixMetrics:
    """The runbook's metrics on one registry.

    Step labels are ``workflow``, ``step``, ``agent`` (``"none"`` before routing):

    - ``helix_qsr``, ``helix_mri`` (histograms, step labels): the score of each attempt that got
      one (an evaluator failure is not a score and is not observed).
    - ``helix_qsr_average``, ``helix_mri_average`` (gauges, ``workflow``): time-decayed means,
      see below.
    - ``gil_escalations_total`` (counter, step labels + ``kind``): one per GIL approval request
      on the outcome (``kind="escalation"`` for an escalated step, ``"action"`` for an
      irreversible action awaiting approval); an ESCALATE decision without a request (no GIL
      link in the chain) counts once as ``escalation``; a decision and its request count once.
    - ``reflexive_event_lag_ms`` (gauge): age of the oldest reflexive event not yet processed:
      with a JetStream bus, by any consumer of the stream (measured on the server, see
      :mod:`maestro_helix.bus.lag`), else by this process's own subscriptions.
    - ``tls_handshake_failures_total`` (counter, ``component``: ``api``, ``bus``, ``store``...).
    - ``maestro_step_latency_seconds`` (histogram, step labels): one attempt through the chain
      inside :class:`MetricsLink` (routing, agent, evaluation, gate, GIL planning).
    - ``helix_evaluation_seconds`` (histogram, step labels): QSR + MRI evaluation time.
    - ``helix_gate_decisions_total`` (counter, step labels + ``decision``).
    - ``helix_retries_total`` (counter, step labels): RETRY decisions.
    - ``maestro_tasks_total`` (counter, ``workflow``, ``status``): runs that reached a terminal
      status (completed, failed, cancelled), each once, from :meth:`run_finished`.
    - ``gil_decisions_refused_total`` (counter, ``code``): refused human decisions.
    - ``gil_policy_refused_total`` (counter): active policies refused (last good one kept).
    - ``gil_actions_total`` (counter, ``action_type``, ``outcome``): cleared actions run.
    - Model calls (agents that report ``AgentOutput.usage``, e.g. ``ChatAgent``), labels
      ``agent`` and ``model`` (the model the endpoint named; past
      :data:`MAX_MODELS_PER_AGENT` per agent, ``"other"``): ``maestro_agent_tokens_total``
      (counter, + ``type``: ``input`` | ``output``), ``maestro_agent_cost_usd_total`` (counter),
      ``maestro_agent_call_seconds`` (histogram: the call's wall time, its transient retries
      included), ``maestro_agent_call_retries_total`` (counter: HTTP tries beyond the first).

    The averages are exponentially weighted in *time* (not in samples): each score weighs
    ``0.5 ** (age / average_halflife_s)``, so with the default 60 s the gauge follows the last
    couple of minutes whatever the traffic. A workflow with no traffic keeps its last value, so
    **alerts do not use these gauges**: ``deploy/prometheus/alerts.yml`` derives the average
    over a window from the histograms (``rate(helix_qsr_sum[5m]) / rate(helix_qsr_count[5m])``,
    recorded as ``workflow:helix_qsr_average:rate5m``), which has no value once traffic stops,
    so an alert resolves when the workflow is paused.

    Args:
        registry: where every metric is registered.
        average_halflife_s: half-life of the ``*_average`` gauges.
        clock: monotonic time for the averages and step latency (tests pass a FakeClock).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        average_halflife_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        if not average_halflife_s > 0:
            raise ValueError(f"average_halflife_s must be > 0, not {average_halflife_s!r}")
        self.registry = registry
        self.prediction = PredictionMetrics(registry)  # the pre-execution risk prediction
        self.clock = clock or SystemClock()
        self.average_halflife_s = average_halflife_s
        r = registry
        self.qsr = Histogram(
            "helix_qsr",
            "QSR of each scored step attempt (0..1).",
            _STEP_LABELS,
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.mri = Histogram(
            "helix_mri",
            "MRI of each assessed step attempt (0..1).",
            _STEP_LABELS,
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.qsr_average = Gauge(
            "helix_qsr_average",
            f"Time-decayed mean QSR per workflow (half-life {average_halflife_s:g} s).",
            ("workflow",),
            registry=r,
        )
        self.mri_average = Gauge(
            "helix_mri_average",
            f"Time-decayed mean MRI per workflow (half-life {average_halflife_s:g} s).",
            ("workflow",),
            registry=r,
        )
        self.escalations = Counter(
            "gil_escalations_total",
            "GIL approval requests created (kind=escalation|action); an ESCALATE decision "
            "without a request counts once.",
            (*_STEP_LABELS, "kind"),
            registry=r,
        )
        self.event_lag_ms = Gauge(
            "reflexive_event_lag_ms",
            "Age in ms of the oldest reflexive event a consumer has not acknowledged yet.",
            registry=r,
        )
        self.tls_handshake_failures = Counter(
            "tls_handshake_failures_total",
            "TLS handshakes that failed.",
            ("component",),
            registry=r,
        )
        self.step_latency = Histogram(
            "maestro_step_latency_seconds",
            "Time of one step attempt through the chain (routing, agent, evaluation, gate).",
            _STEP_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.evaluation_latency = Histogram(
            "helix_evaluation_seconds",
            "QSR + MRI evaluation time of one attempt.",
            _STEP_LABELS,
            buckets=EVAL_BUCKETS,
            registry=r,
        )
        self.gate_decisions = Counter(
            "helix_gate_decisions_total",
            "Quality gate decisions.",
            (*_STEP_LABELS, "decision"),
            registry=r,
        )
        self.retries = Counter(
            "helix_retries_total",
            "Step attempts the gate sent back for a retry.",
            _STEP_LABELS,
            registry=r,
        )
        self.tasks = Counter(
            "maestro_tasks_total",
            "Workflow runs finished, by final status.",
            ("workflow", "status"),
            registry=r,
        )
        self.gil_refusals = Counter(
            "gil_decisions_refused_total",
            "Human decisions GIL refused, by reason code (payload_tampered, no_handler, ...).",
            ("code",),
            registry=r,
        )
        self.gil_policy_refused = Counter(
            "gil_policy_refused_total",
            "Active policy versions this process refused to take up (they loosen an invariant "
            "for its action types); the last good policy stays in force.",
            registry=r,
        )
        self.gil_actions = Counter(
            "gil_actions_total",
            "Cleared actions run by GIL, by action type and outcome (succeeded|failed).",
            ("action_type", "outcome"),
            registry=r,
        )
        self.canary = CanaryMetrics(r)  # observability/canary_metrics.py
        self.agent_tokens = Counter(
            "maestro_agent_tokens_total",
            "Tokens of model calls as the endpoint reported them (type=input|output).",
            (*_USAGE_LABELS, "type"),
            registry=r,
        )
        self.agent_cost = Counter(
            "maestro_agent_cost_usd_total",
            "Cost of model calls in USD at the agent's configured prices.",
            _USAGE_LABELS,
            registry=r,
        )
        self.agent_call_latency = Histogram(
            "maestro_agent_call_seconds",
            "Wall time of one model call, its transient retries and their pauses included.",
            _USAGE_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.agent_call_retries = Counter(
            "maestro_agent_call_retries_total",
            "HTTP tries of model calls beyond the first (transient failures retried).",
            _USAGE_LABELS,
            registry=r,
        )
        self._series: dict[tuple[str, str, str], _StepSeries] = {}
        self._usage: dict[tuple[str, str], _UsageSeries] = {}
        self._models: dict[str, set[str]] = {}
        self._averages: dict[str, tuple[_DecayingAverage, _DecayingAverage]] = {}
        self._lock = threading.Lock()
        self._lag_value = 0.0
        self._lag_source: Callable[[], float] | None = None
        self.event_lag_ms.set_function(self._read_lag)

    # -- step attempts ------------------------------------------------------------------------

    def _resolve(self, key: tuple[str, str, str]) -> _StepSeries:
        with self._lock:
            found = self._series.get(key)
            if found is not None:
                return found
            workflow = key[0]
            averages = self._averages.get(workflow)
            if averages is None:
                h = self.average_halflife_s
                averages = (
                    _DecayingAverage(self.qsr_average, workflow, h),
                    _DecayingAverage(self.mri_average, workflow, h),
                )
                self._averages[workflow] = averages
            # counters and histograms start at zero now, so rate()/increase() see the first
            # event (the averages start with their first score instead)
            series = _StepSeries(
                qsr=self.qsr.labels(*key),
                mri=self.mri.labels(*key),
                latency=self.step_latency.labels(*key),
                evaluation=self.evaluation_latency.labels(*key),
                decisions={d: self.gate_decisions.labels(*key, d.value) for d in GateDecision},
                retries=self.retries.labels(*key),
                escalations=self.escalations.labels(*key, "escalation"),
                action_approvals=self.escalations.labels(*key, "action"),
                qsr_average=averages[0],
                mri_average=averages[1],
            )
            self._series[key] = series
            return series

    def record(self, out: StepOutcome, elapsed_s: float | None = None) -> None:
        """Record one attempt's outcome.

        Args:
            out: the attempt, after the gate (and GIL planning, if any) ran.
            elapsed_s: the attempt's time through the chain; ``None`` records no latency.
        """
        inp = out.input
        key = (inp.workflow.name, inp.step.id, out.agent_id or _NO_AGENT)
        s = self._series.get(key) or self._resolve(key)
        if elapsed_s is not None:
            s.latency.observe(elapsed_s)
        if out.quality is not None:
            s.evaluation.observe(out.eval_ms / 1000.0)
        qsr, mri = out.qsr, out.mri
        if qsr is not None or mri is not None:
            now = self.clock.monotonic()
            with self._lock:  # the averages' two floats change together
                if qsr is not None:
                    s.qsr_average.add(qsr, now)
                if mri is not None:
                    s.mri_average.add(mri, now)
            if qsr is not None:
                s.qsr.observe(qsr)
            if mri is not None:
                s.mri.observe(mri)
        output = out.output
        if output is not None and output.usage is not None:
            self._record_usage(out.agent_id or _NO_AGENT, output.usage)
        verdict = out.verdict
        if verdict is None:
            return
        decision = verdict.decision
        s.decisions[decision].inc()
        if decision is GateDecision.RETRY:
            s.retries.inc()
        escalation_requests = 0
        for req in out.requests:
            if req.kind == "escalation":
                escalation_requests += 1
            else:
                s.action_approvals.inc()
        if escalation_requests:
            s.escalations.inc(escalation_requests)
        elif decision is GateDecision.ESCALATE:
            s.escalations.inc()  # no GIL link in the chain: the decision itself is the escalation

    def _record_usage(self, agent: str, usage: Usage) -> None:
        model = usage.model or _NO_MODEL
        u = self._usage.get((agent, model)) or self._resolve_usage(agent, model)
        if usage.prompt_tokens:
            u.input_tokens.inc(usage.prompt_tokens)
        if usage.completion_tokens:
            u.output_tokens.inc(usage.completion_tokens)
        if usage.cost_usd > 0:
            u.cost.inc(usage.cost_usd)
        u.latency.observe(usage.latency_ms / 1000.0)
        if usage.tries > 1:
            u.retries.inc(usage.tries - 1)

    def _resolve_usage(self, agent: str, model: str) -> _UsageSeries:
        with self._lock:
            seen = self._models.setdefault(agent, set())
            if model not in seen and len(seen) >= MAX_MODELS_PER_AGENT:
                model = _OTHER_MODEL  # kept under "other" only: the dict stays bounded too
            found = self._usage.get((agent, model))
            if found is not None:
                return found
            if model != _OTHER_MODEL:
                seen.add(model)
            key = (agent, model)
            series = _UsageSeries(
                input_tokens=self.agent_tokens.labels(*key, "input"),
                output_tokens=self.agent_tokens.labels(*key, "output"),
                cost=self.agent_cost.labels(*key),
                latency=self.agent_call_latency.labels(*key),
                retries=self.agent_call_retries.labels(*key),
            )
            self._usage[key] = series
            return series

    # -- facts from elsewhere -----------------------------------------------------------------

    def run_finished(self, workflow: str, status: str) -> None:
        """Count a run that stopped, if it stopped for good.

        The engine calls this at every stop (``Engine.on_run_stopped``), and a run can stop
        several times: escalated, approved, resumed and then completed. Only the terminal
        statuses (completed, failed, cancelled) are counted, so each run counts once, when it
        finishes: the escalation-rate alert divides by this counter."""
        if str(status) in _TERMINAL:
            self.tasks.labels(workflow, str(status)).inc()

    def decision_refused(self, code: str) -> None:
        """Count one refused human decision (``code`` from the governance rules)."""
        self.gil_refusals.labels(code).inc()

    def policy_refused(self, version: int) -> None:
        """Count one active policy version this process would not take up."""
        self.gil_policy_refused.inc()

    def gil_events(self, events: Sequence[Any]) -> None:
        """Count the ``action.succeeded`` / ``action.failed`` events GIL publishes."""
        for e in events:
            kind = getattr(e, "type", "")
            if kind in ("action.succeeded", "action.failed"):
                atype = str(e.payload.get("action_type", "unknown"))
                self.gil_actions.labels(atype, kind.split(".", 1)[1]).inc()

    def tls_handshake_failed(self, component: str) -> None:
        """Count one failed TLS handshake on ``component`` (a fixed name: ``api``, ``bus``...)."""
        self.tls_handshake_failures.labels(component).inc()

    def set_event_lag_ms(self, value: float) -> None:
        """Set ``reflexive_event_lag_ms`` (ignored while a source from :meth:`watch_event_lag`
        is installed)."""
        self._lag_value = float(value)

    def watch_event_lag(self, source: Callable[[], float] | None) -> None:
        """Read ``reflexive_event_lag_ms`` from ``source`` at each scrape (e.g. a NATS bus's
        ``lag_ms``); ``None`` goes back to the value set by :meth:`set_event_lag_ms`."""
        self._lag_source = source

    def _read_lag(self) -> float:
        source = self._lag_source
        if source is None:
            return self._lag_value
        try:
            return float(source())
        except Exception as e:  # one broken source must not fail the whole scrape
            log.warning(
                "event lag source failed",
                extra={"metric": "reflexive_event_lag_ms", "error": f"{type(e).__name__}: {e}"},
            )
            return math.nan

    # -- exposition ---------------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the exposition format the ``Accept`` header asks for (Prometheus
        text by default): ``(body, content_type)`` for a ``/metrics`` response."""
        if not accept:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def metrics_app(metrics: HelixMetrics) -> ASGIApp:
    """An ASGI app serving ``metrics``' registry (content negotiation and gzip included).

    Mount it where scrapers can reach it, e.g. ``api.mount("/metrics", metrics_app(m))``.
    """
    app: ASGIApp = make_asgi_app(registry=metrics.registry)
    return app


class MetricsLink:
    """A bridge link that records each attempt into :class:`HelixMetrics`.

    Place it outside the gate and the GIL link (it reads the verdict and the approval requests),
    just inside :class:`~maestro_helix.observability.tracing.TracingLink`::

        bridge.with_links(before=EventLink, add=[TracingLink(tracer), MetricsLink(metrics)])

    Per attempt it costs one dict lookup and a handful of observations: the labelled series of
    each (workflow, step, agent) are resolved once and kept.
    """

    def __init__(self, metrics: HelixMetrics) -> None:
        self.metrics = metrics
        self._monotonic = metrics.clock.monotonic

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        t0 = self._monotonic()
        out = await nxt(inp)
        elapsed = self._monotonic() - t0
        metrics = self.metrics
        # counted once the attempt is committed (a refused or redelivered one is not)
        return replace(out, observers=(*out.observers, lambda: metrics.record(out, elapsed)))
