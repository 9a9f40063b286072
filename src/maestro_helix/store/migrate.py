"""Run the Alembic migrations on a connection: the one way every backend gets its schema.

A database already at the head revision (the common case: every process start after the
first) is recognised without importing Alembic: the head is read from the revision files'
``revision``/``down_revision`` lines and compared with the ``alembic_version`` table. Anything
else (a fresh database, an older schema, several heads, another target) goes through Alembic.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from maestro_helix.store.sql import schema_lock_sql

if TYPE_CHECKING:
    from alembic.config import Config

_HERE = Path(__file__).parent
_VERSIONS = _HERE / "migrations" / "versions"
_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions no other revision file names as its ``down_revision``."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        found = {m[1]: m[2] for m in _ASSIGN.finditer(path.read_text("utf-8"))}
        if "revision" not in found:
            continue
        revisions.add(str(ast.literal_eval(found["revision"])))
        down = ast.literal_eval(found.get("down_revision", "None"))
        downs.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - downs)


def at_head(connection: Connection) -> bool:
    """Whether the schema on ``connection`` is at the single head revision already."""
    heads = head_revisions()
    if len(heads) != 1 or not inspect(connection).has_table("alembic_version"):
        return False
    current = {r[0] for r in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
    return current == heads


_MIGRATION_LOCK = 0x6D69  # "mi": serialises schema upgrades across processes (per schema)


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the schema on ``connection`` up to ``revision`` (idempotent).

    Any number of processes may start together on a fresh database: PostgreSQL upgrades under
    a transaction-scoped advisory lock (the others wait, then find the schema current); SQLite's
    upgrade runs inside the store's ``BEGIN IMMEDIATE`` transaction, which is exclusive."""
    if revision == "head" and at_head(connection):
        return  # a schema at head is never changed by another process's upgrade
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(schema_lock_sql(_MIGRATION_LOCK))
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
