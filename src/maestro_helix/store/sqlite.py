"""The embedded store: one SQLite file in WAL mode, written by one thread with group commit.

Writes are grouped by :class:`~maestro_helix.store.threaded.ThreadedStore`; here the file is opened
in WAL mode and every transaction starts with ``BEGIN IMMEDIATE`` (so another process writing the
same file waits its turn and the audit chain's head is read under the write lock). With
``synchronous=FULL`` a commit is on disk before any caller hears that it happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from maestro_helix.core.errors import ConfigError
from maestro_helix.store.audit_sql import ReaderTarget
from maestro_helix.store.driver_sql import run_text
from maestro_helix.store.sql import json_dumps
from maestro_helix.store.threaded import ThreadedStore

__all__ = ["Durability", "SQLiteStore"]

Durability = Literal["full", "normal"]


class SQLiteStore(ThreadedStore):
    """Embedded store in one SQLite file.

    Args:
        path: the database file (created with its schema if missing).
        durability: ``"full"`` fsyncs every commit (a reported step survives power loss);
            ``"normal"`` survives a killed process but not power loss.
        max_batch: at most this many operations share one transaction.
        must_exist: refuse to open a file that is not there (read commands never create one).
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "full",
        max_batch: int = 512,
        must_exist: bool = False,
    ) -> None:
        super().__init__(f"sqlite:///{path}", max_batch=max_batch)
        self.path = str(path)
        self.durability = durability
        self.must_exist = must_exist

    def describe(self) -> str:
        return self.path

    def _own_connections(self) -> bool:
        return self.path != ":memory:"

    def _reader_target(self) -> ReaderTarget | None:
        return None if self.path == ":memory:" else ReaderTarget(self.url, {})

    def _prepare(self) -> None:
        if self.must_exist and self.path != ":memory:" and not Path(self.path).is_file():
            raise ConfigError("--db", self.path, "no such database file (nothing was created)")
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _make_engine(self) -> Engine:
        engine = create_engine(self.url, json_serializer=json_dumps, json_deserializer=orjson.loads)
        sync = "FULL" if self.durability == "full" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL may wait too
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # on the driver: SQLAlchemy's statement machinery per transaction costs more than
            # the statement; its errors wrapped as SQLAlchemy would ("database is locked" is
            # the store's busy rule, tried again)
            run_text(conn, "BEGIN IMMEDIATE", None)

        return engine
