"""reflexive_event_lag_ms measured on the server: the age of the oldest event a consumer of the
stream has not processed, whoever that consumer is (real NATS JetStream; skipped without it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import nats
import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from maestro_helix.bus.lag import ConsumerLag, server_time
from maestro_helix.bus.nats import JetStreamBus
from maestro_helix.core.clock import iso
from maestro_helix.store.base import EventRecord
from maestro_helix.testing import FakeClock

NATS_URL = os.environ.get("MAESTRO_NATS_URL", "nats://127.0.0.1:4222")


def nats_up() -> bool:
    u = urlsplit(NATS_URL)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=1):
            return True
    except OSError:
        return False


needs_nats = pytest.mark.skipif(not nats_up(), reason=f"no NATS server at {NATS_URL}")


def test_server_time_reads_nanosecond_timestamps() -> None:
    t = server_time("2026-12-01T09:10:00.123456789Z")
    assert t == datetime(2026, 12, 1, 9, 10, 0, 123456, tzinfo=UTC).timestamp()
    assert (
        server_time("2026-12-01T09:10:00Z") == datetime(2026, 12, 1, 9, 10, tzinfo=UTC).timestamp()
    )
    assert server_time("") is None and server_time("not a time") is None


def events(n: int) -> list[EventRecord]:
    ts = iso(datetime.now(UTC))
    return [EventRecord(f"e{i}", "step.evaluated", ts, f"r{i}", "wf", "s", {}) for i in range(n)]


@pytest.fixture
async def bus() -> AsyncIterator[JetStreamBus]:
    u = uuid.uuid4().hex[:12]
    b = JetStreamBus(
        NATS_URL, stream=f"L{u}", subject=f"l{u}.reflexive.events", lag_interval_s=None
    )
    await b.open()
    try:
        yield b
    finally:
        js = b._js_or_raise()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(b.stream)
        await b.aclose()


async def add_durable(bus: JetStreamBus, name: str) -> None:
    js = bus._js_or_raise()
    await js.add_consumer(
        bus.stream,
        config=ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT, filter_subject=bus.subject
        ),
    )


@needs_nats
async def test_no_consumer_means_no_lag(bus: JetStreamBus) -> None:
    await bus.publish(events(3))
    assert await ConsumerLag(bus._js_or_raise(), bus.stream).measure() == 0.0


@needs_nats
async def test_a_durable_consumer_behind_reports_its_oldest_event_age(bus: JetStreamBus) -> None:
    await add_durable(bus, "audit-sink")
    await bus.publish(events(5))
    later = FakeClock(datetime.now(UTC) + timedelta(seconds=30))
    lag = ConsumerLag(bus._js_or_raise(), bus.stream, clock=later)
    value = await lag.measure()
    assert 29_000 <= value <= 40_000, value
    assert set(lag.by_consumer) == {"audit-sink"}


@needs_nats
async def test_lag_falls_to_zero_once_the_consumer_acks_everything(bus: JetStreamBus) -> None:
    await add_durable(bus, "audit-sink")
    await bus.publish(events(4))
    lag = ConsumerLag(bus._js_or_raise(), bus.stream)
    assert await lag.measure() > 0.0
    nc = await nats.connect(NATS_URL)
    try:
        psub = await nc.jetstream().pull_subscribe_bind("audit-sink", stream=bus.stream)
        for m in await psub.fetch(4, timeout=5):
            await m.ack_sync()
    finally:
        await nc.close()
    assert await lag.measure() == 0.0


@needs_nats
async def test_the_bus_exports_the_server_side_lag(bus: JetStreamBus) -> None:
    """event_lag_ms (what Maestro.open wires to the gauge) polls the consumers in the
    background, so serve and workers report it without subscribing to anything."""
    u = uuid.uuid4().hex[:12]
    polled = JetStreamBus(NATS_URL, stream=bus.stream, subject=bus.subject, lag_interval_s=0.05)
    await polled.open()
    try:
        await add_durable(bus, f"slow-{u}")
        await bus.publish(events(2))
        await asyncio.sleep(0.3)
        assert polled.event_lag_ms() > 0.0
        assert polled.lag_ms() == 0.0  # nothing of it was received by this process
    finally:
        await polled.aclose()
    assert polled.consumer_lag is None


def test_server_time_takes_the_datetime_nats_py_made() -> None:
    t = datetime(2026, 12, 1, 9, 10, tzinfo=UTC)
    assert server_time(t) == t.timestamp()
