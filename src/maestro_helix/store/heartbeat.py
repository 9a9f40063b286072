"""A process's heartbeat on a thread and connection of its own, never queued behind the writer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Connection, Engine

from maestro_helix.core.errors import StoreError
from maestro_helix.store import lease_sql
from maestro_helix.store.group_commit import reason

__all__ = ["Heartbeat"]


class Heartbeat:
    """Writes ``owners`` rows (:func:`~maestro_helix.store.lease_sql.keep_alive`) on one thread
    with one connection, opened at the first beat and again after a failed one.

    Args:
        engine: the store's engine (read at the first beat: it exists once the store is open).
        name: the thread's name prefix.
    """

    def __init__(self, engine: Callable[[], Engine], name: str) -> None:
        self._engine = engine
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None

    async def beat(self, owner: str, ttl_s: float) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        await asyncio.wrap_future(self._pool.submit(self._beat, owner, ttl_s))

    async def aclose(self) -> None:
        """The last beat ends first; then the connection closes."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        await asyncio.wrap_future(pool.submit(self._close_conn))
        pool.shutdown(wait=False)

    def _beat(self, owner: str, ttl_s: float) -> None:
        try:
            if self._conn is None:
                self._conn = self._engine().connect()
            with self._conn.begin():
                lease_sql.keep_alive(self._conn, owner, ttl_s)
        except Exception as e:  # a fresh connection next time
            self._close_conn()
            raise StoreError(f"heartbeat failed: {reason(e)}") from e

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
