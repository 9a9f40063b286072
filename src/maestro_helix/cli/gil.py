"""Governance commands: ``maestro approvals …``, ``maestro operators …`` and ``maestro serve``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    AppOpt,
    BusOpt,
    DbOpt,
    ExitCode,
    GatesOpt,
    JsonOpt,
    PolicyOpt,
    TokenOpt,
    err,
    fmt,
    load_app,
    open_store,
    open_system,
    out,
    print_json,
    records_json,
    run_async,
    status_text,
)
from maestro_helix.cli.layout import Column, Row, print_rows
from maestro_helix.core.clock import SystemClock
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.extras import require
from maestro_helix.core.records import ApprovalRecord, ApprovalRequest, RunStatus
from maestro_helix.engine.housekeeping import HOUSEKEEPING_INTERVAL_S
from maestro_helix.governance.identity import (
    Operator,
    add_operator,
    authenticate,
    change_operator,
)
from maestro_helix.governance.planning import approval_summary, own_payloads
from maestro_helix.governance.policy import Decision, Role
from maestro_helix.governance.records import OperatorChange
from maestro_helix.governance.rules import Verdict

approvals_app = typer.Typer(help="Decide what GIL is waiting for.", no_args_is_help=True)
operators_app = typer.Typer(help="People who may look, run and decide.", no_args_is_help=True)


def _left(req: ApprovalRequest) -> str:
    left = datetime.fromisoformat(req.expires_at) - SystemClock().now()
    secs = int(left.total_seconds())
    if secs <= 0:
        return "expired"
    return f"{secs // 3600}h{(secs % 3600) // 60:02d}m"


def _count(req: ApprovalRequest, approvals: tuple[ApprovalRecord, ...]) -> str:
    n = sum(1 for a in approvals if a.decision != Decision.REJECT.value)
    return f"{n} of {req.required_approvals}"


_REQUEST_COLUMNS = (
    Column("request id", keep=True),
    Column("QSR", 5, justify="right"),
    Column("MRI", 5, justify="right"),
    Column("ok", 3),
    Column("left", 8),
)


def _request_json(req: ApprovalRequest, approvals: tuple[ApprovalRecord, ...]) -> dict[str, Any]:
    return {**records_json([req])[0], "approvals": records_json(approvals)}


@approvals_app.command("list")
def approvals_list(
    db: DbOpt = "maestro.db",
    status: Annotated[
        str, typer.Option(help="pending, approved, rejected, overridden, expired, withdrawn, all")
    ] = ("pending"),
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Approval requests, oldest first: scores, approvals so far and time left, and under each
    what it is and why it is there."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            reqs = await store.list_requests(
                status=None if status == "all" else status, limit=limit
            )
            rows = [(r, (await store.get_request(r.request_id))[1]) for r in reqs]
        if as_json:
            print_json({"approvals": [_request_json(r, a) for r, a in rows]})
            return
        lines = []
        for r, approvals in rows:
            what = r.action_type or f"escalated step {r.scores.get('step_id')}"
            lines.append(
                Row(
                    [
                        r.request_id,
                        fmt(r.scores.get("qsr")),
                        fmt(r.scores.get("mri")),
                        _count(r, approvals).replace(" of ", "/"),
                        _left(r) if r.status == "pending" else r.status,
                    ],
                    note=f"{what}: {'; '.join(r.reasons) or 'no reason given'}",
                )
            )
        print_rows(out, f"{len(rows)} {status} request(s)", _REQUEST_COLUMNS, lines)

    run_async(main())


@approvals_app.command("show")
def approvals_show(request_id: str, db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """One request: reasons, scores, risk factors, the exact payload, approvals so far."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            req, approvals = await store.get_request(request_id)
        if as_json:
            print_json(_request_json(req, approvals))
            return
        out.print(f"[bold]{req.request_id}[/bold] — {req.kind} — {req.status}")
        out.print(f"run {req.run_id}, step {req.scores.get('step_id')} #{req.attempt}")
        if req.scores.get("rule"):
            out.print(f"rule: {req.scores['rule']}", highlight=False)
        for line in approval_summary(req):
            out.print(f"approve runs {line['line']}", highlight=False)
        out.print("why: " + "; ".join(req.reasons), highlight=False)
        out.print(f"QSR {fmt(req.scores.get('qsr'))} · MRI {fmt(req.scores.get('mri'))}")
        for f in req.scores.get("factors") or []:
            out.print(
                f"  risk factor {f['name']} {f['score']:.2f} — {f['detail']}", highlight=False
            )
        out.print(f"approvals: {_count(req, approvals)} (distinct people)")
        for a in approvals:
            out.print(f"  {a.operator_id}: {a.decision} at {a.ts[:19]} {a.reason or ''}")
        if req.status == "pending":
            out.print(f"time left: {_left(req)}")
        for own in own_payloads(req):  # what each handler receives, first
            out.print(f"{own['type']} payload (hash {own['hash']}):", highlight=False)
            out.print_json(own["json"])
        out.print(f"payload hash: {req.payload_hash}  (pass it as --payload-hash)")
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
    if decision is not Decision.REJECT and not payload_hash:
        err.print(
            f"[red]error:[/red] --payload-hash is required to {decision.value}: review the "
            f"payload with `maestro approvals show {request_id}` and pass the hash it prints",
            soft_wrap=True,
        )
        raise typer.Exit(2)

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
            if outcome.result is Verdict.REFUSED:
                assert outcome.refusal is not None
                err.print(
                    f"[red]refused[/red] ({outcome.refusal.code}): {outcome.refusal.message}",
                    soft_wrap=True,
                )
                raise ExitCode(3)
            req = outcome.request
            n = sum(1 for a in outcome.approvals if a.decision != Decision.REJECT.value)
            verb = "already recorded" if outcome.result is Verdict.REPLAYED else "recorded"
            out.print(
                f"{decision.value} by {who.operator_id} {verb}: request {req.status} "
                f"({n} of {req.required_approvals} approvals)"
            )
            if outcome.run_status is RunStatus.RUNNING:
                result = await m.engine.wait(req.run_id)
                out.print(f"run {req.run_id}: {status_text(result.status)}")
            for intent in await m.store.intents_of(req.run_id):
                if intent.request_id == req.request_id:
                    out.print(
                        f"action {intent.action_type}: {intent.status}"
                        + (f" — {intent.error}" if intent.error else ""),
                        highlight=False,
                    )

    run_async(main())


ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why (required to reject).")]
HashOpt = Annotated[
    str | None,
    typer.Option(
        "--payload-hash",
        help="The payload hash you reviewed (required to approve; refused if it changed).",
    ),
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
    payload_hash: HashOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Accept despite the gate (admins only), with a written reason. Never lowers the quorum:
    a request that needs two people needs two admins (or approvers)."""
    _decide(Decision.OVERRIDE, request_id, reason, token, db, gates, policy, app_spec, payload_hash)


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
def operators_list(db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """Operators and their roles (never their tokens)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            ops = await store.list_operators()
        if as_json:
            print_json(
                {
                    "operators": [
                        {
                            "operator_id": o.operator_id,
                            "role": o.role.value,
                            "created_at": o.created_at,
                            "disabled": bool(o.disabled),
                        }
                        for o in ops
                    ]
                }
            )
            return
        table = Table("operator", "role", "created", "disabled")
        for o in ops:
            table.add_row(
                o.operator_id, o.role.value, o.created_at[:19], "yes" if o.disabled else ""
            )
        out.print(table)

    run_async(main())


def _change_operator(name: str, change: OperatorChange, token: str | None, db: str) -> None:
    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            by = await authenticate(store, token) if token is not None else None
            new = await change_operator(store, name, change, by=by)
        who = by.operator_id if by is not None else "database access"
        out.print(f"operator {name}: {change.value} done (by {who}; audited)")
        if new is not None:
            out.print("new API token, shown once (the old one no longer works):")
            print(new)

    run_async(main())


AdminTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MAESTRO_TOKEN",
        help="An admin's token, recorded as who did it (without: recorded as database access).",
    ),
]


@operators_app.command("disable")
def operators_disable(name: str, token: AdminTokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Disable an operator: their token stops working at once, in every process."""
    _change_operator(name, OperatorChange.DISABLE, token, db)


@operators_app.command("enable")
def operators_enable(name: str, token: AdminTokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Enable a disabled operator again (same token)."""
    _change_operator(name, OperatorChange.ENABLE, token, db)


@operators_app.command("rotate-token")
def operators_rotate(name: str, token: AdminTokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Give an operator a new token (printed once); the old one stops working at once."""
    _change_operator(name, OperatorChange.ROTATE, token, db)


@operators_app.command("remove")
def operators_remove(name: str, token: AdminTokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Remove an operator (their past decisions stay in the audit log)."""
    _change_operator(name, OperatorChange.REMOVE, token, db)


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
        for module in ("fastapi", "uvicorn", "jinja2", "multipart", "cryptography"):
            require(module, extra="server", feature="maestro serve")
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

        require("nats", extra="nats", feature="maestro worker")
        if metrics_port is not None:
            require("uvicorn", extra="server", feature="maestro worker --metrics-port")
        from maestro_helix.engine.worker import run_worker

        spec = load_app(app_spec)
        caps = frozenset(c.strip() for c in capabilities.split(",")) if capabilities else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # the worker's housekeeping hands runs nobody holds back to the queue (dispatch)
        async with open_system(
            db, spec, gates, policy, bus=bus, resume=False, housekeeping_s=HOUSEKEEPING_INTERVAL_S
        ) as m:
            out.print(
                f"worker on {m.store.describe()} · {bus} · capabilities: "
                f"{', '.join(sorted(caps or spec.agents.capabilities()))}"
            )
            exporter = None
            if metrics_port is not None:
                import uvicorn
                from starlette.applications import Starlette
                from starlette.requests import Request
                from starlette.responses import Response
                from starlette.routing import Route

                class _Exporter(uvicorn.Server):
                    @contextlib.contextmanager
                    def capture_signals(self) -> Iterator[None]:
                        yield  # the worker's own SIGTERM handler stays in charge

                async def scrape(request: Request) -> Response:
                    body, content_type = m.metrics.render(request.headers.get("accept"))
                    return Response(body, media_type=content_type)

                web = Starlette(routes=[Route("/metrics", scrape)])  # at /metrics, no redirect
                exporter = _Exporter(
                    uvicorn.Config(
                        web, host="127.0.0.1", port=metrics_port, log_config=None, lifespan="off"
                    )
                )
                exporting = asyncio.create_task(exporter.serve())
            try:
                await run_worker(
                    m.engine,
                    m.agents,
                    m.work_queue,
                    concurrency=concurrency,
                    capabilities=caps,
                    stop=stop,
                )
            finally:
                if exporter is not None:
                    exporter.should_exit = True
                    await exporting

    run_async(main())
