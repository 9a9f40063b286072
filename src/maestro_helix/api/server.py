"""Run the API and UI with uvicorn over one system, plus the housekeeping a server needs.

Housekeeping, every few seconds: expire approval requests past their deadline, and resume runs
whose requests were decided elsewhere (by the CLI, or another server on the same database).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from maestro_helix.api.app import create_app
from maestro_helix.app import Maestro
from maestro_helix.core.errors import MaestroError
from maestro_helix.engine.housekeeping import HOUSEKEEPING_INTERVAL_S, housekeeping
from maestro_helix.engine.predict_link import refresh_quietly
from maestro_helix.governance.policy import Role
from maestro_helix.security.tls import MutualTLS

log = logging.getLogger(__name__)

__all__ = ["HOUSEKEEPING_INTERVAL_S", "serve"]

GRACEFUL_SHUTDOWN_S = 5


def _resolve(
    host: str, port: int
) -> tuple[socket.AddressFamily, tuple[str, int] | tuple[str, int, int, int]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise MaestroError(f"cannot listen on {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    return family, addr  # type: ignore[return-value]  # getaddrinfo's tuple is loosely typed


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def _check_remote(system: Maestro, host: str, address: str, allow_remote: bool) -> None:
    """Refuse to expose the API beyond this machine unless asked to, with an admin to run it."""
    if _is_loopback(address):
        return
    if not allow_remote:
        raise MaestroError(
            f"refusing to listen on {host} ({address}), which is reachable from other machines; "
            "listen on 127.0.0.1, or allow remote access explicitly (allow_remote=True) "
            "behind TLS"
        )
    operators = await system.store.list_operators()
    if not any(o.role is Role.ADMIN and not o.disabled for o in operators):
        raise MaestroError(
            f"refusing to listen on {host} ({address}) with no admin operator: "
            "create one first (maestro operators add NAME --role admin)"
        )


def _bind(
    family: socket.AddressFamily, addr: tuple[str, int] | tuple[str, int, int, int]
) -> socket.socket:
    try:
        return socket.create_server(addr, family=family, backlog=2048)
    except OSError as e:
        raise MaestroError(f"cannot listen on {addr[0]} port {addr[1]}: {e.strerror}") from None


class _Server(uvicorn.Server):
    """uvicorn, minus its habit of re-raising SIGINT/SIGTERM once it has stopped: that would
    kill the process before the system closes (leases released, spans and metrics flushed)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self._stop_on_signal)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _stop_on_signal(self) -> None:
        log.info("stopping on signal: finishing requests, then closing")
        if self.should_exit:  # a second signal: do not wait for open connections
            self.force_exit = True
        self.should_exit = True


async def serve(
    system: Maestro,
    host: str,
    port: int,
    *,
    allow_remote: bool = False,
    interval_s: float = HOUSEKEEPING_INTERVAL_S,
    tls_dir: str | Path | None = None,
) -> None:
    """Serve the API and the escalation UI until cancelled (or SIGINT/SIGTERM in the main thread).

    Cancelling this coroutine shuts the server down gracefully (open requests finish first).

    Args:
        system: an open system; it stays open when this returns.
        host: address to listen on; a non-loopback one needs ``allow_remote``.
        port: TCP port.
        allow_remote: listen on a non-loopback address (needs at least one admin operator).
        interval_s: how often expired requests are closed and decided runs resumed.
        tls_dir: serve mutual TLS with the certificates in this directory (``maestro certs
            init``): clients need a certificate from its CA; failed handshakes are counted;
            rotated certificates are picked up without a restart.

    Raises:
        MaestroError: a non-loopback address without ``allow_remote`` or without an admin; an
            address that cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise MaestroError(f"port {port} is out of range (0-65535)")
    family, addr = _resolve(host, port)
    await _check_remote(system, host, str(addr[0]), allow_remote)
    tls = MutualTLS(tls_dir, metrics=system.metrics) if tls_dir is not None else None
    sock = _bind(family, addr)
    config = uvicorn.Config(
        create_app(system),
        lifespan="off",  # the caller owns the system's lifetime; the app has nothing to start
        log_config=None,  # leave logging to the embedding application
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        ssl_context_factory=tls.ssl_context_factory if tls is not None else None,
    )
    server = _Server(config)
    predictor = system.predictor
    also = (lambda: refresh_quietly(predictor),) if predictor is not None else ()
    ticker = asyncio.create_task(
        housekeeping(system.engine, system.governance, interval_s, also),
        name="maestro-housekeeping",
    )
    serving = asyncio.ensure_future(
        tls.serve(server, [sock]) if tls is not None else server.serve(sockets=[sock])
    )
    log.info("serving the API and UI", extra={"host": addr[0], "port": addr[1]})
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        if not serving.done():
            server.should_exit = True
            await serving
        sock.close()
