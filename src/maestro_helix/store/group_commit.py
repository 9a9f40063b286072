"""Group commit: the writer thread's loop, moved out of :mod:`maestro_helix.store.threaded`.

The thread takes whatever operations are waiting, runs them in one transaction (step commits,
new runs, audit entries and handler calls' ends become one multi-row statement per table),
commits, and only then completes each caller's future. If the grouped transaction fails, it is
rolled back and every operation is retried on its own, so one bad operation fails alone and
nothing is half-written. If the connection itself is lost, the thread reconnects and retries the
whole batch (bounded), which is safe because the failed transaction wrote nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError

from maestro_helix.core.audit import AuditDraft
from maestro_helix.core.errors import InputError, LeaseLost, MaestroError, StoreError
from maestro_helix.core.records import ActionIntent, EventRecord, NewRun, StepCommit
from maestro_helix.store import gil_sql, sql
from maestro_helix.store.known import Known
from maestro_helix.store.migrate import upgrade

__all__ = ["STOP", "Finish", "GroupWriter", "Op", "connect_upgraded", "is_busy", "reason"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Op:
    """One caller's operation waiting for the writer; ``future`` completes after the commit."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[[Connection], Any] | None = None  # a general operation, run in order
    commit: StepCommit | None = None  # a step commit, grouped
    new_runs: tuple[Sequence[NewRun], Sequence[EventRecord]] | None = None
    audit: Sequence[AuditDraft] | None = None  # audit entries alone, grouped like step commits
    finish: Finish | None = None  # the end of a handler call: its audit and event grouped


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a handler call (``Store.finish_intent``)."""

    intent: ActionIntent
    ok: bool
    result: Any
    error: str | None
    ts: str
    audit: AuditDraft
    event: EventRecord


STOP = object()
"""Put on the queue to end :meth:`GroupWriter.serve` after what is queued before it."""


def connect_upgraded(engine: Engine, reconnect_s: float) -> Connection:
    """The writer's connection, schema brought up to date. Processes opening one fresh
    database together wait for each other (SQLite's WAL switch and first write can report
    "database is locked" past busy_timeout; PostgreSQL may pick one to break a deadlock):
    tried again with backoff, bounded by ``reconnect_s``."""
    deadline = time.monotonic() + reconnect_s
    delay = 0.05
    while True:
        conn: Connection | None = None
        try:
            conn = engine.connect()
            with conn.begin():
                upgrade(conn)
            return conn
        except Exception as e:
            if conn is not None:
                conn.close()
            if not is_busy(e) or time.monotonic() > deadline:
                raise
            log.info("database busy while opening; trying again", extra={"error": reason(e)})
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class GroupWriter:
    """Serves a queue of :class:`Op` on one connection, many per transaction.

    Args:
        engine: where a lost connection is opened again.
        ops: the queue callers put operations (and :data:`STOP`) on.
        max_batch: at most this many operations share one transaction.
        reconnect_s: how long to keep retrying a batch whose connection was lost.
        half_life_s: the track record's decay for new rows, read per batch (set after open).
        on_commit: called after each committed transaction that held step commits.
    """

    def __init__(
        self,
        engine: Engine,
        ops: queue.SimpleQueue[Any],
        *,
        max_batch: int,
        reconnect_s: float,
        half_life_s: Callable[[], float],
        on_commit: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._queue = ops
        self.max_batch = max_batch
        self.reconnect_s = reconnect_s
        self._half_life_s = half_life_s
        self._on_commit = on_commit
        self._known = Known()  # what the grouped writes need not read again (SQLite)

    def serve(self, conn: Connection) -> Connection:
        """Run batches until :data:`STOP`; returns the connection in use at the end."""
        while True:
            first = self._queue.get()
            if first is STOP:
                return conn
            ops: list[Op] = [first]
            stop = False
            while len(ops) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is STOP:
                    stop = True
                    break
                ops.append(nxt)
            conn = self._run_lost_safe(conn, ops)
            if stop:
                return conn

    def _reconnect(self, conn: Connection) -> Connection:
        """A fresh connection after the old one was lost (waits with backoff, bounded)."""
        raw = None
        with contextlib.suppress(Exception):
            raw = conn.connection.dbapi_connection
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()
        with contextlib.suppress(Exception):  # the broken driver connection, closed for sure
            if raw is not None:
                raw.close()
        self._known = Known()  # a new connection's data_version counts afresh
        deadline = time.monotonic() + self.reconnect_s
        delay = 0.05
        while True:
            try:
                return self._engine.connect()
            except DBAPIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _run_lost_safe(self, conn: Connection, ops: list[Op]) -> Connection:
        """Run a batch; if the connection dies under it, reconnect and run it again."""
        deadline = time.monotonic() + self.reconnect_s
        pause = 0.02
        while True:
            try:
                self._run_batch(conn, ops, raise_lost=True)
                return conn
            except _Busy as busy:  # locked past busy_timeout, or chosen to break a deadlock
                if time.monotonic() > deadline:
                    _deliver([(op, None, StoreError(f"database busy: {busy}")) for op in ops])
                    return conn
                log.info("database busy; trying the batch again", extra={"error": str(busy)})
                time.sleep(pause)  # the failed transaction wrote nothing: run it again whole
                pause = min(pause * 2, 1.0)
            except _ConnectionLost as lost:
                log.warning("database connection lost; reconnecting", extra={"error": str(lost)})
                if time.monotonic() > deadline:
                    _deliver(
                        [(op, None, StoreError(f"database unreachable: {lost}")) for op in ops]
                    )
                    return conn
                try:
                    conn = self._reconnect(conn)
                except DBAPIError as e:
                    _deliver(
                        [(op, None, StoreError(f"database unreachable: {reason(e)}")) for op in ops]
                    )
                    return conn

    def _run_batch(self, conn: Connection, ops: list[Op], raise_lost: bool = False) -> None:
        try:
            with conn.begin():
                self._known.begin(conn)
                results = self._apply(conn, ops)
            if any(op.commit is not None for op in ops):
                self._on_commit()  # after the commit: readers see what it wrote
        except Exception as e:
            self._known.forget()  # rolled back: what it wrote is not there
            if raise_lost and _is_disconnect(e):
                raise _ConnectionLost(reason(e)) from e
            if raise_lost and is_busy(e):
                raise _Busy(reason(e)) from e
            if len(ops) == 1:
                _deliver([(ops[0], None, _translate(e))])
                return
            # one of them is bad: give each its own transaction so the others still land
            for op in ops:
                self._run_batch(conn, [op], raise_lost=raise_lost)
            return
        _deliver(
            [
                (op, None, res) if isinstance(res, LeaseLost) else (op, res, None)
                for op, res in zip(ops, results, strict=True)
            ]
        )

    def _apply(self, conn: Connection, ops: list[Op]) -> list[Any]:
        batch = sql.WriteBatch(track_half_life_s=self._half_life_s())
        results: list[Any] = []
        commits: list[tuple[int, str]] = []
        for i, op in enumerate(ops):
            if op.commit is not None:
                batch.add_step(op.commit)
                commits.append((i, op.commit.step.run_id))
                results.append(None)
            elif op.new_runs is not None:
                batch.add_runs(*op.new_runs)
                results.append(None)
            elif op.audit is not None:
                batch.audit.extend(op.audit)
                results.append(None)
            elif op.finish is not None:
                f = op.finish
                results.append(
                    gil_sql.finish_rows(
                        conn, f.intent, ok=f.ok, result=f.result, error=f.error, ts=f.ts
                    )
                )
                batch.audit.append(f.audit)
                batch.events.append(sql.event_row(f.event))
            else:
                assert op.fn is not None
                if batch:
                    _flush_into(conn, batch, commits, results, self._known)
                before = self._known.changes(conn)
                results.append(op.fn(conn))
                if before is None or self._known.changes(conn) != before:
                    self._known.forget()  # it wrote something: maybe what is known
        if batch:
            _flush_into(conn, batch, commits, results, self._known)
        return results


def _flush_into(
    conn: Connection,
    batch: sql.WriteBatch,
    commits: list[tuple[int, str]],
    results: list[Any],
    known: Known,
) -> None:
    stopped = batch.flush(conn, known)
    for i, run_id in commits:
        results[i] = stopped.get(run_id)
    commits.clear()


def _translate(exc: Exception) -> BaseException:
    if isinstance(exc, MaestroError):
        return exc
    if isinstance(exc, DataError):  # e.g. a NUL in text on PostgreSQL: never retryable
        return InputError("", f"the store cannot hold this value: {reason(exc)}")
    if isinstance(exc, SQLAlchemyError):
        return StoreError(f"store write failed: {reason(exc)}")
    return exc


class _ConnectionLost(Exception):
    pass


class _Busy(Exception):
    pass


_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def is_busy(e: BaseException) -> bool:
    """The transaction wrote nothing and the same batch may simply run again: SQLite's
    "database is locked" (a writer in another process outlasted busy_timeout; its busy handler
    is not fair under sustained load), or PostgreSQL aborting it to break a deadlock."""
    if not isinstance(e, DBAPIError):
        return False
    orig = getattr(e, "orig", e)
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def _is_disconnect(e: BaseException) -> bool:
    return isinstance(e, DBAPIError) and bool(e.connection_invalidated)


def reason(e: BaseException) -> str:
    """The first line of the driver's message (or of ``e``), for errors and logs."""
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0] if str(e) else repr(e)


def _set(items: list[tuple[Op, Any, BaseException | None]]) -> None:
    for op, result, exc in items:
        if op.future.done():  # the caller gave up (cancelled); the write itself stands
            continue
        if exc is not None:
            op.future.set_exception(exc)
        else:
            op.future.set_result(result)


def _deliver(items: list[tuple[Op, Any, BaseException | None]]) -> None:
    """Complete callers' futures: one wake-up per event loop per batch, not one per operation."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Op, Any, BaseException | None]]] = {}
    for item in items:
        by_loop.setdefault(item[0].loop, []).append(item)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set, group)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            log.debug("dropping results for a closed event loop")
