"""SQL of the governance layer: approval requests, decisions, action executions, operators.

Each public function runs inside one store transaction. ``decide`` locks the request row
(``FOR UPDATE`` on PostgreSQL; SQLite transactions are already exclusive), so two approvers
deciding at once are serialised and the quorum is counted exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.audit import AuditDraft
from maestro_helix.governance.policy import (
    Decision,
    GovernancePolicy,
    Refusal,
    RequestView,
    Role,
    check_decision,
    payload_hash,
)
from maestro_helix.store import schema as t
from maestro_helix.store.base import (
    ActionAttempt,
    ActionIntent,
    ApprovalRecord,
    ApprovalRequest,
    EventRecord,
    RunStatus,
)
from maestro_helix.store.sql import append_audit, event_row, intent_row, lock_chain

__all__ = [
    "Claim",
    "DecisionInput",
    "DecisionOutcome",
    "RequestNotFound",
]


class RequestNotFound(MaestroError):
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"no approval request with id {request_id!r}")


@dataclass(frozen=True, slots=True)
class DecisionInput:
    request_id: str
    operator_id: str
    role: Role
    decision: Decision
    reason: str | None
    payload_hash_seen: str | None
    now: datetime
    ts: str


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

    result: str
    request: ApprovalRequest
    approvals: tuple[ApprovalRecord, ...] = ()
    refusal: Refusal | None = None
    run_status: RunStatus | None = None
    intents: tuple[ActionIntent, ...] = field(default_factory=tuple)
    events: tuple[EventRecord, ...] = field(default_factory=tuple)


def _request(row: Any) -> ApprovalRequest:
    return ApprovalRequest(
        request_id=row.request_id,
        run_id=row.run_id,
        step_index=row.step_index,
        attempt=row.attempt,
        kind=row.kind,
        action_type=row.action_type,
        payload=row.payload,
        payload_hash=row.payload_hash,
        reasons=tuple(row.reasons),
        scores=row.scores,
        required_approvals=row.required_approvals,
        requester_id=row.requester_id,
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        on_expiry=row.on_expiry,
        policy_version=row.policy_version,
        decided_at=row.decided_at,
    )


def _approval(row: Any) -> ApprovalRecord:
    return ApprovalRecord(
        row.request_id, row.operator_id, row.decision, row.reason, row.payload_hash, row.ts
    )


def _intent(row: Any) -> ActionIntent:
    return ActionIntent(**dict(row._mapping))


def get_request(conn: Connection, request_id: str, lock: bool = False) -> ApprovalRequest:
    q = select(t.approval_requests).where(t.approval_requests.c.request_id == request_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise RequestNotFound(request_id)
    return _request(row)


def approvals_of(conn: Connection, request_id: str) -> tuple[ApprovalRecord, ...]:
    rows = conn.execute(
        select(t.approvals)
        .where(t.approvals.c.request_id == request_id)
        .order_by(t.approvals.c.ts, t.approvals.c.operator_id)
    )
    return tuple(_approval(r) for r in rows)


def list_requests(
    conn: Connection, status: str | None, run_id: str | None, limit: int, offset: int
) -> list[ApprovalRequest]:
    q = select(t.approval_requests)
    if status is not None:
        q = q.where(t.approval_requests.c.status == status)
    if run_id is not None:
        q = q.where(t.approval_requests.c.run_id == run_id)
    q = q.order_by(t.approval_requests.c.created_at, t.approval_requests.c.request_id)
    return [_request(r) for r in conn.execute(q.limit(limit).offset(offset))]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _audit(
    req: ApprovalRequest,
    d: DecisionInput,
    kind: str,
    gil: str,
    details: dict[str, Any],
    workflow: tuple[str, int] | None,
) -> AuditDraft:
    return AuditDraft(
        entry_id=f"{req.request_id}/{kind}/{d.operator_id}/{d.ts}",
        ts=d.ts,
        kind=kind,
        run_id=req.run_id,
        step_index=req.step_index,
        attempt=req.attempt,
        workflow=workflow[0] if workflow else None,
        workflow_version=workflow[1] if workflow else None,
        qsr_score=req.scores.get("qsr"),
        mri_score=req.scores.get("mri"),
        gate_decision=req.scores.get("decision"),
        gil_decision=gil,
        human_operator_id=d.operator_id,
        evaluator_versions={},
        details={
            "request_id": req.request_id,
            "kind": req.kind,
            "action_type": req.action_type,
            **details,
        },
    )


def _run_row(conn: Connection, run_id: str) -> Any:
    return conn.execute(
        select(
            t.runs.c.status, t.runs.c.operator_id, t.runs.c.workflow, t.runs.c.workflow_version
        ).where(t.runs.c.run_id == run_id)
    ).first()


def decide(conn: Connection, d: DecisionInput) -> DecisionOutcome:
    """Record one operator's decision; apply its effects when the request is settled."""
    req = get_request(conn, d.request_id, lock=True)
    approvals = approvals_of(conn, req.request_id)
    run = _run_row(conn, req.run_id)
    wf = (run.workflow, run.workflow_version) if run else None
    mine = next((a for a in approvals if a.operator_id == d.operator_id), None)
    if mine is not None and mine.decision == d.decision.value:
        return DecisionOutcome("replayed", req, approvals, None, RunStatus(run.status))
    view = RequestView(
        request_id=req.request_id,
        status=req.status,
        requester_id=req.requester_id,
        run_operator_id=run.operator_id if run else None,
        payload_hash=req.payload_hash,
        expires_at=_parse(req.expires_at),
        approvals_so_far=tuple(a.operator_id for a in approvals if a.decision == "approve"),
        rejected_by=tuple(a.operator_id for a in approvals if a.decision != "approve"),
    )
    refusal = check_decision(
        view,
        operator_id=d.operator_id,
        role=d.role,
        decision=d.decision,
        payload_hash_seen=d.payload_hash_seen,
        reason=d.reason,
        now=d.now,
    )
    if refusal is not None:
        append_audit(
            conn,
            [
                _audit(
                    req,
                    d,
                    "approval.refused",
                    "refused",
                    {
                        "decision": d.decision.value,
                        "code": refusal.code,
                        "message": refusal.message,
                    },
                    wf,
                )
            ],
        )
        return DecisionOutcome("refused", req, approvals, refusal, RunStatus(run.status))
    conn.execute(
        t.approvals.insert(),
        {
            "request_id": req.request_id,
            "operator_id": d.operator_id,
            "decision": d.decision.value,
            "reason": d.reason,
            "payload_hash": req.payload_hash,
            "ts": d.ts,
        },
    )
    approvals = approvals_of(conn, req.request_id)
    n_approve = sum(1 for a in approvals if a.decision == "approve")
    new_status = req.status
    if d.decision is Decision.REJECT:
        new_status = "rejected"
    elif d.decision is Decision.OVERRIDE:
        new_status = "overridden"
    elif n_approve >= req.required_approvals:
        new_status = "approved"
    gil = {
        "rejected": "rejected",
        "overridden": "overridden",
        "approved": "approved",
    }.get(new_status, f"approved {n_approve} of {req.required_approvals}")
    details: dict[str, Any] = {
        "decision": d.decision.value,
        "approvals": n_approve,
        "required": req.required_approvals,
    }
    if d.reason:
        details["reason"] = d.reason
    append_audit(conn, [_audit(req, d, "approval.decision", gil, details, wf)])
    intents: list[ActionIntent] = []
    events: list[EventRecord] = []
    if new_status != req.status:
        conn.execute(
            update(t.approval_requests)
            .where(t.approval_requests.c.request_id == req.request_id)
            .values(status=new_status, decided_at=d.ts)
        )
        intents = _settle(conn, req, new_status, d.ts, events)
    req = get_request(conn, req.request_id)
    after = _run_row(conn, req.run_id)
    return DecisionOutcome(
        "recorded", req, approvals, None, RunStatus(after.status), tuple(intents), tuple(events)
    )


def _settle(
    conn: Connection, req: ApprovalRequest, status: str, ts: str, events: list[EventRecord]
) -> list[ActionIntent]:
    """A request was decided: queue its action, move the run on or stop it (the run's event
    is stored and appended to ``events`` for the caller to publish)."""
    intents: list[ActionIntent] = []
    runs = t.runs
    if status in ("approved", "overridden"):
        if req.kind == "action" and req.action_type is not None:
            intent = ActionIntent(
                idempotency_key=req.request_id,
                request_id=req.request_id,
                run_id=req.run_id,
                action_type=req.action_type,
                payload=req.payload,
                payload_hash=req.payload_hash,
                created_at=ts,
                updated_at=ts,
            )
            conn.execute(t.action_executions.insert(), intent_row(intent))
            intents.append(intent)
        if req.kind == "escalation":
            # accepting an escalated step clears the actions it proposed (they were shown)
            output = req.payload.get("output") or {}
            for i, action in enumerate(output.get("actions") or ()):
                intent = ActionIntent(
                    idempotency_key=f"{req.request_id}.action{i}",
                    request_id=req.request_id,
                    run_id=req.run_id,
                    action_type=str(action["type"]),
                    payload=dict(action.get("payload") or {}),
                    payload_hash=payload_hash(str(action["type"]), action.get("payload") or {}),
                    created_at=ts,
                    updated_at=ts,
                )
                conn.execute(t.action_executions.insert(), intent_row(intent))
                intents.append(intent)
            conn.execute(
                update(runs)
                .where(runs.c.run_id == req.run_id, runs.c.next_step == req.step_index)
                .values(next_step=req.step_index + 1, updated_at=ts)
            )
        open_left = conn.execute(
            select(func.count())
            .select_from(t.approval_requests)
            .where(
                t.approval_requests.c.run_id == req.run_id,
                t.approval_requests.c.status == "pending",
            )
        ).scalar_one()
        if open_left == 0:
            ev = _move_run(conn, req, RunStatus.RUNNING, None, ts)
            if ev is not None:
                events.append(ev)
    else:  # rejected or expired: the run stops here
        why = f"{req.kind} request {req.request_id} {status}"
        ev = _move_run(conn, req, RunStatus.FAILED, why, ts)
        if ev is not None:
            events.append(ev)
    return intents


def _move_run(
    conn: Connection, req: ApprovalRequest, to: RunStatus, error: str | None, ts: str
) -> EventRecord | None:
    runs = t.runs
    values: dict[str, Any] = {"status": to.value, "updated_at": ts}
    if error is not None:
        values["error"] = error
    moved = conn.execute(
        update(runs)
        .where(runs.c.run_id == req.run_id, runs.c.status == RunStatus.ESCALATED.value)
        .values(**values)
    ).rowcount
    if not moved:
        return None
    ev = EventRecord(
        f"{req.request_id}/run.{to.value}",
        f"run.{to.value}",
        ts,
        req.run_id,
        None,
        None,
        {"request_id": req.request_id, "error": error},
    )
    conn.execute(t.reflexive_events.insert(), event_row(ev))
    return ev


def expire_due(
    conn: Connection, now: datetime, ts: str
) -> tuple[list[ApprovalRequest], list[EventRecord]]:
    """Close (or re-open once, one approver more) every pending request past its expiry.

    Returns the requests and the run events it stored (for the caller to publish)."""
    events: list[EventRecord] = []
    rows = conn.execute(
        select(t.approval_requests).where(
            t.approval_requests.c.status == "pending", t.approval_requests.c.expires_at <= ts
        )
    )
    done = []
    for row in rows.all():
        req = _request(row)
        if _parse(req.expires_at) > now:
            continue
        d = DecisionInput(
            req.request_id, "system", Role.ADMIN, Decision.REJECT, None, None, now, ts
        )
        run = _run_row(conn, req.run_id)
        wf = (run.workflow, run.workflow_version) if run else None
        if req.on_expiry == "escalate":
            ttl = _parse(req.expires_at) - _parse(req.created_at)
            conn.execute(
                update(t.approval_requests)
                .where(t.approval_requests.c.request_id == req.request_id)
                .values(
                    required_approvals=req.required_approvals + 1,
                    expires_at=(now + ttl).isoformat(timespec="microseconds"),
                    on_expiry="deny",
                )
            )
            append_audit(
                conn,
                [
                    _audit(
                        req,
                        d,
                        "approval.expired",
                        "escalated",
                        {"required": req.required_approvals + 1},
                        wf,
                    )
                ],
            )
        else:
            conn.execute(
                update(t.approval_requests)
                .where(t.approval_requests.c.request_id == req.request_id)
                .values(status="expired", decided_at=ts)
            )
            append_audit(conn, [_audit(req, d, "approval.expired", "expired", {}, wf)])
            _settle(conn, req, "expired", ts, events)
        done.append(get_request(conn, req.request_id))
    return done, events


@dataclass(frozen=True, slots=True)
class Claim:
    """Who claims cleared actions, and for how long from the claiming write (a live claimer
    renews it)."""

    owner: str
    ttl_s: float
    ts: str


_CLAIMABLE_RUN = ("pending", "running", "escalated", "paused", "completed")


def _refusal(conn: Connection, row: Any) -> str | None:
    """Checked immediately before a handler may run, in the claiming transaction: the payload
    is still the one approved, the run still wants it, and its request is still approved."""
    if payload_hash(row.action_type, row.payload or {}) != row.payload_hash:
        return "the stored payload no longer matches the payload that was cleared"
    if row.request_id is not None:
        req = conn.execute(
            select(t.approval_requests).where(t.approval_requests.c.request_id == row.request_id)
        ).first()
        if req is None:
            return f"its approval request {row.request_id} is missing"
        if req.status not in ("approved", "overridden"):
            return f"its approval request is {req.status}"
        if payload_hash(req.action_type or "escalation", req.payload or {}) != req.payload_hash:
            return "the stored payload no longer matches the payload the approvers saw"
    status = conn.execute(select(t.runs.c.status).where(t.runs.c.run_id == row.run_id)).scalar()
    if status not in _CLAIMABLE_RUN:
        return f"its run is {status}"
    return None


def _refuse(conn: Connection, row: Any, why: str, c: Claim) -> ActionIntent:
    conn.execute(
        update(t.action_executions)
        .where(t.action_executions.c.idempotency_key == row.idempotency_key)
        .values(status="refused", error=why, updated_at=c.ts, owner=None, claim_until=None)
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"{row.idempotency_key}/refused/{c.ts}",
                ts=c.ts,
                kind="action.refused",
                run_id=row.run_id,
                gil_decision="refused",
                human_operator_id="",
                details={
                    "idempotency_key": row.idempotency_key,
                    "action_type": row.action_type,
                    "payload_hash": row.payload_hash,
                    "reason": why,
                },
            )
        ],
    )
    return replace(_intent(row), status="refused", error=why)


def claim_intents(
    conn: Connection, run_id: str | None, keys: Sequence[str] | None, c: Claim
) -> tuple[list[ActionIntent], list[ActionIntent]]:
    """Claim cleared actions for ``c.owner``: pending ones, and those whose claimer's claim
    expired (it died mid-call: the same idempotency key is used again). Each claim records the
    handler call about to be made. Returns (claimed, refused by the pre-handler checks)."""
    ae = t.action_executions.c
    now = time.time()
    until = now + c.ttl_s
    q = select(t.action_executions).where(
        or_(ae.status == "pending", and_(ae.status == "started", ae.claim_until < now))
    )
    if run_id is not None:
        q = q.where(ae.run_id == run_id)
    if keys is not None:
        q = q.where(ae.idempotency_key.in_(list(keys)))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    claimed, refused = [], []
    for row in conn.execute(q.order_by(ae.created_at, ae.idempotency_key)).all():
        why = _refusal(conn, row)
        if why is not None:
            refused.append(_refuse(conn, row, why, c))
            continue
        n = row.attempts + 1
        conn.execute(
            update(t.action_executions)
            .where(ae.idempotency_key == row.idempotency_key, ae.attempts == row.attempts)
            .values(status="started", attempts=n, updated_at=c.ts, owner=c.owner, claim_until=until)
        )
        conn.execute(
            t.action_attempts.insert(),
            {
                "idempotency_key": row.idempotency_key,
                "attempt": n,
                "owner": c.owner,
                "started_at": c.ts,
                "finished_at": None,
                "outcome": None,
                "error": None,
            },
        )
        claimed.append(
            replace(_intent(row), status="started", attempts=n, owner=c.owner, claim_until=until)
        )
    return claimed, refused


def finish_intent(
    conn: Connection,
    intent: ActionIntent,
    *,
    ok: bool,
    result: Any,
    error: str | None,
    ts: str,
    audit: AuditDraft,
    event: EventRecord,
) -> bool:
    """Record the end of one handler call. Returns False when the claim was no longer ours
    (it expired and another process took the action over): the call is recorded, the action's
    status is left to its current claimer."""
    outcome = "succeeded" if ok else "failed"
    conn.execute(
        update(t.action_attempts)
        .where(
            t.action_attempts.c.idempotency_key == intent.idempotency_key,
            t.action_attempts.c.attempt == intent.attempts,
        )
        .values(finished_at=ts, outcome=outcome, error=error)
    )
    ae = t.action_executions.c
    mine = conn.execute(
        update(t.action_executions)
        .where(
            ae.idempotency_key == intent.idempotency_key,
            ae.owner == intent.owner,
            ae.attempts == intent.attempts,
            ae.status == "started",
        )
        .values(
            status=outcome, result=result, error=error, updated_at=ts, owner=None, claim_until=None
        )
    ).rowcount
    append_audit(conn, [audit])
    conn.execute(t.reflexive_events.insert(), event_row(event))
    return bool(mine)


def action_attempts(conn: Connection, key: str) -> list[ActionAttempt]:
    rows = conn.execute(
        select(t.action_attempts)
        .where(t.action_attempts.c.idempotency_key == key)
        .order_by(t.action_attempts.c.attempt)
    )
    return [ActionAttempt(**dict(r._mapping)) for r in rows]


def retry_intent(conn: Connection, key: str, ts: str, by: str) -> ActionIntent:
    """Put a failed action back to pending (same idempotency key); audited."""
    ae = t.action_executions.c
    row = conn.execute(select(t.action_executions).where(ae.idempotency_key == key)).first()
    if row is None:
        raise MaestroError(f"no action with key {key!r}")
    if row.status != "failed":
        raise MaestroError(f"action {key} is {row.status}; only a failed action can be retried")
    conn.execute(
        update(t.action_executions)
        .where(ae.idempotency_key == key, ae.status == "failed")
        .values(status="pending", updated_at=ts)
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"{key}/retry/{ts}",
                ts=ts,
                kind="action.retry",
                run_id=row.run_id,
                gil_decision="retry",
                human_operator_id=by,
                details={
                    "idempotency_key": key,
                    "action_type": row.action_type,
                    "previous_error": row.error,
                },
            )
        ],
    )
    return replace(_intent(row), status="pending")


def list_intents(conn: Connection, status: str | None, limit: int) -> list[ActionIntent]:
    q = select(t.action_executions)
    if status is not None:
        q = q.where(t.action_executions.c.status == status)
    q = q.order_by(t.action_executions.c.created_at.desc()).limit(limit)
    return [_intent(r) for r in conn.execute(q)]


def intents_of(conn: Connection, run_id: str) -> list[ActionIntent]:
    rows = conn.execute(
        select(t.action_executions)
        .where(t.action_executions.c.run_id == run_id)
        .order_by(t.action_executions.c.created_at)
    )
    return [_intent(r) for r in rows]


def accepted_attempts(conn: Connection, run_id: str) -> set[tuple[int, int]]:
    """(step_index, attempt) of escalated attempts that humans accepted."""
    rows = conn.execute(
        select(t.approval_requests.c.step_index, t.approval_requests.c.attempt).where(
            t.approval_requests.c.run_id == run_id,
            t.approval_requests.c.kind == "escalation",
            t.approval_requests.c.status.in_(["approved", "overridden"]),
        )
    )
    return {(r.step_index, r.attempt) for r in rows}


# -- operators ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    operator_id: str
    role: Role
    created_at: str
    disabled: bool


def add_operator(conn: Connection, operator_id: str, role: Role, token_hash: str, ts: str) -> None:
    exists = conn.execute(
        select(t.operators.c.operator_id).where(t.operators.c.operator_id == operator_id)
    ).first()
    if exists is not None:
        raise MaestroError(f"operator {operator_id!r} already exists")
    conn.execute(
        t.operators.insert(),
        {
            "operator_id": operator_id,
            "role": role.value,
            "token_hash": token_hash,
            "created_at": ts,
            "disabled": 0,
        },
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"operator/{operator_id}/{ts}",
                ts=ts,
                kind="operator.added",
                human_operator_id="",
                details={"operator_id": operator_id, "role": role.value},
            )
        ],
    )


def operator_by_token(conn: Connection, token_hash: str) -> OperatorRecord | None:
    row = conn.execute(select(t.operators).where(t.operators.c.token_hash == token_hash)).first()
    if row is None or row.disabled:
        return None
    return OperatorRecord(row.operator_id, Role(row.role), row.created_at, bool(row.disabled))


def list_operators(conn: Connection) -> list[OperatorRecord]:
    rows = conn.execute(select(t.operators).order_by(t.operators.c.operator_id))
    return [
        OperatorRecord(r.operator_id, Role(r.role), r.created_at, bool(r.disabled)) for r in rows
    ]


# -- policy versions ------------------------------------------------------------------------------


def record_policy(conn: Connection, policy: GovernancePolicy, ts: str, by: str | None) -> int:
    """Store the policy if it changed; every change is a new version and an audit entry."""
    lock_chain(conn)  # processes starting together must not both create version N
    digest = policy.digest()
    latest = conn.execute(
        select(t.policy_versions.c.version, t.policy_versions.c.digest)
        .order_by(t.policy_versions.c.version.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.digest == digest:
        return int(latest.version)
    version = 1 if latest is None else int(latest.version) + 1
    conn.execute(
        t.policy_versions.insert(),
        {
            "version": version,
            "digest": digest,
            "body": policy.canonical(),
            "created_at": ts,
            "created_by": by,
        },
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"policy/{version}",
                ts=ts,
                kind="policy.changed",
                human_operator_id=by or "",
                details={
                    "version": version,
                    "digest": digest,
                    "previous": None if latest is None else int(latest.version),
                },
            )
        ],
    )
    return version
