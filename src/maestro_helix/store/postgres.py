"""The production store: PostgreSQL through psycopg 3, same SQL and group commit as SQLite.

Every transaction that appends to the audit chain first takes a transaction-scoped advisory lock,
so any number of processes (API server, workers) can write and the chain stays one sequence.
TLS and other libpq options go in the URL (``?sslmode=verify-full&sslrootcert=...``) or the
standard ``PG*`` environment variables.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from maestro_helix.store.audit_sql import ReaderTarget
from maestro_helix.store.sql import json_dumps
from maestro_helix.store.threaded import ThreadedStore

__all__ = ["PostgresStore", "normalise_pg_url"]


def normalise_pg_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` → SQLAlchemy's psycopg 3 driver URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


class PostgresStore(ThreadedStore):
    """PostgreSQL store.

    Args:
        url: ``postgresql://user@host:port/db?sslmode=...``.
        connect_args: extra arguments for ``psycopg.connect`` (e.g. ``{"options": ...}``).
        max_batch: at most this many operations share one transaction.
        reconnect_s: how long a batch keeps retrying after the connection was lost.
    """

    name = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        connect_args: dict[str, Any] | None = None,
        max_batch: int = 512,
        reconnect_s: float = 30.0,
    ) -> None:
        super().__init__(normalise_pg_url(url), max_batch=max_batch, reconnect_s=reconnect_s)
        self.connect_args = dict(connect_args or {})

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _reader_target(self) -> ReaderTarget | None:
        return ReaderTarget(self.url, {"connect_timeout": 10, **self.connect_args})

    def _make_engine(self) -> Engine:
        args = {"connect_timeout": 10, **self.connect_args}
        return create_engine(
            self.url,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
            connect_args=args,
            pool_pre_ping=True,
        )
