"""Probes: /healthz (process up), /readyz (store and bus reachable), /metrics without redirect."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.store.sqlite import SQLiteStore

NATS_URL = os.environ.get("MAESTRO_NATS_URL", "nats://127.0.0.1:4222")


def nats_up() -> bool:
    u = urlsplit(NATS_URL)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Maestro]:
    async with Maestro.open(tmp_path / "h.db", agents=AgentRegistry(), resume=False) as m:
        yield m


def client_of(m: Maestro) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(m)), base_url="http://t")


async def test_healthz_answers_without_a_token(system: Maestro) -> None:
    async with client_of(system) as c:
        r = await c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_reports_each_check(system: Maestro) -> None:
    async with client_of(system) as c:
        r = await c.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"store": "ok", "bus": "ok"}}


async def test_readyz_is_503_naming_the_store_when_it_is_closed(system: Maestro) -> None:
    await system.store.aclose()
    async with client_of(system) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["error"]["code"] == "not_ready"
    assert body["checks"]["bus"] == "ok"
    assert body["checks"]["store"] != "ok"
    assert "store" in body["error"]["message"]


@pytest.mark.skipif(not nats_up(), reason=f"no NATS server at {NATS_URL}")
async def test_readyz_is_503_naming_the_bus_when_nats_is_gone(tmp_path: Path) -> None:
    from maestro_helix.bus.nats import JetStreamBus

    u = uuid.uuid4().hex[:12]
    bus = JetStreamBus(NATS_URL, stream=f"H{u}", subject=f"h{u}.reflexive.events")
    store = SQLiteStore(tmp_path / "b.db")
    async with (
        Maestro.open(store, agents=AgentRegistry(), bus=bus, resume=False) as m,
        client_of(m) as c,
    ):
        ok = await c.get("/readyz")
        await bus._js_or_raise().delete_stream(f"H{u}")  # the stream is gone: cannot serve
        gone = await c.get("/readyz")
    assert ok.status_code == 200, ok.text
    assert gone.status_code == 503
    assert gone.json()["checks"]["store"] == "ok"
    assert gone.json()["checks"]["bus"] != "ok"


async def test_metrics_answers_at_its_path_without_redirect(system: Maestro) -> None:
    async with client_of(system) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE maestro_tasks_total counter" in r.text


async def test_metrics_negotiates_openmetrics(system: Maestro) -> None:
    async with client_of(system) as c:
        r = await c.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
