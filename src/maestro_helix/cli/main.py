"""The ``maestro`` command (Typer + Rich)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.demo import demo_app, demo_tasks
from maestro_helix.app import Maestro, open_store
from maestro_helix.appspec import load_app
from maestro_helix.cli import gil
from maestro_helix.cli.audit import audit_app, keys_app
from maestro_helix.cli.certs import certs_app
from maestro_helix.cli.common import (
    AppOpt,
    BusOpt,
    DbOpt,
    ExitCode,
    GatesOpt,
    PolicyOpt,
    fmt,
    gates_path,
    open_system,
    out,
    policy_path,
    run_async,
    status_text,
)
from maestro_helix.cli.ops import workflows_app
from maestro_helix.cli.report import report
from maestro_helix.cli.summary import BatchSummary
from maestro_helix.core.errors import ConfigError
from maestro_helix.core.workflow import load_definition_file
from maestro_helix.governance.policy import load_policy
from maestro_helix.helix.gate import load_gate_config
from maestro_helix.observability.tracing import configure_logging
from maestro_helix.store.base import RunStatus

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
app.command("serve")(gil.serve)
app.command("worker")(gil.worker)
app.add_typer(certs_app, name="certs")
app.command("report")(report)
app.add_typer(workflows_app, name="workflows")


@app.command()
def demo(
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=1, help="How many tasks.")] = 300,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs executing at once.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed for the generated tasks.")] = 7,
    bus: BusOpt = None,
) -> None:
    """Run the runbook's research → analysis → synthesis workflow over generated tasks."""

    async def main() -> None:
        load_gate_config(gates_path(gates))  # refuse bad configs before touching anything
        load_policy(policy_path(policy))
        inputs = demo_tasks(tasks, seed=seed)
        spec = demo_app()
        async with open_system(db, spec, gates, policy, bus=bus, concurrency=concurrency) as m:
            defn = await m.engine.register(spec.workflows[0])
            summary = BatchSummary()
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
                for run_id in ids:
                    summary.add(await m.engine.wait(run_id))
                    progress.advance(bar)
            summary.elapsed_s = time.perf_counter() - t0
            report = await m.verify_audit()
            await summary.add_governance(m.store, ids)
        out.print(summary.table(title=f"maestro demo — {defn.name} v{defn.version}"))
        out.print(
            f"audit chain: {'[green]intact[/green]' if report.ok else '[red]BROKEN[/red]'}"
            f" ({report.checked} entries) · database: {m.store.describe()}"
        )
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run one workflow file on one input and print how every step was judged."""

    async def main() -> None:
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
            result = await m.engine.run(stored, data)
        if as_json:
            out.print_json(
                json.dumps(
                    {
                        "run_id": result.run_id,
                        "status": result.status.value,
                        "error": result.error,
                        "attempts": [dataclasses.asdict(a) for a in result.attempts],
                        "outputs": result.outputs,
                    },
                    default=str,
                )
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


@app.command()
def resume(
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
    concurrency: Annotated[int, typer.Option(min=1)] = 128,
) -> None:
    """Resume every unfinished run (after a crash or restart) and wait for them."""

    async def main() -> None:
        load_gate_config(gates_path(gates))
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, concurrency=concurrency, resume=False) as m:
            ids = await m.engine.resume_unfinished()
            counts: dict[str, int] = {}
            for run_id in ids:
                r = await m.engine.wait(run_id)
                counts[r.status.value] = counts.get(r.status.value, 0) + 1
        out.print(
            f"resumed {len(ids)} run(s): "
            + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to do")
        )

    run_async(main())


@runs_app.command("list")
def runs_list(
    db: DbOpt = "maestro.db",
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List runs, newest first."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            page = await store.list_runs(
                status=status, workflow=workflow, limit=limit, offset=offset
            )
        table = Table(title=f"{len(page.runs)} of {page.total} run(s)")
        table.add_column("run id", no_wrap=True, min_width=36)
        for name in ("workflow", "status", "next step", "created", "error"):
            table.add_column(name)
        for r in page.runs:
            table.add_row(
                r.run_id,
                f"{r.workflow} v{r.workflow_version}",
                status_text(r.status),
                str(r.next_step),
                r.created_at[:19],
                (r.error or "")[:60],
            )
        out.print(table)

    run_async(main())


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    db: DbOpt = "maestro.db",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show one run: every attempt of every step with its scores, factors and decision."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            rec = await store.get_run(run_id)
            steps = await store.step_records(run_id)
        if as_json:
            body = {"run": dataclasses.asdict(rec), "steps": [dataclasses.asdict(s) for s in steps]}
            out.print_json(json.dumps(body, default=str))
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
        for s in steps:
            if s.quality and s.quality.get("suggestions") and s.decision != "pass":
                out.print(
                    f"[dim]{s.step_id} #{s.attempt} suggestions:[/dim] "
                    + " | ".join(s.quality["suggestions"])
                )

    run_async(main())


def _control(action: str, run_id: str, db: str) -> None:
    async def main() -> None:
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


def main() -> None:
    level = os.environ.get("MAESTRO_LOG_LEVEL", "WARNING").upper()
    configure_logging(getattr(logging, level, logging.WARNING))
    app()


if __name__ == "__main__":
    main()
