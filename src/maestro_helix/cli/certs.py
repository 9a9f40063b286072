"""``maestro certs …``: the private CA and the short-lived certificates of mutual TLS."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from maestro_helix.cli.common import JsonOpt, err, out, print_json, records_json
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.extras import require

if TYPE_CHECKING:
    from maestro_helix.security.certs import CertInfo

# the defaults of maestro_helix.security.certs / .tls, restated so `maestro --help` does not
# import cryptography (tests/test_mtls.py checks they agree)
DEFAULT_CA_DAYS = 3650
DEFAULT_LEAF_DAYS = 7
DEFAULT_SERVER_NAME = "server"
DEFAULT_CLIENT_NAME = "maestro-client"


class LeafKind(enum.StrEnum):
    """The certificates ``maestro certs issue`` makes (values of ``security.certs.CertKind``)."""

    CLIENT = "client"
    SERVER = "server"


def _certs() -> ModuleType:
    require("cryptography", extra="server", feature="maestro certs")
    from maestro_helix.security import certs

    return certs


T = TypeVar("T")

certs_app = typer.Typer(
    help="Mutual TLS certificates: a private CA, server and client certificates, rotation.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path,
    typer.Option(
        "--dir", envvar="MAESTRO_CERTS", help="Certificate directory. Env: MAESTRO_CERTS."
    ),
]
DaysOpt = Annotated[
    int, typer.Option(min=1, help="Validity of the certificate(s) in days (rotate weekly).")
]


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except MaestroError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _hosts(text: str | None) -> list[str]:
    return [h.strip() for h in (text or "").split(",") if h.strip()]


def _left(c: CertInfo) -> str:
    secs = int((c.not_after - datetime.now(UTC)).total_seconds())
    if secs <= 0:
        return "[red]expired[/red]"
    text = f"{secs // 86400}d {(secs % 86400) // 3600}h"
    return f"[yellow]{text}[/yellow]" if secs < 2 * 86400 else text


def _print(certs: list[CertInfo], title: str) -> None:
    table = Table(title=title)
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("serial", no_wrap=True)
    table.add_column("expires", no_wrap=True)
    table.add_column("left", no_wrap=True)
    table.add_column("hosts")
    for c in certs:
        table.add_row(
            c.name,
            c.kind.value,
            f"{c.serial:x}"[:8],
            c.not_after.strftime("%Y-%m-%d"),
            _left(c),
            "\n".join(c.hosts),
        )
    out.print(table)


@certs_app.command("init")
def certs_init(
    cert_dir: DirOpt = Path("certs"),
    hosts: Annotated[
        str, typer.Option(help="Comma-separated DNS names and IPs the server is reached at.")
    ] = "localhost,127.0.0.1",
    ca_days: Annotated[int, typer.Option(min=1, help="Validity of the CA in days.")] = (
        DEFAULT_CA_DAYS
    ),
    days: DaysOpt = DEFAULT_LEAF_DAYS,
) -> None:
    """Create a CA, a server certificate and one client certificate (maestro-client)."""

    def main() -> list[CertInfo]:
        c = _certs()
        host_list = _hosts(hosts)
        ca = c.init_ca(cert_dir, days=ca_days)
        server = c.issue(
            cert_dir, DEFAULT_SERVER_NAME, kind=c.CertKind.SERVER, hosts=host_list, days=days
        )
        client = c.issue(cert_dir, DEFAULT_CLIENT_NAME, kind=c.CertKind.CLIENT, days=days)
        return [ca, server, client]

    made = _run(main)
    _print(made, f"certificates in {cert_dir}")
    out.print(
        f"keys are 0600; keep {cert_dir / 'ca.key'} off the servers if you can. "
        f"Serve with: maestro serve --tls --certs {cert_dir}",
        highlight=False,
    )


@certs_app.command("issue")
def certs_issue(
    name: Annotated[str, typer.Argument(help="Certificate name (the client's identity).")],
    kind: Annotated[LeafKind, typer.Option(help="client or server.")] = LeafKind.CLIENT,
    hosts: Annotated[
        str | None, typer.Option(help="Comma-separated DNS names and IPs (server only).")
    ] = None,
    cert_dir: DirOpt = Path("certs"),
    days: DaysOpt = DEFAULT_LEAF_DAYS,
) -> None:
    """Issue (or re-issue, with a new key) one certificate signed by the CA."""

    def main() -> CertInfo:
        c = _certs()
        info: CertInfo = c.issue(
            cert_dir, name, kind=c.CertKind(kind.value), hosts=_hosts(hosts), days=days
        )
        return info

    info = _run(main)
    _print([info], f"issued in {cert_dir}")


@certs_app.command("rotate")
def certs_rotate(cert_dir: DirOpt = Path("certs")) -> None:
    """Re-issue every certificate with a new key (the CA stays); servers reload by themselves."""
    made: list[CertInfo] = _run(lambda: _certs().rotate(cert_dir))
    _print(made, f"rotated {len(made)} certificate(s) in {cert_dir}")
    out.print(
        "a running `maestro serve --tls` picks the new server certificate up within a minute; "
        "clients load theirs on their next connection. Old certificates stay valid until they "
        "expire.",
        highlight=False,
    )


@certs_app.command("list")
def certs_list(cert_dir: DirOpt = Path("certs"), as_json: JsonOpt = False) -> None:
    """Every certificate with its expiry (yellow: under two days left; exit code 1 when one
    has expired, for cron checks)."""
    certs: list[CertInfo] = _run(lambda: _certs().inspect(cert_dir))
    if as_json:
        print_json({"certificates": records_json(certs)})
    else:
        _print(certs, f"{len(certs)} certificate(s) in {cert_dir}")
    if any(c.days_left < 0 for c in certs):
        raise typer.Exit(1)
