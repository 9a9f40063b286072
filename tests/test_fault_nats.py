"""NATS restarts in the middle of a run: no reflexive event is lost (store and stream agree)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.store.base import RunStatus

NATS_URL = "nats://127.0.0.1:4222"
NATS_BIN = "/usr/sbin/nats-server"
NATS_ARGS = ["-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server"]


def _pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "nats-server"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _port_open() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 4222), 1):
        return True
    return False


def _restart_nats() -> None:
    """Stop the local server, wait until it is gone, start it again detached (same arguments
    as .ci/run), wait until it listens."""
    for pid in _pids():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _pids() or _port_open():
        assert time.monotonic() < deadline, "nats-server did not stop"
        time.sleep(0.05)
    time.sleep(0.5)  # the bus is down for a while, mid-run
    # setsid -f: detached in its own session, so the server outlives this test
    subprocess.run(
        ["setsid", "-f", NATS_BIN, *NATS_ARGS],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    deadline = time.monotonic() + 20
    while not _port_open():
        assert time.monotonic() < deadline, "nats-server did not come back"
        time.sleep(0.05)


@pytest.fixture
def local_nats() -> None:
    tools = shutil.which("pgrep") and shutil.which("setsid")
    if not (Path(NATS_BIN).exists() and tools and _pids() and _port_open()):
        if os.environ.get("CI"):
            pytest.fail("a local nats-server (started by .ci/run) is needed")
        pytest.skip("no local nats-server to restart")


@pytest.mark.slow
async def test_nats_restart_mid_run_loses_no_event(local_nats: None, tmp_path: Path) -> None:
    from maestro_helix.bus.nats import JetStreamBus

    ns = f"f{uuid.uuid4().hex[:8]}"
    stream = f"REFLEXIVE_{ns}"
    bus = JetStreamBus(
        NATS_URL,
        stream=stream,
        subject=f"{ns}.reflexive.events",
        publish_attempts=2,
        publish_timeout_s=1.0,
    )
    try:
        async with Maestro.open(
            tmp_path / "f.db",
            agents=demo_agents(),
            action_types=demo_actions(),
            bus=bus,
            concurrency=16,
        ) as m:
            defn = await m.engine.register(demo_workflow())
            ids = await m.engine.submit_many(defn, demo_tasks(400))
            while await m.store.count("steps") < 200:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(_restart_nats)
            results = [await m.engine.wait(i) for i in ids]
            deadline = time.monotonic() + 90
            while m.engine.unpublished and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert m.engine.unpublished == 0, "the bus never took the waiting events back"
            stored = await m.store.count("reflexive_events")
            on_stream = await bus.stream_info()
        assert {r.status for r in results} <= {RunStatus.COMPLETED, RunStatus.ESCALATED}
        # reconcile: every stored event is on the stream, none twice
        assert on_stream == stored, (on_stream, stored)
    finally:
        with contextlib.suppress(Exception):
            import nats

            nc = await nats.connect(NATS_URL)
            await nc.jetstream().delete_stream(stream)
            await nc.close()
