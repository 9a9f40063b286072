"""One operator's decision, shared by the API and the UI."""

from __future__ import annotations

from maestro_helix.app import Maestro
from maestro_helix.governance.identity import Operator
from maestro_helix.governance.policy import Decision
from maestro_helix.governance.rules import Refusal
from maestro_helix.store.gil_sql import DecisionOutcome


async def decide(
    system: Maestro,
    request_id: str,
    operator: Operator,
    decision: Decision,
    *,
    reason: str | None,
    payload_hash_seen: str | None,
) -> DecisionOutcome:
    """The one decide use case (:meth:`Governance.decide`) for the operator of this request:
    recorded, ruled, actions run at quorum, the run resumed.

    Raises:
        RequestNotFound: no request has this id.
    """
    return await system.governance.decide(
        request_id,
        operator_id=operator.operator_id,
        role=operator.role,
        decision=decision,
        reason=reason,
        payload_hash_seen=payload_hash_seen,
    )


def refusal_of(outcome: DecisionOutcome) -> Refusal:
    """Why a decision was refused, with an expired request called ``expired``.

    Governance expires due requests before it checks a decision, so the check itself sees a
    request that is no longer pending; the operator needs to hear that it expired.
    """
    assert outcome.refusal is not None
    req = outcome.request
    if outcome.refusal.code == "not_pending" and req.status == "expired":
        return Refusal(
            "expired",
            f"request {req.request_id} expired at {req.expires_at}: it can no longer be decided",
        )
    return outcome.refusal
