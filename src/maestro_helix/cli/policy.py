"""``maestro policy show | diff FILE | apply FILE | approve ID | reject ID | changes``.

The active policy lives in the store, versioned; processes read it and never write it. These
commands are the only way to change it: by an admin (``--token``), audited with their id; a
change that loosens a rule waits for a second admin.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    AppOpt,
    DbOpt,
    ExitCode,
    TokenOpt,
    load_app,
    open_store,
    out,
    run_async,
)
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.ports import Store
from maestro_helix.governance.identity import Operator, authenticate
from maestro_helix.governance.policy import GovernancePolicy, load_policy
from maestro_helix.governance.policy_admin import apply_policy, decide_policy_change
from maestro_helix.governance.policy_change import loosenings
from maestro_helix.governance.records import PolicyChange, PolicyChangeStatus

policy_app = typer.Typer(
    help="The active governance policy: show, diff, apply.", no_args_is_help=True
)

FileArg = Annotated[Path, typer.Argument(help="A governance policy JSON file.")]


def _text(p: GovernancePolicy) -> list[str]:
    return json.dumps(p.canonical(), indent=2, sort_keys=True).splitlines()


async def _active(store: Store) -> tuple[int, GovernancePolicy]:
    """The active version and policy; (0, defaults) on a database no process has started on
    (the first one installs the defaults). Reading never writes."""
    active = await store.active_policy()
    if active is None:
        return 0, GovernancePolicy()
    return active.version, active.policy


async def _who(store: Store, token: str | None) -> Operator:
    if token is None:
        raise MaestroError("give an admin's operator token with --token or MAESTRO_TOKEN")
    return await authenticate(store, token)


@policy_app.command("show")
def policy_show(db: DbOpt = "maestro.db") -> None:
    """The active policy, its version, who set it and when."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            versions = await store.policy_versions()
        if not versions:
            out.print("no active policy yet: the first process to start installs the defaults")
            out.print_json(json.dumps(GovernancePolicy().canonical()))
            return
        cur = versions[-1]
        who = cur.created_by or "first start (no operator)"
        out.print(f"active policy version {cur.version} · set {cur.created_at[:19]} by {who}")
        out.print(f"digest {cur.digest}")
        out.print_json(json.dumps(cur.policy.canonical()))

    run_async(main())


@policy_app.command("diff")
def policy_diff(file: FileArg, db: DbOpt = "maestro.db") -> None:
    """What applying FILE would change, and which rules it loosens (exit 1 if it differs)."""

    async def main() -> None:
        new = load_policy(file)
        async with open_store(db, must_exist=True) as store:
            version, cur = await _active(store)
        lines = list(
            difflib.unified_diff(
                _text(cur), _text(new), f"active (version {version})", str(file), lineterm=""
            )
        )
        if not lines:
            out.print(f"{file} is the active policy (version {version})")
            return
        for line in lines:
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            out.print(f"[{colour}]{line}[/{colour}]" if colour else line, highlight=False)
        loose = loosenings(cur, new)
        if loose:
            out.print("[yellow]loosens (a second admin must approve):[/yellow]")
            for x in loose:
                out.print(f"  {x}", highlight=False)
        raise ExitCode(1)

    run_async(main())


def _report(change: PolicyChange) -> None:
    if change.status is PolicyChangeStatus.PENDING:
        out.print(
            f"policy change {change.change_id} proposed by {change.proposed_by}: it loosens "
            f"{len(change.loosens)} rule(s), so a second admin must run "
            f"`maestro policy approve {change.change_id}`",
            soft_wrap=True,
        )
        for x in change.loosens:
            out.print(f"  {x}", highlight=False)
    elif change.status is PolicyChangeStatus.APPLIED:
        out.print(f"active policy is now version {change.version} (by {change.decided_by})")
    else:
        out.print(f"policy change {change.change_id} rejected by {change.decided_by}")


@policy_app.command("apply")
def policy_apply(
    file: FileArg, token: TokenOpt = None, db: DbOpt = "maestro.db", app_spec: AppOpt = None
) -> None:
    """Make FILE the active policy (admins; audited). A loosening change waits for a second
    admin. The app's action types (--app) are checked against the invariants."""

    async def main() -> None:
        new = load_policy(file)
        spec = load_app(app_spec)
        async with open_store(db) as store:
            who = await _who(store, token)
            change = await apply_policy(
                store,
                new,
                who,
                source=str(file),
                action_types={a.name: a for a in spec.action_types},
            )
        _report(change)

    run_async(main())


def _decide(change_id: str, token: str | None, db: str, approve: bool) -> None:
    async def main() -> None:
        async with open_store(db) as store:
            who = await _who(store, token)
            change = await decide_policy_change(store, change_id, who, approve=approve)
        _report(change)

    run_async(main())


@policy_app.command("approve")
def policy_approve(change_id: str, token: TokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Approve a pending policy change (a second admin, not its proposer)."""
    _decide(change_id, token, db, True)


@policy_app.command("reject")
def policy_reject(change_id: str, token: TokenOpt = None, db: DbOpt = "maestro.db") -> None:
    """Reject a pending policy change."""
    _decide(change_id, token, db, False)


@policy_app.command("changes")
def policy_changes(db: DbOpt = "maestro.db") -> None:
    """Proposed policy changes and what became of them."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            changes = await store.policy_changes()
        table = Table("change", "status", "proposed by", "decided by", "loosens")
        for c in changes:
            table.add_row(
                c.change_id, c.status.value, c.proposed_by, c.decided_by or "", "; ".join(c.loosens)
            )
        out.print(table)

    run_async(main())
