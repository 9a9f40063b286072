"""GIL policy: when a human must approve, how many distinct people, and for how long.

The policy is a validated config file (``config/governance.json``). It is pure data plus pure
functions: what a proposed action or an escalated step requires, and whether one operator's
decision on one request is allowed. Storage and execution live elsewhere.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from maestro_helix.core.actions import ActionSpec, RiskClass
from maestro_helix.core.configfile import parse_model, read_json
from maestro_helix.core.errors import ConfigError, ConfigErrors
from maestro_helix.core.outputs import ProposedAction

__all__ = [
    "ActionRule",
    "Decision",
    "GovernancePolicy",
    "Refusal",
    "Requirement",
    "Role",
    "check_decision",
    "escalation_requirement",
    "load_policy",
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
    APPROVE = "approve"
    REJECT = "reject"
    OVERRIDE = "override"  # accept despite the gate, with a written reason


class ActionRule(BaseModel):
    """Per-action-type settings; unset fields use the policy's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    require_approval: bool | None = None
    approvals: int | None = Field(default=None, ge=1, le=5)
    expiry_s: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    on_expiry: Literal["deny", "escalate"] | None = None


class GovernancePolicy(BaseModel):
    """The content of ``governance.json``.

    Attributes:
        version: bumped by every change; every change is audited.
        approve_irreversible: every irreversible action needs approval.
        approve_escalations: gate escalations need a human decision (always true in practice).
        risk_threshold: an action in a step with MRI above this needs approval.
        high_risk_threshold: MRI above this, or a high risk class, needs ``high_risk_approvals``.
        amount_limit: an action moving more than this needs approval.
        high_amount: an action moving more than this needs ``high_risk_approvals``.
        approvals: approvers needed by default (1).
        high_risk_approvals: approvers needed for high risk (2: the two-person rule).
        expiry_s: how long a request stays open (default 4 h).
        on_expiry: ``deny`` (the request is rejected) or ``escalate`` (it is re-opened with
            one more approver required and a fresh expiry, once).
        actions: per-action-type rules.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int = Field(default=1, ge=1)
    approve_irreversible: bool = True
    approve_escalations: bool = True
    risk_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    high_risk_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    amount_limit: float | None = Field(default=10_000.0, ge=0.0)
    high_amount: float | None = Field(default=100_000.0, ge=0.0)
    approvals: int = Field(default=1, ge=1, le=5)
    high_risk_approvals: int = Field(default=2, ge=1, le=5)
    expiry_s: int = Field(default=4 * 3600, ge=60, le=30 * 24 * 3600)
    on_expiry: Literal["deny", "escalate"] = "deny"
    actions: dict[str, ActionRule] = Field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        return hashlib.sha256(
            orjson.dumps(self.canonical(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()


def parse_policy(data: Any, source: str) -> GovernancePolicy:
    policy = parse_model(GovernancePolicy, data, source)
    if policy.high_risk_threshold < policy.risk_threshold:
        raise ConfigErrors(
            [ConfigError(source, "high_risk_threshold", "must not be below risk_threshold")]
        )
    return policy


def load_policy(path: str | Path | None) -> GovernancePolicy:
    """Read and validate a policy file; ``None`` gives the defaults."""
    if path is None:
        return GovernancePolicy()
    return parse_policy(read_json(path), str(path))


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
    """What GIL requires before something may happen."""

    needed: bool
    approvals: int = 0
    reasons: tuple[str, ...] = ()
    expiry_s: int = 0
    on_expiry: str = "deny"


def _amount(action: ProposedAction, spec: ActionSpec | None) -> float | None:
    if action.amount is not None:
        return action.amount
    if spec is not None and spec.amount_field is not None:
        v = action.payload.get(spec.amount_field)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def requirement_for_action(
    policy: GovernancePolicy, action: ProposedAction, spec: ActionSpec | None, mri: float
) -> Requirement:
    """Does this proposed action need approval, and from how many people?"""
    rule = policy.actions.get(action.type, ActionRule())
    reasons: list[str] = []
    high: list[str] = []
    reversible = spec.reversible if spec is not None else bool(action.reversible)
    if spec is None:
        reasons.append(f"action type {action.type!r} is not registered")
        high.append("unregistered action")
    if not reversible and policy.approve_irreversible:
        reasons.append(f"{action.type} is irreversible")
    if spec is not None and spec.risk_class is RiskClass.HIGH:
        reasons.append(f"{action.type} is high risk")
        high.append("high risk class")
    if mri > policy.risk_threshold:
        reasons.append(f"MRI {mri:.3f} > {policy.risk_threshold}")
    if mri > policy.high_risk_threshold:
        high.append(f"MRI {mri:.3f} > {policy.high_risk_threshold}")
    amount = _amount(action, spec)
    if amount is not None and policy.amount_limit is not None and amount > policy.amount_limit:
        reasons.append(f"amount {amount:,.2f} > limit {policy.amount_limit:,.2f}")
    if amount is not None and policy.high_amount is not None and amount > policy.high_amount:
        high.append(f"amount {amount:,.2f} > {policy.high_amount:,.2f}")
    if rule.require_approval is True and not reasons:
        reasons.append(f"policy requires approval for {action.type}")
    needed = bool(reasons) if rule.require_approval is None else rule.require_approval
    if not needed:
        return Requirement(False)
    if rule.approvals is not None:
        approvals = rule.approvals
    else:
        approvals = policy.high_risk_approvals if high else policy.approvals
    if high:
        reasons.append("two-person rule: " + ", ".join(high) if approvals >= 2 else high[0])
    return Requirement(
        True,
        approvals,
        tuple(reasons),
        rule.expiry_s or policy.expiry_s,
        rule.on_expiry or policy.on_expiry,
    )


def escalation_requirement(
    policy: GovernancePolicy, reasons: tuple[str, ...], mri: float | None
) -> Requirement:
    """A step the gate escalated: a human decides (two people above the high-risk bar)."""
    high = mri is not None and mri > policy.high_risk_threshold
    approvals = policy.high_risk_approvals if high else policy.approvals
    why = (
        (*reasons, f"two-person rule: MRI {mri:.3f} > {policy.high_risk_threshold}")
        if (high and mri is not None)
        else reasons
    )
    return Requirement(True, approvals, tuple(why), policy.expiry_s, policy.on_expiry)


@dataclass(frozen=True, slots=True)
class RequestView:
    """The facts about one approval request that decide whether a decision is allowed."""

    request_id: str
    status: str
    requester_id: str | None
    run_operator_id: str | None
    payload_hash: str
    expires_at: datetime
    approvals_so_far: tuple[str, ...]
    rejected_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a decision was refused, for the 4xx body, the CLI and the audit log."""

    code: str
    message: str


def check_decision(
    req: RequestView,
    *,
    operator_id: str,
    role: Role,
    decision: Decision,
    payload_hash_seen: str | None,
    reason: str | None,
    now: datetime,
) -> Refusal | None:
    """None if ``operator_id`` may record ``decision`` on ``req`` now; else why not."""
    if not role.at_least(Role.APPROVER):
        return Refusal("forbidden", f"role {role.value!r} cannot decide approval requests")
    if decision is Decision.OVERRIDE and not role.at_least(Role.ADMIN):
        return Refusal("forbidden", "only an admin can override")
    if req.status != "pending":
        return Refusal("not_pending", f"request {req.request_id} is {req.status}, not pending")
    if now >= req.expires_at:
        return Refusal(
            "expired", f"request {req.request_id} expired at {req.expires_at.isoformat()}"
        )
    if operator_id == req.requester_id:
        return Refusal("requester", "the requester of an action cannot decide on it")
    if operator_id == req.run_operator_id:
        return Refusal("run_operator", "the operator who started the run cannot decide on it")
    if operator_id in req.approvals_so_far or operator_id in req.rejected_by:
        return Refusal(
            "already_decided", f"operator {operator_id} has already decided this request"
        )
    if payload_hash_seen is not None and payload_hash_seen != req.payload_hash:
        return Refusal(
            "payload_changed",
            "the payload changed since it was shown: review the current payload and decide again",
        )
    if decision in (Decision.REJECT, Decision.OVERRIDE) and not (reason or "").strip():
        return Refusal("reason_required", f"a written reason is required to {decision.value}")
    return None
