"""The HTTP API: runs, approval requests and decisions, over one running system.

``create_app(system)`` builds the FastAPI app; it starts nothing and closes nothing (the caller
owns the system's lifetime). Every endpoint needs an API token (``Authorization: Bearer``);
errors are always ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_helix.api import _ui
from maestro_helix.api._admin import admin_router
from maestro_helix.api._audit import audit_router
from maestro_helix.api._auth import AnyRole, OperatorRole, Sessions, System
from maestro_helix.api._decide import decide, refusal_of
from maestro_helix.api._errors import REFUSAL_STATUS, ApiError, BodyLimit, install_error_handlers
from maestro_helix.api._health import health_router
from maestro_helix.api._helix import helix_router
from maestro_helix.api._ops import error_responses, ops_router
from maestro_helix.api._rollout import rollout_router
from maestro_helix.api._views import (
    action_results,
    approvals_json,
    attempt_json,
    load_request,
    request_detail_json,
    request_json,
    run_json,
)
from maestro_helix.app import Maestro
from maestro_helix.core.records import RunStatus
from maestro_helix.governance.policy import Decision
from maestro_helix.store.gil_sql import DecisionOutcome

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1 << 20  # run inputs and decisions are small; anything bigger is refused (413)

RequestStatus = Literal[
    "pending", "approved", "rejected", "overridden", "expired", "withdrawn", "all"
]


def _storable(value: Any, where: str = "") -> None:
    """Refuse text no store can hold (a NUL character: PostgreSQL text cannot contain it)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'text'} contains a NUL character, which cannot be stored")
    elif isinstance(value, dict):
        for k, v in value.items():
            _storable(k, where)
            _storable(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _storable(v, f"{where}[{i}]")


class StartRun(BaseModel):
    """Body of ``POST /runs``."""

    model_config = ConfigDict(extra="forbid")
    workflow: str = Field(min_length=1, max_length=200)
    version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="run exactly this version (never a rolled-back one); default: the "
        "production version or, by `key`, a running canary's candidate (no production version "
        "yet: the newest)",
    )
    input: dict[str, Any] = Field(default_factory=dict)
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the canary assignment key (e.g. a customer id: the same key always gets "
        "the same side); default: the run id. Only its hash is stored.",
    )

    @model_validator(mode="after")
    def _no_nul(self) -> StartRun:
        _storable(self.workflow, "workflow")
        _storable(self.input, "input")
        if self.key is not None:
            _storable(self.key, "key")
        return self


_REASON: dict[str, Any] = {"type": "string", "pattern": "\\S"}
_HASH: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


class DecisionBody(BaseModel):
    """Body of ``POST /approvals/{request_id}/decision``: an approval or an override carries
    the SHA-256 of the payload the operator reviewed (``payload_hash``)."""

    model_config = ConfigDict(
        extra="forbid",
        # the document says what the validator enforces: only a rejection may omit the hash
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"decision": {"const": "reject"}}},
                    "then": {"required": ["reason"], "properties": {"reason": _REASON}},
                    "else": {"required": ["payload_hash"], "properties": {"payload_hash": _HASH}},
                },
                {
                    "if": {"properties": {"decision": {"const": "override"}}},
                    "then": {"required": ["reason"], "properties": {"reason": _REASON}},
                },
            ]
        },
    )
    decision: Decision
    reason: str | None = Field(default=None, max_length=4000)
    payload_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _bound(self) -> DecisionBody:
        _storable(self.reason, "reason")
        if self.decision is not Decision.REJECT and self.payload_hash is None:
            raise ValueError(
                "payload_hash is required to approve or override: send the SHA-256 of the "
                "payload you reviewed (GET /approvals/{id} shows it)"
            )
        return self


def refusal_error(outcome: DecisionOutcome) -> ApiError:
    refusal = refusal_of(outcome)
    return ApiError(REFUSAL_STATUS.get(refusal.code, 409), refusal.code, refusal.message)


_NO_REQUEST = {404: "no such approval request"}
_DECISION_WORDS = {
    **_NO_REQUEST,
    403: "the policy does not let the caller decide this (role, requester, run operator)",
    409: "already decided by the caller, the request is closed, or the payload changed",
    422: "a bad body, or a reason is required",
}


def _api_router() -> APIRouter:
    r = APIRouter()

    @r.post(
        "/runs",
        status_code=202,
        responses=error_responses(
            400,
            403,
            404,
            409,
            413,
            422,
            words={404: "no such workflow", 409: "the version asked for was rolled back"},
        ),
    )
    async def start_run(body: StartRun, system: System, op: OperatorRole) -> JSONResponse:
        """Start a run of a registered workflow as the caller."""
        defn = await system.store.get_workflow(body.workflow, body.version)
        run_id = await system.engine.submit(
            defn,
            body.input,
            operator_id=op.operator_id,
            key=body.key,
            pin=body.version is not None,
        )
        return JSONResponse(
            {"run_id": run_id}, status_code=202, headers={"Location": f"/runs/{run_id}"}
        )

    @r.get("/runs", responses=error_responses(422))
    async def list_runs(
        system: System,
        _: AnyRole,
        status: RunStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ) -> dict[str, Any]:
        page = await system.store.list_runs(status=status, limit=limit, offset=offset)
        return {
            "runs": [run_json(x) for x in page.runs],
            "total": page.total,
            "limit": limit,
            "offset": offset,
        }

    @r.get("/runs/{run_id}", responses=error_responses(404, 422, words={404: "no such run"}))
    async def get_run(run_id: str, system: System, _: AnyRole) -> dict[str, Any]:
        rec = await system.store.get_run(run_id)
        steps = await system.store.step_records(run_id)
        requests = await system.store.list_requests(run_id=run_id)
        return {
            **run_json(rec),
            "attempts": [attempt_json(s) for s in steps],
            "approval_requests": [
                {"request_id": q.request_id, "kind": q.kind, "status": q.status} for q in requests
            ],
        }

    @r.get("/approvals", responses=error_responses(422))
    async def list_approvals(
        system: System,
        _: AnyRole,
        status: RequestStatus = "pending",
        run_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ) -> dict[str, Any]:
        reqs = await system.store.list_requests(
            status=None if status == "all" else status, run_id=run_id, limit=limit, offset=offset
        )
        now = system.governance.clock.now()
        out = []
        for q in reqs:
            records = (await system.store.get_request(q.request_id))[1]
            out.append(request_json(q, records, now))
        return {"approvals": out, "limit": limit, "offset": offset}

    @r.get("/approvals/{request_id}", responses=error_responses(404, 422, words=_NO_REQUEST))
    async def get_approval(request_id: str, system: System, _: AnyRole) -> dict[str, Any]:
        page = await load_request(system.store, request_id)
        run_operator = page.run.operator_id if page.run else None
        body = request_detail_json(
            page.request, page.records, run_operator, system.governance.clock.now()
        )
        body["action_results"] = await action_results(system.store, page.request)
        return body

    @r.post(
        "/approvals/{request_id}/decision",
        responses=error_responses(400, 403, 404, 409, 413, 422, words=_DECISION_WORDS),
    )
    async def post_decision(
        request_id: str, body: DecisionBody, system: System, op: AnyRole
    ) -> dict[str, Any]:
        """Approve, reject or (admins) override; the policy decides who may (403/409 if not)."""
        outcome = await decide(
            system,
            request_id,
            op,
            body.decision,
            reason=body.reason,
            payload_hash_seen=body.payload_hash,
        )
        if outcome.result == "refused":
            raise refusal_error(outcome)
        return {
            "result": outcome.result,
            "request_id": outcome.request.request_id,
            "status": outcome.request.status,
            "approvals": approvals_json(outcome.request, outcome.approvals),
            "run_status": outcome.run_status.value if outcome.run_status else None,
        }

    return r


_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Headers that keep the UI out of frames, scripts and caches (ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/ui/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                # not "no-referrer": Chromium would then send form posts with "Origin: null"
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", _CSP)
                if not static:  # pages and API answers hold approval data: never cache them
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(system: Maestro) -> FastAPI:
    """The API (``/runs``, ``/approvals``) and the escalation UI (``/ui``) over ``system``.

    Args:
        system: an open system; the app neither starts nor closes it.
    """
    app = FastAPI(
        title="Maestro + Helix",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.maestro = system
    app.state.sessions = Sessions()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)
    app.include_router(_api_router())
    app.include_router(ops_router())
    app.include_router(rollout_router())
    app.include_router(admin_router())
    app.include_router(audit_router())
    app.include_router(helix_router())
    _ui.install(app)
    # /healthz, /readyz and /metrics answer without a token: bind the server to an internal
    # address (see README)
    app.include_router(health_router())

    return app
