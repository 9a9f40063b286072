"""Which rules a new policy loosens compared with the active one (a loosening needs a second
admin). Pure: compares two validated policies."""

from __future__ import annotations

from maestro_helix.core.actions import RiskClass
from maestro_helix.governance.policy import ActionRule, GovernancePolicy

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
    for name in ("risk_threshold", "high_risk_threshold"):
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


def _action(name: str, a: ActionRule, b: ActionRule, old: GovernancePolicy) -> list[str]:
    where = f"actions.{name}"
    out = []
    if a.require_approval is True and b.require_approval is not True:
        out.append(f"{where}.require_approval: no longer true")
    if a.require_approval is None and b.require_approval is False:
        out.append(f"{where}.require_approval: set to false")
    if (b.approvals or old.approvals) < (a.approvals or old.approvals) and a.approvals:
        out.append(f"{where}.approvals: lowered from {a.approvals} to {b.approvals}")
    if _limit(b.amount_limit) > _limit(a.amount_limit) and a.amount_limit is not None:
        out.append(f"{where}.amount_limit: raised from {a.amount_limit} to {b.amount_limit}")
    if a.tiers:
        for x in _sample_amounts(a, b):
            was, now = _tier_count(a, x), _tier_count(b, x) if b.tiers else None
            if was is not None and (now is None or now < was):
                out.append(f"{where}.tiers: an amount of {x:g} needs {now} instead of {was}")
                break
    for t in a.mri:
        kept = max((u.approvals for u in b.mri if u.above <= t.above), default=0)
        if kept < t.approvals:
            out.append(f"{where}.mri: above {t.above} needs {kept} instead of {t.approvals}")
    return out


def loosenings(old: GovernancePolicy, new: GovernancePolicy) -> list[str]:
    """Every rule ``new`` makes less strict than ``old``, as ``field: what changed``."""
    out = _global(old, new)
    for name, a in old.actions.items():
        out.extend(_action(name, a, new.actions.get(name, ActionRule()), old))
    return out
