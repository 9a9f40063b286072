"""What the API and the UI show of runs and approval requests (plain JSON-able dicts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maestro_helix.core.errors import RunNotFound
from maestro_helix.core.ports import Store
from maestro_helix.core.records import ApprovalRecord, ApprovalRequest, RunRecord, StepRecord
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.planning import approval_summary, own_payloads
from maestro_helix.governance.policy import Decision
from maestro_helix.governance.rules import (
    Ballot,
    Proposal,
    Refusal,
    facts_of,
    refusal_for,
)

# the scores an approval request carries, besides its risk factors
_SCORE_KEYS = ("qsr", "mri", "decision", "agent_id", "step_id", "workflow")


def run_json(rec: RunRecord) -> dict[str, Any]:
    return {
        "run_id": rec.run_id,
        "workflow": rec.workflow,
        "workflow_version": rec.workflow_version,
        "status": rec.status.value,
        "next_step": rec.next_step,
        "error": rec.error,
        "operator_id": rec.operator_id,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
    }


def attempt_json(r: StepRecord) -> dict[str, Any]:
    return {
        "step_index": r.step_index,
        "step_id": r.step_id,
        "attempt": r.attempt,
        "agent_id": r.agent_id,
        "decision": r.decision,
        "qsr": r.qsr,
        "mri": r.mri,
        "reasons": list(r.verdict.get("reasons", ())),
        "agent_error": r.agent_error,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "latency_ms": r.latency_ms,
    }


def seconds_left(req: ApprovalRequest, now: datetime) -> int | None:
    """Whole seconds until the request expires (0 once due); None when it is not pending."""
    if req.status != "pending":
        return None
    left = (datetime.fromisoformat(req.expires_at) - now).total_seconds()
    return max(0, int(left))


def approvers(records: Sequence[ApprovalRecord]) -> list[str]:
    """Who accepted (approved, or as admins overrode): they count towards the quorum."""
    return [a.operator_id for a in records if a.decision != Decision.REJECT.value]


def approvals_json(req: ApprovalRequest, records: Sequence[ApprovalRecord]) -> dict[str, Any]:
    by = approvers(records)
    return {"count": len(by), "required": req.required_approvals, "by": by}


def factors(req: ApprovalRequest) -> list[dict[str, Any]]:
    return [
        {"name": f.get("name"), "score": f.get("score"), "detail": f.get("detail", "")}
        for f in req.scores.get("factors") or ()
        if isinstance(f, dict)
    ]


def request_json(
    req: ApprovalRequest, records: Sequence[ApprovalRecord], now: datetime
) -> dict[str, Any]:
    """One request as the queue lists it."""
    return {
        "request_id": req.request_id,
        "run_id": req.run_id,
        "step_index": req.step_index,
        "attempt": req.attempt,
        "kind": req.kind,
        "action_type": req.action_type,
        "status": req.status,
        "reasons": list(req.reasons),
        "required_approvals": req.required_approvals,
        "approvals": approvals_json(req, records),
        "created_at": req.created_at,
        "expires_at": req.expires_at,
        "seconds_left": seconds_left(req, now),
        "scores": {k: req.scores.get(k) for k in _SCORE_KEYS},
        "rule": req.scores.get("rule"),
        "taint": list(req.scores.get("taint") or ()),
        "actions": [
            {k: a[k] for k in ("type", "amount", "currency", "display", "rule", "line")}
            for a in approval_summary(req)
        ],
    }


def request_detail_json(
    req: ApprovalRequest,
    records: Sequence[ApprovalRecord],
    run_operator_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Everything about one request, including the exact payload an approval binds to."""
    return {
        **request_json(req, records, now),
        "factors": factors(req),
        "payload": dict(req.payload),
        "payload_hash": req.payload_hash,
        "action_payloads": [
            {"type": p["type"], "payload_hash": p["hash"], "payload": json.loads(p["json"])}
            for p in own_payloads(req)
        ],
        "requester_id": req.requester_id,
        "run_operator_id": run_operator_id,
        "on_expiry": req.on_expiry,
        "policy_version": req.policy_version,
        "decided_at": req.decided_at,
        "decisions": [
            {"operator_id": a.operator_id, "decision": a.decision, "reason": a.reason, "ts": a.ts}
            for a in records
        ],
    }


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One request with what the detail page needs to show it."""

    request: ApprovalRequest
    records: tuple[ApprovalRecord, ...]
    run: RunRecord | None


async def load_request(store: Store, request_id: str) -> RequestPage:
    req, records = await store.get_request(request_id)
    try:
        run: RunRecord | None = await store.get_run(req.run_id)
    except RunNotFound:
        run = None
    return RequestPage(req, tuple(records), run)


def why_not(
    page: RequestPage, operator: Operator, now: datetime, runnable: frozenset[str] | None
) -> Refusal | None:
    """Why ``operator`` could not approve this request now (the UI disables its buttons).

    The same rule the store applies (:func:`rules.refusal_for`); the server still checks
    every decision.
    """
    req = page.request
    facts = facts_of(
        req,
        tuple(Ballot(a.operator_id, Decision(a.decision), a.reason) for a in page.records),
        run_operator_id=page.run.operator_id if page.run else None,
        run_status=page.run.status if page.run else None,
        specs={},
    )
    return refusal_for(
        facts,
        Proposal(
            operator.operator_id,
            operator.role,
            Decision.APPROVE,
            None,
            req.payload_hash,
            now,
            runnable,
        ),
    )


async def action_results(store: Store, req: ApprovalRequest) -> list[dict[str, Any]]:
    """After quorum: whether each cleared action ran, and what it returned (or its error)."""
    out = []
    for i in await store.intents_of(req.run_id):
        if i.request_id != req.request_id:
            continue
        out.append(
            {
                "key": i.idempotency_key,
                "type": i.action_type,
                "status": i.status,
                "ran": i.status == "succeeded",
                "result": json.dumps(i.result, ensure_ascii=False, default=str),
                "error": i.error,
                "attempts": i.attempts,
            }
        )
    return out


def time_left_text(seconds: int | None) -> str:
    """``3 h 59 min``, ``12 min``, ``40 s``; ``expired`` at zero; an em dash when not pending."""
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "expired"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    if m:
        return f"{m} min"
    return f"{s} s"


def score_text(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"
