"""HTTP errors: one JSON shape, ``{"error": {"code", "message"}}``, for every 4xx the API sends.

The project's exceptions are translated here, at the edge; nothing below the API knows HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_helix.core.errors import (
    ConfigError,
    InputError,
    InvalidTransition,
    MaestroError,
    RunNotFound,
    StoreError,
    WorkflowNotFound,
)
from maestro_helix.core.rollout import RouteRefused, StageRefused
from maestro_helix.governance.identity import AuthError
from maestro_helix.store.gil_sql import RequestNotFound

log = logging.getLogger(__name__)

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}

# the status of each of the governance rules' refusal codes; every other code is a conflict (409)
REFUSAL_STATUS = {"forbidden": 403, "reason_required": 422, "payload_hash_required": 422}

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(MaestroError):
    """A request the API refuses, with the HTTP status and the error code to report.

    Attributes:
        status: HTTP status (4xx).
        code: stable machine-readable code, e.g. ``"forbidden"`` or ``"payload_changed"``.
        message: what went wrong, in words an operator can act on.
        headers: extra response headers (``WWW-Authenticate`` on 401).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(message)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def translate(exc: MaestroError) -> ApiError:
    """The HTTP form of one of the project's exceptions."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AuthError):
        return ApiError(401, "unauthenticated", str(exc), headers=BEARER_CHALLENGE)
    if isinstance(exc, RequestNotFound):
        return ApiError(404, "request_not_found", str(exc))
    if isinstance(exc, RunNotFound):
        return ApiError(404, "run_not_found", str(exc))
    if isinstance(exc, WorkflowNotFound):
        return ApiError(404, "workflow_not_found", str(exc))
    if isinstance(exc, InputError):
        return ApiError(422, "invalid_input", str(exc), path=exc.path)
    if isinstance(exc, InvalidTransition):
        return ApiError(409, "invalid_transition", str(exc))
    if isinstance(exc, StageRefused):  # a rollout rule (sign-offs, stage, canary)
        return ApiError(409, f"rollout_{exc.code}", str(exc))
    if isinstance(exc, RouteRefused):
        return ApiError(409, "version_rolled_back", str(exc))
    if isinstance(exc, ConfigError):
        # a stored definition this process cannot run (its agents or actions are not here)
        return ApiError(409, "workflow_unavailable", str(exc))
    if isinstance(exc, StoreError):
        return ApiError(503, "store_unavailable", str(exc), retryable=exc.retryable)
    return ApiError(400, "bad_request", str(exc))


def _field(loc: Sequence[int | str]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validation_error(exc: RequestValidationError) -> ApiError:
    """FastAPI's validation errors, as one message naming each field (``body.decision: ...``)."""
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "invalid JSON")
            return ApiError(422, "invalid_json", f"malformed JSON body: {detail}")
    fields = [
        {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in errors
    ]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return ApiError(422, "invalid_request", message, fields=fields)


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app sends, in the one JSON shape."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MaestroError)
        e = translate(exc)
        if e.status >= 500:
            log.warning("request failed", extra={"code": e.code, "error": e.message})
        return error_response(e.status, e.code, e.message, headers=e.headers, **e.extra)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        e = validation_error(exc)
        body_errors = any(tuple(x.get("loc", ())) == ("body",) for x in exc.errors())
        if body_errors and "json" not in request.headers.get("content-type", ""):
            e = ApiError(
                415, "unsupported_media_type", "send a JSON body (Content-Type: application/json)"
            )
        return error_response(e.status, e.code, e.message, **e.extra)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in request", exc_info=exc)
        return error_response(500, "internal", "internal error (logged on the server)")

    app.add_exception_handler(MaestroError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a JSON 413 (ASGI middleware).

    A declared ``Content-Length`` over the limit is refused before the body is read; a streamed
    body is counted as it arrives and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.limit} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                response = error_response(413, "body_too_large", message)
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    # raised inside the endpoint's body read: the exception handlers answer it
                    raise StarletteHTTPException(413, message)
            return msg

        await self.app(scope, counted, send)
