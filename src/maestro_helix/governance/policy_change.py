"""Which rules a new policy loosens compared with the active one (a loosening needs a second
admin). Pure: compares two validated policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from maestro_helix.core.actions import ActionSpec, RiskClass
from maestro_helix.governance.policy import ActionRule, GovernancePolicy
from maestro_helix.governance.predict_policy import prediction_loosenings

__all__ = ["loosenings"]

_INF = float("inf")


def _limit(x: float | None) -> float:
    return _INF if x is None else x


def _tier_count(rule: ActionRule, amount: float) -> int | None:
    for t in rule.tiers:
        if t.up_to is None or amount <= t.up_to:
            return t.approvals
    return None


def _sample_amounts(a: ActionRule, b: ActionRule) -> list[float]:
    points = {0.0}
    for t in (*a.tiers, *b.tiers):
        if t.up_to is not None:
            points.update({t.up_to, t.up_to + 0.01})
    return sorted(points)


def _global(old: GovernancePolicy, new: GovernancePolicy) -> list[str]:
    out = []
    for name in ("risk_threshold", "high_risk_threshold", "expiry_s"):
        if getattr(new, name) > getattr(old, name):
            out.append(f"{name}: raised from {getattr(old, name)} to {getattr(new, name)}")
    for name in ("amount_limit", "high_amount"):
        if _limit(getattr(new, name)) > _limit(getattr(old, name)):
            out.append(f"{name}: raised from {getattr(old, name)} to {getattr(new, name)}")
    for name in ("approvals", "high_risk_approvals"):
        if getattr(new, name) < getattr(old, name):
            out.append(f"{name}: lowered from {getattr(old, name)} to {getattr(new, name)}")
    for klass in RiskClass:
        was = old.risk_classes.get(klass.value, 0)
        now = new.risk_classes.get(klass.value, 0)
        if now < was:
            out.append(f"risk_classes.{klass.value}: lowered from {was} to {now}")
    was, now = old.rule_of_two.approvals, new.rule_of_two.approvals
    if now < was:
        out.append(f"rule_of_two.approvals: lowered from {was} to {now}")
    return out


@dataclass(frozen=True, slots=True)
class _Side:
    """One action type's rule in one policy, with the policy's defaults it falls back on."""

    rule: ActionRule
    policy: GovernancePolicy
    spec_limit: float | None  # the action type's own magnitude limit (ActionSpec.amount_limit)

    @property
    def approvals(self) -> int:
        return self.rule.approvals or self.policy.approvals

    @property
    def amount_limit(self) -> float:
        """The magnitude limit in force (as ``app._amount_limits`` reads it)."""
        return _limit(self.rule.amount_limit or self.spec_limit or self.policy.amount_limit)

    @property
    def expiry_s(self) -> int:
        return self.rule.expiry_s or self.policy.expiry_s

    @property
    def most_without_tiers(self) -> int:
        """The most people the thresholds can ask for (amount tiers replace them)."""
        if self.rule.require_approval is False:
            return 0
        return self.rule.approvals or max(self.policy.approvals, self.policy.high_risk_approvals)


def _tiers(where: str, a: _Side, b: _Side) -> list[str]:
    if a.rule.tiers:
        for x in _sample_amounts(a.rule, b.rule):
            was, now = _tier_count(a.rule, x), _tier_count(b.rule, x) if b.rule.tiers else None
            if was is not None and (now is None or now < was):
                return [f"{where}.tiers: an amount of {x:g} needs {now} instead of {was}"]
        return []
    most = a.most_without_tiers
    for t in b.rule.tiers:  # tiers where the thresholds ruled: each is held to their most
        if t.approvals < most:
            bound = "any amount" if t.up_to is None else f"amounts up to {t.up_to:g}"
            return [
                f"{where}.tiers: {bound} need {t.approvals} where the thresholds could "
                f"ask for {most}"
            ]
    return []


def _action(name: str, a: _Side, b: _Side) -> list[str]:
    """What ``b`` loosens for one action type; a type one side does not mention is compared
    through its policy's defaults (the rule in force for it)."""
    where = f"actions.{name}"
    mentioned = (a.rule, b.rule)
    out = []
    if a.rule.require_approval is True and b.rule.require_approval is not True:
        out.append(f"{where}.require_approval: no longer true")
    if a.rule.require_approval is None and b.rule.require_approval is False:
        out.append(f"{where}.require_approval: set to false")
    # a change of the policy-wide default alone is reported once, by _global
    if b.approvals < a.approvals and any(r.approvals for r in mentioned):
        out.append(f"{where}.approvals: lowered from {a.approvals} to {b.approvals}")
    if b.amount_limit > a.amount_limit and any(r.amount_limit for r in mentioned):
        out.append(f"{where}.amount_limit: raised from {a.amount_limit:g} to {b.amount_limit:g}")
    if b.expiry_s > a.expiry_s and any(r.expiry_s for r in mentioned):
        out.append(f"{where}.expiry_s: raised from {a.expiry_s} to {b.expiry_s}")
    out.extend(_tiers(where, a, b))
    for t in a.rule.mri:
        kept = max((u.approvals for u in b.rule.mri if u.above <= t.above), default=0)
        if kept < t.approvals:
            out.append(f"{where}.mri: above {t.above} needs {kept} instead of {t.approvals}")
    return out


def loosenings(
    old: GovernancePolicy,
    new: GovernancePolicy,
    action_types: Mapping[str, ActionSpec] | None = None,
) -> list[str]:
    """Every rule ``new`` makes less strict than ``old``, as ``field: what changed``.

    Every action type either policy mentions is compared, one the old policy did not mention
    against the rule that was in force for it (the policy's defaults: a new type waived, tiered
    down or given a higher magnitude limit or a longer expiry is a loosening).
    ``action_types``: the app's types, whose own magnitude limits count when no rule sets one."""
    specs = action_types or {}
    out = _global(old, new)
    out.extend(prediction_loosenings(old.prediction, new.prediction))
    for name in dict.fromkeys([*old.actions, *new.actions]):
        spec = specs.get(name)
        limit = spec.amount_limit if spec is not None else None
        a = _Side(old.actions.get(name, ActionRule()), old, limit)
        b = _Side(new.actions.get(name, ActionRule()), new, limit)
        out.extend(_action(name, a, b))
    return out
