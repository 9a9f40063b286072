"""What a step commit stores for governance when its run stopped while the step was in flight.

``Engine.cancel`` (from this process or another) stops a run at its next step boundary: the step
that was running still commits, so its work is recorded. What it cleared must not run: in the
commit transaction, a run that is no longer active (cancelled, failed) gets the step's claimed
intents stored *refused* by :func:`~maestro_helix.governance.rules.pre_run_refusal` (the check
``claim_intents`` makes) and its approval requests stored *withdrawn*, each audited with the
reason. The engine that made the step learns the run's status from the commit and runs nothing
(:meth:`~maestro_helix.governance.service.Governance.run_claimed`, same rule, same status).

Also the audit entries of a refused action and a withdrawn request, shared with ``gil_sql``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.records import ActionIntent, ApprovalRequest, RunStatus, StepCommit
from maestro_helix.governance.rules import RequestStatus, pre_run_refusal

__all__ = [
    "STOPPED_STATUSES",
    "refused_audit",
    "request_audit",
    "stopped_mid_step",
    "withdrawn_audit",
]

STOPPED_STATUSES = frozenset((RunStatus.CANCELLED.value, RunStatus.FAILED.value))
"""A run in one of these when its step commits: the step's intents refused, requests withdrawn."""


def refused_audit(intent: ActionIntent, why: str, ts: str) -> AuditDraft:
    """The audit entry of an action refused before its handler ran."""
    return AuditDraft(
        entry_id=f"{intent.idempotency_key}/refused/{ts}",
        ts=ts,
        kind=AuditKind.ACTION_REFUSED,
        run_id=intent.run_id,
        gil_decision="refused",
        human_operator_id="",
        details={
            "idempotency_key": intent.idempotency_key,
            "action_type": intent.action_type,
            "payload_hash": intent.payload_hash,
            "reason": why,
        },
    )


def request_audit(
    req: ApprovalRequest,
    operator_id: str,
    ts: str,
    kind: AuditKind,
    gil: str,
    details: Mapping[str, Any],
    workflow: tuple[str, int] | None,
) -> AuditDraft:
    """An audit entry about one approval request (a decision, a refusal, an expiry...)."""
    return AuditDraft(
        entry_id=f"{req.request_id}/{kind}/{operator_id}/{ts}",
        ts=ts,
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
        human_operator_id=operator_id,
        evaluator_versions={},
        details={
            "request_id": req.request_id,
            "kind": req.kind,
            "action_type": req.action_type,
            **details,
        },
    )


def withdrawn_audit(
    req: ApprovalRequest, reason: str, ts: str, workflow: tuple[str, int] | None
) -> AuditDraft:
    """The audit entry of a request withdrawn because its run stopped (by ``system``)."""
    kind = AuditKind.APPROVAL_WITHDRAWN
    return request_audit(req, "system", ts, kind, "withdrawn", {"reason": reason}, workflow)


_Stopped = tuple[RunStatus, tuple[str, int]]


def _for_stopped(c: StepCommit, stopped: _Stopped) -> StepCommit:
    status, workflow = stopped
    ts = c.updated_at or c.step.finished_at
    audit = list(c.audit)
    intents = []
    for i in c.intents:
        refusal = pre_run_refusal(i, None, status)
        if refusal is None:  # (pre_run_refusal refuses every intent of a stopped run)
            intents.append(i)
            continue
        why = f"{refusal.code}: {refusal.message}"
        refused = replace(i, status="refused", attempts=0, owner=None, claim_until=None, error=why)
        intents.append(refused)
        audit.append(refused_audit(refused, why, ts))
    requests = []
    for r in c.requests:
        reason = f"run {status.value} while the step that asked was running"
        requests.append(replace(r, status=RequestStatus.WITHDRAWN.value, decided_at=ts))
        audit.append(withdrawn_audit(r, reason, ts, workflow))
    return replace(c, intents=tuple(intents), requests=tuple(requests), audit=tuple(audit))


def stopped_mid_step(
    commits: Sequence[StepCommit], stopped: Mapping[str, _Stopped]
) -> list[StepCommit]:
    """``commits`` as they may be written: those of a run someone stopped while the step ran
    (``stopped``: status and workflow of such runs, read — and on PostgreSQL locked, so a cancel
    cannot slip in before the commit is written — in the commit's transaction) store its
    intents refused and its requests withdrawn (audited)."""
    if not stopped:
        return list(commits)
    return [
        _for_stopped(c, stopped[c.step.run_id])
        if c.step.run_id in stopped and (c.intents or c.requests)
        else c
        for c in commits
    ]
