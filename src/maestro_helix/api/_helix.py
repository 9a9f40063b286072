"""Helix as a service: score, assess and gate one step output from any orchestrator.

``POST /v1/helix/evaluate`` (QSR with its breakdown and suggestions), ``/v1/helix/assess`` (MRI
with its factors) and ``/v1/helix/gate`` (both, and the gate's decision). The server's own
evaluator, assessor and gate are used — the objects its engine uses for every step — and the
request is turned into their inputs exactly as the engine's evaluate link does, so a result here
is the one the same step would get in-process. Any authenticated operator may call them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from maestro_helix.api._auth import AnyRole, System
from maestro_helix.api._errors import ApiError
from maestro_helix.api._ops import error_responses
from maestro_helix.app import Maestro
from maestro_helix.core.errors import AgentFailureKind
from maestro_helix.core.outputs import AgentOutput, ProposedAction
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    GateThresholds,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.workflow import Expectations, GateOverride, Unresolved, render
from maestro_helix.engine.bridge import input_text
from maestro_helix.helix.base import EvaluationRequest, RiskRequest, declared_sources

__all__ = ["helix_router"]

_NAME = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"
MAX_TEXT = 200_000


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionIn(_In):
    """A state change the agent proposes (what GIL would see)."""

    type: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
    amount: float | None = Field(default=None, allow_inf_nan=False, strict=True)
    """A number (an integer is one too); never a boolean or a numeric string."""
    reversible: bool | None = Field(default=None, strict=True)


class OutputIn(_In):
    """The agent's output: its text, its structured data and the actions it proposes."""

    text: str = Field(default="", max_length=MAX_TEXT)
    data: dict[str, Any] = Field(default_factory=dict)
    actions: list[ActionIn] = Field(default_factory=list, max_length=100)

    def to_output(self) -> AgentOutput:
        return AgentOutput(
            text=self.text,
            data=self.data,
            actions=tuple(
                ProposedAction(a.type, a.payload, a.amount, a.reversible) for a in self.actions
            ),
        )


class StepIn(_In):
    """What was asked of the agent: the step's id, task and input, and its source documents.

    ``sources`` names input keys whose values are source texts, as a workflow step's
    ``sources`` does (a string is one document, a list one per item); ``documents`` are source
    texts given directly. The QSR checks the output is grounded in them and the MRI scans each
    for prompt injection, as the engine does for a step that declares sources.
    """

    step_id: str = Field(default="step", pattern=_NAME)
    task: str = Field(default="", max_length=MAX_TEXT)
    input: dict[str, Any] = Field(default_factory=dict)
    attempt: int = Field(default=1, ge=1, le=1000)
    sources: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="input keys whose values are source texts (a workflow step's sources)",
    )
    documents: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(
        default_factory=list, max_length=100, description="source texts given directly"
    )

    @model_validator(mode="after")
    def _sources_are_input_keys(self) -> StepIn:
        missing = [k for k in self.sources if k not in self.input]
        if missing:
            raise ValueError(f"sources {missing} are not keys of the input")
        return self

    def source_texts(self) -> tuple[str, ...]:
        """The documents the engine would scan: the ``sources`` keys' texts, then ``documents``."""
        docs = declared_sources(self.input, tuple(self.sources))
        return (*docs, *(d for d in self.documents if d.strip()))


class EvaluateBody(StepIn):
    """Body of ``POST /v1/helix/evaluate``."""

    output: OutputIn
    expect: Expectations = Field(default_factory=Expectations)
    evaluators: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="custom QSR criteria registered on the server, by name",
    )


class AssessBody(StepIn):
    """Body of ``POST /v1/helix/assess``."""

    output: OutputIn
    allowed_actions: list[str] = Field(default_factory=list, max_length=100)


class GateBody(StepIn):
    """Body of ``POST /v1/helix/gate``: evaluate + assess + decide.

    Without ``output``, ``agent_error`` says why the agent produced none; the gate then decides
    on the failure alone (``agent_failure``: its class, if known).
    """

    output: OutputIn | None = None
    expect: Expectations = Field(default_factory=Expectations)
    evaluators: list[str] = Field(default_factory=list, max_length=20)
    allowed_actions: list[str] = Field(default_factory=list, max_length=100)
    gate: GateOverride = Field(default_factory=GateOverride)
    agent_error: str | None = Field(default=None, max_length=4000)
    agent_failure: AgentFailureKind | None = None


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvaluateOut(_Out):
    quality: dict[str, Any] = Field(
        description="QSR: score, criteria, suggestions, evaluator_version — or, when the "
        "evaluator failed, evaluator, kind, message (fail closed)"
    )
    evaluation_failed: bool


class AssessOut(_Out):
    risk: dict[str, Any] = Field(
        description="MRI: score, factors, assessor_version — or evaluator, kind, message"
    )
    evaluation_failed: bool


class GateOut(_Out):
    decision: str = Field(description="pass, retry, escalate or fail")
    verdict: dict[str, Any] = Field(description="decision, reasons, thresholds")
    quality: dict[str, Any] | None
    risk: dict[str, Any] | None


def _mentions(body: StepIn, expect: Expectations) -> tuple[str, ...]:
    # the engine renders ${...} in mentions against the run's scope; here the step input is it
    scope = {"input": body.input, "steps": {}}
    try:
        return tuple(str(render(m, scope)) for m in expect.mentions)
    except Unresolved:
        return expect.mentions


async def evaluate_step(
    system: Maestro, body: StepIn, output: AgentOutput, expect: Expectations, evaluators: list[str]
) -> QualityScore | EvaluationFailure:
    """QSR of one output, as the engine's evaluate link computes it."""
    unknown = [e for e in evaluators if e not in system.qsr.custom_names]
    if unknown:
        known = ", ".join(system.qsr.custom_names) or "none"
        raise ApiError(
            422, "invalid_request", f"unknown evaluator(s) {', '.join(unknown)} (known: {known})"
        )
    req = EvaluationRequest(
        step_id=body.step_id,
        task=body.task,
        input=body.input,
        input_text=input_text(body.input),
        output=output,
        expect=expect,
        mentions=_mentions(body, expect),
        attempt=body.attempt,
        sources=body.source_texts(),
    )
    try:
        return await system.qsr.aevaluate(req, evaluators)
    except Exception as e:  # a bug in an evaluator: fail closed, never a low score
        return EvaluationFailure("qsr", FailureKind.CRASH, f"{type(e).__name__}: {e}")


def assess_step(
    system: Maestro, body: StepIn, output: AgentOutput, allowed: list[str]
) -> RiskScore | EvaluationFailure:
    """MRI of one output, as the engine's evaluate link computes it."""
    text = input_text(body.input)
    try:
        return system.risk.assess(
            RiskRequest(
                step_id=body.step_id,
                input_text=f"{body.task} {text}" if body.task else text,
                output=output,
                allowed_actions=tuple(allowed),
                documents=body.source_texts(),
            )
        )
    except Exception as e:
        return EvaluationFailure("mri", FailureKind.CRASH, f"{type(e).__name__}: {e}")


async def gate_step(system: Maestro, body: GateBody) -> GateOut:
    thresholds: GateThresholds = system.gate.thresholds_with(body.gate)
    quality: QualityScore | EvaluationFailure | None = None
    risk: RiskScore | EvaluationFailure | None = None
    if body.output is None:
        if body.agent_error is None:
            raise ApiError(422, "invalid_request", "give 'output', or 'agent_error' without one")
    else:
        out = body.output.to_output()
        quality = await evaluate_step(system, body, out, body.expect, body.evaluators)
        risk = assess_step(system, body, out, body.allowed_actions)
    verdict = system.gate.decide(
        quality,
        risk,
        attempt=body.attempt,
        thresholds=thresholds,
        agent_error=body.agent_error if body.output is None else None,
        agent_failure=body.agent_failure if body.output is None else None,
    )
    return GateOut(
        decision=verdict.decision.value,
        verdict=verdict.to_dict(),
        quality=quality.to_dict() if quality is not None else None,
        risk=risk.to_dict() if risk is not None else None,
    )


# what a 422 means here beyond the schema: rules JSON Schema cannot state (two fields together,
# the server's own configuration); the body is the API's one error shape
_EXPECT_RULES = (
    "expect.min_length above expect.max_length, an expect.output_schema that is not a valid "
    "JSON Schema (draft 2020-12)"
)
_EVALUATOR_RULE = "an evaluator name the server has not registered (code invalid_request)"
_SOURCES_RULE = "a sources name that is not a key of input"
_ERRORS = {
    "evaluate": error_responses(
        400,
        413,
        422,
        words={
            422: f"a body the schema refuses, or: {_EXPECT_RULES}, {_EVALUATOR_RULE}, "
            f"{_SOURCES_RULE}"
        },
    ),
    "assess": error_responses(
        400, 413, 422, words={422: f"a body the schema refuses, or: {_SOURCES_RULE}"}
    ),
    "gate": error_responses(
        400,
        413,
        422,
        words={
            422: f"a body the schema refuses, or: neither output nor agent_error given, "
            f"{_EXPECT_RULES}, {_EVALUATOR_RULE}, {_SOURCES_RULE}"
        },
    ),
}


def helix_router() -> APIRouter:
    r = APIRouter(prefix="/v1/helix", tags=["helix"])

    @r.post("/evaluate", responses=_ERRORS["evaluate"])
    async def evaluate(body: EvaluateBody, system: System, op: AnyRole) -> EvaluateOut:
        """QSR of one step output: the score, each criterion, and suggestions to improve it."""
        q = await evaluate_step(system, body, body.output.to_output(), body.expect, body.evaluators)
        return EvaluateOut(quality=q.to_dict(), evaluation_failed=isinstance(q, EvaluationFailure))

    @r.post("/assess", responses=_ERRORS["assess"])
    async def assess(body: AssessBody, system: System, op: AnyRole) -> AssessOut:
        """MRI of one step output: the risk index and the factors that made it."""
        risk = assess_step(system, body, body.output.to_output(), body.allowed_actions)
        return AssessOut(risk=risk.to_dict(), evaluation_failed=isinstance(risk, EvaluationFailure))

    @r.post("/gate", responses=_ERRORS["gate"])
    async def gate(body: GateBody, system: System, op: AnyRole) -> GateOut:
        """QSR, MRI and the gate's decision (pass, retry, escalate, fail) with its reasons."""
        return await gate_step(system, body)

    return r
