"""Helix as a service over mutual TLS: what ``maestro serve --tls`` runs (``api.server.serve``
with the certificate directory), on a loopback port, called with ``HelixClient(cert=...,
verify=ca)``. A client certificate lets the connection in; the operator token is still what
authenticates the caller (the README says so)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.failures import RetryPolicy
from maestro_helix.api.server import serve
from maestro_helix.client import HelixClient
from maestro_helix.core.errors import HelixServiceError
from maestro_helix.core.scores import GateDecision
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.security import init_ca, issue

ANSWER = "The customer asks for a refund of 24.90 EUR for order A-20417, which arrived broken."
ONCE = RetryPolicy(tries=1, initial_s=0.0, max_s=0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving_tls(tmp_path: Path) -> AsyncIterator[tuple[str, str, Path]]:
    """(base URL, an operator's token, the certificate directory) of a TLS server."""
    certs = tmp_path / "certs"
    init_ca(certs)
    issue(certs, "server", kind="server", hosts=["localhost", "127.0.0.1"])
    issue(certs, "maestro-client", kind="client")
    port = _free_port()
    async with Maestro.open(tmp_path / "m.db", agents=AgentRegistry(), resume=False) as m:
        token = (await add_operator(m.store, "scorer", Role.OPERATOR))[1]
        task = asyncio.create_task(serve(m, "127.0.0.1", port, tls_dir=certs))
        try:
            for _ in range(250):  # until the port accepts connections
                try:
                    _r, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.02)
            yield f"https://127.0.0.1:{port}", token, certs
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _client(url: str, token: str | None, certs: Path, *, with_cert: bool) -> HelixClient:
    cert = (str(certs / "maestro-client.crt"), str(certs / "maestro-client.key"))
    return HelixClient(
        url,
        token,
        verify=str(certs / "ca.crt"),
        cert=cert if with_cert else None,
        timeout_s=5,
        retry=ONCE,
    )


async def test_helix_gate_over_mutual_tls_needs_the_certificate_and_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAESTRO_TOKEN", raising=False)
    async with serving_tls(tmp_path) as (url, token, certs):
        with _client(url, token, certs, with_cert=True) as helix:
            result = await helix.agate(
                {"text": ANSWER},
                task="Summarise the refund request for order A-20417",
                expect={"mentions": ["A-20417", "refund"], "min_length": 40},
            )
        assert result.decision is GateDecision.PASS, result.verdict.reasons

        # a certificate from the CA is not an identity: without a token the call is refused
        with (
            _client(url, None, certs, with_cert=True) as helix,
            pytest.raises(HelixServiceError) as no_token,
        ):
            await helix.agate({"text": ANSWER}, task="Summarise")
        assert no_token.value.status == 401 and no_token.value.code == "unauthenticated"

        # a token without a client certificate does not get past the handshake
        with (
            _client(url, token, certs, with_cert=False) as helix,
            pytest.raises(HelixServiceError, match="cannot reach the service"),
        ):
            await helix.agate({"text": ANSWER}, task="Summarise")
