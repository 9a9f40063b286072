"""GIL policy: when a human must approve, how many distinct people, and for how long.

The policy is a strictly validated config file (``config/governance.json``; no string or boolean
is coerced to another type). It is pure data plus pure functions: what a proposed action or an
escalated step requires, in numbers and in words. Some rules are invariants no policy can switch
off (:func:`invariant_floor`): an irreversible action always needs one human approval, a high-risk
one two distinct people. A policy that would loosen them is refused when it is loaded
(:func:`check_invariants`). Storage, decisions and execution live elsewhere.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from maestro_helix.core.actions import ActionSpec, RiskClass
from maestro_helix.core.configfile import parse_model, read_json
from maestro_helix.core.errors import ConfigError, ConfigErrors
from maestro_helix.core.outputs import ProposedAction
from maestro_helix.governance.predict_policy import PredictionRule
from maestro_helix.governance.wording import amount_text, people, tier_words

__all__ = [
    "ROLLOUT_FLOOR",
    "ActionRule",
    "Decision",
    "GovernancePolicy",
    "MriTier",
    "Requirement",
    "Role",
    "RolloutRule",
    "RuleOfTwo",
    "Tier",
    "check_invariants",
    "escalation_requirement",
    "invariant_floor",
    "load_policy",
    "parse_policy",
    "payload_hash",
    "requirement_for_action",
]


class Role(enum.StrEnum):
    """Operator roles, each including the powers of the ones before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"

    def at_least(self, other: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(other)


class Decision(enum.StrEnum):
    """What one operator says about one request (``DecisionKind``)."""

    APPROVE = "approve"
    REJECT = "reject"
    OVERRIDE = "override"  # accept despite the gate, with a written reason (admins)


_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


class Tier(BaseModel):
    """Approvers needed for amounts up to ``up_to`` (the last tier has none: every larger
    amount). ``approvals: 0`` means the action runs without a human."""

    model_config = _STRICT
    up_to: float | None = Field(default=None, ge=0.0)
    approvals: int = Field(ge=0, le=5)


class MriTier(BaseModel):
    """At least ``approvals`` people when the step's MRI is above ``above``."""

    model_config = _STRICT
    above: float = Field(ge=0.0, le=1.0)
    approvals: int = Field(ge=1, le=5)


class ActionRule(BaseModel):
    """Per-action-type settings; unset fields use the policy's defaults.

    Attributes:
        require_approval: force (true) or waive (false; refused for an irreversible type).
        approvals: approvers needed whenever approval is needed.
        tiers: approvers by amount, ascending ``up_to``; the last tier has no ``up_to``.
        mri: at least this many people above these MRI values.
        amount_limit: the magnitude limit of this type (``action.magnitude`` in MRI).
        label: what people call these actions, for the rule in words ("refunds").
        currency: the currency of the amounts, for the rule in words ("USD").
    """

    model_config = _STRICT
    require_approval: bool | None = None
    approvals: int | None = Field(default=None, ge=1, le=5)
    tiers: list[Tier] = Field(default_factory=list)
    mri: list[MriTier] = Field(default_factory=list)
    amount_limit: float | None = Field(default=None, gt=0.0)
    label: str | None = Field(default=None, min_length=1, max_length=60)
    currency: str | None = Field(default=None, min_length=1, max_length=12)
    expiry_s: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    on_expiry: Literal["deny", "escalate"] | None = None

    @model_validator(mode="after")
    def _tiers_ascend(self) -> ActionRule:
        bounds = [t.up_to for t in self.tiers]
        if bounds and bounds[-1] is not None:
            raise ValueError("tiers: the last tier must have no up_to (it covers larger amounts)")
        inner = [b for b in bounds[:-1]]
        if any(b is None for b in inner):
            raise ValueError("tiers: only the last tier may omit up_to")
        nums = [float(b) for b in inner if b is not None]
        if nums != sorted(set(nums)):
            raise ValueError("tiers: up_to must be strictly ascending")
        return self


class RuleOfTwo(BaseModel):
    """Untrusted input and an external state change never together without a human.

    A step whose input or output is tainted (it, its agent, or a step it reads declares
    untrusted sources: see :mod:`maestro_helix.core.provenance`) and that proposes an action
    needs ``approvals`` people for it, whatever its scores. Configurable only to tighten:
    ``enabled`` cannot be false and ``approvals`` is at least 1.
    """

    model_config = _STRICT
    enabled: bool = True
    approvals: int = Field(default=1, ge=1, le=5)


_RoleName = Literal["viewer", "operator", "approver", "admin"]
_StageName = Literal["staging", "production"]
_Capacity = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
_Operator = Annotated[str, StringConstraints(min_length=1, max_length=64)]

ROLLOUT_FLOOR: dict[_StageName, dict[str, _RoleName]] = {
    "staging": {"governance": "approver", "admin": "admin"},
    "production": {"product_owner": "approver"},
}
"""Sign-offs no policy may drop (stage -> capacity -> lowest role); the runbook's Governance
Review and the product owner's Go/No-Go (``governance/stages.py``)."""


class RolloutRule(BaseModel):
    """Who signs a workflow version off (the policy file's ``rollout`` section).

    ``signoffs[stage]`` maps each capacity to the lowest role that may sign in it; a stage left
    out keeps the floor (:data:`ROLLOUT_FLOOR`), a stage given must keep every capacity of the
    floor at its role or above and may add more. ``product_owners``: if set, only these
    operators may sign as ``product_owner``. ``irreversible`` is added by the rules themselves
    (a version adding an irreversible action) and cannot be configured.
    """

    model_config = _STRICT
    signoffs: dict[_StageName, dict[_Capacity, _RoleName]] = Field(default_factory=dict)
    product_owners: list[_Operator] = Field(default_factory=list)

    def capacities(self) -> dict[str, dict[str, str]]:
        """Every stage's capacities, the floor's where the policy says nothing."""
        return {s: dict(self.signoffs.get(s, floor)) for s, floor in ROLLOUT_FLOOR.items()}


def _rollout_floor(r: RolloutRule, source: str) -> list[ConfigError]:
    errors = []
    for stage, floor in ROLLOUT_FLOOR.items():
        given = r.signoffs.get(stage)
        if given is None:
            continue
        for cap, role in floor.items():
            got = given.get(cap)
            if got is None or not Role(got).at_least(Role(role)):
                errors.append(
                    ConfigError(
                        source,
                        f"rollout.signoffs.{stage}.{cap}",
                        f"the floor needs a {cap!r} sign-off by role {role} or above"
                        + ("" if got is None else f", not {got}"),
                    )
                )
        if "irreversible" in given:
            errors.append(
                ConfigError(
                    source,
                    f"rollout.signoffs.{stage}.irreversible",
                    "set by the rules (a version adding an irreversible action), not configurable",
                )
            )
    return errors


class GovernancePolicy(BaseModel):
    """The content of ``governance.json``.

    Attributes:
        version: the file's own version number (the store numbers active versions itself).
        approve_irreversible: every irreversible action needs approval (always true: an
            invariant, kept for readability).
        approve_escalations: gate escalations need a human decision (always true).
        risk_threshold: an action in a step with MRI above this needs approval.
        high_risk_threshold: MRI above this, or a high risk class, needs ``high_risk_approvals``.
        amount_limit: an action moving more than this needs approval; also the default
            magnitude limit of MRI.
        high_amount: an action moving more than this needs ``high_risk_approvals``.
        approvals: approvers needed by default (1).
        high_risk_approvals: approvers needed for high risk (>= 2: the two-person rule).
        risk_classes: approvers needed by the action type's risk class (only tightens).
        expiry_s: how long a request stays open (default 4 h).
        on_expiry: ``deny`` (the request is rejected) or ``escalate`` (it is re-opened with
            one more approver required and a fresh expiry, once).
        actions: per-action-type rules.
        rule_of_two: a tainted step's actions need people (:class:`RuleOfTwo`).
        prediction: what the pre-execution risk prediction may do (route, tighten, hold for
            approval; see :mod:`~maestro_helix.governance.predict_policy`).
        rollout: who signs workflow versions off for staging and production
            (:class:`RolloutRule`; only tightens the floor).
    """

    model_config = _STRICT
    version: int = Field(default=1, ge=1)
    approve_irreversible: bool = True
    approve_escalations: bool = True
    risk_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    high_risk_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    amount_limit: float | None = Field(default=10_000.0, ge=0.0)
    high_amount: float | None = Field(default=100_000.0, ge=0.0)
    approvals: int = Field(default=1, ge=1, le=5)
    high_risk_approvals: int = Field(default=2, ge=1, le=5)
    risk_classes: dict[Literal["low", "medium", "high"], int] = Field(default_factory=dict)
    expiry_s: int = Field(default=4 * 3600, ge=60, le=30 * 24 * 3600)
    on_expiry: Literal["deny", "escalate"] = "deny"
    actions: dict[str, ActionRule] = Field(default_factory=dict)
    rule_of_two: RuleOfTwo = Field(default_factory=RuleOfTwo)
    prediction: PredictionRule = Field(default_factory=PredictionRule)
    rollout: RolloutRule = Field(default_factory=RolloutRule)

    def canonical(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude_defaults=False)
        if self.rule_of_two == RuleOfTwo():  # policies stored before it keep their digest
            del body["rule_of_two"]
        if self.prediction == PredictionRule():  # likewise for the prediction rule
            del body["prediction"]
        if self.rollout == RolloutRule():  # and the rollout's sign-offs
            del body["rollout"]
        return body

    def digest(self) -> str:
        return hashlib.sha256(
            orjson.dumps(self.canonical(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()


def _global_invariants(p: GovernancePolicy, source: str) -> list[ConfigError]:
    errors = []
    if not p.approve_irreversible:
        errors.append(
            ConfigError(
                source,
                "approve_irreversible",
                "cannot be false: an irreversible action always needs a human approval",
            )
        )
    if not p.approve_escalations:
        errors.append(
            ConfigError(
                source, "approve_escalations", "cannot be false: a person decides escalations"
            )
        )
    if not p.rule_of_two.enabled:
        errors.append(
            ConfigError(
                source,
                "rule_of_two.enabled",
                "cannot be false: a step that read untrusted content never changes external "
                "state without a human",
            )
        )
    if p.high_risk_approvals < 2:
        errors.append(
            ConfigError(
                source,
                "high_risk_approvals",
                "must be at least 2: high risk always needs two distinct people",
            )
        )
    high = p.risk_classes.get("high")
    if high is not None and high < 2:
        errors.append(
            ConfigError(source, "risk_classes.high", "must be at least 2 (the two-person rule)")
        )
    if p.high_risk_threshold < p.risk_threshold:
        errors.append(
            ConfigError(source, "high_risk_threshold", "must not be below risk_threshold")
        )
    errors.extend(_rollout_floor(p.rollout, source))
    return errors


def parse_policy(data: Any, source: str) -> GovernancePolicy:
    """Validate ``data`` strictly; a loosened invariant is an error naming the field."""
    policy = parse_model(GovernancePolicy, data, source)
    errors = _global_invariants(policy, source)
    if errors:
        raise ConfigErrors(errors)
    return policy


def load_policy(path: str | Path | None) -> GovernancePolicy:
    """Read and validate a policy file; ``None`` gives the defaults."""
    if path is None:
        return GovernancePolicy()
    return parse_policy(read_json(path), str(path))


def check_invariants(
    policy: GovernancePolicy,
    action_types: Mapping[str, ActionSpec],
    source: str,
    *,
    unknown: Literal["skip", "strict"] = "skip",
) -> None:
    """Refuse a policy whose rules for the registered action types loosen an invariant.

    ``unknown``: what a rule for a type not in ``action_types`` is held to. ``skip`` (a process
    adopting the active policy: its app does not run that type); ``strict`` (``policy apply``,
    which may not know the app): the floor of an unregistered type, two people, so that no
    process of any app can later find the active policy loosening its invariants.

    Raises:
        ConfigErrors: one error per loosened rule (file, field, reason).
    """
    errors = _global_invariants(policy, source)
    for name, rule in policy.actions.items():
        spec = action_types.get(name)
        if spec is None and unknown == "skip":
            continue
        floor = invariant_floor(spec)[0]
        where = f"actions.{name}"
        why = _why(spec, name)
        if floor >= 1 and rule.require_approval is False:
            errors.append(
                ConfigError(source, f"{where}.require_approval", f"cannot be false: {why}")
            )
        if rule.approvals is not None and rule.approvals < floor:
            errors.append(
                ConfigError(source, f"{where}.approvals", f"must be at least {floor}: {why}")
            )
        for i, tier in enumerate(rule.tiers):
            if tier.approvals < floor:
                errors.append(
                    ConfigError(
                        source, f"{where}.tiers[{i}].approvals", f"must be at least {floor}: {why}"
                    )
                )
    if errors:
        raise ConfigErrors(errors)


def _why(spec: ActionSpec | None, name: str) -> str:
    if spec is None:
        return (
            f"{name} is not an action type known here, so it is held to two people "
            "(pass --app MODULE:ATTR of the app that defines it)"
        )
    if spec.risk_class is RiskClass.HIGH:
        return f"{name} is high risk: two distinct people"
    return f"{name} is irreversible and always needs a human approval"


def invariant_floor(spec: ActionSpec | None) -> tuple[int, str]:
    """The approvals no policy can go below for an action type, and the rule in words."""
    if spec is None:
        return 2, "an unregistered action type needs two people"
    if spec.risk_class is RiskClass.HIGH:
        return 2, f"{spec.name} is high risk: two people must approve"
    if not spec.reversible:
        return 1, f"{spec.name} is irreversible: a person must approve"
    return 0, ""


def payload_hash(action_type: str, payload: Mapping[str, Any]) -> str:
    """What an approval binds to: SHA-256 of the canonical action type + payload."""
    body = orjson.dumps(
        {"type": action_type, "payload": dict(payload)},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class Requirement:
    """What GIL requires before something may happen.

    Attributes:
        needed: a human must decide.
        approvals: how many distinct people.
        reasons: every reason, the rule first.
        rule: the rule that sets the number, in words people say.
    """

    needed: bool
    approvals: int = 0
    reasons: tuple[str, ...] = ()
    expiry_s: int = 0
    on_expiry: str = "deny"
    rule: str = ""


def action_amount(action: ProposedAction, spec: ActionSpec | None) -> float | None:
    if action.amount is not None:
        return action.amount
    if spec is not None and spec.amount_field is not None:
        v = action.payload.get(spec.amount_field)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def _legacy(
    policy: GovernancePolicy,
    rule: ActionRule,
    action: ProposedAction,
    spec: ActionSpec | None,
    mri: float,
) -> tuple[int, list[str], str]:
    """Approvers from the policy's thresholds (no tiers): (count, reasons, rule in words)."""
    reasons: list[str] = []
    high: list[str] = []
    reversible = spec.reversible if spec is not None else bool(action.reversible)
    if spec is None:
        reasons.append(f"action type {action.type!r} is not registered")
        high.append("unregistered action")
    if not reversible:
        reasons.append(f"{action.type} is irreversible")
    if spec is not None and spec.risk_class is RiskClass.HIGH:
        reasons.append(f"{action.type} is high risk")
        high.append("high risk class")
    if mri > policy.risk_threshold:
        reasons.append(f"MRI {mri:.3f} > {policy.risk_threshold}")
    if mri > policy.high_risk_threshold:
        high.append(f"MRI {mri:.3f} > {policy.high_risk_threshold}")
    amount = action_amount(action, spec)
    if amount is not None and policy.amount_limit is not None and amount > policy.amount_limit:
        reasons.append(f"amount {amount:,.2f} > limit {policy.amount_limit:,.2f}")
    if amount is not None and policy.high_amount is not None and amount > policy.high_amount:
        high.append(f"amount {amount:,.2f} > {policy.high_amount:,.2f}")
    if rule.require_approval is True and not reasons:
        reasons.append(f"policy requires approval for {action.type}")
    needed = bool(reasons) if rule.require_approval is None else rule.require_approval
    if not needed:
        return 0, [], ""
    if rule.approvals is not None:
        n = rule.approvals
        words = f"the policy requires {people(n)} for {rule.label or action.type}"
    else:
        n = policy.high_risk_approvals if high else policy.approvals
        words = (
            f"{rule.label or action.type}: {people(n)} ({', '.join(high)})"
            if high
            else f"{rule.label or action.type}: {people(n)} ({reasons[0]})"
        )
    if high:
        reasons.append("two-person rule: " + ", ".join(high) if n >= 2 else high[0])
    return n, reasons, words


def _tiered(
    rule: ActionRule, action: ProposedAction, amount: float, currency: str | None
) -> tuple[int, str]:
    lo: float | None = None
    for tier in rule.tiers:
        if tier.up_to is None or amount <= tier.up_to:
            noun = rule.label or f"{action.type} actions"
            return tier.approvals, tier_words(noun, lo, tier.up_to, currency, tier.approvals)
        lo = tier.up_to
    raise AssertionError("the last tier has no bound")  # checked when the policy is loaded


def _currency(rule: ActionRule, action: ProposedAction, spec: ActionSpec | None) -> str | None:
    if rule.currency:
        return rule.currency
    if spec is not None and spec.currency_field is not None:
        v = action.payload.get(spec.currency_field)
        return str(v) if isinstance(v, str) else None
    return None


def requirement_for_action(
    policy: GovernancePolicy, action: ProposedAction, spec: ActionSpec | None, mri: float
) -> Requirement:
    """Does this proposed action need approval, from how many people, and by which rule?

    Amount tiers (when the action type has them and the action an amount) set the number;
    otherwise the policy's thresholds do. MRI tiers and risk classes can only raise it, and
    the invariants (:func:`invariant_floor`) are never undercut.
    """
    rule = policy.actions.get(action.type, ActionRule())
    amount = action_amount(action, spec)
    reasons: list[str] = []
    if rule.tiers and amount is not None:
        n, words = _tiered(rule, action, amount, _currency(rule, action, spec))
        reasons.append(words)
    else:
        n, reasons, words = _legacy(policy, rule, action, spec, mri)
    for t in rule.mri:
        if mri > t.above and t.approvals > n:
            n = t.approvals
            words = f"{rule.label or action.type} with MRI above {t.above} need {people(n)}"
            reasons.append(words)
    klass = policy.risk_classes.get(spec.risk_class.value) if spec is not None else None
    if klass is not None and klass > n:
        n, words = klass, f"{spec.risk_class.value}-risk actions need {people(klass)}"  # type: ignore[union-attr]
        reasons.append(words)
    floor, floor_words = invariant_floor(spec)
    if floor > n:
        n, words = floor, floor_words
        reasons.append(words)
    if n == 0:
        return Requirement(False, 0, tuple(reasons), rule=words)
    if amount is not None and not any(amount_text(amount) in r for r in reasons):
        reasons.append(f"amount {amount_text(amount)}")
    return Requirement(
        True,
        n,
        tuple(dict.fromkeys([words, *reasons])),
        rule.expiry_s or policy.expiry_s,
        rule.on_expiry or policy.on_expiry,
        words,
    )


def governed_by_tiers(policy: GovernancePolicy, action: ProposedAction) -> bool:
    """The action type's approvers are set by amount tiers in the policy."""
    rule = policy.actions.get(action.type)
    return rule is not None and bool(rule.tiers)


def escalation_requirement(
    policy: GovernancePolicy, reasons: tuple[str, ...], mri: float | None
) -> Requirement:
    """A step the gate escalated: a human decides (two people above the high-risk bar)."""
    high = mri is not None and mri > policy.high_risk_threshold
    approvals = policy.high_risk_approvals if high else policy.approvals
    rule = (
        f"risk above {policy.high_risk_threshold} needs {people(approvals)}"
        if high
        else f"a step the quality gate escalated needs {people(approvals)}"
    )
    why = (
        (*reasons, f"two-person rule: MRI {mri:.3f} > {policy.high_risk_threshold}")
        if (high and mri is not None)
        else reasons
    )
    return Requirement(True, approvals, tuple(why), policy.expiry_s, policy.on_expiry, rule)
