"""What every ``maestro`` command shares: consoles, options, error handling, assembly."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from maestro_helix.core.errors import ConfigError, MaestroError
from maestro_helix.core.extras import require
from maestro_helix.core.ports import Store
from maestro_helix.core.records import RunStatus

if TYPE_CHECKING:
    from maestro_helix.app import Maestro
    from maestro_helix.appspec import AppSpec

# The commands import the system's parts when they run, not when `maestro --help` builds the
# command tree: SQLAlchemy, Alembic, the engine and the evaluators cost most of a second.


def open_store(db: str, *, must_exist: bool = False) -> Store:
    """The store behind ``--db`` (see :func:`maestro_helix.app.open_store`); read commands pass
    ``must_exist`` so a mistyped path is an error, not a new empty database."""
    from maestro_helix.app import open_store as open_db

    return open_db(db, must_exist=must_exist)


def load_app(ref: str | None) -> AppSpec:
    """The ``--app`` / ``MAESTRO_APP`` spec (see :func:`maestro_helix.appspec.load_app`)."""
    from maestro_helix.appspec import load_app as load

    return load(ref)


T = TypeVar("T")

out = Console()
err = Console(stderr=True)

DEFAULT_GATES = Path("config/helix_quality_gates.json")
DEFAULT_POLICY = Path("config/governance.json")

DbOpt = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="MAESTRO_DB",
        help="SQLite file (created if missing) or postgresql://... URL. Env: MAESTRO_DB.",
    ),
]
GatesOpt = Annotated[
    Path | None,
    typer.Option(
        "--gates",
        envvar="MAESTRO_GATES",
        help="Quality gate config (default: ./config/helix_quality_gates.json if present).",
    ),
]


class ExitCode(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn our errors into a clear message and exit code 2."""
    try:
        return asyncio.run(coro)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except MaestroError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except ExitCode as e:
        raise typer.Exit(e.code) from None


def gates_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    return DEFAULT_GATES if DEFAULT_GATES.exists() else None


def policy_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    return DEFAULT_POLICY if DEFAULT_POLICY.exists() else None


PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        envvar="MAESTRO_POLICY",
        help="Governance policy (default: ./config/governance.json if present).",
    ),
]
AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="MAESTRO_APP",
        help="MODULE:ATTR of your AppSpec or AgentRegistry, or an agents YAML file of model agents "
        "(default: the demo's).",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="MAESTRO_TOKEN", help="Your operator API token. Env: MAESTRO_TOKEN."
    ),
]


BusOpt = Annotated[
    str | None,
    typer.Option(
        "--bus",
        envvar="MAESTRO_BUS",
        help="nats://host:4222 to use NATS JetStream for events and to hand steps to "
        "`maestro worker` processes (default: in-process). Env: MAESTRO_BUS.",
    ),
]


def _check_bus(bus: str | None) -> str | None:
    if bus is None or bus == "memory":
        return None
    if not bus.startswith(("nats://", "tls://")):
        raise ConfigError("--bus", "", f"expected nats://host:port or 'memory', got {bus!r}")
    return bus


def audit_signing() -> dict[str, Any]:
    """The log's key and checkpoint cadence from the environment: with ``MAESTRO_KEYS`` (the
    folder ``maestro keys init`` wrote) this process signs checkpoints every
    ``MAESTRO_CHECKPOINT_ENTRIES`` entries (1000) or ``MAESTRO_CHECKPOINT_SECONDS`` (60)."""
    keys = os.environ.get("MAESTRO_KEYS")
    if not keys:
        return {}
    from maestro_helix.governance.auditlog import CheckpointPolicy
    from maestro_helix.governance.checkpoint import load_signer

    try:
        policy = CheckpointPolicy(
            every_entries=int(os.environ.get("MAESTRO_CHECKPOINT_ENTRIES", "1000")),
            every_seconds=float(os.environ.get("MAESTRO_CHECKPOINT_SECONDS", "60")),
        )
    except (ValueError, MaestroError) as e:
        raise ConfigError("MAESTRO_CHECKPOINT_*", "", f"not a positive number: {e}") from None
    return {"audit_signer": load_signer(Path(keys)), "checkpoints": policy}


@asynccontextmanager
async def open_system(
    db: str,
    spec: AppSpec,
    gates: Path | None,
    policy: Path | None,
    *,
    bus: str | None = None,
    dispatch: bool = True,
    **kw: Any,
) -> AsyncIterator[Maestro]:
    """A system on ``db`` with the app's agents, actions and evaluators, and the configs.

    With ``bus`` (a NATS URL) events go to JetStream and, when ``dispatch``, steps are handed to
    workers through the work queue (``m.work_queue``) instead of running here.
    """
    from maestro_helix.app import Maestro

    url = _check_bus(bus)
    queue = None
    event_bus = None
    if url is not None:
        require("nats", extra="nats", feature="--bus nats://")
        from maestro_helix.bus.nats import JetStreamBus
        from maestro_helix.bus.workqueue import JetStreamWorkQueue

        ns = os.environ.get("MAESTRO_NAMESPACE", "")
        event_bus = (
            JetStreamBus(url, stream=f"REFLEXIVE_{ns}", subject=f"{ns}.reflexive.events")
            if ns
            else JetStreamBus(url)
        )
        queue = JetStreamWorkQueue(
            url, namespace=ns, ack_wait_s=float(os.environ.get("MAESTRO_ACK_WAIT", "30"))
        )
        await queue.open()
    try:
        async with Maestro.open(
            db,
            agents=spec.agents,
            action_types=spec.action_types,
            evaluators=spec.evaluators,
            gates=gates_path(gates),
            policy=policy_path(policy),
            bus=event_bus,
            dispatcher=queue if dispatch else None,
            **audit_signing(),
            **kw,
        ) as m:
            m.work_queue = queue
            for wf in spec.workflows:
                await m.engine.register(wf)
            yield m
    finally:
        if queue is not None:
            await queue.aclose()


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")
]


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout, unstyled and unwrapped whatever the terminal width."""
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def records_json(items: Any) -> list[Any]:
    """Dataclass records as JSON-ready dicts (enums as their values)."""
    return [_plain(dataclasses.asdict(i)) for i in items]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def status_text(s: RunStatus) -> str:
    colour = {
        RunStatus.COMPLETED: "green",
        RunStatus.ESCALATED: "yellow",
        RunStatus.FAILED: "red",
        RunStatus.CANCELLED: "red",
        RunStatus.PAUSED: "cyan",
    }.get(s, "white")
    return f"[{colour}]{s.value}[/{colour}]"


def fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"
