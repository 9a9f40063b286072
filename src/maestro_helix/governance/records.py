"""The governance layer's own values: decisions in and out, claims on actions, operators and
policy changes. Plain data; the store (``store/gil_sql.py``, ``store/admin_sql.py``) reads and
writes them, the rules (``rules.py``) decide on them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.records import (
    ActionIntent,
    ApprovalRecord,
    ApprovalRequest,
    EventRecord,
    RunStatus,
)
from maestro_helix.governance.policy import Decision, GovernancePolicy, Role
from maestro_helix.governance.rules import Refusal, Verdict

__all__ = [
    "ActionNotFound",
    "ActionNotRetryable",
    "ActivePolicy",
    "Claim",
    "DecisionInput",
    "DecisionOutcome",
    "OperatorChange",
    "OperatorNotFound",
    "OperatorRecord",
    "PolicyChange",
    "PolicyChangeStatus",
    "RequestNotFound",
    "RetryForbidden",
]


class ActionNotFound(MaestroError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no action with key {key!r}")


class ActionNotRetryable(MaestroError):
    """Only a failed action can be run again."""

    def __init__(self, key: str, status: str) -> None:
        self.key, self.status = key, status
        super().__init__(f"action {key} is {status}; only a failed action can be retried")


class RetryForbidden(MaestroError):
    """Only admins run a failed action again."""


class RequestNotFound(MaestroError):
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"no approval request with id {request_id!r}")


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """One decision to record.

    Attributes:
        specs: the action types the deciding process knows (for the invariant floor).
        runnable: those with a handler; ``None`` when the process does not know the app.
    """

    request_id: str
    operator_id: str
    role: Role
    decision: Decision
    reason: str | None
    payload_hash_seen: str | None
    now: datetime
    ts: str
    specs: Mapping[str, ActionSpec] = field(default_factory=dict)
    runnable: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What a decision did.

    Attributes:
        result: ``recorded`` (a new decision), ``replayed`` (the same operator sent the same
            decision again: nothing changed) or ``refused``.
        refusal: why, when refused.
        request: the request after the decision.
        approvals: every decision on it so far.
        run_status: the run's status after the decision.
    """

    result: Verdict
    request: ApprovalRequest
    approvals: tuple[ApprovalRecord, ...] = ()
    refusal: Refusal | None = None
    run_status: RunStatus | None = None
    intents: tuple[ActionIntent, ...] = field(default_factory=tuple)
    events: tuple[EventRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Claim:
    """Who claims cleared actions, and for how long from the claiming write (a live claimer
    renews it)."""

    owner: str
    ttl_s: float
    ts: str


class OperatorNotFound(MaestroError):
    def __init__(self, operator_id: str) -> None:
        self.operator_id = operator_id
        super().__init__(f"no operator {operator_id!r}")


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    operator_id: str
    role: Role
    created_at: str
    disabled: bool


class OperatorChange(enum.StrEnum):
    DISABLE = "disable"
    ENABLE = "enable"
    ROTATE = "rotate-token"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    version: int
    policy: GovernancePolicy
    digest: str
    created_at: str
    created_by: str | None


class PolicyChangeStatus(enum.StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    change_id: str
    base_version: int
    digest: str
    policy: GovernancePolicy
    loosens: tuple[str, ...]
    status: PolicyChangeStatus
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    version: int | None = None  # the version it became, when applied
    refused: str | None = None  # why a decision on it was refused (audited, nothing changed)
