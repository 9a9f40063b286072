"""MaestroHelixBridge: the hooks around every step, as an explicit chain of small links.

Each link has one method, ``execute_step(input, next)``: it may change the input before calling
``next`` and look at (or add to) the outcome after. The engine calls the first link; the last one
(:class:`AgentLink`) runs the agent. Prediction, routing, governance, metrics and tracing are links
too, so adding one never means editing the engine loop. Links do no I/O of their own: audit entries
and events are collected on the outcome and written by the engine in the step's one transaction.

Default order, outermost first::

    EventLink → AuditLink → GateLink → EvaluateLink → RouteLink → AgentLink
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.failures import RetryPolicy, call_agent
from maestro_helix.core.audit import AuditDraft
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.outputs import AgentOutput, StepContext, storable
from maestro_helix.core.ports import Store
from maestro_helix.core.records import EventRecord
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    GateDecision,
    GateVerdict,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.steps import (
    Next,
    StepInput,
    StepLink,
    StepOutcome,
    Terminal,
    feedback_for,
)
from maestro_helix.core.workflow import Unresolved, render
from maestro_helix.engine.routing import RouteLink
from maestro_helix.helix.base import AgentRecord, EvaluationRequest, RiskRequest
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router, explore_guard

__all__ = [
    "AgentLink",
    "AuditLink",
    "EvaluateLink",
    "EventLink",
    "GateLink",
    "MaestroHelixBridge",
    "Next",
    "RouteLink",
    "StepInput",
    "StepLink",
    "StepOutcome",
    "Terminal",
    "default_links",
    "feedback_for",
]


class MaestroHelixBridge:
    """Runs one step attempt through its chain of links.

    Args:
        links: outermost first.
        terminal: the innermost call (runs the agent).
    """

    def __init__(self, links: Sequence[StepLink], terminal: Terminal) -> None:
        self.links = tuple(links)
        self.terminal = terminal
        call: Next = terminal
        for link in reversed(self.links):
            call = _bind(link, call)
        self._call = call

    async def execute_step(self, inp: StepInput) -> StepOutcome:
        return await self._call(inp)

    def with_links(
        self, *, before: type | None = None, add: Sequence[StepLink] = ()
    ) -> MaestroHelixBridge:
        """A new bridge with ``add`` inserted before the first link of type ``before``
        (appended innermost, just before the agent, when ``before`` is None)."""
        links = list(self.links)
        pos = len(links)
        if before is not None:
            pos = next((i for i, lk in enumerate(links) if isinstance(lk, before)), len(links))
        links[pos:pos] = list(add)
        return MaestroHelixBridge(links, self.terminal)


def _bind(link: StepLink, nxt: Next) -> Next:
    async def call(inp: StepInput) -> StepOutcome:
        return await link.execute_step(inp, nxt)

    return call


def _flatten(value: Any, out: list[str], skip: str | None = None) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k != skip:
                _flatten(v, out, skip)
    elif isinstance(value, list | tuple):
        for v in value:
            _flatten(v, out, skip)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def input_text(payload: Mapping[str, Any]) -> str:
    parts: list[str] = []
    _flatten(payload, parts, skip="feedback")
    return " ".join(parts)


def default_payload(inp: StepInput) -> dict[str, Any]:
    return {"input": inp.scope.get("input", {}), "steps": inp.scope.get("steps", {})}


DEFAULT_STEP_TIMEOUT_S = 300.0
"""A step's agent call is stopped after this long unless the step or the gate config says."""


class AgentLink:
    """Innermost: build the agent's input from references and run the agent (with its timeout:
    the step's ``timeout_s``, else the default)."""

    def __init__(
        self,
        agents: AgentRegistry,
        clock: Clock | None = None,
        default_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    ) -> None:
        self.agents = agents
        self.clock = clock or SystemClock()
        self.default_timeout_s = default_timeout_s
        self.retry = RetryPolicy(tries=3, initial_s=0.5, max_s=10.0)

    async def __call__(self, inp: StepInput) -> StepOutcome:
        clock = self.clock
        started = iso(clock.now())
        t0 = clock.monotonic()
        step = inp.step
        agent_id = inp.agent_id or step.agent
        assert agent_id is not None, "no routing link before the agent"
        try:
            payload = (
                render(step.input, inp.scope) if step.input is not None else default_payload(inp)
            )
        except Unresolved as e:
            return StepOutcome(
                inp,
                agent_id=agent_id,
                input_error=f"steps[{inp.index}].input: reference ${{{e.args[0]}}} has no value "
                f"in this run",
                started_at=started,
                finished_at=iso(clock.now()),
            )
        task = str(render(step.task, inp.scope)) if step.task else ""
        ctx = StepContext(
            run_id=inp.run_id,
            workflow=inp.workflow.name,
            step=step.id,
            attempt=inp.attempt,
            capability=step.capability,
            task=task,
            feedback=inp.feedback,
            knowledge=inp.knowledge,
        )
        agent = self.agents.get(agent_id)
        output: AgentOutput | None = None
        error: str | None = None
        timeout = step.timeout_s if step.timeout_s is not None else self.default_timeout_s
        # transient failures back off and retry inside the attempt; a bug fails it with its type
        output, failure = await call_agent(agent, payload, ctx, retry=self.retry, timeout_s=timeout)
        error = failure.message if failure is not None else None
        kind = failure.kind if failure is not None else None
        if output is not None:
            problem = storable(output.to_dict())
            if problem is not None:
                output, error = None, f"the agent's output cannot be stored: {problem}"
        return StepOutcome(
            inp,
            agent_id=agent_id,
            payload=payload,
            task=task,
            output=output,
            agent_error=error,
            agent_failure=kind,
            started_at=started,
            finished_at=iso(clock.now()),
            latency_ms=(clock.monotonic() - t0) * 1000.0,
        )


class EvaluateLink:
    """Score the output: QSR (quality) and MRI (risk). A crashing evaluator is its own outcome."""

    def __init__(
        self,
        qsr: QSREvaluator,
        risk: RiskAssessor,
        clock: Clock | None = None,
    ) -> None:
        self.qsr = qsr
        self.risk = risk
        self.clock = clock or SystemClock()

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        return await self.score(inp, await nxt(inp))

    async def score(self, inp: StepInput, out: StepOutcome) -> StepOutcome:
        """``out`` with its QSR and MRI (again, for a revised output: re-evaluation)."""
        if out.output is None:
            return out
        t0 = self.clock.monotonic()
        step = inp.step
        text = input_text(out.payload)
        task = out.task
        try:
            mentions = tuple(str(render(m, inp.scope)) for m in step.expect.mentions)
        except Unresolved:
            mentions = step.expect.mentions
        req = EvaluationRequest(
            step_id=step.id,
            task=task,
            input=out.payload,
            input_text=text,
            output=out.output,
            expect=step.expect,
            mentions=mentions,
            attempt=inp.attempt,
        )
        quality: QualityScore | EvaluationFailure
        try:
            quality = await self.qsr.aevaluate(req, step.evaluators)
        except Exception as e:  # a bug in an evaluator: fail closed, never a low score
            quality = EvaluationFailure("qsr", FailureKind.CRASH, f"{type(e).__name__}: {e}")
        agent_rec = None
        route = out.input.route  # set by the routing link, inside this one
        rec = route.record if route is not None else None
        if rec is not None and out.agent_id == rec.agent_id:  # the shared, stored record
            agent_rec = AgentRecord(rec.agent_id, rec.passed, rec.n)
        risk: RiskScore | EvaluationFailure
        try:
            risk = self.risk.assess(
                RiskRequest(
                    step_id=step.id,
                    input_text=f"{task} {text}" if task else text,
                    output=out.output,
                    allowed_actions=step.actions,
                    agent=agent_rec,
                )
            )
        except Exception as e:
            risk = EvaluationFailure("mri", FailureKind.CRASH, f"{type(e).__name__}: {e}")
        return replace(
            out, quality=quality, risk=risk, eval_ms=(self.clock.monotonic() - t0) * 1000.0
        )


class GateLink:
    """Decide: pass, retry with feedback, escalate, or fail."""

    def __init__(self, gate: HelixQualityGate) -> None:
        self.gate = gate

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        if out.input_error is not None:
            verdict = GateVerdict(GateDecision.FAIL, (out.input_error,), inp.thresholds)
        else:
            verdict = self.gate.decide(
                out.quality,
                out.risk,
                attempt=inp.attempt,
                thresholds=inp.thresholds,
                agent_error=out.agent_error,
                agent_failure=out.agent_failure,
            )
        # an exploratory pick that did not pass goes to the best agent, never to people
        return replace(out, verdict=explore_guard(out.input.route, verdict))


_GIL_FOR = {
    GateDecision.PASS: "not_required",
    GateDecision.RETRY: "not_required",
    GateDecision.FAIL: "not_required",
    GateDecision.ESCALATE: "pending",
}


class AuditLink:
    """One audit entry per step decision (hash-chained by the store when written)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        verdict = out.verdict
        assert verdict is not None
        q, r = out.quality, out.risk
        versions: dict[str, str] = {}
        if q is not None:
            versions["qsr"] = q.evaluator_version
        if r is not None:
            versions["mri"] = (
                r.assessor_version if isinstance(r, RiskScore) else r.evaluator_version
            )
        details: dict[str, Any] = {"reasons": list(verdict.reasons)}
        routed = out.input  # as the inner links left it: the route and the knowledge
        if routed.route is not None:  # candidates, scores, posteriors, the draw, why
            details["routing"] = routed.route.to_dict()
        if routed.knowledge:
            details["knowledge"] = [k.item_id for k in routed.knowledge]
        if isinstance(r, RiskScore) and r.factors:
            details["risk_factors"] = [f.name for f in r.factors]
        if isinstance(q, EvaluationFailure):
            details["evaluator_failure"] = q.to_dict()
        if isinstance(r, EvaluationFailure):
            details["evaluator_failure"] = r.to_dict()
        if out.agent_error:
            details["agent_error"] = out.agent_error
            if out.agent_failure is not None:
                details["agent_failure"] = out.agent_failure.value
        if out.output is not None and out.output.usage is not None:
            details["usage"] = out.output.usage.to_dict()
        if out.output is not None and out.output.self_score is not None:
            details["self_score"] = out.output.self_score
        if out.reevaluations:
            details["reevaluations"] = [dict(r) for r in out.reevaluations]
        if out.requests:
            details["approval_requests"] = [r.request_id for r in out.requests]
        if out.intents:
            details["actions_cleared"] = [i.action_type for i in out.intents]
        entry = AuditDraft(
            entry_id=f"{inp.run_id}/{inp.index}/{inp.attempt}/decision",
            ts=out.finished_at or iso(self.clock.now()),
            kind="step.decision",
            run_id=inp.run_id,
            step_id=inp.step.id,
            step_index=inp.index,
            attempt=inp.attempt,
            workflow=inp.workflow.name,
            workflow_version=inp.workflow.version,
            agent_id=out.agent_id,
            qsr_score=out.qsr,
            mri_score=out.mri,
            gate_decision=verdict.decision.value,
            gil_decision="pending" if out.requests else _GIL_FOR[verdict.decision],
            human_operator_id="",
            evaluator_versions=versions,
            details=details,
        )
        return replace(out, audit=(*out.audit, entry))


class EventLink:
    """One reflexive event per evaluated attempt: scores, breakdown, factors and the decision."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        verdict = out.verdict
        assert verdict is not None
        payload: dict[str, Any] = {
            "attempt": inp.attempt,
            "step_index": inp.index,
            "workflow_version": inp.workflow.version,
            "agent_id": out.agent_id,
            "qsr": out.qsr,
            "mri": out.mri,
            "decision": verdict.decision.value,
            "reasons": list(verdict.reasons),
            "eval_ms": out.eval_ms,
            "latency_ms": out.latency_ms,
        }
        if isinstance(out.quality, QualityScore):
            payload["criteria"] = {c.name: c.score for c in out.quality.criteria}
            payload["suggestions"] = list(out.quality.suggestions)
        elif out.quality is not None:
            payload["evaluator_failure"] = out.quality.to_dict()
        if isinstance(out.risk, RiskScore):
            payload["risk_factors"] = {f.name: f.score for f in out.risk.factors}
        ev = EventRecord(
            event_id=f"{inp.run_id}/{inp.index}/{inp.attempt}/evaluated",
            type="step.evaluated",
            ts=out.finished_at or iso(self.clock.now()),
            run_id=inp.run_id,
            workflow=inp.workflow.name,
            step_id=inp.step.id,
            payload=payload,
        )
        return replace(out, events=(*out.events, ev))


def default_links(
    *,
    agents: AgentRegistry,
    qsr: QSREvaluator,
    risk: RiskAssessor,
    gate: HelixQualityGate,
    router: Router,
    clock: Clock | None = None,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    store: Store | None = None,
) -> MaestroHelixBridge:
    """The standard chain: events, audit, gate, evaluation, routing, agent. The track record
    is folded by the store in the step's commit; ``store`` is where routing reads it."""
    clock = clock or SystemClock()
    return MaestroHelixBridge(
        [
            EventLink(clock),
            AuditLink(clock),
            GateLink(gate),
            EvaluateLink(qsr, risk, clock),
            RouteLink(agents, router, store, clock),
        ],
        AgentLink(agents, clock, step_timeout_s),
    )
