"""Run the Alembic migrations on a connection: the one way every backend gets its schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from maestro_helix.store.sql import schema_lock_sql

_HERE = Path(__file__).parent


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


_MIGRATION_LOCK = 0x6D69  # "mi": serialises schema upgrades across processes (per schema)


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the schema on ``connection`` up to ``revision`` (idempotent).

    Any number of processes may start together on a fresh database: PostgreSQL upgrades under
    a transaction-scoped advisory lock (the others wait, then find the schema current); SQLite's
    upgrade runs inside the store's ``BEGIN IMMEDIATE`` transaction, which is exclusive."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(schema_lock_sql(_MIGRATION_LOCK))
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
