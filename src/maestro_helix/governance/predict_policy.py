"""What the pre-execution link may do about a predicted risk: the ``prediction`` section of the
governance policy.

Every mitigation tightens and none loosens: a prediction may route the step to another agent,
raise the step's gate, or hold the step's result for people — it can never lower a gate, skip an
approval, or let a step that the gate stops go on. The thresholds are chances in [0, 1] of a gate
failure or escalation; raising one (acting less often) is a loosening, which ``maestro policy
apply`` sends to a second admin like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maestro_helix.core.scores import GateThresholds
from maestro_helix.helix.predict import Mitigation

__all__ = ["MitigationPlan", "PredictionRule", "plan_mitigation", "prediction_loosenings"]


class PredictionRule(BaseModel):
    """Mitigation thresholds by predicted chance of a gate failure or escalation.

    Attributes:
        route_above: candidates predicted at or above this are excluded when another candidate
            stays below it.
        tighten_above: the gate of a step whose remaining candidates reach this is raised by
            ``tighten_qsr`` (minimum QSR) and ``tighten_mri`` (maximum MRI).
        approval_above: at or above this, on the step's last allowed attempt, the step's result
            waits for people (an escalation with the prediction as its reason), even when the
            gate passes it. Earlier attempts are tightened instead: a failure there is retried
            by the gate anyway, and people are asked only where a failure would reach them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    route_above: float = Field(default=0.5, ge=0.0, le=1.0)
    tighten_above: float = Field(default=0.5, ge=0.0, le=1.0)
    approval_above: float = Field(default=0.9, ge=0.0, le=1.0)
    tighten_qsr: float = Field(default=0.05, ge=0.0, le=0.3)
    tighten_mri: float = Field(default=0.05, ge=0.0, le=0.3)

    @model_validator(mode="after")
    def _ordered(self) -> PredictionRule:
        if self.approval_above < self.tighten_above:
            raise ValueError("approval_above must not be below tighten_above")
        return self


@dataclass(frozen=True, slots=True)
class MitigationPlan:
    """What to do before the step runs: agents to exclude, the gate to use, whether the result
    waits for people, and the strongest mitigation applied (for the record)."""

    exclude: frozenset[str]
    thresholds: GateThresholds
    approval: bool
    mitigation: Mitigation
    pool_risk: float | None


def _tightened(t: GateThresholds, rule: PredictionRule) -> GateThresholds:
    # only ever stricter than the step's own gate: max of QSR bars, min of MRI bars
    return replace(
        t,
        min_qsr=max(t.min_qsr, min(0.99, t.min_qsr + rule.tighten_qsr)),
        max_mri=min(t.max_mri, max(0.01, t.max_mri - rule.tighten_mri)),
    )


def plan_mitigation(
    predictions: Mapping[str, float],
    rule: PredictionRule,
    thresholds: GateThresholds,
    *,
    can_route: bool,
    last_attempt: bool = True,
) -> MitigationPlan:
    """The plan for one step from each candidate's predicted chance (``predictions``; empty
    without a model: proceed)."""
    if not predictions:
        return MitigationPlan(frozenset(), thresholds, False, Mitigation.PROCEED, None)
    risky = frozenset(a for a, p in predictions.items() if p >= rule.route_above)
    exclude: frozenset[str] = frozenset()
    if can_route and risky and len(risky) < len(predictions):
        exclude = risky
    pool = [p for a, p in predictions.items() if a not in exclude]
    pool_risk = max(pool)
    mitigation = Mitigation.ROUTE if exclude else Mitigation.PROCEED
    if pool_risk >= rule.tighten_above:
        thresholds = _tightened(thresholds, rule)
        mitigation = Mitigation.TIGHTEN
    approval = last_attempt and pool_risk >= rule.approval_above
    if approval:
        mitigation = Mitigation.APPROVAL
    return MitigationPlan(exclude, thresholds, approval, mitigation, pool_risk)


def prediction_loosenings(old: PredictionRule, new: PredictionRule) -> list[str]:
    """Changes that make the prediction act less often or less strongly."""
    out = []
    for name in ("route_above", "tighten_above", "approval_above"):
        if getattr(new, name) > getattr(old, name):
            out.append(
                f"prediction.{name}: raised from {getattr(old, name)} to {getattr(new, name)}"
            )
    for name in ("tighten_qsr", "tighten_mri"):
        if getattr(new, name) < getattr(old, name):
            out.append(
                f"prediction.{name}: lowered from {getattr(old, name)} to {getattr(new, name)}"
            )
    return out
