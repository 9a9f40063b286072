"""Probes and scraping, without a token: ``/healthz``, ``/readyz``, ``/metrics``.

- ``GET /healthz``: the process answers (liveness). Touches nothing else.
- ``GET /readyz``: the store answers a query and the event bus reaches its server
  (readiness); 503 with the failing check otherwise, so a load balancer stops sending traffic
  without the process being restarted.
- ``GET /metrics``: the Prometheus exposition of this process's registry, at that path (no
  redirect to ``/metrics/``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from maestro_helix.api._auth import System
from maestro_helix.app import Maestro

__all__ = ["READY_TIMEOUT_S", "health_router"]

READY_TIMEOUT_S = 2.0  # a probe that hangs is a failed probe


class Health(BaseModel):
    """Body of ``GET /healthz``."""

    status: Literal["ok"]


class Checks(BaseModel):
    """Each dependency: ``ok`` or what went wrong."""

    store: str
    bus: str


class Ready(BaseModel):
    """Body of ``GET /readyz`` when ready."""

    status: Literal["ready"]
    checks: Checks


class NotReadyError(BaseModel):
    code: Literal["not_ready"]
    message: str


class NotReady(BaseModel):
    """Body of ``GET /readyz`` when a dependency fails (503)."""

    error: NotReadyError
    checks: Checks


async def _check(probe: Callable[[], Awaitable[Any]]) -> str:
    try:
        await asyncio.wait_for(probe(), READY_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {READY_TIMEOUT_S:g} s"
    except Exception as e:  # any failure of a dependency is "not ready", said with its cause
        return f"{type(e).__name__}: {e}"[:300]
    return "ok"


async def _bus_probe(system: Maestro) -> None:
    # a JetStream bus round-trips to its server; the in-process bus is up while we are
    stream_info = getattr(system.bus, "stream_info", None)
    if callable(stream_info):
        await stream_info()


def health_router() -> APIRouter:
    r = APIRouter(tags=["probes"])

    @r.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and serving."""
        return {"status": "ok"}

    @r.get(
        "/readyz",
        response_model=Ready,
        responses={503: {"model": NotReady, "description": "The store or the bus fails."}},
    )
    async def readyz(system: System) -> Any:
        """Readiness: the store answers a query and the event bus reaches its server."""
        store, bus = await asyncio.gather(
            _check(system.store.paused_workflows), _check(lambda: _bus_probe(system))
        )
        checks = {"store": store, "bus": bus}
        if store == "ok" and bus == "ok":
            return {"status": "ready", "checks": checks}
        failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
        return JSONResponse(
            {"error": {"code": "not_ready", "message": failing}, "checks": checks},
            status_code=503,
        )

    @r.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus exposition format (or OpenMetrics, by Accept).",
            }
        },
    )
    async def metrics(request: Request, system: System) -> Response:
        """Prometheus metrics of this process (no token: keep the listener internal)."""
        body, content_type = system.metrics.render(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    return r
