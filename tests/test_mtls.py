"""Mutual TLS: real certificates, real handshakes on 127.0.0.1, a real uvicorn server.

Each server test runs :func:`serve_tls` in the test's event loop and talks to it with httpx or
raw asyncio streams (to hold one connection across a rotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from cryptography import x509
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.cli.certs import certs_app
from maestro_helix.observability.metrics import HelixMetrics
from maestro_helix.security import (
    CertError,
    CertKind,
    client_ssl_context,
    init_ca,
    inspect,
    issue,
    reload,
    rotate,
    serve_tls,
    server_ssl_context,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HOSTS = ["localhost", "127.0.0.1"]


def make_dir(path: Path) -> Path:
    init_ca(path)
    issue(path, "server", kind="server", hosts=HOSTS)
    issue(path, "maestro-client", kind="client")
    return path


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    return make_dir(tmp_path / "certs")


@pytest.fixture
def metrics() -> HelixMetrics:
    return HelixMetrics(CollectorRegistry())


def failures(metrics: HelixMetrics) -> float:
    value = metrics.registry.get_sample_value("tls_handshake_failures_total", {"component": "api"})
    return value or 0.0


async def until(check: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Wait (bounded) for ``check`` to hold."""
    for _ in range(int(timeout_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def serving(
    app: Any, certs: Path, metrics: HelixMetrics, *, rotate_check_s: float = 60.0
) -> AsyncIterator[tuple[int, asyncio.Task[None]]]:
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_tls(
            app,
            "127.0.0.1",
            0,
            certs,
            metrics,
            rotate_check_s=rotate_check_s,
            on_listening=bound.set_result,
        )
    )
    try:
        yield await asyncio.wait_for(bound, 5), task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class TinyApp:
    """``/`` answers at once; ``/slow`` answers once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.slow_started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/slow":
            self.slow_started.set()
            await self.release.wait()
        body = f"{scope['scheme']} {scope['path']}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RawConnection:
    """One TLS connection speaking HTTP/1.1 keep-alive, to follow it across a rotation."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext) -> RawConnection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"
        )
        return cls(reader, writer)

    @property
    def server_serial(self) -> int:
        der = self.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number

    async def send(self, path: str) -> None:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await self.writer.drain()

    async def response(self) -> tuple[int, bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(lines[0].split()[1]), body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await self.writer.wait_closed()


def serial_of(certs: Path, name: str) -> int:
    return x509.load_pem_x509_certificate((certs / f"{name}.crt").read_bytes()).serial_number


# -- handshakes ----------------------------------------------------------------------------------


async def test_a_client_with_a_ca_signed_certificate_gets_200_from_the_real_app(
    tmp_path: Path, certs: Path
) -> None:
    async with (
        Maestro.open(tmp_path / "m.db", agents=AgentRegistry()) as m,
        serving(create_app(m), certs, m.metrics) as (port, _),
        httpx.AsyncClient(verify=client_ssl_context(certs)) as client,
    ):
        r = await client.get(f"https://127.0.0.1:{port}/metrics")
        assert r.status_code == 200
        assert "tls_handshake_failures_total" in r.text
        assert failures(m.metrics) == 0


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_a_client_without_a_certificate_is_refused_and_counted(
    certs: Path, metrics: HelixMetrics, version: ssl.TLSVersion
) -> None:
    """TLS 1.2 fails the client's handshake itself; in TLS 1.3 the server verifies the client
    after the client's side is done, so its refusal (an alert) reaches the client on its first
    read. Either way no request gets through and the server counts one failed handshake."""
    no_cert = ssl.create_default_context(cafile=certs / "ca.crt")
    no_cert.maximum_version = version
    async with (
        serving(TinyApp(), certs, metrics) as (port, _),
        httpx.AsyncClient(verify=no_cert) as client,
    ):
        with pytest.raises(httpx.TransportError):
            await client.get(f"https://127.0.0.1:{port}/")
        await until(lambda: failures(metrics) == 1, "the failure to be counted")


async def test_a_client_with_a_certificate_from_another_ca_is_refused_and_counted(
    tmp_path: Path, certs: Path, metrics: HelixMetrics
) -> None:
    other = make_dir(tmp_path / "other")
    foreign = ssl.create_default_context(cafile=certs / "ca.crt")  # trusts our server...
    foreign.load_cert_chain(other / "maestro-client.crt", other / "maestro-client.key")
    async with (
        serving(TinyApp(), certs, metrics) as (port, _),
        httpx.AsyncClient(verify=foreign) as client,
    ):
        with pytest.raises(httpx.TransportError):
            await client.get(f"https://127.0.0.1:{port}/")
        await until(lambda: failures(metrics) == 1, "the failure to be counted")
        # ...and the listener still serves clients of its own CA
        async with httpx.AsyncClient(verify=client_ssl_context(certs)) as ok:
            assert (await ok.get(f"https://127.0.0.1:{port}/")).status_code == 200
    assert failures(metrics) == 1


async def test_a_server_certificate_is_not_accepted_as_a_client_certificate(
    certs: Path, metrics: HelixMetrics
) -> None:
    """Extended key usage is enforced: a leaf made for servers cannot authenticate a client."""
    ctx = ssl.create_default_context(cafile=certs / "ca.crt")
    ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
    async with (
        serving(TinyApp(), certs, metrics) as (port, _),
        httpx.AsyncClient(verify=ctx) as client,
    ):
        with pytest.raises(httpx.TransportError):
            await client.get(f"https://127.0.0.1:{port}/")
        await until(lambda: failures(metrics) == 1, "the failure to be counted")


async def test_plain_http_on_the_tls_port_is_counted(certs: Path, metrics: HelixMetrics) -> None:
    async with (
        serving(TinyApp(), certs, metrics) as (port, _),
        httpx.AsyncClient() as client,
    ):
        with pytest.raises(httpx.TransportError):
            await client.get(f"http://127.0.0.1:{port}/")
        await until(lambda: failures(metrics) == 1, "the failure to be counted")


# -- rotation ------------------------------------------------------------------------------------


async def test_rotation_is_picked_up_without_stopping_the_server(
    certs: Path, metrics: HelixMetrics
) -> None:
    """After ``rotate``, new handshakes see the new server certificate; a connection opened
    before keeps working: its request in flight completes and it serves the next one."""
    app = TinyApp()
    old_serial = serial_of(certs, "server")
    async with serving(app, certs, metrics, rotate_check_s=0.05) as (port, task):
        before = await RawConnection.open(port, client_ssl_context(certs))
        assert before.server_serial == old_serial
        await before.send("/")
        assert await before.response() == (200, b"https /")
        await before.send("/slow")  # in flight across the rotation
        await asyncio.wait_for(app.slow_started.wait(), 5)

        rotated = {c.name: c.serial for c in rotate(certs)}
        assert rotated["server"] != old_serial

        async def new_handshake_serial() -> int:
            conn = await RawConnection.open(port, client_ssl_context(certs))
            try:
                await conn.send("/")
                assert await conn.response() == (200, b"https /")
                return conn.server_serial
            finally:
                await conn.close()

        seen = old_serial
        for _ in range(100):  # bounded: the watcher checks every 50 ms
            seen = await new_handshake_serial()
            if seen != old_serial:
                break
            await asyncio.sleep(0.05)
        assert seen == rotated["server"]
        assert not task.done(), "the server stopped"

        app.release.set()
        assert await before.response() == (200, b"https /slow")
        await before.send("/")  # keep-alive: same connection, same (old) certificate
        assert await before.response() == (200, b"https /")
        assert before.server_serial == old_serial
        await before.close()
        assert not task.done()
    assert failures(metrics) == 0


def test_reload_loads_the_new_leaf_into_the_same_context(certs: Path) -> None:
    ctx = server_ssl_context(certs)
    rotate(certs)
    assert reload(ctx, certs) == serial_of(certs, "server")


def test_reload_keeps_the_current_certificate_when_key_and_certificate_do_not_match(
    tmp_path: Path, certs: Path
) -> None:
    ctx = server_ssl_context(certs)
    other = make_dir(tmp_path / "other")
    (certs / "server.key").write_bytes((other / "server.key").read_bytes())
    with pytest.raises(CertError, match="does not match"):
        reload(ctx, certs)


# -- certificate files ---------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_0600_and_certificates_0644_also_after_rotation(certs: Path) -> None:
    for when in ("issued", "rotated"):
        keys = sorted(certs.glob("*.key"))
        assert [p.name for p in keys] == ["ca.key", "maestro-client.key", "server.key"], when
        assert all(_mode(p) == 0o600 for p in keys), when
        assert all(_mode(p) == 0o644 for p in certs.glob("*.crt")), when
        rotate(certs)
    assert not list(certs.glob(".*")), "temporary files left behind"


def test_certificates_say_what_they_are_for(certs: Path) -> None:
    by_name = {c.name: c for c in inspect(certs)}
    assert list(by_name) == ["ca", "maestro-client", "server"]
    assert by_name["ca"].kind is CertKind.CA and by_name["ca"].days_left >= 3649
    server, client = by_name["server"], by_name["maestro-client"]
    assert server.kind is CertKind.SERVER and server.hosts == ("localhost", "127.0.0.1")
    assert client.kind is CertKind.CLIENT and client.hosts == ()
    assert server.lifetime_days == client.lifetime_days == 7
    cert = x509.load_pem_x509_certificate(client.cert_path.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=maestro-client"
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]  # EC leaf


def test_rotate_gives_every_leaf_a_new_key_and_keeps_name_kind_hosts_lifetime(
    certs: Path,
) -> None:
    issue(certs, "edge", kind="server", hosts=["edge.internal", "10.0.0.7"], days=3)
    before = {c.name: c for c in inspect(certs)}
    keys = {p.name: p.read_bytes() for p in certs.glob("*.key")}
    after = {c.name: c for c in rotate(certs)}
    assert set(after) == {"edge", "maestro-client", "server"}
    for name, new in after.items():
        old = before[name]
        assert new.serial != old.serial
        assert (new.kind, new.hosts, new.lifetime_days) == (old.kind, old.hosts, old.lifetime_days)
        assert (certs / f"{name}.key").read_bytes() != keys[f"{name}.key"]
    assert (certs / "ca.key").read_bytes() == keys["ca.key"]
    assert inspect(certs)[0].serial == before["ca"].serial


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("../evil", {"kind": "client"}, "certificate name"),
        ("ca", {"kind": "client"}, "certificate name"),
        ("api", {"kind": "server"}, "at least one host"),
        ("api", {"kind": "server", "hosts": ["not a host"]}, "not a DNS name"),
        ("bob", {"kind": "client", "hosts": ["x"]}, "server certificates only"),
        ("bob", {"kind": "root"}, "kind must be"),
        ("bob", {"kind": "client", "days": 0}, "at least 1 day"),
    ],
)
def test_issue_refuses_bad_requests(
    certs: Path, name: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(CertError, match=message):
        issue(certs, name, **kwargs)


def test_init_refuses_to_replace_a_ca(certs: Path) -> None:
    with pytest.raises(CertError, match="already exists"):
        init_ca(certs)


def test_issue_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="no CA"):
        issue(tmp_path, "bob", kind="client")


# -- CLI -----------------------------------------------------------------------------------------

cli = typer.Typer()
cli.add_typer(certs_app, name="certs")
runner = CliRunner()


def test_certs_commands(tmp_path: Path) -> None:
    d = str(tmp_path / "c")
    r = runner.invoke(cli, ["certs", "init", "--dir", d, "--hosts", "localhost,127.0.0.1"])
    assert r.exit_code == 0, r.output
    assert "maestro-client" in r.output and "server" in r.output
    r = runner.invoke(cli, ["certs", "issue", "helix-bridge", "--kind", "client", "--dir", d])
    assert r.exit_code == 0, r.output
    before = serial_of(Path(d), "helix-bridge")
    r = runner.invoke(cli, ["certs", "rotate", "--dir", d])
    assert r.exit_code == 0 and "rotated 3 certificate(s)" in r.output, r.output
    assert serial_of(Path(d), "helix-bridge") != before
    r = runner.invoke(cli, ["certs", "list", "--dir", d])
    assert r.exit_code == 0, r.output
    assert all(n in r.output for n in ("ca", "server", "maestro-client", "helix-bridge"))
    again = runner.invoke(cli, ["certs", "init", "--dir", d])
    assert again.exit_code == 2 and "already exists" in again.output
