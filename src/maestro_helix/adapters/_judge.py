"""HelixJudge: score, assess and gate one output the way the engine does, without a workflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    Feedback,
    GateDecision,
    GateVerdict,
    QualityScore,
    RiskScore,
)
from maestro_helix.core.workflow import Expectations, GateOverride, Unresolved, render
from maestro_helix.engine.bridge import feedback_for, input_text
from maestro_helix.helix.base import EvaluationRequest, RiskRequest
from maestro_helix.helix.gate import HelixQualityGate
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor

__all__ = ["HelixJudge", "Judgement", "as_output"]


def as_output(value: AgentOutput | Mapping[str, Any] | str) -> AgentOutput:
    if isinstance(value, AgentOutput):
        return value
    if isinstance(value, str):
        return AgentOutput(text=value)
    data = dict(value)
    text = data.pop("text", "")
    return AgentOutput(text=text if isinstance(text, str) else str(text), data=data)


@dataclass(frozen=True, slots=True)
class Judgement:
    """QSR, MRI and the gate's verdict on one output."""

    quality: QualityScore | EvaluationFailure
    risk: RiskScore | EvaluationFailure
    verdict: GateVerdict
    attempt: int = 1

    @property
    def decision(self) -> GateDecision:
        return self.verdict.decision

    def feedback(self) -> Feedback:
        """What the agent gets on a retry: scores, reasons and suggestions."""
        return feedback_for(
            self.attempt, self.quality.to_dict(), self.risk.to_dict(), self.verdict.reasons
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "verdict": self.verdict.to_dict(),
            "quality": self.quality.to_dict(),
            "risk": self.risk.to_dict(),
        }


class HelixJudge:
    """QSR + MRI + gate for one output, as the engine's evaluate and gate links compute them.

    Args:
        qsr, risk, gate: the evaluator, assessor and gate (defaults: the library's).
        action_types: registered action types (what the assessor knows of proposed actions).
    """

    def __init__(
        self,
        qsr: QSREvaluator | None = None,
        risk: RiskAssessor | None = None,
        gate: HelixQualityGate | None = None,
        *,
        action_types: Sequence[ActionSpec] = (),
    ) -> None:
        self.qsr = qsr or QSREvaluator()
        self.risk = risk or RiskAssessor({a.name: a for a in action_types})
        self.gate = gate or HelixQualityGate()

    async def evaluate(
        self,
        output: AgentOutput,
        *,
        task: str = "",
        input: Mapping[str, Any] | None = None,
        expect: Expectations | None = None,
        evaluators: Sequence[str] = (),
        step_id: str = "step",
        attempt: int = 1,
    ) -> QualityScore | EvaluationFailure:
        inp = dict(input or {})
        exp = expect or Expectations()
        try:
            mentions = tuple(str(render(m, {"input": inp, "steps": {}})) for m in exp.mentions)
        except Unresolved:
            mentions = exp.mentions
        req = EvaluationRequest(
            step_id, task, inp, input_text(inp), output, exp, mentions, attempt=attempt
        )
        try:
            return await self.qsr.aevaluate(req, evaluators)
        except KeyError:  # an unknown evaluator name: the caller's mistake, not a crash
            raise
        except Exception as e:  # a bug in an evaluator: fail closed, never a low score
            return EvaluationFailure("qsr", FailureKind.CRASH, f"{type(e).__name__}: {e}")

    def assess(
        self,
        output: AgentOutput,
        *,
        task: str = "",
        input: Mapping[str, Any] | None = None,
        allowed_actions: Sequence[str] = (),
        step_id: str = "step",
    ) -> RiskScore | EvaluationFailure:
        text = input_text(dict(input or {}))
        try:
            return self.risk.assess(
                RiskRequest(
                    step_id=step_id,
                    input_text=f"{task} {text}" if task else text,
                    output=output,
                    allowed_actions=tuple(allowed_actions),
                )
            )
        except Exception as e:
            return EvaluationFailure("mri", FailureKind.CRASH, f"{type(e).__name__}: {e}")

    async def judge(
        self,
        output: AgentOutput | Mapping[str, Any] | str,
        *,
        task: str = "",
        input: Mapping[str, Any] | None = None,
        expect: Expectations | Mapping[str, Any] | None = None,
        evaluators: Sequence[str] = (),
        allowed_actions: Sequence[str] = (),
        gate: GateOverride | None = None,
        step_id: str = "step",
        attempt: int = 1,
    ) -> Judgement:
        """Score, assess and decide (pass, retry, escalate, fail) one output."""
        out = as_output(output)
        exp = expect if isinstance(expect, Expectations | None) else Expectations(**expect)
        q = await self.evaluate(
            out, task=task, input=input, expect=exp, evaluators=evaluators, step_id=step_id,
            attempt=attempt,
        )  # fmt: skip
        r = self.assess(
            out, task=task, input=input, allowed_actions=allowed_actions, step_id=step_id
        )
        limits = self.gate.thresholds_with(gate)
        verdict = self.gate.decide(q, r, attempt=attempt, thresholds=limits)
        return Judgement(q, r, verdict, attempt)
