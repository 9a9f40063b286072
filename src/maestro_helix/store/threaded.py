"""A store served by one writer thread with group commit; the base of every SQL backend.

Every operation is queued to a single writer thread, which runs what is waiting in one
transaction and completes the callers' futures only after the commit (the loop, its retries and
reconnects: :mod:`maestro_helix.store.group_commit`). Here: the store's lifetime, the heartbeat's
own thread and connection, and each ``Store`` method as an operation on the writer's connection.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from maestro_helix.core.audit import AuditDraft, CanonicalRow, ChainReport
from maestro_helix.core.errors import StoreClosed, StoreError
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
from maestro_helix.store.group_commit import (
    STOP,
    Finish,
    GroupWriter,
    Op,
    connect_upgraded,
    reason,
)
from maestro_helix.store.heartbeat import Heartbeat

log = logging.getLogger(__name__)
T = TypeVar("T")
PARALLEL_VERIFY_MIN = 200_000  # below this, starting worker processes costs more than it saves


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
        self._beats = Heartbeat(self._the_engine, f"maestro-{self.name}-beat")  # see keep_alive

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
        await self._beats.aclose()
        self._queue.put(STOP)
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
        await self._beats.beat(owner, ttl_s)

    async def live_owners(self) -> list[LiveProcess]:
        return await self._call(lease_sql.live_owners)

    def _writer(self, ready: Future[None]) -> None:
        try:
            self._engine = self._make_engine()
            if self.audit_batched:  # every connection, reconnects too, writes audit as pending
                event.listen(self._engine, "connect", sql.mark_batched)
            conn = connect_upgraded(self._engine, self.reconnect_s)
        except Exception as e:  # reported to open(); the thread ends
            ready.set_exception(StoreError(f"cannot open {self.describe()}: {reason(e)}"))
            return
        ready.set_result(None)
        try:
            writer = GroupWriter(
                self._engine,
                self._queue,
                max_batch=self.max_batch,
                reconnect_s=self.reconnect_s,
                half_life_s=lambda: self.track_half_life_s,
                on_commit=self._committed,
            )
            conn = writer.serve(conn)  # the connection in use at the end (after reconnects too)
        finally:
            conn.close()
            self._engine.dispose()

    def _the_engine(self) -> Engine:
        assert self._engine is not None
        return self._engine

    def _committed(self) -> None:
        self.commit_generation += 1

    # -- submission ---------------------------------------------------------------------------

    def _op(self, **kw: Any) -> Op:
        loop = asyncio.get_running_loop()
        return Op(loop, loop.create_future(), **kw)

    def _submit(self, op: Op) -> asyncio.Future[Any]:
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
        return await self._call(audit_sql.verify_chain_of)

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
        if head is not None:  # entries appended after the head was read (each statement of a
            n = min(n, head[0])  # PostgreSQL read sees its own snapshot) are the next verify's
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
        finish = Finish(intent, ok, result, error, ts, audit, event)
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
