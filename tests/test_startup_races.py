"""Processes starting together on a fresh database all come up (the schema is created once)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import PG_URL, require_pg

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "maestro_helix.cli.main"]
NATS = os.environ.get("MAESTRO_TEST_NATS", "nats://127.0.0.1:4222")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_together(cmds: list[list[str]], logs: list[Path], env: dict[str, str]) -> None:
    procs = []
    files = [log.open("w") for log in logs]
    try:
        for cmd, f in zip(cmds, files, strict=True):
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=HERE)
            )
        deadline = time.monotonic() + 60
        while not all(log.read_text().count("serving") or "worker on" in log.read_text()
                      for log in logs):  # fmt: skip
            for p, log in zip(procs, logs, strict=True):
                assert p.poll() is None, f"a process failed at start-up: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "not every process came up"
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in files:
            f.close()


@pytest.mark.slow
def test_servers_started_together_on_a_fresh_sqlite_file_all_come_up(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    cmds = [[*CLI, "serve", "--db", str(db), "--port", str(_free_port())] for _ in range(3)]
    _start_together(cmds, [tmp_path / f"s{i}.log" for i in range(3)], dict(os.environ))


@pytest.mark.slow
def test_workers_started_together_on_a_fresh_postgresql_database_all_come_up(
    tmp_path: Path,
) -> None:
    require_pg()
    import psycopg

    schema = f"race_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    env = dict(os.environ)
    env["MAESTRO_NAMESPACE"] = f"race{uuid.uuid4().hex[:8]}"
    db = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        cmds = [[*CLI, "worker", "--db", db, "--bus", NATS] for _ in range(3)]
        _start_together(cmds, [tmp_path / f"w{i}.log" for i in range(3)], env)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
        _delete_stream(env["MAESTRO_NAMESPACE"])


def _delete_stream(ns: str) -> None:
    import asyncio
    import contextlib

    import nats

    async def run() -> None:
        nc = await nats.connect(NATS)
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(f"MAESTRO_WORK_{ns}")
        await nc.close()

    asyncio.run(run())
