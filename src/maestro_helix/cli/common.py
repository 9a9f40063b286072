"""What every ``maestro`` command shares: consoles, options, error handling, assembly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from maestro_helix.app import Maestro
from maestro_helix.appspec import AppSpec
from maestro_helix.core.errors import ConfigError, MaestroError
from maestro_helix.store.base import RunStatus

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
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except MaestroError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
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
        help="MODULE:ATTR of your AppSpec or AgentRegistry (default: the demo's).",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="MAESTRO_TOKEN", help="Your operator API token. Env: MAESTRO_TOKEN."
    ),
]


@asynccontextmanager
async def open_system(
    db: str,
    spec: AppSpec,
    gates: Path | None,
    policy: Path | None,
    **kw: Any,
) -> AsyncIterator[Maestro]:
    """A system on ``db`` with the app's agents, actions and evaluators, and the configs."""
    async with Maestro.open(
        db,
        agents=spec.agents,
        action_types=spec.action_types,
        evaluators=spec.evaluators,
        gates=gates_path(gates),
        policy=policy_path(policy),
        **kw,
    ) as m:
        for wf in spec.workflows:
            await m.engine.register(wf)
        yield m


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
