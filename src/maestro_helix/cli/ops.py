"""``maestro workflows …``: versions, restore, pause and resume (the runbook's rollback path)."""

from __future__ import annotations

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    AppOpt,
    DbOpt,
    GatesOpt,
    JsonOpt,
    PolicyOpt,
    TokenOpt,
    load_app,
    open_store,
    open_system,
    out,
    print_json,
    records_json,
    run_async,
)
from maestro_helix.core.clock import SystemClock, iso
from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.identity import authenticate
from maestro_helix.governance.policy import Role

workflows_app = typer.Typer(help="Versioned workflow definitions.", no_args_is_help=True)


@workflows_app.command("list")
def workflows_list(db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """Workflows, their head version, and whether they are paused."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            defs = await store.list_workflows()
            paused = await store.paused_workflows()
        heads: dict[str, int] = {}
        for d in defs:
            heads[d.name] = max(heads.get(d.name, 0), d.version)
        if as_json:
            print_json(
                {
                    "workflows": [
                        {
                            "name": d.name,
                            "head_version": d.version,
                            "steps": len(d.steps),
                            "paused": d.name in paused,
                        }
                        for d in defs
                        if d.version == heads[d.name]
                    ]
                }
            )
            return
        table = Table("workflow", "head version", "steps", "paused")
        for d in defs:
            if d.version == heads[d.name]:
                table.add_row(
                    d.name, str(d.version), str(len(d.steps)), "paused" if d.name in paused else ""
                )
        out.print(table)

    run_async(main())


@workflows_app.command("versions")
def workflows_versions(name: str, db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """Every stored version of a workflow, oldest first."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            versions = await store.list_workflow_versions(name)
        if as_json:
            print_json({"name": name, "versions": records_json(versions)})
            return
        table = Table("version", "created", "digest", "head")
        for v in versions:
            table.add_row(
                str(v.version), v.created_at[:19], v.digest[:12], "head" if v.head else ""
            )
        out.print(table)

    run_async(main())


async def _operator(store: object, token: str | None, needed: Role) -> str:
    if token is None:
        raise MaestroError("give your operator token with --token or MAESTRO_TOKEN")
    who = await authenticate(store, token)  # type: ignore[arg-type]
    if not who.role.at_least(needed):
        raise MaestroError(f"role {who.role.value!r} cannot do this (needs {needed.value})")
    return who.operator_id


@workflows_app.command("restore")
def workflows_restore(
    name: str, version: int, token: TokenOpt = None, db: DbOpt = "maestro.db"
) -> None:
    """Make an old version the head again (as a new version; history is kept). Admins only."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            by = await _operator(store, token, Role.ADMIN)
            head = await store.restore_workflow(name, version, iso(SystemClock().now()), by)
        out.print(f"{name}: version {version} restored as new head version {head.version}")

    run_async(main())


def _pause(
    name: str,
    paused: bool,
    token: str | None,
    db: str,
    gates: object,
    policy: object,
    app_spec: str | None,
) -> None:
    async def main() -> None:
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, resume=False) as m:  # type: ignore[arg-type]
            by = await _operator(m.store, token, Role.OPERATOR)
            if paused:
                await m.engine.pause_workflow(name, by=by)
                out.print(f"{name}: paused (runs stop at their next step boundary)")
            else:
                ids = await m.engine.resume_workflow(name, by=by)
                out.print(f"{name}: resumed; {len(ids)} paused run(s) continue")
                for run_id in ids:
                    await m.engine.wait(run_id)

    run_async(main())


@workflows_app.command("pause")
def workflows_pause(
    name: str,
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Pause a workflow: its runs stop at the next step boundary (runbook: contain)."""
    _pause(name, True, token, db, gates, policy, app_spec)


@workflows_app.command("resume")
def workflows_resume(
    name: str,
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Resume a paused workflow; its paused runs continue here."""
    _pause(name, False, token, db, gates, policy, app_spec)
