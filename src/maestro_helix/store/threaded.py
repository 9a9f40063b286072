"""A store served by one writer thread with group commit; the base of every SQL backend.

Every operation is queued to a single writer thread. The thread takes whatever is waiting, runs it
in one transaction (step commits become one multi-row statement per table), commits, and only then
completes each caller's future. If the grouped transaction fails, it is rolled back and every
operation is retried on its own, so one bad operation fails alone and nothing is half-written.
If the connection itself is lost, the thread reconnects and retries the whole batch (bounded),
which is safe because the failed transaction wrote nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError

from maestro_helix.core.audit import AuditDraft, CanonicalRow, ChainReport, verify_chain
from maestro_helix.core.errors import (
    InputError,
    LeaseLost,
    MaestroError,
    StoreClosed,
    StoreError,
)
from maestro_helix.core.knowledge import Insight, InsightDraft, KnowledgeVersion
from maestro_helix.core.ports import Store
from maestro_helix.core.records import (
    ActionAttempt,
    ActionIntent,
    AgentStat,
    ApprovalRecord,
    ApprovalRequest,
    AuditFilter,
    CheckpointRecord,
    EventRecord,
    LiveProcess,
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    StepCommit,
    StepRecord,
    Transition,
)
from maestro_helix.core.rollout import RoutePlan
from maestro_helix.core.route import TrackRecord
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.governance.auditscan import Segment, segment_length
from maestro_helix.governance.policy import GovernancePolicy, Role
from maestro_helix.store import (
    admin_sql,
    audit_sql,
    gil_sql,
    knowledge_sql,
    lease_sql,
    ops_sql,
    reroute_sql,
    risk_sql,
    router_sql,
    sequencer_sql,
    sql,
    stages_sql,
)
from maestro_helix.store.migrate import upgrade

log = logging.getLogger(__name__)
T = TypeVar("T")
PARALLEL_VERIFY_MIN = 200_000  # below this, starting worker processes costs more than it saves


@dataclass(slots=True)
class _Op:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[[Connection], Any] | None = None  # a general operation, run in order
    commit: StepCommit | None = None  # a step commit, grouped
    new_runs: tuple[Sequence[NewRun], Sequence[EventRecord]] | None = None
    audit: Sequence[AuditDraft] | None = None  # audit entries alone, grouped like step commits
    finish: _Finish | None = None  # the end of a handler call: its audit and event grouped


@dataclass(frozen=True, slots=True)
class _Finish:
    intent: ActionIntent
    ok: bool
    result: Any
    error: str | None
    ts: str
    audit: AuditDraft
    event: EventRecord


_STOP = object()


class ThreadedStore(Store):
    """Base of the SQL backends: subclasses say how to build the engine and open the DB.

    Args:
        url: SQLAlchemy URL (with driver).
        max_batch: at most this many operations share one transaction.
        reconnect_s: how long to keep retrying a batch whose connection was lost.
    """

    name = "sql"

    def __init__(self, url: str, *, max_batch: int = 512, reconnect_s: float = 30.0) -> None:
        self.url = url
        self.max_batch = max_batch
        self.reconnect_s = reconnect_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._closed = False
        self.audit_batched = False
        self.track_half_life_s = sql.DEFAULT_HALF_LIFE_S  # a new track record's decay
        # how many transactions with step commits this process's writer has committed: a
        # reader of what those commits fold (the router's track record) knows when to read again
        self.commit_generation = 0
        self._beats: ThreadPoolExecutor | None = None  # the heartbeat's own thread ...
        self._beat_conn: Connection | None = None  # ... and connection (see keep_alive)

    def use_batched_audit(self) -> None:
        """Write audit entries as pending; an :class:`~maestro_helix.store.sequencer.
        AuditSequencer` (in this or another process) sequences them. Call before ``open``."""
        if self._thread is not None:
            raise StoreError("batched audit sequencing is chosen before the store opens")
        self.audit_batched = True

    # -- backend hooks -------------------------------------------------------------------------

    def _make_engine(self) -> Engine:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Before connecting (e.g. create the SQLite file's folder)."""

    def describe(self) -> str:
        return self.url

    def _own_connections(self) -> bool:
        """Whether a second connection sees this database (not so for SQLite ``:memory:``)."""
        return True

    # -- lifetime -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._thread is not None:
            return
        self._prepare()
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._writer, args=(ready,), name=f"maestro-{self.name}-writer", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(ready)
        except BaseException:
            self._thread = None
            raise

    async def aclose(self) -> None:
        if self._thread is None or self._closed:
            return
        self._closed = True
        if self._beats is not None:  # its last beat ends first; then its connection closes
            beats, self._beats = self._beats, None
            await asyncio.wrap_future(beats.submit(self._close_beat_conn))
            beats.shutdown(wait=False)
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # -- heartbeat ----------------------------------------------------------------------------

    async def keep_alive(self, owner: str, ttl_s: float) -> None:
        """Say ``owner`` is alive for ``ttl_s`` more seconds, on a thread and connection of its
        own: never queued behind the writer, so a busy writer does not make a live process look
        dead (its runs and in-flight action calls would pass to another process)."""
        if self._closed or self._thread is None:
            raise StoreClosed("the store is closed" if self._closed else "the store is not open")
        if not self._own_connections():
            await self._call(lambda c: lease_sql.keep_alive(c, owner, ttl_s))
            return
        if self._beats is None:
            self._beats = ThreadPoolExecutor(1, thread_name_prefix=f"maestro-{self.name}-beat")
        await asyncio.wrap_future(self._beats.submit(self._beat, owner, ttl_s))

    def _beat(self, owner: str, ttl_s: float) -> None:
        assert self._engine is not None
        try:
            if self._beat_conn is None:
                self._beat_conn = self._engine.connect()
            with self._beat_conn.begin():
                lease_sql.keep_alive(self._beat_conn, owner, ttl_s)
        except Exception as e:  # a fresh connection next time
            self._close_beat_conn()
            raise StoreError(f"heartbeat failed: {_reason(e)}") from e

    def _close_beat_conn(self) -> None:
        conn, self._beat_conn = self._beat_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def live_owners(self) -> list[LiveProcess]:
        return await self._call(lease_sql.live_owners)

    def _writer(self, ready: Future[None]) -> None:
        try:
            self._engine = self._make_engine()
            if self.audit_batched:  # every connection, reconnects too, writes audit as pending
                event.listen(self._engine, "connect", _mark_batched)
            conn = self._connect_upgraded()
        except Exception as e:  # reported to open(); the thread ends
            ready.set_exception(StoreError(f"cannot open {self.describe()}: {_reason(e)}"))
            return
        ready.set_result(None)
        try:
            conn = self._serve(conn)  # the connection in use at the end (after reconnects too)
        finally:
            conn.close()
            self._engine.dispose()

    def _connect_upgraded(self) -> Connection:
        """The writer's connection, schema brought up to date. Processes opening one fresh
        database together wait for each other (SQLite's WAL switch and first write can report
        "database is locked" past busy_timeout; PostgreSQL may pick one to break a deadlock):
        tried again with backoff, bounded by ``reconnect_s``."""
        assert self._engine is not None
        deadline = time.monotonic() + self.reconnect_s
        delay = 0.05
        while True:
            conn: Connection | None = None
            try:
                conn = self._engine.connect()
                with conn.begin():
                    upgrade(conn)
                return conn
            except Exception as e:
                if conn is not None:
                    conn.close()
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                log.info("database busy while opening; trying again", extra={"error": _reason(e)})
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _reconnect(self, conn: Connection) -> Connection:
        """A fresh connection after the old one was lost (waits with backoff, bounded)."""
        assert self._engine is not None
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

    def _serve(self, conn: Connection) -> Connection:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return conn
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
            conn = self._run_lost_safe(conn, ops)
            if stop:
                return conn

    def _run_lost_safe(self, conn: Connection, ops: list[_Op]) -> Connection:
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
                        [
                            (op, None, StoreError(f"database unreachable: {_reason(e)}"))
                            for op in ops
                        ]
                    )
                    return conn

    def _run_batch(self, conn: Connection, ops: list[_Op], raise_lost: bool = False) -> None:
        try:
            with conn.begin():
                results = self._apply(conn, ops)
            if any(op.commit is not None for op in ops):
                self.commit_generation += 1  # after the commit: readers see what it wrote
        except Exception as e:
            if raise_lost and _is_disconnect(e):
                raise _ConnectionLost(_reason(e)) from e
            if raise_lost and _is_busy(e):
                raise _Busy(_reason(e)) from e
            if len(ops) == 1:
                _deliver([(ops[0], None, self._translate(e))])
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

    def _apply(self, conn: Connection, ops: list[_Op]) -> list[Any]:
        batch = sql.WriteBatch(track_half_life_s=self.track_half_life_s)
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
        if isinstance(exc, DataError):  # e.g. a NUL in text on PostgreSQL: never retryable
            return InputError("", f"the store cannot hold this value: {_reason(exc)}")
        if isinstance(exc, SQLAlchemyError):
            return StoreError(f"store write failed: {_reason(exc)}")
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

    async def acquire_run(
        self,
        run_id: str,
        owner: str,
        ttl_s: float,
        *,
        handed: tuple[int, int] | None = None,
        step: int | None = None,
    ) -> tuple[RunRecord, bool] | None:
        return await self._call(
            lambda c: sql.acquire_run(c, run_id, owner, ttl_s, handed=handed, step=step)
        )

    async def renew_leases(self, owner: str, ttl_s: float) -> int:
        return await self._call(lambda c: lease_sql.renew_leases(c, owner, ttl_s))

    async def release_leases(self, owner: str, run_ids: Sequence[str] | None = None) -> int:
        return await self._call(lambda c: lease_sql.release_leases(c, owner, run_ids))

    async def runs_to_resume(self, owner: str) -> list[str]:
        return await self._call(lambda c: lease_sql.runs_to_resume(c, owner))

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
        await self._submit(self._op(audit=tuple(entries)))

    async def audit_entries(self, after_seq: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        return await self._call(lambda c: sql.audit_entries(c, after_seq, limit))

    async def verify_audit(self) -> ChainReport:
        def run(c: Connection) -> ChainReport:
            return verify_chain(_iter_audit(c), sql.audit_head(c))

        return await self._call(run)

    async def find_audit(self, f: AuditFilter) -> list[dict[str, Any]]:
        return await self._call(lambda c: audit_sql.find_audit(c, f))

    async def scan_audit(
        self, fn: Callable[[Iterator[CanonicalRow], tuple[int, str] | None], T]
    ) -> T:
        return await self._call(lambda c: audit_sql.scan_audit(c, fn))

    async def audit_rows(self, after_seq: int = 0, limit: int = 10_000) -> list[CanonicalRow]:
        return await self._call(lambda c: audit_sql.canonical_page(c, after_seq, limit))

    def _reader_target(self) -> audit_sql.ReaderTarget | None:
        """How another process opens this database (None: it cannot, e.g. in memory)."""
        return None

    async def audit_segments(
        self, sizes: Sequence[int], parts: int, min_entries: int = PARALLEL_VERIFY_MIN
    ) -> tuple[list[Segment], tuple[int, str] | None] | None:
        target = self._reader_target()
        if target is None or parts < 2:
            return None
        head, n = await self._call(lambda c: (sql.audit_head(c), audit_sql.max_seq(c)))
        parts = min(parts, n // max(1, min_entries // 2))  # >= min_entries / 2 per worker
        if n < min_entries or parts < 2:
            return None
        length = segment_length(n, parts)
        loop = asyncio.get_running_loop()
        spawn = multiprocessing.get_context("spawn")  # no fork: this process has threads
        try:
            with ProcessPoolExecutor(parts, mp_context=spawn) as pool:
                jobs = [
                    loop.run_in_executor(pool, audit_sql.read_segment, target, s, length, sizes)
                    for s in range(0, n, length)
                ]
                return list(await asyncio.gather(*jobs)), head
        except BrokenProcessPool as e:  # e.g. a __main__ without the main guard spawn needs
            log.warning("parallel audit verification unavailable", extra={"error": str(e)})
            return None

    async def sequence_audit(self, holder: str, lease_s: float, limit: int) -> int | None:
        return await self._call(
            lambda c: sequencer_sql.sequence_pending(c, holder, time.time(), lease_s, limit)
        )

    async def pending_audit(self) -> int:
        return await self._call(sequencer_sql.pending_count)

    async def save_checkpoint(self, cp: CheckpointRecord) -> bool:
        return await self._call(lambda c: audit_sql.save_checkpoint(c, cp))

    async def list_checkpoints(self) -> list[CheckpointRecord]:
        return await self._call(audit_sql.list_checkpoints)

    async def events(
        self, *, run_id: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        return await self._call(lambda c: sql.events(c, run_id, after_seq, limit))

    async def count(self, table: str) -> int:
        return await self._call(lambda c: sql.count(c, table))

    async def agent_stats(self) -> list[AgentStat]:
        return await self._call(sql.agent_stats)

    # -- routing and knowledge (router_sql.py, knowledge_sql.py) ------------------------------

    async def track_records(self, capability: str, agent_ids: Sequence[str]) -> list[TrackRecord]:
        return await self._call(lambda c: router_sql.track_records(c, capability, agent_ids))

    async def all_track_records(self) -> list[TrackRecord]:
        return await self._call(router_sql.all_track_records)

    async def push_knowledge(
        self, drafts: Sequence[InsightDraft], ts: str, note: str = ""
    ) -> KnowledgeVersion | None:
        return await self._call(lambda c: knowledge_sql.push_knowledge(c, drafts, ts, note))

    async def knowledge_items(
        self, version: int | None = None, capability: str | None = None
    ) -> tuple[int, list[Insight]]:
        return await self._call(lambda c: knowledge_sql.knowledge_items(c, version, capability))

    async def knowledge_version(self) -> int:
        return await self._call(knowledge_sql.current_version)

    async def knowledge_versions(self) -> list[KnowledgeVersion]:
        return await self._call(knowledge_sql.knowledge_versions)

    async def rollback_knowledge(self, to_version: int, ts: str, by: str) -> KnowledgeVersion:
        return await self._call(lambda c: knowledge_sql.rollback_knowledge(c, to_version, ts, by))

    async def prune_knowledge(self, keep: int, ts: str, by: str) -> tuple[int, int]:
        return await self._call(lambda c: knowledge_sql.prune_knowledge(c, keep, ts, by))

    # -- governance ----------------------------------------------------------------------------

    async def list_requests(
        self,
        *,
        status: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ApprovalRequest]:
        return await self._call(lambda c: gil_sql.list_requests(c, status, run_id, limit, offset))

    async def get_request(
        self, request_id: str
    ) -> tuple[ApprovalRequest, tuple[ApprovalRecord, ...]]:
        def run(c: Connection) -> tuple[ApprovalRequest, tuple[ApprovalRecord, ...]]:
            return gil_sql.get_request(c, request_id), gil_sql.approvals_of(c, request_id)

        return await self._call(run)

    async def decide(self, d: gil_sql.DecisionInput) -> gil_sql.DecisionOutcome:
        return await self._call(lambda c: gil_sql.decide(c, d))

    async def expire_due(
        self, now: datetime, ts: str
    ) -> tuple[list[ApprovalRequest], list[EventRecord]]:
        return await self._call(lambda c: gil_sql.expire_due(c, now, ts))

    async def claim_intents(
        self,
        *,
        run_id: str | None = None,
        keys: Sequence[str] | None = None,
        claim: gil_sql.Claim,
    ) -> tuple[list[ActionIntent], list[ActionIntent]]:
        return await self._call(lambda c: gil_sql.claim_intents(c, run_id, keys, claim))

    async def finish_intent(
        self,
        intent: ActionIntent,
        *,
        ok: bool,
        result: Any,
        error: str | None,
        ts: str,
        audit: AuditDraft,
        event: EventRecord,
    ) -> bool:
        finish = _Finish(intent, ok, result, error, ts, audit, event)
        mine: bool = await self._submit(self._op(finish=finish))
        return mine

    async def action_attempts(self, key: str) -> list[ActionAttempt]:
        return await self._call(lambda c: gil_sql.action_attempts(c, key))

    async def retry_intent(self, key: str, ts: str, by: str) -> ActionIntent:
        return await self._call(lambda c: gil_sql.retry_intent(c, key, ts, by))

    async def list_intents(
        self, *, status: str | None = None, limit: int = 100
    ) -> list[ActionIntent]:
        return await self._call(lambda c: gil_sql.list_intents(c, status, limit))

    async def intents_of(self, run_id: str) -> list[ActionIntent]:
        return await self._call(lambda c: gil_sql.intents_of(c, run_id))

    async def accepted_attempts(self, run_id: str) -> set[tuple[int, int]]:
        return await self._call(lambda c: gil_sql.accepted_attempts(c, run_id))

    async def withdraw_requests(self, run_id: str, reason: str, ts: str) -> list[str]:
        return await self._call(lambda c: gil_sql.withdraw_requests(c, run_id, reason, ts))

    async def add_operator(self, operator_id: str, role: Role, token_hash: str, ts: str) -> None:
        await self._call(lambda c: admin_sql.add_operator(c, operator_id, role, token_hash, ts))

    async def operator_by_token(self, token_hash: str) -> admin_sql.OperatorRecord | None:
        return await self._call(lambda c: admin_sql.operator_by_token(c, token_hash))

    async def list_operators(self) -> list[admin_sql.OperatorRecord]:
        return await self._call(admin_sql.list_operators)

    async def change_operator(
        self,
        operator_id: str,
        change: admin_sql.OperatorChange,
        *,
        ts: str,
        by: str | None,
        token_hash: str | None = None,
    ) -> None:
        await self._call(
            lambda c: admin_sql.change_operator(
                c, operator_id, change, ts=ts, by=by, token_hash=token_hash
            )
        )

    async def active_policy(self) -> admin_sql.ActivePolicy | None:
        return await self._call(admin_sql.active_policy)

    async def install_policy(self, policy: GovernancePolicy, ts: str) -> admin_sql.ActivePolicy:
        return await self._call(lambda c: admin_sql.install_policy(c, policy, ts))

    async def apply_policy(
        self, policy: GovernancePolicy, loosens: Sequence[str], *, ts: str, by: str
    ) -> admin_sql.PolicyChange:
        return await self._call(
            lambda c: admin_sql.apply_policy(c, policy, tuple(loosens), ts=ts, by=by)
        )

    async def approve_policy_change(
        self, change_id: str, *, ts: str, by: str, approve: bool
    ) -> admin_sql.PolicyChange:
        return await self._call(
            lambda c: admin_sql.approve_policy_change(c, change_id, ts=ts, by=by, approve=approve)
        )

    async def policy_changes(
        self, status: admin_sql.PolicyChangeStatus | None = None
    ) -> list[admin_sql.PolicyChange]:
        return await self._call(lambda c: admin_sql.policy_changes(c, status))

    async def policy_versions(self) -> list[admin_sql.ActivePolicy]:
        return await self._call(admin_sql.policy_versions)

    # -- predictive risk models ----------------------------------------------------------------

    async def save_risk_model(
        self, make: Callable[[int], dict[str, Any]], *, ts: str, by: str | None, activate: bool
    ) -> risk_sql.StoredModel:
        return await self._call(
            lambda c: risk_sql.save_model(c, make, ts=ts, by=by, activate=activate)
        )

    async def activate_risk_model(
        self, version: int, *, ts: str, by: str | None
    ) -> risk_sql.StoredModel:
        return await self._call(lambda c: risk_sql.activate_model(c, version, ts=ts, by=by))

    async def risk_model(self, version: int | None = None) -> risk_sql.StoredModel:
        return await self._call(lambda c: risk_sql.get_model(c, version))

    async def active_risk_version(self) -> int | None:
        return await self._call(risk_sql.active_version)

    async def risk_models(self) -> list[risk_sql.StoredModel]:
        return await self._call(risk_sql.list_models)

    async def agent_history(self, last: int = 50) -> dict[tuple[str, str], Any]:
        return await self._call(lambda c: risk_sql.agent_history(c, last))

    # -- operations ----------------------------------------------------------------------------

    async def list_workflow_versions(self, name: str) -> list[ops_sql.WorkflowVersion]:
        return await self._call(lambda c: ops_sql.list_workflow_versions(c, name))

    async def restore_workflow(
        self, name: str, version: int, ts: str, by: str | None
    ) -> WorkflowDef:
        return await self._call(lambda c: ops_sql.restore_workflow(c, name, version, ts, by))

    async def set_workflow_paused(
        self, name: str, paused: bool, ts: str, by: str | None
    ) -> ops_sql.WorkflowState:
        return await self._call(lambda c: ops_sql.set_workflow_paused(c, name, paused, ts, by))

    async def paused_workflows(self) -> set[str]:
        return await self._call(ops_sql.paused_workflows)

    async def qsr_log(self, **filters: Any) -> ops_sql.ScorePage:
        return await self._call(lambda c: ops_sql.qsr_log(c, **filters))

    async def mri_log(self, **filters: Any) -> ops_sql.ScorePage:
        return await self._call(lambda c: ops_sql.mri_log(c, **filters))

    # -- rollout (store/stages_sql.py) ---------------------------------------------------------

    async def route_plan(self, name: str) -> RoutePlan:
        return await self._call(lambda c: stages_sql.route_plan(c, name))

    async def create_routed_runs(
        self,
        runs: Sequence[NewRun],
        events: Sequence[EventRecord],
        routes: Sequence[Any],
        token: str,
    ) -> None:
        await self._call(lambda c: stages_sql.create_routed_runs(c, runs, events, routes, token))

    async def stage_view(self, name: str) -> stages_sql.StageView:
        return await self._call(lambda c: stages_sql.stage_view(c, name))

    async def sign_off(self, signoff: Any, policy: Any, irreversible_added: bool) -> Any:
        return await self._call(
            lambda c: stages_sql.sign_off(c, signoff, policy, irreversible_added)
        )

    async def promote_version(self, name: str, version: int, target: Any, **kw: Any) -> Any:
        return await self._call(lambda c: stages_sql.promote(c, name, version, target, **kw))

    async def start_canary(self, name: str, version: int, config: Any, **kw: Any) -> Any:
        return await self._call(lambda c: stages_sql.start_canary(c, name, version, config, **kw))

    async def evaluate_canary(self, name: str, ts: str, by: str | None = None) -> Any:
        return await self._call(lambda c: stages_sql.evaluate_canary(c, name, ts, by))

    async def abort_canary(self, name: str, ts: str, by: str, reason: str) -> Any:
        return await self._call(lambda c: stages_sql.abort_canary(c, name, ts, by, reason))

    async def running_canaries(self) -> list[str]:
        return await self._call(stages_sql.running_canaries)

    async def recent_rollbacks(self, since: str) -> dict[str, int]:
        return await self._call(lambda c: stages_sql.recent_rollbacks(c, since))

    async def first_step(self, run_id: str, ts: str) -> reroute_sql.FirstStep | None:
        return await self._call(lambda c: reroute_sql.first_step(c, run_id, ts))


class _ConnectionLost(Exception):
    pass


class _Busy(Exception):
    pass


_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def _is_busy(e: BaseException) -> bool:
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


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0] if str(e) else repr(e)


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


def _mark_batched(_dbapi_conn: Any, record: Any) -> None:
    record.info[sql.BATCHED_AUDIT] = True
