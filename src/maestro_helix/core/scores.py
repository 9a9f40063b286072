"""Scores and decisions: what Helix says about one step. Plain frozen values, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """One criterion of a quality score.

    Attributes:
        name: criterion id, e.g. ``"schema"``, ``"completeness"``, ``"relevance"``.
        score: 0..1.
        weight: relative weight in the aggregate (0 means reported but not counted).
        detail: one line a human can read: why this score.
    """

    name: str
    score: float
    weight: float = 1.0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "weight": self.weight,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class QualityScore:
    """QSR: the quality of one step output, with its breakdown and how to improve it."""

    score: float
    criteria: tuple[CriterionScore, ...] = ()
    suggestions: tuple[str, ...] = ()
    evaluator_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "criteria": [c.to_dict() for c in self.criteria],
            "suggestions": list(self.suggestions),
            "evaluator_version": self.evaluator_version,
        }


class FailureKind(enum.StrEnum):
    CRASH = "crash"
    TIMEOUT = "timeout"
    INCONCLUSIVE = "inconclusive"  # e.g. an LLM judge whose samples straddle the gate


@dataclass(frozen=True, slots=True)
class EvaluationFailure:
    """An evaluator (quality or risk) crashed or ran out of time.

    This is its own outcome, never a low score: the gate fails closed and escalates.
    """

    evaluator: str
    kind: FailureKind
    message: str
    evaluator_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "kind": self.kind.value,
            "message": self.message,
            "evaluator_version": self.evaluator_version,
        }


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One reason a step is risky.

    Attributes:
        name: factor id, e.g. ``"pii.email"``, ``"secret.aws_access_key"``, ``"injection"``.
        score: 0..1 contribution of this factor alone.
        detail: human-readable reason. Never contains the raw personal data or secret.
        where: ``"input"``, ``"output"``, ``"action"`` or ``"agent"``.
        count: how many occurrences were found.
        correctable: True when the agent can remove the cause itself on a retry (e.g. it leaked
            an email address in its output); False when only a human can clear it.
    """

    name: str
    score: float
    detail: str = ""
    where: str = "output"
    count: int = 1
    correctable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "detail": self.detail,
            "where": self.where,
            "count": self.count,
            "correctable": self.correctable,
        }


@dataclass(frozen=True, slots=True)
class RiskScore:
    """MRI: the risk index of one step in 0..1 with the factors that made it."""

    score: float
    factors: tuple[RiskFactor, ...] = ()
    assessor_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "factors": [f.to_dict() for f in self.factors],
            "assessor_version": self.assessor_version,
        }


class GateDecision(enum.StrEnum):
    PASS = "pass"
    RETRY = "retry"
    ESCALATE = "escalate"
    FAIL = "fail"


class OnExhausted(enum.StrEnum):
    """What the gate does when a step is still below the bar after its last attempt."""

    ESCALATE = "escalate"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """Resolved gate settings for one step."""

    min_qsr: float = 0.7
    max_mri: float = 0.3
    max_attempts: int = 3
    on_exhausted: OnExhausted = OnExhausted.ESCALATE
    retry_on_risk: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_qsr": self.min_qsr,
            "max_mri": self.max_mri,
            "max_attempts": self.max_attempts,
            "on_exhausted": self.on_exhausted.value,
            "retry_on_risk": self.retry_on_risk,
        }


@dataclass(frozen=True, slots=True)
class GateVerdict:
    decision: GateDecision
    reasons: tuple[str, ...] = ()
    thresholds: GateThresholds = field(default_factory=GateThresholds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reasons": list(self.reasons),
            "thresholds": self.thresholds.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Feedback:
    """What an agent receives when its step is retried: the evaluator's view of the last attempt."""

    attempt: int
    qsr: float | None
    mri: float | None
    suggestions: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "qsr": self.qsr,
            "mri": self.mri,
            "suggestions": list(self.suggestions),
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Feedback:
        return cls(
            attempt=int(d["attempt"]),
            qsr=d.get("qsr"),
            mri=d.get("mri"),
            suggestions=tuple(d.get("suggestions", ())),
            reasons=tuple(d.get("reasons", ())),
        )
