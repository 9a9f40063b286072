"""One step attempt as it goes through the step chain, in typed phases: its frozen input, the
agent's result, the scores, the gate's verdict — each its own frozen type, so no phase asserts that
another ran before it — then the outer links (each holds an explicit ``next``) that plan, record
and observe the gated outcome; and the feedback an agent hears on a retry.
Plain data, no I/O: every room (governance, observability, engine) shares these types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from maestro_helix.core.audit import AuditDraft
from maestro_helix.core.errors import AgentFailureKind
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.provenance import NO_TAINT, Taint
from maestro_helix.core.records import ActionIntent, ApprovalRequest, EventRecord
from maestro_helix.core.scores import (
    EvaluationFailure,
    Feedback,
    GateDecision,
    GateThresholds,
    GateVerdict,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.workflow import StepDef, WorkflowDef

__all__ = [
    "NOT_SCORED",
    "AgentPhase",
    "AgentResult",
    "GatePhase",
    "InputLink",
    "Next",
    "ScorePhase",
    "Scores",
    "StepInput",
    "StepLink",
    "StepOutcome",
    "Terminal",
    "feedback_for",
]


@dataclass(frozen=True, slots=True)
class StepInput:
    """One attempt of one step, as it enters the chain.

    Attributes:
        run_id, workflow, step, index, attempt: where we are.
        scope: what ``${...}`` references resolve against: ``{"input": ..., "steps": {...}}``.
        thresholds: the resolved gate for this step.
        feedback: the evaluator's view of the previous attempt (retries only).
        exclude_agents: agents that already failed this step in this run.
        agent_id: set by the routing link (or fixed by the step definition).
        operator_id: who started the run, if known.
        taint: the untrusted content reaching this step through its references and its own
            declaration (:func:`maestro_helix.core.provenance.inherited_taint`).
    """

    run_id: str
    workflow: WorkflowDef
    step: StepDef
    index: int
    attempt: int
    scope: Mapping[str, Any]
    thresholds: GateThresholds
    feedback: Feedback | None = None
    exclude_agents: frozenset[str] = frozenset()
    agent_id: str | None = None
    operator_id: str | None = None
    taint: Taint = NO_TAINT


@dataclass(frozen=True, slots=True)
class AgentResult:
    """Phase 1: what the agent did in one attempt (or why it could not be asked).

    Attributes:
        agent_id: the agent that was run (chosen by routing or fixed by the step).
        payload: the rendered input it was given; ``task`` the rendered task text.
        output: its output, or None when it failed, timed out or its input could not be built.
        error, failure: the agent's failure (message and classified kind), if any.
        input_error: the step's input could not be built (a reference without a value).
        started_at, finished_at: ISO times; latency_ms: the agent call's duration.
    """

    agent_id: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    task: str = ""
    output: AgentOutput | None = None
    error: str | None = None
    failure: AgentFailureKind | None = None
    input_error: str | None = None
    started_at: str = ""
    finished_at: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Scores:
    """Phase 2: the evaluator's view of the output: QSR and MRI (a crashed evaluator is an
    :class:`EvaluationFailure`, never a low score). Both None when there was no output."""

    quality: QualityScore | EvaluationFailure | None = None
    risk: RiskScore | EvaluationFailure | None = None
    eval_ms: float = 0.0


NOT_SCORED = Scores()


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One gated attempt: its input, the agent's result, the scores and the gate's verdict
    (each its own frozen phase), then what the outer links add — the governance plan
    (approval requests, intents), the records written in the step's transaction (audit entries,
    events) and the observers run after it commits. The read properties flatten the phases."""

    input: StepInput
    agent: AgentResult
    scores: Scores
    verdict: GateVerdict
    requests: tuple[ApprovalRequest, ...] = ()
    intents: tuple[ActionIntent, ...] = ()
    audit: tuple[AuditDraft, ...] = ()
    events: tuple[EventRecord, ...] = ()
    observers: tuple[Callable[[], object], ...] = ()
    """Run by the engine only after the attempt is committed (metrics, learning): nothing is
    counted or learned for an attempt that was never stored."""

    # -- the phases, read flat ------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.agent.payload

    @property
    def task(self) -> str:
        return self.agent.task

    @property
    def output(self) -> AgentOutput | None:
        return self.agent.output

    @property
    def agent_error(self) -> str | None:
        return self.agent.error

    @property
    def agent_failure(self) -> AgentFailureKind | None:
        return self.agent.failure

    @property
    def input_error(self) -> str | None:
        return self.agent.input_error

    @property
    def started_at(self) -> str:
        return self.agent.started_at

    @property
    def finished_at(self) -> str:
        return self.agent.finished_at

    @property
    def latency_ms(self) -> float:
        return self.agent.latency_ms

    @property
    def quality(self) -> QualityScore | EvaluationFailure | None:
        return self.scores.quality

    @property
    def risk(self) -> RiskScore | EvaluationFailure | None:
        return self.scores.risk

    @property
    def eval_ms(self) -> float:
        return self.scores.eval_ms

    @property
    def qsr(self) -> float | None:
        q = self.scores.quality
        return q.score if isinstance(q, QualityScore) else None

    @property
    def mri(self) -> float | None:
        r = self.scores.risk
        return r.score if isinstance(r, RiskScore) else None

    @property
    def decision(self) -> GateDecision:
        return self.verdict.decision

    def feedback(self) -> Feedback:
        q, r = self.scores.quality, self.scores.risk
        return feedback_for(
            self.input.attempt,
            q.to_dict() if q is not None else None,
            r.to_dict() if r is not None else None,
            self.verdict.reasons,
        )


def feedback_for(
    attempt: int,
    quality: Mapping[str, Any] | None,
    risk: Mapping[str, Any] | None,
    reasons: Sequence[str],
) -> Feedback:
    """What the agent hears on its next attempt: the evaluator's suggestions, plus a request
    to remove each risk it can correct itself. Built from stored dicts, so a run resumed in
    another process gives the agent the same feedback."""
    suggestions = list((quality or {}).get("suggestions", ()))
    for f in (risk or {}).get("factors", ()):
        if f.get("correctable") and f.get("score", 0) > 0:
            what = str(f["name"]).split(".", 1)[-1].replace("_", " ")
            suggestions.append(f"Remove {what} from the output")
    return Feedback(
        attempt=attempt,
        qsr=(quality or {}).get("score"),
        mri=(risk or {}).get("score"),
        suggestions=tuple(suggestions),
        reasons=tuple(reasons),
    )


Next = Callable[[StepInput], Awaitable[StepOutcome]]


class StepLink(Protocol):
    """An outer link: wraps the gated attempt (governance, learning, audit, events, metrics,
    tracing). It may change the input before calling ``next`` and add to the outcome after."""

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome: ...


class Terminal(Protocol):
    """The innermost call of the outer chain: one attempt through its phases, gated."""

    async def __call__(self, inp: StepInput) -> StepOutcome: ...


class InputLink(Protocol):
    """Before the agent runs: settle the input (choose the agent, tighten the gate, exclude an
    agent). Returns the input the agent phase gets."""

    async def prepare(self, inp: StepInput) -> StepInput: ...


class AgentPhase(Protocol):
    """Phase 1: run the agent the input names."""

    async def __call__(self, inp: StepInput) -> AgentResult: ...


class ScorePhase(Protocol):
    """Phase 2: score the agent's result."""

    async def score(self, inp: StepInput, result: AgentResult) -> Scores: ...


class GatePhase(Protocol):
    """Phase 3: the gate's verdict on the scored result."""

    def decide(self, inp: StepInput, result: AgentResult, scores: Scores) -> GateVerdict: ...
