"""Mutual TLS for a listener: client certificates required, leaves reloaded in place, failed
handshakes counted.

- :func:`server_ssl_context` requires a client certificate signed by the directory's CA
  (``CERT_REQUIRED``, TLS 1.2 or later). :func:`reload` loads a rotated leaf into the *same*
  context: handshakes from then on present it, connections already open keep theirs.
- Failed handshakes are counted through the context's ``sslobject_class``: asyncio (and so
  uvicorn) wraps every connection in ``context.wrap_bio(...)``, which builds an instance of that
  class, and drives the handshake through its ``do_handshake()``. A subclass sees each failure
  (no client certificate, a certificate from another CA, a plain-HTTP request on the TLS port,
  a peer that rejects our certificate) without touching uvicorn's internals. Handshakes that
  never start (a TCP probe that connects and closes) are not TLS failures and are not counted.
- :class:`MutualTLS` puts it together for uvicorn: ``uvicorn.Config(...,
  ssl_context_factory=tls.ssl_context_factory)`` and ``await tls.serve(server, sockets)``, which
  also watches the certificate files and reloads the leaf after ``maestro certs rotate``.
- :func:`serve_tls` runs any ASGI app that way.

A new CA needs a restart: a live context can add trust anchors but not drop the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from maestro_helix.core.errors import MaestroError
from maestro_helix.security.certs import CA_CERT, CertError, read_pair

if TYPE_CHECKING:
    import uvicorn

    from maestro_helix.observability.metrics import HelixMetrics

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CLIENT_NAME",
    "DEFAULT_SERVER_NAME",
    "RELOAD_CHECK_S",
    "HandshakeFailed",
    "MutualTLS",
    "client_ssl_context",
    "reload",
    "serve_tls",
    "server_ssl_context",
]

DEFAULT_SERVER_NAME = "server"
DEFAULT_CLIENT_NAME = "maestro-client"
RELOAD_CHECK_S = 60.0
GRACEFUL_SHUTDOWN_S = 5

HandshakeFailed = Callable[[ssl.SSLError], None]
"""Called with the error of each failed server-side handshake."""


def _counting_sslobject(on_failure: HandshakeFailed) -> type[ssl.SSLObject]:
    class CountingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise  # not a failure: the handshake waits for the peer's next bytes
            except ssl.SSLError as e:
                try:
                    on_failure(e)
                except Exception:
                    # counting must never change how the handshake ends
                    log.exception("TLS handshake failure callback failed")
                raise

    return CountingSSLObject


def _load_leaf(ctx: ssl.SSLContext, cert_dir: Path, name: str) -> bytes:
    """Load ``name``'s certificate and key into ``ctx``; return the certificate PEM loaded."""
    cert_pem, key_pem = read_pair(cert_dir, name)  # a matching pair, or CertError
    # ssl loads chains from files only: hand it the checked pair through a private temp file
    # (0600, outside the certificate directory, which may be read-only), removed at once
    fd, tmp = tempfile.mkstemp(prefix="maestro-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert_pem + b"\n" + key_pem)
        ctx.load_cert_chain(tmp)
    except ssl.SSLError as e:
        raise CertError(cert_dir / f"{name}.crt", f"cannot be loaded for TLS ({e})") from None
    finally:
        os.unlink(tmp)
    return cert_pem


def reload(ctx: ssl.SSLContext, cert_dir: str | Path, *, name: str = DEFAULT_SERVER_NAME) -> int:
    """Load the current leaf ``name`` of ``cert_dir`` into ``ctx`` (the same context object).

    Handshakes started afterwards present the new certificate; open connections keep the one
    they were made with. The certificate and key are read as a matching pair first, so a
    rotation caught half-way leaves ``ctx`` as it was.

    Returns:
        The serial number of the certificate now loaded.

    Raises:
        CertError: files missing, malformed or mismatched (``ctx`` is unchanged).
    """
    pem = _load_leaf(ctx, Path(cert_dir), name)
    return x509.load_pem_x509_certificate(pem).serial_number


def server_ssl_context(
    cert_dir: str | Path,
    *,
    name: str = DEFAULT_SERVER_NAME,
    on_handshake_failure: HandshakeFailed | None = None,
) -> ssl.SSLContext:
    """A server context that requires a client certificate signed by ``cert_dir``'s CA.

    Args:
        cert_dir: a directory made by :func:`maestro_helix.security.certs.init_ca`.
        name: the server leaf to present (``NAME.crt``/``NAME.key``).
        on_handshake_failure: called once for each handshake that fails on this context.

    Raises:
        CertError: no CA or no usable leaf in ``cert_dir``.
    """
    d = Path(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    try:
        ctx.load_verify_locations(cafile=d / CA_CERT)
    except FileNotFoundError:
        raise CertError(d, "no CA here: create one first (maestro certs init)") from None
    except ssl.SSLError as e:
        raise CertError(d / CA_CERT, f"cannot be loaded as a CA ({e})") from None
    _load_leaf(ctx, d, name)
    if on_handshake_failure is not None:
        ctx.sslobject_class = _counting_sslobject(on_handshake_failure)
    return ctx


def client_ssl_context(cert_dir: str | Path, *, name: str = DEFAULT_CLIENT_NAME) -> ssl.SSLContext:
    """A client context presenting ``name``'s certificate and trusting only ``cert_dir``'s CA
    (hostnames checked against the server certificate's names).

    Raises:
        CertError: no CA or no usable leaf in ``cert_dir``.
    """
    d = Path(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=d / CA_CERT)
    except FileNotFoundError:
        raise CertError(d, "no CA here: create one first (maestro certs init)") from None
    except ssl.SSLError as e:
        raise CertError(d / CA_CERT, f"cannot be loaded as a CA ({e})") from None
    _load_leaf(ctx, d, name)
    return ctx


def _digest(pem: bytes) -> str:
    return hashlib.sha256(pem).hexdigest()


class MutualTLS:
    """A listener's mutual TLS: the context, the failure counter and the rotation watcher.

    Args:
        cert_dir: the certificate directory (CA and server leaf).
        metrics: where failed handshakes are counted (``tls_handshake_failures_total``).
        component: the metric's ``component`` label.
        name: the server leaf to present.
        check_s: how often :meth:`watch` looks for a rotated certificate.

    Raises:
        CertError: no CA or no usable leaf in ``cert_dir``.
    """

    def __init__(
        self,
        cert_dir: str | Path,
        *,
        metrics: HelixMetrics | None = None,
        component: str = "api",
        name: str = DEFAULT_SERVER_NAME,
        check_s: float = RELOAD_CHECK_S,
    ) -> None:
        if not check_s > 0:
            raise ValueError(f"check_s must be > 0, not {check_s!r}")
        self.cert_dir = Path(cert_dir)
        self.metrics = metrics
        self.component = component
        self.name = name
        self.check_s = check_s
        self.context = server_ssl_context(
            self.cert_dir, name=name, on_handshake_failure=self._handshake_failed
        )
        self._loaded = _digest(read_pair(self.cert_dir, name)[0])

    def _handshake_failed(self, e: ssl.SSLError) -> None:
        if self.metrics is not None:
            self.metrics.tls_handshake_failed(self.component)
        log.warning(
            "TLS handshake failed",
            extra={
                "component": self.component,
                "reason": e.reason or str(e),
                "verify_message": getattr(e, "verify_message", None),
            },
        )

    def ssl_context_factory(
        self, config: uvicorn.Config, default: Callable[[], ssl.SSLContext]
    ) -> ssl.SSLContext:
        """For ``uvicorn.Config(ssl_context_factory=...)``: always this listener's context."""
        return self.context

    def reload_if_changed(self) -> bool:
        """Reload the leaf if its certificate file changed since it was loaded.

        Returns:
            Whether a new certificate was loaded.

        Raises:
            CertError: the new files cannot be used (the current certificate stays).
        """
        path = self.cert_dir / f"{self.name}.crt"
        try:
            current = _digest(path.read_bytes())
        except FileNotFoundError:
            raise CertError(path, "no such file") from None
        if current == self._loaded:
            return False
        pem = _load_leaf(self.context, self.cert_dir, self.name)
        self._loaded = _digest(pem)
        cert = x509.load_pem_x509_certificate(pem)
        log.info(
            "TLS certificate reloaded",
            extra={
                "component": self.component,
                "serial": f"{cert.serial_number:x}",
                "not_after": cert.not_valid_after_utc.isoformat(),
            },
        )
        return True

    async def watch(self) -> None:
        """Reload the leaf whenever it is rotated, until cancelled. A rotation that cannot be
        loaded is logged and tried again at the next check; the current certificate stays."""
        while True:
            await asyncio.sleep(self.check_s)
            try:
                self.reload_if_changed()
            except (CertError, OSError) as e:
                log.warning(
                    "rotated TLS certificate not loaded; keeping the current one",
                    extra={"component": self.component, "error": str(e)},
                )

    async def serve(self, server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        """Run ``server`` (built with ``ssl_context_factory=self.ssl_context_factory``) on
        ``sockets`` while watching for rotated certificates; returns when the server stops."""
        if server.config.ssl_context_factory != self.ssl_context_factory:
            raise ValueError(
                "build the uvicorn.Config with ssl_context_factory=tls.ssl_context_factory"
            )
        watcher = asyncio.create_task(self.watch(), name=f"maestro-{self.component}-tls-reload")
        try:
            await server.serve(sockets=sockets)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, _, _, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise MaestroError(f"cannot listen on {host!r}: {e.strerror}") from None
    try:
        return socket.create_server(addr, family=family, backlog=2048)
    except OSError as e:
        raise MaestroError(f"cannot listen on {host} port {port}: {e.strerror}") from None


async def serve_tls(
    app: Any,
    host: str,
    port: int,
    cert_dir: str | Path,
    metrics: HelixMetrics | None,
    *,
    rotate_check_s: float = RELOAD_CHECK_S,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve an ASGI app over mutual TLS until cancelled (graceful: open requests finish).

    The app's lifespan is not run: the caller owns what the app uses.

    Args:
        app: the ASGI app (e.g. :func:`maestro_helix.api.create_app`'s).
        host: address to listen on.
        port: TCP port (0: any free one, reported to ``on_listening``).
        cert_dir: the certificate directory (CA and ``server`` leaf).
        metrics: where failed handshakes are counted (component ``api``).
        rotate_check_s: how often to look for a rotated server certificate.
        on_listening: called with the bound port once the socket listens.

    Raises:
        CertError: no CA or no usable server certificate.
        MaestroError: the address cannot be bound.
    """
    import uvicorn

    tls = MutualTLS(cert_dir, metrics=metrics, check_s=rotate_check_s)
    sock = _listen(host, port)
    try:
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,  # leave logging to the embedding application
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_context_factory=tls.ssl_context_factory,
        )
        server = uvicorn.Server(config)
        if on_listening is not None:
            on_listening(int(sock.getsockname()[1]))
        serving = asyncio.ensure_future(tls.serve(server, [sock]))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            server.should_exit = True
            await serving
            raise
    finally:
        sock.close()
