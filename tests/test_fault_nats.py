"""NATS restarts in the middle of a run: no reflexive event is lost (store and stream agree)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.store.base import RunStatus

NATS_BIN = "/usr/sbin/nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


class OwnNats:
    """A nats-server of this test's own (own port, own JetStream folder), restarted by pid: the
    shared server, and the other tests using it in parallel, are never touched."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.args = [NATS_BIN, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(folder)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not _port_open(self.port):
            assert self.proc.poll() is None, "nats-server exited at start-up"
            assert time.monotonic() < deadline, "nats-server did not start listening"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        """Stop it, leave the bus down for a while (mid-run), start it again on the same port
        and folder (the stream survives, as after a real restart)."""
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[OwnNats]:
    if not Path(NATS_BIN).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{NATS_BIN} is needed (Debian: apt-get install nats-server)")
        pytest.skip(f"no {NATS_BIN}")
    server = OwnNats(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
async def test_nats_restart_mid_run_loses_no_event(own_nats: OwnNats, tmp_path: Path) -> None:
    from maestro_helix.bus.nats import JetStreamBus

    ns = f"f{uuid.uuid4().hex[:8]}"
    stream = f"REFLEXIVE_{ns}"
    bus = JetStreamBus(
        own_nats.url,
        stream=stream,
        subject=f"{ns}.reflexive.events",
        publish_attempts=2,
        publish_timeout_s=1.0,
    )
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
        await asyncio.to_thread(own_nats.restart)
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
