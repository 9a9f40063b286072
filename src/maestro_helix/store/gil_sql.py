"""SQL of the governance layer: approval requests, decisions, action executions, operators.

Each public function runs inside one store transaction. ``decide`` locks the request row
(``FOR UPDATE`` on PostgreSQL; SQLite transactions are already exclusive), so two approvers
deciding at once are serialised and the quorum is counted exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.records import (
    ActionAttempt,
    ActionIntent,
    ApprovalRecord,
    ApprovalRequest,
    EventRecord,
    RunStatus,
)
from maestro_helix.governance.policy import Decision, Role
from maestro_helix.governance.records import (
    ActionNotFound,
    ActionNotRetryable,
    Claim,
    DecisionInput,
    DecisionOutcome,
    RequestNotFound,
)
from maestro_helix.governance.rules import (
    Ballot,
    Proposal,
    Refusal,
    RequestFacts,
    RequestStatus,
    Verdict,
    expire,
    facts_of,
    pre_run_refusal,
    rule,
    settle,
)
from maestro_helix.store import driver_sql
from maestro_helix.store import schema as t
from maestro_helix.store.gil_commit import refused_audit, request_audit, withdrawn_audit
from maestro_helix.store.lease_sql import lapsed, lease_now
from maestro_helix.store.sql import append_audit, event_row, intent_row

__all__ = [
    "Claim",
    "DecisionInput",
    "DecisionOutcome",
    "RequestNotFound",
    "withdraw_requests",
]


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


def _audit(
    req: ApprovalRequest,
    d: DecisionInput,
    kind: AuditKind,
    gil: str,
    details: dict[str, Any],
    workflow: tuple[str, int] | None,
) -> AuditDraft:
    return request_audit(req, d.operator_id, d.ts, kind, gil, details, workflow)


def _run_row(conn: Connection, run_id: str) -> Any:
    return conn.execute(
        select(
            t.runs.c.status, t.runs.c.operator_id, t.runs.c.workflow, t.runs.c.workflow_version
        ).where(t.runs.c.run_id == run_id)
    ).first()


def _facts(conn: Connection, req: ApprovalRequest, d: DecisionInput, run: Any) -> RequestFacts:
    ballots = tuple(
        Ballot(a.operator_id, Decision(a.decision), a.reason)
        for a in approvals_of(conn, req.request_id)
    )
    return facts_of(
        req,
        ballots,
        run_operator_id=run.operator_id if run else None,
        run_status=RunStatus(run.status) if run else None,
        specs=d.specs,
    )


def _refused(
    conn: Connection, req: ApprovalRequest, d: DecisionInput, refusal: Refusal, wf: Any
) -> None:
    details = {"decision": d.decision.value, "code": refusal.code, "message": refusal.message}
    append_audit(conn, [_audit(req, d, AuditKind.APPROVAL_REFUSED, "refused", details, wf)])
    if refusal.code == "run_finished":  # a request left open by an older version: close it
        withdraw_requests(conn, req.run_id, refusal.message, d.ts)


def decide(conn: Connection, d: DecisionInput) -> DecisionOutcome:
    """Record one operator's decision (ruled by :func:`rules.rule`); apply its effects when
    the request is settled."""
    req = get_request(conn, d.request_id, lock=True)
    run = _run_row(conn, req.run_id)
    wf = (run.workflow, run.workflow_version) if run else None
    run_status = RunStatus(run.status) if run else None
    ruling = rule(
        _facts(conn, req, d, run),
        Proposal(
            d.operator_id, d.role, d.decision, d.reason, d.payload_hash_seen, d.now, d.runnable
        ),
    )
    if ruling.verdict is Verdict.REPLAYED:
        return DecisionOutcome(
            Verdict.REPLAYED, req, approvals_of(conn, req.request_id), None, run_status
        )
    if ruling.verdict is Verdict.REFUSED:
        assert ruling.refusal is not None
        _refused(conn, req, d, ruling.refusal, wf)
        req = get_request(conn, req.request_id)
        return DecisionOutcome(
            Verdict.REFUSED, req, approvals_of(conn, req.request_id), ruling.refusal, run_status
        )
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
    details: dict[str, Any] = {
        "decision": d.decision.value,
        "approvals": len(ruling.accepted_by),
        "required": ruling.quorum,
        "payload_hash": req.payload_hash,
    }
    if d.reason:
        details["reason"] = d.reason
    append_audit(conn, [_audit(req, d, AuditKind.APPROVAL_DECISION, ruling.gil, details, wf)])
    intents: tuple[ActionIntent, ...] = ()
    events: list[EventRecord] = []
    if ruling.settled:
        _set_status(conn, req.request_id, ruling.status, d.ts)
        intents = _settle(conn, req, ruling.status, d.ts, events)
    req = get_request(conn, req.request_id)
    after = _run_row(conn, req.run_id)
    return DecisionOutcome(
        Verdict.RECORDED,
        req,
        approvals_of(conn, req.request_id),
        None,
        RunStatus(after.status),
        intents,
        tuple(events),
    )


def _set_status(conn: Connection, request_id: str, status: RequestStatus, ts: str) -> None:
    conn.execute(
        update(t.approval_requests)
        .where(t.approval_requests.c.request_id == request_id)
        .values(status=status.value, decided_at=ts)
    )


def _open_count(conn: Connection, run_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(t.approval_requests)
            .where(
                t.approval_requests.c.run_id == run_id,
                t.approval_requests.c.status == RequestStatus.PENDING.value,
            )
        ).scalar_one()
    )


def _settle(
    conn: Connection,
    req: ApprovalRequest,
    status: RequestStatus,
    ts: str,
    events: list[EventRecord],
) -> tuple[ActionIntent, ...]:
    """Write what :func:`rules.settle` decides for a settled request (the run's event is
    stored and appended to ``events`` for the caller to publish)."""
    s = settle(req, status, _open_count(conn, req.run_id), ts)
    if s.intents:
        conn.execute(t.action_executions.insert(), [intent_row(i) for i in s.intents])
    runs = t.runs
    if s.advance_step:
        conn.execute(
            update(runs)
            .where(runs.c.run_id == req.run_id, runs.c.next_step == req.step_index)
            .values(next_step=req.step_index + 1, updated_at=ts)
        )
    if s.withdraw_others:
        withdraw_requests(conn, req.run_id, s.error or "", ts)
    if s.run_to is not None:
        ev = _move_run(conn, req, s.run_to, s.error, ts)
        if ev is not None:
            events.append(ev)
    return s.intents


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


def withdraw_requests(conn: Connection, run_id: str, reason: str, ts: str) -> list[str]:
    """Withdraw every open request of a run that stopped (cancelled, failed): each audited.

    Returns the ids withdrawn."""
    rows = conn.execute(
        select(t.approval_requests).where(
            t.approval_requests.c.run_id == run_id,
            t.approval_requests.c.status == RequestStatus.PENDING.value,
        )
    ).all()
    run = _run_row(conn, run_id)
    wf = (run.workflow, run.workflow_version) if run else None
    for row in rows:
        req = _request(row)
        _set_status(conn, req.request_id, RequestStatus.WITHDRAWN, ts)
        append_audit(conn, [withdrawn_audit(req, reason, ts, wf)])
    return [r.request_id for r in rows]


def _system_input(req: ApprovalRequest, ts: str) -> DecisionInput:
    now = datetime.fromisoformat(ts)
    return DecisionInput(req.request_id, "system", Role.ADMIN, Decision.REJECT, None, None, now, ts)


def expire_due(
    conn: Connection, now: datetime, ts: str
) -> tuple[list[ApprovalRequest], list[EventRecord]]:
    """Close (or re-open once, one approver more) every pending request past its expiry
    (:func:`rules.expire` says which).

    Returns the requests and the run events it stored (for the caller to publish)."""
    events: list[EventRecord] = []
    rows = conn.execute(
        select(t.approval_requests).where(
            t.approval_requests.c.status == RequestStatus.PENDING.value,
            t.approval_requests.c.expires_at <= ts,
        )
    )
    done = []
    for row in rows.all():
        req = _request(row)
        e = expire(req, now)
        if e is None:
            continue
        d = _system_input(req, ts)
        run = _run_row(conn, req.run_id)
        wf = (run.workflow, run.workflow_version) if run else None
        if e.status is RequestStatus.PENDING:
            conn.execute(
                update(t.approval_requests)
                .where(t.approval_requests.c.request_id == req.request_id)
                .values(
                    required_approvals=e.required,
                    expires_at=e.expires_at.isoformat(timespec="microseconds"),
                    on_expiry="deny",
                )
            )
            details = {"required": e.required}
            append_audit(
                conn, [_audit(req, d, AuditKind.APPROVAL_EXPIRED, "escalated", details, wf)]
            )
        else:
            _set_status(conn, req.request_id, RequestStatus.EXPIRED, ts)
            append_audit(conn, [_audit(req, d, AuditKind.APPROVAL_EXPIRED, "expired", {}, wf)])
            _settle(conn, req, RequestStatus.EXPIRED, ts, events)
        done.append(get_request(conn, req.request_id))
    return done, events


def _refusal(conn: Connection, row: Any) -> str | None:
    """Checked immediately before a handler may run, in the claiming transaction
    (:func:`~maestro_helix.governance.rules.pre_run_refusal`): ``code: message`` or None."""
    req = None
    if row.request_id is not None:
        req_row = conn.execute(
            select(t.approval_requests).where(t.approval_requests.c.request_id == row.request_id)
        ).first()
        if req_row is None:
            return f"not_accepted: its approval request {row.request_id} is missing"
        req = _request(req_row)
    status = conn.execute(select(t.runs.c.status).where(t.runs.c.run_id == row.run_id)).scalar()
    refusal = pre_run_refusal(_intent(row), req, RunStatus(status) if status else None)
    return None if refusal is None else f"{refusal.code}: {refusal.message}"


def _refuse(conn: Connection, row: Any, why: str, c: Claim) -> ActionIntent:
    conn.execute(
        update(t.action_executions)
        .where(t.action_executions.c.idempotency_key == row.idempotency_key)
        .values(status="refused", error=why, updated_at=c.ts, owner=None, claim_until=None)
    )
    refused = replace(_intent(row), status="refused", error=why)
    append_audit(conn, [refused_audit(refused, why, c.ts)])
    return refused


def claim_intents(
    conn: Connection, run_id: str | None, keys: Sequence[str] | None, c: Claim
) -> tuple[list[ActionIntent], list[ActionIntent]]:
    """Claim cleared actions for ``c.owner``: pending ones, and those whose claimer died
    mid-call (its claim expired and it stopped beating,
    :func:`~maestro_helix.store.lease_sql.lapsed`: the same idempotency key is used again).
    Each claim records the handler call about to be made. Returns (claimed, refused by the
    pre-handler checks)."""
    ae = t.action_executions.c
    now = lease_now(conn)
    until = now + c.ttl_s
    q = select(t.action_executions).where(
        or_(
            ae.status == "pending",
            and_(ae.status == "started", lapsed(ae.owner, ae.claim_until, now)),
        )
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


# built once: finish_rows runs once per action, on the writer thread's hot path
_ATTEMPT_FINISH = (
    update(t.action_attempts)
    .where(
        t.action_attempts.c.idempotency_key == bindparam("k_key"),
        t.action_attempts.c.attempt == bindparam("k_attempt"),
    )
    .values(
        finished_at=bindparam("v_ts"), outcome=bindparam("v_outcome"), error=bindparam("v_error")
    )
)
_EXECUTION_FINISH = (
    update(t.action_executions)
    .where(
        t.action_executions.c.idempotency_key == bindparam("k_key"),
        t.action_executions.c.owner == bindparam("k_owner"),
        t.action_executions.c.attempts == bindparam("k_attempt"),
        t.action_executions.c.status == "started",
    )
    .values(
        status=bindparam("v_outcome"),
        result=bindparam("v_result", type_=t.action_executions.c.result.type),
        error=bindparam("v_error"),
        updated_at=bindparam("v_ts"),
        owner=None,
        claim_until=None,
    )
)


def finish_rows(
    conn: Connection, intent: ActionIntent, *, ok: bool, result: Any, error: str | None, ts: str
) -> bool:
    """Record the end of one handler call in its attempt and its action. Returns False when the
    claim was no longer ours (it lapsed and another process took the action over): the call is
    recorded, the action's status is left to its current claimer. The call's audit entry and
    event are written by the caller (the writer groups them with the rest of its batch, one
    chain append for all)."""
    params = {
        "k_key": intent.idempotency_key,
        "k_attempt": intent.attempts,
        "k_owner": intent.owner,
        "v_ts": ts,
        "v_outcome": "succeeded" if ok else "failed",
        "v_error": error,
    }
    driver_sql.execute(conn, _ATTEMPT_FINISH, params)
    return bool(driver_sql.execute(conn, _EXECUTION_FINISH, {**params, "v_result": result}))


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
        raise ActionNotFound(key)
    if row.status != "failed":
        raise ActionNotRetryable(key, row.status)
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
                kind=AuditKind.ACTION_RETRY,
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
