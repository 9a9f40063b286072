"""Admin endpoints: operators' lifecycle (``/operators``), the active policy (``/policy``) and
cleared actions (``/actions``; a failed one is retried by an admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from maestro_helix.api._auth import AnyRole, System, require
from maestro_helix.api._errors import ApiError
from maestro_helix.api._ops import error_responses
from maestro_helix.core.records import ActionIntent
from maestro_helix.governance.identity import Operator, change_operator
from maestro_helix.governance.policy import Role
from maestro_helix.governance.records import (
    ActionNotFound,
    ActionNotRetryable,
    OperatorChange,
    OperatorNotFound,
)

__all__ = ["admin_router"]

AdminRole = Annotated[Operator, Depends(require(Role.ADMIN))]
ActionStatus = Literal["pending", "started", "succeeded", "failed", "refused"]


def admin_router() -> APIRouter:
    r = APIRouter()

    @r.get("/operators", responses=error_responses(403))
    async def list_operators(system: System, _: AdminRole) -> dict[str, Any]:
        ops = await system.store.list_operators()
        return {
            "operators": [
                {
                    "operator_id": o.operator_id,
                    "role": o.role.value,
                    "created_at": o.created_at,
                    "disabled": o.disabled,
                }
                for o in ops
            ]
        }

    async def _change(
        system: System, name: str, change: OperatorChange, by: Operator
    ) -> dict[str, Any]:
        try:
            token = await change_operator(
                system.store, name, change, by=by, clock=system.governance.clock
            )
        except OperatorNotFound as e:
            raise ApiError(404, "operator_not_found", str(e)) from None
        body: dict[str, Any] = {"operator_id": name, "done": change.value}
        if token is not None:
            body["token"] = token  # shown once
        return body

    @r.post("/operators/{name}/disable", responses=error_responses(403, 404, 422))
    async def disable(name: str, system: System, op: AdminRole) -> dict[str, Any]:
        """The operator's token stops working at once, in every process."""
        return await _change(system, name, OperatorChange.DISABLE, op)

    @r.post("/operators/{name}/enable", responses=error_responses(403, 404, 422))
    async def enable(name: str, system: System, op: AdminRole) -> dict[str, Any]:
        return await _change(system, name, OperatorChange.ENABLE, op)

    @r.post("/operators/{name}/rotate-token", responses=error_responses(403, 404, 422))
    async def rotate(name: str, system: System, op: AdminRole) -> dict[str, Any]:
        """A new token (in the answer, once); the old one stops working at once."""
        return await _change(system, name, OperatorChange.ROTATE, op)

    @r.delete("/operators/{name}", responses=error_responses(403, 404, 422))
    async def remove(name: str, system: System, op: AdminRole) -> dict[str, Any]:
        return await _change(system, name, OperatorChange.REMOVE, op)

    @r.get("/actions", responses=error_responses(422))
    async def list_actions(
        system: System,
        _: AnyRole,
        status: ActionStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Cleared actions, newest first (``status=failed``: those a retry can run again)."""
        intents = await system.store.list_intents(status=status, limit=limit)
        return {"actions": [_action(i) for i in intents]}

    @r.post("/actions/{key}/retry", responses=error_responses(403, 404, 409, 422))
    async def retry_action(key: str, system: System, op: AdminRole) -> dict[str, Any]:
        """Run a failed action again with its idempotency key (admins; audited)."""
        try:
            after = await system.governance.retry(key, by=op.operator_id, role=op.role)
        except ActionNotFound as e:
            raise ApiError(404, "action_not_found", str(e)) from None
        except ActionNotRetryable as e:
            raise ApiError(409, "not_failed", str(e)) from None
        return _action(after)

    @r.get("/policy", responses=error_responses(403))
    async def active_policy(system: System, _: AnyRole) -> dict[str, Any]:
        """The active governance policy, its version and who set it."""
        active = await system.store.active_policy()
        if active is None:
            raise ApiError(404, "no_policy", "no policy installed yet")
        return {
            "version": active.version,
            "digest": active.digest,
            "created_at": active.created_at,
            "created_by": active.created_by,
            "policy": active.policy.canonical(),
        }

    return r


def _action(i: ActionIntent) -> dict[str, Any]:
    return {
        "idempotency_key": i.idempotency_key,
        "run_id": i.run_id,
        "request_id": i.request_id,
        "action_type": i.action_type,
        "status": i.status,
        "attempts": i.attempts,
        "result": i.result,
        "error": i.error,
        "updated_at": i.updated_at,
    }
