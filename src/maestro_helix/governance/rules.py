"""The governance rules as pure functions over typed values: deciding, settling, expiring,
withdrawing, and turning an accepted request into action intents.

Nothing here reads or writes a database: ``store/gil_sql.py`` loads the facts, calls these
functions, and writes what they return in one transaction. The API, the UI and the CLI all reach
them through :meth:`~maestro_helix.governance.service.Governance.decide`.

The quorum of a request is the number of *distinct eligible people who accept it*: never the
requester, never the run's starter, never the same person twice, never below the invariant floor
of the action types it clears. They accept it all by approving, or all as admins by overriding
(each with a reason): approvals and overrides never add up, so an override never lowers the
quorum (a request that needs two people is overridden by two distinct admins). A single
rejection by an eligible approver settles the request as rejected.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.records import ActionIntent, ApprovalRequest, RunStatus
from maestro_helix.governance.policy import Decision, Role, invariant_floor, payload_hash

__all__ = [
    "Ballot",
    "DecisionKind",
    "Expiry",
    "Proposal",
    "Refusal",
    "RequestFacts",
    "RequestKind",
    "RequestStatus",
    "Ruling",
    "Settlement",
    "Verdict",
    "cleared_action_types",
    "expire",
    "facts_of",
    "intents_for",
    "pre_run_refusal",
    "refusal_for",
    "rule",
    "settle",
    "stored_payload_intact",
]

DecisionKind = Decision


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    OVERRIDDEN = "overridden"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # its run was cancelled or failed: nobody can decide it any more

    @property
    def accepted(self) -> bool:
        return self in (RequestStatus.APPROVED, RequestStatus.OVERRIDDEN)


class RequestKind(enum.StrEnum):
    ACTION = "action"
    ESCALATION = "escalation"


class Verdict(enum.StrEnum):
    """What became of one decision."""

    RECORDED = "recorded"
    REPLAYED = "replayed"  # the same operator sent the same decision again: nothing changed
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a decision was refused, for the 4xx body, the CLI and the audit log."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Ballot:
    operator_id: str
    decision: Decision
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """Everything about one request that decides whether a decision is allowed, and its effect.

    Attributes:
        stored_hash: the hash written when the request was created.
        current_hash: the hash of the payload as stored now (differs if it was edited).
        clears: the action types accepting the request would run.
        floor: the fewest approvers the invariants allow for what it clears.
    """

    request_id: str
    kind: RequestKind
    status: RequestStatus
    requester_id: str | None
    run_operator_id: str | None
    run_status: RunStatus | None
    stored_hash: str
    current_hash: str
    required: int
    floor: int
    expires_at: datetime
    clears: tuple[str, ...]
    ballots: tuple[Ballot, ...] = ()

    @property
    def quorum(self) -> int:
        return max(self.required, self.floor)


@dataclass(frozen=True, slots=True)
class Proposal:
    """One operator's decision, as asked.

    Attributes:
        runnable: action types this process can run (a handler is registered); ``None`` when
            the process does not know the app's action types.
    """

    operator_id: str
    role: Role
    decision: Decision
    reason: str | None
    payload_hash_seen: str | None
    now: datetime
    runnable: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Ruling:
    """The effect of one proposal on one request."""

    verdict: Verdict
    status: RequestStatus
    accepted_by: tuple[str, ...]
    quorum: int
    refusal: Refusal | None = None
    ballot: Ballot | None = None

    @property
    def settled(self) -> bool:
        return self.status is not RequestStatus.PENDING

    @property
    def gil(self) -> str:
        """The audit entry's ``gil_decision``."""
        if self.status is RequestStatus.PENDING:
            return f"approved {len(self.accepted_by)} of {self.quorum}"
        return self.status.value


def stored_payload_intact(req: ApprovalRequest) -> bool:
    """The payload stored now still hashes to the hash written when the request was made."""
    return payload_hash(req.action_type or "escalation", req.payload) == req.payload_hash


def cleared_action_types(req: ApprovalRequest) -> tuple[str, ...]:
    """The action types that accepting ``req`` runs."""
    if req.kind == RequestKind.ACTION.value:
        return (req.action_type,) if req.action_type else ()
    output = req.payload.get("output") or {}
    actions = output.get("actions") if isinstance(output, Mapping) else None
    return tuple(str(a.get("type")) for a in actions or () if isinstance(a, Mapping))


def facts_of(
    req: ApprovalRequest,
    ballots: tuple[Ballot, ...],
    *,
    run_operator_id: str | None,
    run_status: RunStatus | None,
    specs: Mapping[str, ActionSpec],
) -> RequestFacts:
    """The facts a ruling needs, from a stored request and its decisions."""
    clears = cleared_action_types(req)
    floor = max((invariant_floor(specs.get(t))[0] for t in clears), default=0)
    if req.kind == RequestKind.ESCALATION.value:
        floor = max(floor, 1)  # an escalated step is accepted by a person, always
    return RequestFacts(
        request_id=req.request_id,
        kind=RequestKind(req.kind),
        status=RequestStatus(req.status),
        requester_id=req.requester_id,
        run_operator_id=run_operator_id,
        run_status=run_status,
        stored_hash=req.payload_hash,
        current_hash=payload_hash(req.action_type or "escalation", req.payload),
        required=req.required_approvals,
        floor=floor,
        expires_at=datetime.fromisoformat(req.expires_at),
        clears=clears,
        ballots=ballots,
    )


def _rights(f: RequestFacts, p: Proposal) -> Refusal | None:
    if not p.role.at_least(Role.APPROVER):
        return Refusal("forbidden", f"role {p.role.value!r} cannot decide approval requests")
    if p.decision is Decision.OVERRIDE and not p.role.at_least(Role.ADMIN):
        return Refusal("forbidden", "only an admin can override")
    return None


def _state(f: RequestFacts, p: Proposal) -> Refusal | None:
    if f.status is RequestStatus.WITHDRAWN:
        return Refusal("withdrawn", f"request {f.request_id} was withdrawn: its run stopped")
    if f.status is not RequestStatus.PENDING:
        return Refusal("not_pending", f"request {f.request_id} is {f.status.value}, not pending")
    if f.run_status is not None and f.run_status.finished:
        return Refusal(
            "run_finished",
            f"the run of request {f.request_id} is {f.run_status.value}: nothing can be decided",
        )
    if p.now >= f.expires_at:
        return Refusal("expired", f"request {f.request_id} expired at {f.expires_at.isoformat()}")
    return None


def _person(f: RequestFacts, p: Proposal) -> Refusal | None:
    if p.operator_id == f.requester_id:
        return Refusal("requester", "the requester of an action cannot decide on it")
    if p.operator_id == f.run_operator_id:
        return Refusal("run_operator", "the operator who started the run cannot decide on it")
    if any(b.operator_id == p.operator_id for b in f.ballots):
        return Refusal(
            "already_decided", f"operator {p.operator_id} has already decided this request"
        )
    return None


def _payload(f: RequestFacts, p: Proposal) -> Refusal | None:
    if f.current_hash != f.stored_hash:
        return Refusal(
            "payload_tampered",
            "the stored payload no longer matches the hash recorded when the request was made",
        )
    if p.decision is Decision.REJECT:
        return None
    if not p.payload_hash_seen:
        return Refusal(
            "payload_hash_required",
            "send the SHA-256 payload hash you reviewed (payload_hash / --payload-hash)",
        )
    if p.payload_hash_seen != f.stored_hash:
        return Refusal(
            "payload_changed",
            "the payload changed since it was shown: review the current payload and decide again",
        )
    return None


def _reason_and_handlers(f: RequestFacts, p: Proposal) -> Refusal | None:
    if p.decision in (Decision.REJECT, Decision.OVERRIDE) and not (p.reason or "").strip():
        return Refusal("reason_required", f"a written reason is required to {p.decision.value}")
    if p.decision is Decision.REJECT or not f.clears:
        return None
    if p.runnable is None:
        return Refusal(
            "no_handler",
            "this process does not know the app's action types "
            f"({', '.join(f.clears)}): pass --app MODULE:ATTR of the app that defines them",
        )
    missing = [t for t in f.clears if t not in p.runnable]
    if missing:
        return Refusal(
            "no_handler",
            f"no handler registered for action type {missing[0]!r}: it could not run once "
            "approved (pass --app MODULE:ATTR of the app that defines it)",
        )
    return None


def refusal_for(f: RequestFacts, p: Proposal) -> Refusal | None:
    """None if the proposal may be recorded on the request now; else why not."""
    for check in (_rights, _state, _person, _payload, _reason_and_handlers):
        refusal = check(f, p)
        if refusal is not None:
            return refusal
    return None


def _status(ballots: tuple[Ballot, ...], quorum: int) -> tuple[RequestStatus, tuple[str, ...]]:
    """A request is approved by ``quorum`` distinct approvals, or overridden by ``quorum``
    distinct overrides (admins, each with a reason): the two never add up, so a request that
    needs two people is never overridden by one admin and one approver. Returns the status and
    the people who accepted it (while pending, the larger of the two groups)."""
    approved = tuple(
        dict.fromkeys(b.operator_id for b in ballots if b.decision is Decision.APPROVE)
    )
    overridden = tuple(
        dict.fromkeys(b.operator_id for b in ballots if b.decision is Decision.OVERRIDE)
    )
    leading = overridden if len(overridden) > len(approved) else approved
    if any(b.decision is Decision.REJECT for b in ballots):
        return RequestStatus.REJECTED, leading
    if len(overridden) >= quorum:
        return RequestStatus.OVERRIDDEN, overridden
    if len(approved) >= quorum:
        return RequestStatus.APPROVED, approved
    return RequestStatus.PENDING, leading


def rule(f: RequestFacts, p: Proposal) -> Ruling:
    """The ruling on one proposal: replayed, refused, or recorded with the request's new status."""
    mine = next((b for b in f.ballots if b.operator_id == p.operator_id), None)
    status, accepted = _status(f.ballots, f.quorum)
    if mine is not None and mine.decision is p.decision:
        return Ruling(Verdict.REPLAYED, f.status, accepted, f.quorum)
    refusal = refusal_for(f, p)
    if refusal is not None:
        return Ruling(Verdict.REFUSED, f.status, accepted, f.quorum, refusal)
    ballot = Ballot(p.operator_id, p.decision, p.reason)
    status, accepted = _status((*f.ballots, ballot), f.quorum)
    return Ruling(Verdict.RECORDED, status, accepted, f.quorum, None, ballot)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a settled request does to its run.

    Attributes:
        intents: the actions it clears (to store, then run once each).
        advance_step: an accepted escalation moves the run past the escalated step.
        run_to: the run's new status, if it moves (only a run waiting for people moves).
        error: why the run stops.
        withdraw_others: the run's other open requests are withdrawn.
    """

    intents: tuple[ActionIntent, ...] = ()
    advance_step: bool = False
    run_to: RunStatus | None = None
    error: str | None = None
    withdraw_others: bool = False


def intents_for(req: ApprovalRequest, ts: str) -> tuple[ActionIntent, ...]:
    """The action intents an accepted request clears, each with its idempotency key."""
    if req.kind == RequestKind.ACTION.value and req.action_type is not None:
        return (
            ActionIntent(
                req.request_id,
                req.request_id,
                req.run_id,
                req.action_type,
                req.payload,
                req.payload_hash,
                created_at=ts,
                updated_at=ts,
            ),
        )
    if req.kind != RequestKind.ESCALATION.value:
        return ()
    output = req.payload.get("output") or {}
    out: list[ActionIntent] = []
    for i, action in enumerate(output.get("actions") or ()):
        body: Mapping[str, Any] = dict(action.get("payload") or {})
        out.append(
            ActionIntent(
                f"{req.request_id}.action{i}",
                req.request_id,
                req.run_id,
                str(action["type"]),
                body,
                payload_hash(str(action["type"]), body),
                created_at=ts,
                updated_at=ts,
            )
        )
    return tuple(out)


def settle(req: ApprovalRequest, status: RequestStatus, others_open: int, ts: str) -> Settlement:
    """The effects of ``req`` reaching ``status`` while ``others_open`` other requests of its
    run are still pending."""
    if status.accepted:
        return Settlement(
            intents=intents_for(req, ts),
            advance_step=req.kind == RequestKind.ESCALATION.value,
            run_to=RunStatus.RUNNING if others_open == 0 else None,
        )
    if status in (RequestStatus.REJECTED, RequestStatus.EXPIRED):
        return Settlement(
            run_to=RunStatus.FAILED,
            error=f"{req.kind} request {req.request_id} {status.value}",
            withdraw_others=True,
        )
    return Settlement()


@dataclass(frozen=True, slots=True)
class Expiry:
    """A due request either closes (and settles as expired) or re-opens once, one more
    approver required, with a fresh expiry."""

    status: RequestStatus
    required: int
    expires_at: datetime


def expire(req: ApprovalRequest, now: datetime) -> Expiry | None:
    """What happens to ``req`` at ``now``; None if it is not due (or not pending)."""
    if req.status != RequestStatus.PENDING.value:
        return None
    due = datetime.fromisoformat(req.expires_at)
    if due > now:
        return None
    if req.on_expiry == "escalate":
        ttl = due - datetime.fromisoformat(req.created_at)
        return Expiry(RequestStatus.PENDING, req.required_approvals + 1, now + max(ttl, _MIN_TTL))
    return Expiry(RequestStatus.EXPIRED, req.required_approvals, due)


_MIN_TTL = timedelta(seconds=60)


def pre_run_refusal(
    intent: ActionIntent, req: ApprovalRequest | None, run_status: RunStatus | None
) -> Refusal | None:
    """Immediately before a handler runs (in the transaction that claims the intent): None if
    the action may still run; else why not (``payload_mismatch`` is counted and alerted on).

    The intent's payload must still hash to the hash it was cleared with, and, when a request
    cleared it, that request must still be accepted, with its stored payload intact (for an
    action request, the very hash that was approved); the run must not have stopped.
    """
    if run_status is not None and run_status in (RunStatus.CANCELLED, RunStatus.FAILED):
        return Refusal("run_stopped", f"the run is {run_status.value}: the action does not run")
    if payload_hash(intent.action_type, intent.payload) != intent.payload_hash:
        return Refusal("payload_mismatch", "the stored action payload changed after it was cleared")
    if req is None:
        return None
    if not RequestStatus(req.status).accepted:
        return Refusal("not_accepted", f"request {req.request_id} is {req.status}")
    if not stored_payload_intact(req):
        return Refusal("payload_mismatch", "the approved payload changed after the approval")
    if req.kind == RequestKind.ACTION.value and intent.payload_hash != req.payload_hash:
        return Refusal("payload_mismatch", "the action's payload is not the one approved")
    if req.kind == RequestKind.ESCALATION.value and intent.payload_hash not in {
        i.payload_hash for i in intents_for(req, "")
    }:
        return Refusal("payload_mismatch", "the action is not one the accepted step proposed")
    return None
