"""``maestro actions list | retry KEY``: the actions GIL cleared, and running a failed one again.

A retry uses the action's idempotency key again (a handler that honours it has its effect once),
is audited (``action.retry``, with the admin who asked) and runs here, with the handlers of
``--app``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from maestro_helix.cli.common import (
    AppOpt,
    DbOpt,
    ExitCode,
    GatesOpt,
    JsonOpt,
    PolicyOpt,
    TokenOpt,
    err,
    load_app,
    open_store,
    open_system,
    out,
    print_json,
    records_json,
    run_async,
)
from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.identity import authenticate

__all__ = ["actions_app"]

actions_app = typer.Typer(help="Actions GIL cleared: list them, retry a failed one.")

StatusOpt = Annotated[
    str | None,
    typer.Option(
        "--status", help="Only actions in this status (pending|started|succeeded|failed|refused)."
    ),
]


@actions_app.command("list")
def actions_list(
    status: StatusOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """Actions, newest first: status, attempts and the last error (a failed one can be retried
    with `maestro actions retry KEY`)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            intents = await store.list_intents(status=status, limit=limit)
        if as_json:
            print_json({"actions": records_json(intents)})
            return
        table = Table("type", "status", "attempts", "error")
        table.add_column("key (its run's id first)", no_wrap=True)  # copyable: never cut
        for i in intents:
            table.add_row(
                i.action_type,
                i.status,
                str(i.attempts),
                escape(i.error or ""),
                i.idempotency_key,
            )
        out.print(table)
        out.print(f"{len(intents)} action(s)")

    run_async(main())


@actions_app.command("retry")
def actions_retry(
    key: str,
    token: TokenOpt = None,
    db: DbOpt = "maestro.db",
    gates: GatesOpt = None,
    policy: PolicyOpt = None,
    app_spec: AppOpt = None,
) -> None:
    """Run a failed action again with its idempotency key (admins; audited), with the
    handlers of --app."""

    async def main() -> None:
        if token is None:
            raise MaestroError("give your operator token with --token or MAESTRO_TOKEN")
        spec = load_app(app_spec)
        async with open_system(db, spec, gates, policy, resume=False) as m:
            who = await authenticate(m.store, token)
            after = await m.governance.retry(key, by=who.operator_id, role=who.role)
        tail = f" — {after.error}" if after.error else ""
        out.print(
            f"action {after.action_type} (key {key}): {after.status} after attempt "
            f"{after.attempts}{tail}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if after.status != "succeeded":
            if "no handler registered" in (after.error or ""):
                err.print("pass --app MODULE:ATTR of the app that defines it", soft_wrap=True)
            raise ExitCode(3)

    run_async(main())
