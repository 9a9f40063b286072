"""The embedded store: one SQLite file in WAL mode, written by one thread with group commit.

Every operation is queued to a single writer thread. The thread takes whatever is waiting, runs it
in one ``BEGIN IMMEDIATE`` transaction (step commits become one multi-row statement per table),
commits — with ``synchronous=FULL`` the commit is on disk — and only then completes each caller's
future. If the grouped transaction fails, it is rolled back and every operation is retried on its
own, so one bad operation fails alone and nothing is half-written.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from maestro_helix.core.errors import MaestroError, StoreClosed, StoreError
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.governance.audit import AuditDraft, ChainReport, verify_chain
from maestro_helix.store import sql
from maestro_helix.store.base import (
    AgentStat,
    EventRecord,
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    StepCommit,
    StepRecord,
    Store,
    Transition,
)
from maestro_helix.store.migrate import upgrade
from maestro_helix.store.sql import json_dumps

log = logging.getLogger(__name__)
T = TypeVar("T")

Durability = Literal["full", "normal"]


@dataclass(slots=True)
class _Op:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[[Connection], Any] | None = None  # a general operation, run in order
    commit: StepCommit | None = None  # a step commit, grouped
    new_runs: tuple[Sequence[NewRun], Sequence[EventRecord]] | None = None


_STOP = object()


class SQLiteStore(Store):
    """Embedded store in one SQLite file.

    Args:
        path: the database file (created with its schema if missing); ``":memory:"`` for tests.
        durability: ``"full"`` fsyncs every commit (a reported step survives power loss);
            ``"normal"`` survives a killed process but not power loss.
        max_batch: at most this many operations share one transaction.
    """

    def __init__(
        self, path: str | Path, *, durability: Durability = "full", max_batch: int = 512
    ) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.durability = durability
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._closed = False

    # -- lifetime -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._thread is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._writer, args=(ready,), name="maestro-sqlite-writer", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(ready)

    async def aclose(self) -> None:
        if self._thread is None or self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _make_engine(self) -> Engine:
        engine = create_engine(self.url, json_serializer=json_dumps, json_deserializer=orjson.loads)
        sync = "FULL" if self.durability == "full" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _writer(self, ready: Future[None]) -> None:
        try:
            self._engine = self._make_engine()
            conn = self._engine.connect()
            with conn.begin():
                upgrade(conn)
        except Exception as e:  # reported to open(); the thread ends
            ready.set_exception(StoreError(f"cannot open {self.path}: {e}"))
            return
        ready.set_result(None)
        try:
            self._serve(conn)
        finally:
            conn.close()
            self._engine.dispose()

    def _serve(self, conn: Connection) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            ops: list[_Op] = [first]
            stop = False
            while len(ops) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                ops.append(nxt)
            self._run_batch(conn, ops)
            if stop:
                return

    def _run_batch(self, conn: Connection, ops: list[_Op]) -> None:
        try:
            with conn.begin():
                results = self._apply(conn, ops)
        except Exception as e:
            if len(ops) == 1:
                _deliver([(ops[0], None, self._translate(e))])
                return
            # one of them is bad: give each its own transaction so the others still land
            for op in ops:
                self._run_batch(conn, [op])
            return
        _deliver([(op, res, None) for op, res in zip(ops, results, strict=True)])

    def _apply(self, conn: Connection, ops: list[_Op]) -> list[Any]:
        batch = sql.WriteBatch()
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
            else:
                assert op.fn is not None
                if batch:
                    self._flush_into(conn, batch, commits, results)
                results.append(op.fn(conn))
        if batch:
            self._flush_into(conn, batch, commits, results)
        return results

    @staticmethod
    def _flush_into(
        conn: Connection,
        batch: sql.WriteBatch,
        commits: list[tuple[int, str]],
        results: list[Any],
    ) -> None:
        stopped = batch.flush(conn)
        for i, run_id in commits:
            results[i] = stopped.get(run_id)
        commits.clear()

    @staticmethod
    def _translate(exc: Exception) -> BaseException:
        if isinstance(exc, MaestroError):
            return exc
        if isinstance(exc, SQLAlchemyError):
            cause = getattr(exc, "orig", None) or exc
            return StoreError(f"store write failed: {cause}")
        return exc

    # -- submission ---------------------------------------------------------------------------

    def _op(self, **kw: Any) -> _Op:
        loop = asyncio.get_running_loop()
        return _Op(loop, loop.create_future(), **kw)

    def _submit(self, op: _Op) -> asyncio.Future[Any]:
        if self._closed or self._thread is None:
            raise StoreClosed("the store is closed" if self._closed else "the store is not open")
        self._queue.put(op)
        return op.future

    async def _call(self, fn: Callable[[Connection], T]) -> T:
        result: T = await self._submit(self._op(fn=fn))
        return result

    # -- Store --------------------------------------------------------------------------------

    async def save_workflow(self, defn: WorkflowDef, created_at: str) -> WorkflowDef:
        return await self._call(lambda c: sql.save_workflow(c, defn, created_at))

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowDef:
        return await self._call(lambda c: sql.get_workflow(c, name, version))

    async def list_workflows(self) -> list[WorkflowDef]:
        return await self._call(sql.list_workflows)

    async def create_runs(self, runs: Sequence[NewRun], events: Sequence[EventRecord] = ()) -> None:
        await self._submit(self._op(new_runs=(runs, events)))

    async def commit_step(self, commit: StepCommit) -> RunStatus | None:
        status: str | None = await self._submit(self._op(commit=commit))
        return None if status is None else RunStatus(status)

    async def transition(self, tr: Transition) -> RunRecord:
        return await self._call(lambda c: sql.transition(c, tr))

    async def get_run(self, run_id: str) -> RunRecord:
        return await self._call(lambda c: sql.get_run(c, run_id))

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RunPage:
        return await self._call(lambda c: sql.list_runs(c, status, workflow, limit, offset))

    async def run_ids(self, statuses: Sequence[RunStatus]) -> list[str]:
        return await self._call(lambda c: sql.run_ids(c, statuses))

    async def step_records(self, run_id: str) -> list[StepRecord]:
        return await self._call(lambda c: sql.step_records(c, run_id))

    async def append_audit(self, entries: Sequence[AuditDraft]) -> None:
        await self._call(lambda c: sql.append_audit(c, entries))

    async def audit_entries(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        return await self._call(lambda c: sql.audit_entries(c, after_seq, limit))

    async def verify_audit(self) -> ChainReport:
        def run(c: Connection) -> ChainReport:
            return verify_chain(_iter_audit(c), sql.audit_head(c))

        return await self._call(run)

    async def events(
        self, *, run_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        return await self._call(lambda c: sql.events(c, run_id, after_seq, limit))

    async def count(self, table: str) -> int:
        return await self._call(lambda c: sql.count(c, table))

    async def agent_stats(self) -> list[AgentStat]:
        return await self._call(sql.agent_stats)


def _set(items: list[tuple[_Op, Any, BaseException | None]]) -> None:
    for op, result, exc in items:
        if op.future.done():  # the caller gave up (cancelled); the write itself stands
            continue
        if exc is not None:
            op.future.set_exception(exc)
        else:
            op.future.set_result(result)


def _deliver(items: list[tuple[_Op, Any, BaseException | None]]) -> None:
    """Complete callers' futures: one wake-up per event loop per batch, not one per operation."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Op, Any, BaseException | None]]] = {}
    for item in items:
        by_loop.setdefault(item[0].loop, []).append(item)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set, group)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            log.debug("dropping results for a closed event loop")


def _iter_audit(conn: Connection, page: int = 5000) -> Any:
    after = 0
    while True:
        rows = sql.audit_entries(conn, after, page)
        if not rows:
            return
        yield from rows
        after = int(rows[-1]["seq"])
