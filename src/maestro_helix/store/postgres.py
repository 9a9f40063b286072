"""The production store: PostgreSQL through psycopg 3, same SQL and group commit as SQLite.

Every transaction that appends to the audit chain first takes a transaction-scoped advisory lock,
so any number of processes (API server, workers) can write and the chain stays one sequence.
TLS and other libpq options go in the URL (``?sslmode=verify-full&sslrootcert=...``) or the
standard ``PG*`` environment variables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from maestro_helix.core.records import RunRecord
from maestro_helix.store import lease_sql
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
        self._takes = _HandedTakes(self)

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

    async def acquire_run(
        self,
        run_id: str,
        owner: str,
        ttl_s: float,
        *,
        handed: tuple[int, int] | None = None,
        step: int | None = None,
    ) -> tuple[RunRecord, bool] | None:
        """A work item's take (``handed``) joins the others waiting: one statement for all."""
        if handed is None or step is not None:
            return await super().acquire_run(run_id, owner, ttl_s, handed=handed, step=step)
        return await self._takes.take(run_id, owner, ttl_s, handed)


_Take = tuple[str, int, int, "asyncio.Future[tuple[RunRecord, bool] | None]"]


class _HandedTakes:
    """Work items' takes, grouped: while one group is in the writer, the next gathers (as the
    writer groups step commits), and each group is one ``UPDATE ... FROM (VALUES ...)``. Every
    take keeps its own fence (run, epoch, step); a take not in the statement's rows was not
    taken, exactly as :func:`lease_sql.acquire_run` would have said."""

    def __init__(self, store: ThreadedStore) -> None:
        self._store = store
        self._waiting: dict[tuple[str, float], list[_Take]] = {}
        self._running: asyncio.Task[None] | None = None

    async def take(
        self, run_id: str, owner: str, ttl_s: float, handed: tuple[int, int]
    ) -> tuple[RunRecord, bool] | None:
        fut: asyncio.Future[tuple[RunRecord, bool] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.setdefault((owner, ttl_s), []).append((run_id, handed[0], handed[1], fut))
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        waiting: dict[tuple[str, float], list[_Take]] = {}
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                for (owner, ttl_s), takes in waiting.items():
                    await self._run(owner, ttl_s, takes)
        except BaseException:  # cancelled: no take is left waiting for an answer
            for group in (*waiting.values(), *self._waiting.values()):
                for *_, fut in group:
                    fut.cancel()
            self._waiting = {}
            raise
        finally:
            self._running = None

    async def _run(self, owner: str, ttl_s: float, takes: list[_Take]) -> None:
        items = [(run_id, epoch, step) for run_id, epoch, step, _ in takes]
        try:
            got = await self._store._call(
                lambda c: lease_sql.acquire_handed(c, owner, ttl_s, items)
            )
        except Exception as e:  # every take of the group fails with it
            for *_, fut in takes:
                if not fut.done():
                    fut.set_exception(e)
            return
        except BaseException:  # cancelled (the loop is closing): so are the takes waiting
            for *_, fut in takes:
                fut.cancel()
            raise
        for run_id, _, _, fut in takes:  # a run twice in a group: taken by the first only
            one = got.pop(run_id, None)
            if not fut.done():
                fut.set_result(one)
