"""MaestroHelixBridge: the hooks around every step, as typed phases inside a chain of links.

The core of an attempt (:class:`StepCore`) runs its phases in order, each with its own frozen
result: input links settle the input (routing — :class:`RouteLink` —, later prediction), the
agent phase (:class:`AgentLink`) gives an :class:`AgentResult`, the score phase
(:class:`EvaluateLink`) :class:`Scores`, the gate phase (:class:`GateLink`) a ``GateVerdict``.
Outer links wrap the gated :class:`StepOutcome` with ``execute_step(input, next)``: governance,
learning, audit, events, metrics, tracing. Adding a hook never means editing the engine loop.
Links do no I/O of their own: audit entries and events are collected on the outcome and written
by the engine in the step's one transaction; observers run after it commits.

Default order, outermost first::

    EventLink → AuditLink → StepCore(RouteLink | AgentLink → EvaluateLink → [revision] → GateLink)

The router's track record is folded by the store in the step's commit (``store/router_sql.py``),
not by a link: it is exactly the committed steps, in every process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.failures import RetryPolicy, call_agent
from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.outputs import AgentOutput, StepContext, storable
from maestro_helix.core.ports import RoutingPort
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
    NOT_SCORED,
    AgentPhase,
    AgentResult,
    GatePhase,
    InputLink,
    Next,
    RevisePhase,
    ScorePhase,
    Scores,
    StepInput,
    StepLink,
    StepOutcome,
    Terminal,
    feedback_for,
)
from maestro_helix.core.workflow import Unresolved, render
from maestro_helix.engine.routing import RouteLink
from maestro_helix.helix.base import AgentRecord, EvaluationRequest, RiskRequest, declared_sources
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.routing import Router, explore_guard

__all__ = [
    "NOT_SCORED",
    "AgentLink",
    "AgentResult",
    "AuditLink",
    "EvaluateLink",
    "EventLink",
    "GateLink",
    "MaestroHelixBridge",
    "Next",
    "RouteLink",
    "Scores",
    "StepCore",
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

    def with_inputs(self, add: Sequence[InputLink], *, first: bool = False) -> MaestroHelixBridge:
        """A new bridge whose core settles the input with ``add`` too: after its own input links
        (e.g. routing), or before them when ``first``."""
        if not isinstance(self.terminal, StepCore):
            raise TypeError("the bridge's terminal is not a StepCore: it has no input links")
        core = self.terminal
        prepare = (*add, *core.prepare) if first else (*core.prepare, *add)
        return MaestroHelixBridge(
            self.links, StepCore(prepare, core.agent, core.evaluate, core.gate, core.revise)
        )

    def with_revision(self, revise: RevisePhase) -> MaestroHelixBridge:
        """A new bridge whose core lets the agent revise its scored output before the gate."""
        if not isinstance(self.terminal, StepCore):
            raise TypeError("the bridge's terminal is not a StepCore: it has no phases")
        core = self.terminal
        return MaestroHelixBridge(
            self.links, StepCore(core.prepare, core.agent, core.evaluate, core.gate, revise)
        )


class StepCore:
    """One attempt through its phases: settle the input, run the agent, score, gate.

    Args:
        prepare: input links, in order (routing first by default).
        agent: the agent phase; evaluate: the score phase; gate: the gate phase.
    """

    def __init__(
        self,
        prepare: Sequence[InputLink],
        agent: AgentPhase,
        evaluate: ScorePhase,
        gate: GatePhase,
        revise: RevisePhase | None = None,
    ) -> None:
        self.prepare = tuple(prepare)
        self.agent = agent
        self.evaluate = evaluate
        self.gate = gate
        self.revise = revise

    async def __call__(self, inp: StepInput) -> StepOutcome:
        for link in self.prepare:
            inp = await link.prepare(inp)
        result = await self.agent(inp)
        scores = await self.evaluate.score(inp, result) if result.output is not None else NOT_SCORED
        if self.revise is not None and result.output is not None:
            result, scores = await self.revise.revise(inp, result, scores, self.evaluate)
        verdict = self.gate.decide(inp, result, scores)
        return StepOutcome(inp, result, scores, verdict)


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


def assessed_input(task: str, text: str) -> str:
    """The input text the risk assessor scans for one attempt: the rendered task and the
    input's text. The risk predictor scans this same string before the step runs, so the
    injection detector's memo serves the assessor's scan: one scan of the input per step."""
    return f"{task} {text}" if task else text


def default_payload(inp: StepInput) -> dict[str, Any]:
    return {"input": inp.scope.get("input", {}), "steps": inp.scope.get("steps", {})}


DEFAULT_STEP_TIMEOUT_S = 300.0
"""A step's agent call is stopped after this long unless the step or the gate config says."""


class AgentLink:
    """The agent phase: build the agent's input from references and run the agent (with its
    timeout: the step's ``timeout_s``, else the default)."""

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

    async def __call__(self, inp: StepInput) -> AgentResult:
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
            return AgentResult(
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
        return AgentResult(
            agent_id=agent_id,
            payload=payload,
            task=task,
            output=output,
            error=error,
            failure=kind,
            started_at=started,
            finished_at=iso(clock.now()),
            latency_ms=(clock.monotonic() - t0) * 1000.0,
        )


class EvaluateLink:
    """The score phase: QSR (quality) and MRI (risk). A crashing evaluator is its own outcome."""

    def __init__(
        self,
        qsr: QSREvaluator,
        risk: RiskAssessor,
        clock: Clock | None = None,
    ) -> None:
        self.qsr = qsr
        self.risk = risk
        self.clock = clock or SystemClock()

    async def score(self, inp: StepInput, result: AgentResult) -> Scores:
        if result.output is None:
            return NOT_SCORED
        t0 = self.clock.monotonic()
        step = inp.step
        text = input_text(result.payload)
        task = result.task
        try:
            mentions = tuple(str(render(m, inp.scope)) for m in step.expect.mentions)
        except Unresolved:
            mentions = step.expect.mentions
        req = EvaluationRequest(
            step_id=step.id,
            task=task,
            input=result.payload,
            input_text=text,
            output=result.output,
            expect=step.expect,
            mentions=mentions,
            attempt=inp.attempt,
            sources=(sources := declared_sources(result.payload, step.sources)),
        )
        quality: QualityScore | EvaluationFailure
        try:
            quality = await self.qsr.aevaluate(req, step.evaluators)
        except Exception as e:  # a bug in an evaluator: fail closed, never a low score
            quality = EvaluationFailure("qsr", FailureKind.CRASH, f"{type(e).__name__}: {e}")
        agent_rec = None
        rec = inp.route.record if inp.route is not None else None
        if rec is not None and rec.agent_id == result.agent_id:  # the shared, stored record
            agent_rec = AgentRecord(rec.agent_id, rec.passed, rec.n)
        risk: RiskScore | EvaluationFailure
        try:
            risk = self.risk.assess(
                RiskRequest(
                    step_id=step.id,
                    input_text=assessed_input(task, text),
                    output=result.output,
                    allowed_actions=step.actions,
                    agent=agent_rec,
                    documents=sources,
                )
            )
        except Exception as e:
            risk = EvaluationFailure("mri", FailureKind.CRASH, f"{type(e).__name__}: {e}")
        return Scores(quality, risk, (self.clock.monotonic() - t0) * 1000.0)


class GateLink:
    """The gate phase: pass, retry with feedback, escalate, or fail."""

    def __init__(self, gate: HelixQualityGate) -> None:
        self.gate = gate

    def decide(self, inp: StepInput, result: AgentResult, scores: Scores) -> GateVerdict:
        if result.input_error is not None:
            return GateVerdict(GateDecision.FAIL, (result.input_error,), inp.thresholds)
        verdict = self.gate.decide(
            scores.quality,
            scores.risk,
            attempt=inp.attempt,
            thresholds=inp.thresholds,
            agent_error=result.error,
            agent_failure=result.failure,
        )
        # an exploratory pick that did not pass goes to the best agent, never to people
        return explore_guard(inp.route, verdict)


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
        q, r = out.quality, out.risk
        versions: dict[str, str] = {}
        if q is not None:
            versions["qsr"] = q.evaluator_version
        if r is not None:
            versions["mri"] = (
                r.assessor_version if isinstance(r, RiskScore) else r.evaluator_version
            )
        details: dict[str, Any] = {"reasons": list(verdict.reasons)}
        routed = out.input  # as the core's input links settled it: the route and the knowledge
        if routed.route is not None:  # candidates, scores, posteriors, the draw, why
            details["routing"] = routed.route.to_dict()
        if routed.knowledge:
            details["knowledge"] = [k.item_id for k in routed.knowledge]
        if out.agent.revisions:
            details["reevaluations"] = [dict(r) for r in out.agent.revisions]
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
        if out.requests:
            details["approval_requests"] = [r.request_id for r in out.requests]
        if out.intents:
            details["actions_cleared"] = [i.action_type for i in out.intents]
        entry = AuditDraft(
            entry_id=f"{inp.run_id}/{inp.index}/{inp.attempt}/decision",
            ts=out.finished_at or iso(self.clock.now()),
            kind=AuditKind.STEP_DECISION,
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
    store: RoutingPort | None = None,
) -> MaestroHelixBridge:
    """The standard chain: events and audit around the core (route, agent, score, gate).
    ``store`` is where routing reads the track record (None: the priors alone)."""
    clock = clock or SystemClock()
    return MaestroHelixBridge(
        [EventLink(clock), AuditLink(clock)],
        StepCore(
            [RouteLink(agents, router, store, clock)],
            AgentLink(agents, clock, step_timeout_s),
            EvaluateLink(qsr, risk, clock),
            GateLink(gate),
        ),
    )
