"""The ``maestro`` command (Typer + Rich)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from maestro_helix.cli import gil
from maestro_helix.cli.actions import actions_app
from maestro_helix.cli.audit import audit_app, keys_app
from maestro_helix.cli.certs import certs_app
from maestro_helix.cli.common import (
    AppOpt,
    BusOpt,
    DbOpt,
    ExitCode,
    GatesOpt,
    JsonOpt,
    PolicyOpt,
    err,
    fmt,
    gates_path,
    load_app,
    open_store,
    open_system,
    out,
    policy_path,
    print_json,
    records_json,
    run_async,
    status_text,
)
from maestro_helix.cli.knowledge import knowledge_app
from maestro_helix.cli.layout import Column, Row, print_rows
from maestro_helix.cli.ops import workflows_app
from maestro_helix.cli.policy import policy_app
from maestro_helix.cli.report import report
from maestro_helix.cli.risk import examples_line, risk_app
from maestro_helix.cli.rollout import register_rollout
from maestro_helix.core.audit import AuditKind
from maestro_helix.core.errors import ConfigError, MaestroError
from maestro_helix.core.records import UNFINISHED, RunStatus
from maestro_helix.governance.policy import load_policy

if TYPE_CHECKING:
    from maestro_helix.app import Maestro

app = typer.Typer(
    help="Maestro + Helix: gated, audited, durable AI agent workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="Inspect and control runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(gil.approvals_app, name="approvals")
app.add_typer(gil.operators_app, name="operators")
app.add_typer(actions_app, name="actions")
app.command("serve")(gil.serve)
app.command("worker")(gil.worker)
app.add_typer(certs_app, name="certs")
app.command("report")(report)
register_rollout(workflows_app)
app.add_typer(workflows_app, name="workflows")
app.add_typer(policy_app, name="policy")
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(risk_app, name="risk")


@app.command()
def demo(
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=1, help="How many tasks.")] = 300,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs executing at once.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed for the generated tasks.")] = 7,
    bus: BusOpt = None,
    verify_audit: Annotated[
        bool,
        typer.Option(
            "--verify-audit",
            help="Re-verify the whole audit chain afterwards (default: the entries of this run).",
        ),
    ] = False,
) -> None:
    """Run the runbook's research → analysis → synthesis workflow over generated tasks."""

    async def main() -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from maestro_helix.agents.demo import demo_tasks
        from maestro_helix.appspec import demo_app
        from maestro_helix.cli.routing_view import knowledge_line, routing_table
        from maestro_helix.cli.summary import (
            SUMMARY_KINDS,
            BatchSummary,
            Marks,
            process_elapsed_s,
            read_since,
        )
        from maestro_helix.helix.gate import load_gate_config
        from maestro_helix.ops.risk_model import example_from_entry
        from maestro_helix.ops.routing_report import ReevaluationFold

        gate_config = load_gate_config(gates_path(gates))  # refuse bad configs before anything
        load_policy(policy_path(policy))
        inputs = demo_tasks(tasks, seed=seed)
        spec = demo_app()
        async with open_system(db, spec, gates, policy, bus=bus, concurrency=concurrency) as m:
            defn = await m.engine.register(spec.workflows[0])
            line = gate_config.default
            summary = BatchSummary(
                min_qsr=0.7 if line.min_qsr is None else line.min_qsr,
                max_mri=0.3 if line.max_mri is None else line.max_mri,
            )
            marks = await Marks.take(m.store)
            progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=out,
                transient=False,
                disable=not out.is_terminal and bool(os.environ.get("CI")),
            )
            t0 = time.perf_counter()
            with progress:
                bar = progress.add_task("tasks", total=tasks)
                ids = await m.engine.submit_many(defn, inputs)
                results = []
                for run_id in ids:
                    results.append(await m.engine.wait(run_id))
                    summary.add(results[-1])
                    progress.advance(bar)
            summary.elapsed_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            batch = await read_since(m.store, marks.audit, SUMMARY_KINDS)  # one pass, verified
            report = await m.verify_audit() if verify_audit else batch.report
            summary.summary_s += time.perf_counter() - t1
            await summary.add_governance(m.store, ids, batch)
            routing = await routing_table(m.store, results, m.router)
            knowledge = await knowledge_line(m.store)
            fold = ReevaluationFold(ids)
            for e in batch.entries[AuditKind.STEP_DECISION]:
                fold.add(e)
            reevaluated = fold.summary()
            examples = [example_from_entry(e) for e in batch.entries[AuditKind.STEP_PREDICTION]]
            risk_line = examples_line([x for x in examples if x is not None], db)
        summary.process_s = process_elapsed_s()
        out.print(summary.table(title=f"maestro demo — {defn.name} v{defn.version}"))
        if routing is not None:
            out.print(routing)
        if knowledge is not None:
            out.print(knowledge, highlight=False, soft_wrap=True)
        out.print(reevaluated.line(), highlight=False, soft_wrap=True)
        scope = "whole chain" if verify_audit else "entries of this run, linked to the chain"
        out.print(
            f"audit chain: {'[green]intact[/green]' if report.ok else '[red]BROKEN[/red]'}"
            f" ({report.checked} {scope}) · database: {m.store.describe()}"
        )
        if risk_line:
            out.print(risk_line)
        if summary.pending_requests:
            out.print(
                f"{summary.pending_requests} approval request(s) wait for people: "
                f"maestro approvals list --db {db}   (or the web UI: maestro serve)"
            )

    run_async(main())


@app.command("run")
def run_cmd(
    file: Annotated[Path, typer.Argument(help="Workflow definition (YAML or JSON).")],
    input: Annotated[str, typer.Option("--input", "-i", help="Run input as a JSON object.")],
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one workflow file on one input and print how every step was judged."""

    async def main() -> None:
        from maestro_helix.core.workflow import load_definition_file
        from maestro_helix.helix.gate import load_gate_config

        load_gate_config(gates_path(gates))
        load_policy(policy_path(policy))
        defn = load_definition_file(file)
        try:
            data = json.loads(input)
        except json.JSONDecodeError as e:
            raise ConfigError("--input", f"column {e.colno}", f"invalid JSON: {e.msg}") from None
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, resume=False) as m:
            stored = await m.engine.register(defn, source=file.name)
            result = await m.engine.run(stored, data, pin=True)  # the file given, as given
        if as_json:
            print_json(
                {
                    "run_id": result.run_id,
                    "status": result.status.value,
                    "error": result.error,
                    "attempts": records_json(result.attempts),
                    "outputs": result.outputs,
                }
            )
        else:
            out.print(f"run [bold]{result.run_id}[/bold] — {status_text(result.status)}")
            out.print(_attempts_table(result))
            if result.error:
                out.print(f"[red]{result.error}[/red]")
        if result.status in (RunStatus.FAILED,):
            raise ExitCode(1)

    run_async(main())


def _attempts_table(result: Any) -> Table:
    table = Table("step", "attempt", "agent", "QSR", "MRI", "decision")
    for a in result.attempts:
        table.add_row(
            a.step_id, str(a.attempt), a.agent_id or "—", fmt(a.qsr), fmt(a.mri), a.decision
        )
    return table


async def take_up_runs(m: Maestro, wait_s: float | None) -> list[str]:
    """Take up unfinished runs, waiting (bounded) for leases of crashed holders to expire."""
    o = m.engine.ownership
    deadline = o.now() + (2 * o.ttl_s + 1 if wait_s is None else wait_s)
    taken: list[str] = []
    while True:
        taken.extend(await m.engine.resume_unfinished())
        left = set(await m.store.run_ids(UNFINISHED)) - set(taken)
        if not left or o.now() >= deadline:
            if left:
                out.print(f"{len(left)} run(s) are held by other live processes; left to them")
            return taken
        await asyncio.sleep(min(0.5, o.ttl_s / 3))


@app.command()
def resume(
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    concurrency: Annotated[int, typer.Option(min=1)] = 128,
    wait_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="How long to wait for runs other processes hold (a crashed process's leases "
            "expire; a live one's never do). Default: twice the lease length.",
        ),
    ] = None,
) -> None:
    """Resume every unfinished run nobody else is executing (after a crash or restart) and
    wait for them."""

    async def main() -> None:
        from maestro_helix.helix.gate import load_gate_config

        load_gate_config(gates_path(gates))
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, concurrency=concurrency, resume=False) as m:
            ids = await take_up_runs(m, wait_s)
            counts: dict[str, int] = {}
            for run_id in ids:
                r = await m.engine.wait(run_id)
                counts[r.status.value] = counts.get(r.status.value, 0) + 1
        out.print(
            f"resumed {len(ids)} run(s): "
            + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to do")
        )

    run_async(main())


_RUN_COLUMNS = (
    Column("run id", keep=True),
    Column("status", 9),
    Column("step", 4, justify="right"),
    Column("created", 11),
    Column("workflow"),
)


_PROCESS_COLUMNS = (
    Column("process", keep=True),
    Column("since", 11),
    Column("alive", 6, justify="right"),
    Column("runs", 5, justify="right"),
    Column("actions", 7, justify="right"),
)


@app.command()
def processes(db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """The processes sharing this database now (each beats on a connection of its own), with
    the unfinished runs and action calls each holds: none of it passes to another process
    while its holder beats."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            live = await store.live_owners()
        if as_json:
            print_json({"processes": [dataclasses.asdict(p) for p in live]})
            return
        rows = [
            Row(
                [
                    p.owner,
                    f"{p.started_at[5:10]} {p.started_at[11:16]}",
                    f"{p.alive_for_s:.0f} s",
                    str(p.runs),
                    str(p.actions),
                ]
            )
            for p in live
        ]
        print_rows(out, f"{len(live)} live process(es)", _PROCESS_COLUMNS, rows)

    run_async(main())


@runs_app.command("list")
def runs_list(
    db: DbOpt = "maestro.db",
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first (the error of a failed run under its row)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            page = await store.list_runs(
                status=status, workflow=workflow, limit=limit, offset=offset
            )
        if as_json:
            print_json({"runs": records_json(page.runs), "total": page.total})
            return
        rows = [
            Row(
                [
                    r.run_id,
                    status_text(r.status),
                    str(r.next_step),
                    f"{r.created_at[5:10]} {r.created_at[11:16]}",
                    f"{r.workflow} v{r.workflow_version}",
                ],
                note=r.error or "",
            )
            for r in page.runs
        ]
        print_rows(out, f"{len(page.runs)} of {page.total} run(s)", _RUN_COLUMNS, rows)

    run_async(main())


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """Show one run: every attempt of every step with its scores, factors and decision."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            rec = await store.get_run(run_id)
            steps = await store.step_records(run_id)
            actions = await store.intents_of(run_id)
        if as_json:
            print_json({"run": records_json([rec])[0], "steps": records_json(steps)})
            return
        out.print(
            f"run [bold]{rec.run_id}[/bold] — {rec.workflow} v{rec.workflow_version} — "
            f"{status_text(rec.status)}"
        )
        out.print(f"input: {json.dumps(rec.input)}", highlight=False)
        if rec.error:
            out.print(f"[red]error:[/red] {rec.error}")
        table = Table("step", "try", "agent", "QSR", "MRI", "decision", "why")
        for s in steps:
            reasons = "; ".join(s.verdict.get("reasons", []))
            factors = ", ".join(f["name"] for f in (s.risk or {}).get("factors", []))
            why = reasons or factors
            table.add_row(
                s.step_id,
                str(s.attempt),
                s.agent_id or "—",
                fmt(s.qsr),
                fmt(s.mri),
                s.decision,
                why[:90],
            )
        out.print(table)
        for a in actions:  # GIL's actions: ran, failed (with why), or waiting
            colour = {"succeeded": "green", "failed": "red"}.get(a.status, "yellow")
            tail = f" — {a.error}" if a.error else ""
            out.print(
                f"action {a.action_type} [{colour}]{a.status}[/{colour}] "
                f"(key {a.idempotency_key}, attempts {a.attempts}){tail}",
                highlight=False,
            )
        for s in steps:
            if s.quality and s.quality.get("suggestions") and s.decision != "pass":
                out.print(
                    f"[dim]{s.step_id} #{s.attempt} suggestions:[/dim] "
                    + " | ".join(s.quality["suggestions"])
                )

    run_async(main())


def _control(action: str, run_id: str, db: str) -> None:
    async def main() -> None:
        from maestro_helix.agents.base import AgentRegistry
        from maestro_helix.app import Maestro

        async with Maestro.open(db, agents=AgentRegistry(), resume=False) as m:
            await getattr(m.engine, action)(run_id)
            rec = await m.store.get_run(run_id)
        out.print(f"run {run_id}: {status_text(rec.status)}")

    run_async(main())


@runs_app.command("pause")
def runs_pause(run_id: str, db: DbOpt = "maestro.db") -> None:
    """Pause a pending or running run at its next step boundary."""
    _control("pause", run_id, db)


@runs_app.command("cancel")
def runs_cancel(run_id: str, db: DbOpt = "maestro.db") -> None:
    """Cancel a run for good."""
    _control("cancel", run_id, db)


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Resume a paused run here and wait for it to stop."""

    async def main() -> None:
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, resume=False) as m:
            await m.engine.resume(run_id)
            result = await m.engine.wait(run_id)
        out.print(f"run {run_id}: {status_text(result.status)}")

    run_async(main())


def _version(value: bool) -> None:
    if value:
        from maestro_helix import __version__

        out.print(f"maestro-helix {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Maestro + Helix: gated, audited, durable AI agent workflows."""


def main() -> None:
    from maestro_helix.observability.logs import configure_logging

    try:
        configure_logging()  # MAESTRO_LOG_LEVEL, MAESTRO_LOG_FORMAT
    except MaestroError as e:
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
