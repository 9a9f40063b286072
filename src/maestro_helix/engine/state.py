"""A run's state as the engine works on it, and the one function that derives it from the
store (:func:`rebuild_state`): resume, workers, :meth:`Engine.wait` and ``runs show`` all read
a run through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.records import Lease, RunRecord, RunStatus, StepRecord
from maestro_helix.core.scores import Feedback, GateDecision
from maestro_helix.core.steps import feedback_for
from maestro_helix.core.workflow import WorkflowDef

__all__ = [
    "RunResult",
    "RunState",
    "StepSummary",
    "passed_agents",
    "rebuild_state",
    "required_inputs",
]


@dataclass(frozen=True, slots=True)
class StepSummary:
    step_id: str
    attempt: int
    agent_id: str | None
    decision: str
    qsr: float | None
    mri: float | None
    eval_ms: float


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended (or where it stopped)."""

    run_id: str
    status: RunStatus
    attempts: tuple[StepSummary, ...] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def retries(self) -> int:
        return sum(1 for a in self.attempts if a.decision == GateDecision.RETRY.value)

    @property
    def escalated(self) -> bool:
        return any(a.decision == GateDecision.ESCALATE.value for a in self.attempts)


@dataclass(slots=True)
class RunState:
    run_id: str
    defn: WorkflowDef
    input: Mapping[str, Any]
    next_step: int = 0
    attempt: int = 1
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback: Feedback | None = None
    exclude: set[str] = field(default_factory=set)
    attempts: list[StepSummary] = field(default_factory=list)
    operator_id: str | None = None
    lease: Lease | None = None


def rebuild_state(
    rec: RunRecord,
    defn: WorkflowDef,
    records: Sequence[StepRecord],
    accepted: set[tuple[int, int]],
) -> RunState:
    """A run's state from the store, the one way it is derived: outputs of passed and
    human-accepted attempts, every attempt, the next attempt number and its feedback."""
    state = RunState(
        rec.run_id, defn, rec.input, next_step=rec.next_step, operator_id=rec.operator_id
    )
    last_at_next: StepRecord | None = None
    for r in records:
        state.attempts.append(
            StepSummary(
                r.step_id, r.attempt, r.agent_id, r.decision, r.qsr, r.mri, r.eval_latency_ms
            )
        )
        passed = r.decision == GateDecision.PASS.value or (r.step_index, r.attempt) in accepted
        if passed and r.output is not None:
            state.outputs[r.step_id] = AgentOutput.from_dict(r.output).as_reference()
        if r.step_index == rec.next_step:
            last_at_next = r
            if r.agent_id and r.decision != GateDecision.PASS.value:
                state.exclude.add(r.agent_id)
    if last_at_next is not None:
        state.attempt = last_at_next.attempt + 1
        state.feedback = feedback_for(
            last_at_next.attempt,
            last_at_next.quality,
            last_at_next.risk,
            tuple(last_at_next.verdict.get("reasons", ())),
        )
    return state


def passed_agents(st: RunState) -> dict[str, str | None]:
    """Step id → the agent of its passed (or accepted) attempt: the step's last attempt. What
    :func:`maestro_helix.core.provenance.inherited_taint` derives a step's taint from."""
    return {a.step_id: a.agent_id for a in st.attempts if a.step_id in st.outputs}


def required_inputs(defn: WorkflowDef) -> frozenset[str]:
    """Input keys the definition reads without ``?``."""
    keys = set()
    for step in defn.steps:
        for _, ref in step.references():
            parts = ref.split(".")
            if parts[0] == "input" and len(parts) > 1 and not ref.endswith("?"):
                keys.add(parts[1])
    return frozenset(keys)
