"""One step attempt as it goes through the step chain: its frozen input, its outcome, the link
protocol (each link holds an explicit ``next``), and the feedback an agent hears on a retry.
Plain data, no I/O: every room (governance, observability, engine) shares these types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from maestro_helix.core.audit import AuditDraft
from maestro_helix.core.errors import AgentFailureKind
from maestro_helix.core.knowledge import Insight
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.records import ActionIntent, ApprovalRequest, EventRecord
from maestro_helix.core.route import RouteDecision
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

__all__ = ["Next", "StepInput", "StepLink", "StepOutcome", "Terminal", "feedback_for"]


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
        route: the routing decision and its explanation (set by the routing link).
        knowledge: insights retrieved for this attempt (read-only; set by the knowledge link).
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
    route: RouteDecision | None = None
    knowledge: tuple[Insight, ...] = ()


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened in one attempt; links fill it in from the inside out."""

    input: StepInput
    agent_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    task: str = ""
    output: AgentOutput | None = None
    agent_error: str | None = None
    agent_failure: AgentFailureKind | None = None
    input_error: str | None = None
    quality: QualityScore | EvaluationFailure | None = None
    risk: RiskScore | EvaluationFailure | None = None
    verdict: GateVerdict | None = None
    started_at: str = ""
    finished_at: str = ""
    latency_ms: float = 0.0
    eval_ms: float = 0.0
    reevaluations: tuple[Mapping[str, Any], ...] = ()
    """Rounds in which the agent revised its output after suggestions and was scored again."""
    audit: tuple[AuditDraft, ...] = ()
    events: tuple[EventRecord, ...] = ()
    requests: tuple[ApprovalRequest, ...] = ()
    intents: tuple[ActionIntent, ...] = ()
    observers: tuple[Callable[[], object], ...] = ()
    """Run by the engine only after the attempt is committed (metrics, learning): nothing is
    counted or learned for an attempt that was never stored. One may return an awaitable (the
    engine awaits it)."""

    @property
    def qsr(self) -> float | None:
        return self.quality.score if isinstance(self.quality, QualityScore) else None

    @property
    def mri(self) -> float | None:
        return self.risk.score if isinstance(self.risk, RiskScore) else None

    @property
    def decision(self) -> GateDecision:
        assert self.verdict is not None, "the chain has no gate link"
        return self.verdict.decision

    def feedback(self) -> Feedback:
        return feedback_for(
            self.input.attempt,
            self.quality.to_dict() if self.quality is not None else None,
            self.risk.to_dict() if self.risk is not None else None,
            self.verdict.reasons if self.verdict else (),
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
    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome: ...


class Terminal(Protocol):
    async def __call__(self, inp: StepInput) -> StepOutcome: ...
