"""``maestro knowledge list | show | diff | rollback | prune``: the versioned knowledge base.

Only the learning service adds insights (each a new version). These commands read it, and an
admin may roll it back to an earlier version (a new version with exactly that one's items) or
prune old versions; both are audited with the admin's id. Reading never creates a database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from maestro_helix.cli.common import (
    DbOpt,
    ExitCode,
    JsonOpt,
    TokenOpt,
    open_store,
    out,
    print_json,
    run_async,
)
from maestro_helix.core.clock import iso
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.knowledge import Insight
from maestro_helix.core.ports import Store
from maestro_helix.governance.identity import Operator, authenticate
from maestro_helix.governance.policy import Role

knowledge_app = typer.Typer(
    help="The knowledge base of insights learnt from high-QSR outputs (redacted, versioned).",
    no_args_is_help=True,
)

VersionArg = Annotated[int, typer.Argument(help="A knowledge version number.", min=1)]


async def _admin(store: Store, token: str | None) -> Operator:
    if token is None:
        raise MaestroError("give an admin's operator token with --token or MAESTRO_TOKEN")
    who = await authenticate(store, token)
    if not who.role.at_least(Role.ADMIN):
        raise MaestroError(
            f"operator {who.operator_id} has role {who.role.value!r}; changing the knowledge "
            "base needs admin"
        )
    return who


@knowledge_app.command("list")
def knowledge_list(db: DbOpt = "maestro.db", as_json: JsonOpt = False) -> None:
    """Every kept version: number, when, what made it (push, rollback), how many items."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            versions = await store.knowledge_versions()
        if as_json:
            print_json([v.to_dict() for v in versions])
            return
        if not versions:
            out.print("the knowledge base is empty: nothing has been learnt yet")
            return
        table = Table("version", "created", "op", "items", "note")
        for v in versions:
            table.add_row(str(v.version), v.created_at[:19], v.op, str(v.items), v.note)
        out.print(table)

    run_async(main())


def _item_row(i: Insight) -> list[str]:
    p = i.provenance
    prov = (
        f"{p.get('agent_id')} · QSR {p.get('qsr')} · {p.get('run_id', '')[:8]}/{p.get('step_id')}"
    )
    first = i.text.splitlines()[0] if i.text else ""
    return [i.item_id[:12], i.capability or "-", prov, first[:70]]


@knowledge_app.command("show")
def knowledge_show(
    version: Annotated[
        int | None, typer.Argument(help="A version (default: the current one).", min=1)
    ] = None,
    capability: Annotated[str | None, typer.Option(help="Only this capability.")] = None,
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """The items of a version with their provenance (run, step, agent, QSR, version)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            v, items = await store.knowledge_items(version, capability)
        if as_json:
            print_json({"version": v, "items": [i.to_dict() for i in items]})
            return
        out.print(f"knowledge version {v}: {len(items)} item(s)")
        table = Table("item", "capability", "provenance", "text")
        for i in items:
            table.add_row(*_item_row(i))
        if items:
            out.print(table)

    run_async(main())


@knowledge_app.command("diff")
def knowledge_diff(
    old: VersionArg,
    new: Annotated[
        int | None, typer.Argument(help="The newer version (default: current).", min=1)
    ] = None,
    db: DbOpt = "maestro.db",
    as_json: JsonOpt = False,
) -> None:
    """Items added and removed between two versions (exit 1 if they differ)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            _, a = await store.knowledge_items(old)
            v, b = await store.knowledge_items(new)
        ids_a, ids_b = {i.item_id for i in a}, {i.item_id for i in b}
        added = [i for i in b if i.item_id not in ids_a]
        removed = [i for i in a if i.item_id not in ids_b]
        if as_json:
            print_json(
                {
                    "old": old,
                    "new": v,
                    "added": [i.to_dict() for i in added],
                    "removed": [i.to_dict() for i in removed],
                }
            )
        else:
            out.print(f"version {old} → {v}: +{len(added)} −{len(removed)}")
            for sign, colour, items in (("+", "green", added), ("-", "red", removed)):
                for i in items:
                    row = " · ".join(_item_row(i))
                    out.print(f"[{colour}]{sign} {row}[/{colour}]", highlight=False)
        if added or removed:
            raise ExitCode(1)

    run_async(main())


@knowledge_app.command("rollback")
def knowledge_rollback(
    version: VersionArg, db: DbOpt = "maestro.db", token: TokenOpt = None
) -> None:
    """Make a new version holding exactly what VERSION held (admin; audited)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            who = await _admin(store, token)
            made = await store.rollback_knowledge(version, iso(datetime.now(UTC)), who.operator_id)
        out.print(
            f"knowledge version {made.version} made by {who.operator_id}: the {made.items} "
            f"item(s) of version {version}"
        )

    run_async(main())


@knowledge_app.command("prune")
def knowledge_prune(
    keep: Annotated[int, typer.Option(help="How many of the newest versions to keep.", min=1)] = 10,
    db: DbOpt = "maestro.db",
    token: TokenOpt = None,
) -> None:
    """Forget all but the newest KEEP versions and the items only they held (admin; audited)."""

    async def main() -> None:
        async with open_store(db, must_exist=True) as store:
            who = await _admin(store, token)
            versions, items = await store.prune_knowledge(
                keep, iso(datetime.now(UTC)), who.operator_id
            )
        out.print(f"pruned {versions} version(s) and {items} item(s); kept the newest {keep}")

    run_async(main())
