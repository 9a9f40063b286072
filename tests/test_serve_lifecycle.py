"""`maestro serve` as a real process: a hung agent cannot stall it, and SIGTERM stops it
cleanly (exit 0) with the spans of its last runs delivered to an OTLP receiver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "maestro_helix.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: decodes every export request it is sent."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[tuple[str, dict[str, Any]]] = []
        received = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        for sp in ss.spans:
                            attrs = {a.key: a.value.string_value for a in sp.attributes}
                            received.append((sp.name, attrs))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, token: str, log: Path) -> None:
        self.proc, self.port, self.token, self.log = proc, port, token, log

    def call(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"authorization": f"Bearer {self.token}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def run_status(self, run_id: str) -> dict[str, Any]:
        got: dict[str, Any] = self.call("GET", f"/runs/{run_id}")
        return got


def _serve(tmp_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    db = tmp_path / "serve.db"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.update(extra_env or {})
    add = subprocess.run(
        [*CLI, "operators", "add", "ops", "--role", "admin", "--db", str(db)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    token = add.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [*CLI, "serve", "--db", str(db), "--app", "hang_app:spec", "--port", str(port)],
            env=env, stdout=f, stderr=subprocess.STDOUT, text=True, cwd=HERE,
        )  # fmt: skip
    served = Served(proc, port, token, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            served.call("GET", "/runs?limit=1")
            break
        except OSError:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
    try:
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path)


def _wait(what: str, ok: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_hung_sync_agent_neither_stalls_the_server_nor_outlives_its_timeout(
    served: Served,
) -> None:
    stuck = served.call("POST", "/runs", {"workflow": "hang", "input": {}})["run_id"]
    forever = served.call("POST", "/runs", {"workflow": "hang-long", "input": {}})["run_id"]
    # while two agents hang in blocking calls, the API answers and other runs complete
    t0 = time.monotonic()
    quick = served.call("POST", "/runs", {"workflow": "quick", "input": {"topic": "tea"}})
    _wait("the quick run", lambda: served.run_status(quick["run_id"])["status"] == "completed")
    assert time.monotonic() - t0 < 10
    # the step's own timeout (1.5 s) fires for a sync agent too: each attempt ends, recorded
    _wait(
        "the timed-out attempts",
        lambda: served.run_status(stuck)["status"] not in ("pending", "running"),
        timeout=60,
    )
    attempts = served.run_status(stuck)["attempts"]
    assert attempts and all("timed out after 1.5 s" in (a["agent_error"] or "") for a in attempts)
    assert served.run_status(forever)["status"] in ("pending", "running")  # still hanging
    # SIGTERM stops the server although an agent is stuck in a blocking call
    t1 = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=30) == 0, served.log.read_text()[-3000:]
    assert time.monotonic() - t1 < 25


@pytest.mark.slow
def test_sigterm_delivers_the_spans_of_the_last_runs_to_the_otlp_receiver(
    tmp_path: Path,
) -> None:
    with OtlpReceiver() as otlp:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # nothing leaves before shutdown flushes it
        }
        gen = _serve(tmp_path, env)
        served = next(gen)
        try:
            run_id = served.call("POST", "/runs", {"workflow": "quick", "input": {"topic": "tea"}})[
                "run_id"
            ]
            _wait("the run", lambda: served.run_status(run_id)["status"] == "completed")
            assert not otlp.spans, "spans left before shutdown: the test would prove nothing"
            served.proc.send_signal(signal.SIGTERM)
            assert served.proc.wait(timeout=30) == 0, served.log.read_text()[-3000:]
        finally:
            gen.close()
    runs = [a for name, a in otlp.spans if a.get("maestro.run_id") == run_id]
    assert runs, f"no span of run {run_id} reached the receiver: {otlp.spans[:5]}"
