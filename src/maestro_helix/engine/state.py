"""A run's state as the engine works on it, and the one function that derives it from the
store (:func:`rebuild_state`): resume, workers, :meth:`Engine.wait` and ``runs show`` all read
a run through it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.records import Lease, RunRecord, RunStatus, StepRecord
from maestro_helix.core.scores import Feedback, GateDecision
from maestro_helix.core.steps import feedback_for
from maestro_helix.core.workflow import WorkflowDef

__all__ = [
    "FRESH",
    "FRESH_DIGEST",
    "RunResult",
    "RunState",
    "StepSummary",
    "carried_state",
    "digest",
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
    carried: bytes | None = None  # this state as the next work item carries it (see carry)

    def moved(
        self,
        summary: StepSummary,
        decision: GateDecision,
        next_step: int,
        output: dict[str, Any] | None,
        feedback: Feedback | None,
    ) -> RunState:
        """This state after one attempt, as a new object (``self`` is left as it was until the
        attempt is committed). ``output``: the passed attempt's output as referenced by later
        steps; ``feedback``: what a retry hears."""
        nxt = RunState(
            self.run_id,
            self.defn,
            self.input,
            self.next_step,
            self.attempt,
            self.outputs,
            self.feedback,
            self.exclude,
            [*self.attempts, summary],
            self.operator_id,
            self.lease,
        )
        if decision is GateDecision.PASS:
            assert output is not None
            nxt.outputs = {**self.outputs, summary.step_id: output}
            nxt.next_step, nxt.attempt, nxt.feedback, nxt.exclude = next_step, 1, None, set()
        elif decision is GateDecision.RETRY:
            nxt.attempt, nxt.feedback = self.attempt + 1, feedback
            if summary.agent_id is not None:
                nxt.exclude = {*self.exclude, summary.agent_id}
        return nxt

    def adopt(self, nxt: RunState) -> None:
        """Take ``nxt``'s position (once the attempt that made it is committed)."""
        self.next_step, self.attempt, self.outputs = nxt.next_step, nxt.attempt, nxt.outputs
        self.feedback, self.exclude, self.attempts = nxt.feedback, nxt.exclude, nxt.attempts
        self.carried = nxt.carried

    def carry(self) -> bytes:
        """What a work item carries of this state: every attempt, the outputs later steps read,
        the next attempt's number, feedback and excluded agents. The run's input, position and
        lease come from the store's run row when the item is taken up (see carried_state)."""
        fb = self.feedback
        return orjson.dumps(
            {
                "attempt": self.attempt,
                "outputs": self.outputs,
                "feedback": None if fb is None else fb.to_dict(),
                "exclude": sorted(self.exclude),
                "attempts": [
                    [a.step_id, a.attempt, a.agent_id, a.decision, a.qsr, a.mri, a.eval_ms]
                    for a in self.attempts
                ],
            }
        )


def digest(carried: bytes) -> str:
    """The digest the store keeps of a work item's carried state (SHA-256, hex)."""
    return hashlib.sha256(carried).hexdigest()


FRESH = orjson.dumps({"attempt": 1, "outputs": {}, "feedback": None, "exclude": [], "attempts": []})
"""The carried state of a run that has not run a step (the first item of a new run)."""
FRESH_DIGEST = digest(FRESH)


def carried_state(rec: RunRecord, defn: WorkflowDef, carried: bytes) -> RunState | None:
    """The state a work item carries, if the store vouches for it: the run row's digest is the
    carried bytes' (written by the commit that handed the item out). None otherwise: the
    caller rebuilds the state from the store (:func:`rebuild_state`)."""
    if rec.state_digest is None or rec.state_digest != digest(carried):
        return None
    d = orjson.loads(carried)
    fb = d["feedback"]
    return RunState(
        rec.run_id,
        defn,
        rec.input,
        next_step=rec.next_step,
        attempt=int(d["attempt"]),
        outputs=d["outputs"],
        feedback=None if fb is None else Feedback.from_dict(fb),
        exclude=set(d["exclude"]),
        attempts=[StepSummary(*a) for a in d["attempts"]],
        operator_id=rec.operator_id,
    )


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
