"""Governance commands: ``maestro approvals …``, ``maestro operators …`` and ``maestro serve``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from maestro_helix.app import open_store
from maestro_helix.appspec import load_app
from maestro_helix.cli.common import (
    AppOpt,
    BusOpt,
    DbOpt,
    ExitCode,
    GatesOpt,
    PolicyOpt,
    TokenOpt,
    err,
    fmt,
    open_system,
    out,
    run_async,
    status_text,
)
from maestro_helix.core.clock import SystemClock
from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.identity import Operator, add_operator, authenticate
from maestro_helix.governance.policy import Decision, Role
from maestro_helix.store.base import ApprovalRecord, ApprovalRequest, RunStatus

approvals_app = typer.Typer(help="Decide what GIL is waiting for.", no_args_is_help=True)
operators_app = typer.Typer(help="People who may look, run and decide.", no_args_is_help=True)


def _left(req: ApprovalRequest) -> str:
    left = datetime.fromisoformat(req.expires_at) - SystemClock().now()
    secs = int(left.total_seconds())
    if secs <= 0:
        return "expired"
    return f"{secs // 3600}h{(secs % 3600) // 60:02d}m"


def _count(req: ApprovalRequest, approvals: tuple[ApprovalRecord, ...]) -> str:
    n = sum(1 for a in approvals if a.decision == "approve")
    return f"{n} of {req.required_approvals}"


@approvals_app.command("list")
def approvals_list(
    db: DbOpt = "maestro.db",
    status: Annotated[str, typer.Option(help="pending, approved, rejected, expired, all")] = (
        "pending"
    ),
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Approval requests, oldest first, with why each is there."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            reqs = await store.list_requests(
                status=None if status == "all" else status, limit=limit
            )
            rows = [(r, (await store.get_request(r.request_id))[1]) for r in reqs]
        table = Table(title=f"{len(rows)} {status} request(s)")
        table.add_column("request id", no_wrap=True)
        for col in ("what", "why", "QSR", "MRI", "approvals", "left"):
            table.add_column(col)
        for r, approvals in rows:
            what = r.action_type or f"escalated step {r.scores.get('step_id')}"
            table.add_row(
                r.request_id,
                what,
                "; ".join(r.reasons)[:80],
                fmt(r.scores.get("qsr")),
                fmt(r.scores.get("mri")),
                _count(r, approvals),
                _left(r) if r.status == "pending" else r.status,
            )
        out.print(table)

    run_async(main())


@approvals_app.command("show")
def approvals_show(request_id: str, db: DbOpt = "maestro.db") -> None:
    """One request: reasons, scores, risk factors, the exact payload, approvals so far."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            req, approvals = await store.get_request(request_id)
        out.print(f"[bold]{req.request_id}[/bold] — {req.kind} — {req.status}")
        out.print(f"run {req.run_id}, step {req.scores.get('step_id')} #{req.attempt}")
        out.print("why: " + "; ".join(req.reasons), highlight=False)
        out.print(f"QSR {fmt(req.scores.get('qsr'))} · MRI {fmt(req.scores.get('mri'))}")
        for f in req.scores.get("factors") or []:
            out.print(
                f"  risk factor {f['name']} {f['score']:.2f} — {f['detail']}", highlight=False
            )
        out.print(f"approvals: {_count(req, approvals)} (two-person rule when 2)")
        for a in approvals:
            out.print(f"  {a.operator_id}: {a.decision} at {a.ts[:19]} {a.reason or ''}")
        if req.status == "pending":
            out.print(f"time left: {_left(req)}")
        out.print(f"payload hash: {req.payload_hash}")
        out.print_json(json.dumps(req.payload, default=str))

    run_async(main())


async def _whoami(store: object, token: str | None) -> Operator:
    if token is None:
        raise MaestroError("give your operator token with --token or MAESTRO_TOKEN")
    return await authenticate(store, token)  # type: ignore[arg-type]


def _decide(
    decision: Decision,
    request_id: str,
    reason: str | None,
    token: str | None,
    db: str,
    gates: object,
    policy: object,
    app_spec: str | None,
    payload_hash: str | None,
) -> None:
    async def main() -> None:
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, resume=False) as m:  # type: ignore[arg-type]
            who = await _whoami(m.store, token)
            outcome = await m.governance.decide(
                request_id,
                operator_id=who.operator_id,
                role=who.role,
                decision=decision,
                reason=reason,
                payload_hash_seen=payload_hash,
            )
            if outcome.result == "refused":
                assert outcome.refusal is not None
                err.print(
                    f"[red]refused[/red] ({outcome.refusal.code}): {outcome.refusal.message}",
                    soft_wrap=True,
                )
                raise ExitCode(3)
            req = outcome.request
            n = sum(1 for a in outcome.approvals if a.decision == "approve")
            verb = "already recorded" if outcome.result == "replayed" else "recorded"
            out.print(
                f"{decision.value} by {who.operator_id} {verb}: request {req.status} "
                f"({n} of {req.required_approvals} approvals)"
            )
            if outcome.run_status is RunStatus.RUNNING:
                await m.engine.resume_unfinished()
                result = await m.engine.wait(req.run_id)
                out.print(f"run {req.run_id}: {status_text(result.status)}")

    run_async(main())


ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why (required to reject).")]
HashOpt = Annotated[
    str | None,
    typer.Option("--payload-hash", help="The payload hash you reviewed (refused if it changed)."),
]


@approvals_app.command("approve")
def approvals_approve(
    request_id: str,
    token: TokenOpt = None,
    reason: ReasonOpt = None,
    payload_hash: HashOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Approve a request as the operator holding --token; runs the action at quorum."""
    _decide(Decision.APPROVE, request_id, reason, token, db, gates, policy, app_spec, payload_hash)


@approvals_app.command("reject")
def approvals_reject(
    request_id: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")],
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Reject a request: nothing runs and the run stops with the reason."""
    _decide(Decision.REJECT, request_id, reason, token, db, gates, policy, app_spec, None)


@approvals_app.command("override")
def approvals_override(
    request_id: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")],
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Accept despite the gate (admins only), with a written reason."""
    _decide(Decision.OVERRIDE, request_id, reason, token, db, gates, policy, app_spec, None)


@operators_app.command("add")
def operators_add(
    name: str,
    role: Annotated[Role, typer.Option(help="viewer, operator, approver or admin.")] = Role.VIEWER,
    db: DbOpt = "maestro.db",
) -> None:
    """Create an operator and print its API token (shown once; only its hash is stored)."""

    async def main() -> None:
        async with open_store(db) as store:
            op, token = await add_operator(store, name, role)
        out.print(f"operator {op.operator_id} ({op.role.value}) created. API token, shown once:")
        print(token)

    run_async(main())


@operators_app.command("list")
def operators_list(db: DbOpt = "maestro.db") -> None:
    """Operators and their roles (never their tokens)."""

    async def main() -> None:
        async with open_store(db) as store:
            ops = await store.list_operators()
        table = Table("operator", "role", "created", "disabled")
        for o in ops:
            table.add_row(
                o.operator_id, o.role.value, o.created_at[:19], "yes" if o.disabled else ""
            )
        out.print(table)

    run_async(main())


def serve(
    db: DbOpt = "maestro.db",
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    allow_remote: Annotated[
        bool, typer.Option(help="Allow a non-loopback address (needs an admin operator).")
    ] = False,
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    bus: BusOpt = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="Require mutual TLS (client certificates from --certs).")
    ] = False,
    certs: Annotated[
        Path,
        typer.Option(
            "--certs", envvar="MAESTRO_CERTS", help="Certificate directory (maestro certs init)."
        ),
    ] = Path("certs"),
) -> None:
    """Serve the admin API and the escalation web UI (and run the engine, or with --bus hand
    the steps to `maestro worker` processes)."""

    async def main() -> None:
        from maestro_helix.api.server import serve as serve_http

        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, bus=bus) as m:
            scheme = "https" if tls else "http"
            out.print(f"serving {scheme}://{host}:{port}/ui (API under /, metrics at /metrics)")
            await serve_http(
                m, host, port, allow_remote=allow_remote, tls_dir=certs if tls else None
            )

    run_async(main())


def worker(
    db: DbOpt = "maestro.db",
    bus: Annotated[
        str, typer.Option("--bus", envvar="MAESTRO_BUS", help="nats://host:4222 (required).")
    ] = "nats://127.0.0.1:4222",
    capabilities: Annotated[
        str | None,
        typer.Option(help="Comma-separated capabilities to serve (default: all of the app's)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Steps running at once.")] = 32,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT/metrics."),
    ] = None,
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Run steps handed out through the NATS work queue (start any number, on any machine)."""

    async def main() -> None:
        import signal

        from maestro_helix.engine.worker import run_worker

        spec = load_app(app_spec)
        caps = frozenset(c.strip() for c in capabilities.split(",")) if capabilities else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_system(db, spec, gates, policy, bus=bus, dispatch=False, resume=False) as m:
            out.print(
                f"worker on {m.store.describe()} · {bus} · capabilities: "
                f"{', '.join(sorted(caps or spec.agents.capabilities()))}"
            )
            exporter = None
            if metrics_port is not None:
                import uvicorn
                from starlette.applications import Starlette
                from starlette.routing import Mount

                from maestro_helix.observability.metrics import metrics_app

                class _Exporter(uvicorn.Server):
                    @contextlib.contextmanager
                    def capture_signals(self) -> Iterator[None]:
                        yield  # the worker's own SIGTERM handler stays in charge

                web = Starlette(routes=[Mount("/metrics", app=metrics_app(m.metrics))])
                exporter = _Exporter(
                    uvicorn.Config(
                        web, host="127.0.0.1", port=metrics_port, log_config=None, lifespan="off"
                    )
                )
                exporting = asyncio.create_task(exporter.serve())
            try:
                await run_worker(
                    m, m.work_queue, concurrency=concurrency, capabilities=caps, stop=stop
                )
            finally:
                if exporter is not None:
                    exporter.should_exit = True
                    await exporting

    run_async(main())
