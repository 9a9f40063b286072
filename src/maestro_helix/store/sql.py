"""SQL for every backend, on a synchronous SQLAlchemy ``Connection``.

The backends differ in how they get a connection and batch writes (see ``sqlite.py``); what they
write and read is here, once. Writes are expressed as a :class:`WriteBatch` so that many concurrent
step commits become one multi-row statement per table in one transaction (group commit).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    String,
    bindparam,
    case,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AUDIT_FIELDS, GENESIS_HASH, AuditDraft, canonical_bytes
from maestro_helix.core.errors import InvalidTransition, LeaseLost, RunNotFound, WorkflowNotFound
from maestro_helix.core.records import (
    ActionIntent,
    AgentStat,
    ApprovalRequest,
    EventRecord,
    NewRun,
    RunPage,
    RunRecord,
    RunStatus,
    StepCommit,
    StepRecord,
    Transition,
)
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.helix.routing import RoutingConfig
from maestro_helix.store import driver_sql, gil_commit, router_sql
from maestro_helix.store import schema as t
from maestro_helix.store.known import Known
from maestro_helix.store.lease_sql import ACTIVE as _ACTIVE
from maestro_helix.store.lease_sql import acquire_run as acquire_run  # its old home
from maestro_helix.store.lease_sql import lease_now
from maestro_helix.store.rows import run_record

DEFAULT_HALF_LIFE_S = RoutingConfig().half_life_s
_EVENTS_INSERT = t.reflexive_events.insert().values(
    {
        c: bindparam(c)
        for c in ("event_id", "type", "ts", "run_id", "workflow", "step_id", "payload")
    }
)

json_dumps = driver_sql.json_dumps


def _step_row(s: StepRecord) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "step_index": s.step_index,
        "attempt": s.attempt,
        "step_id": s.step_id,
        "agent_id": s.agent_id,
        "capability": s.capability,
        "decision": s.decision,
        "qsr": s.qsr,
        "mri": s.mri,
        "output": s.output,
        "quality": s.quality,
        "risk": s.risk,
        "verdict": s.verdict,
        "agent_error": s.agent_error,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "latency_ms": s.latency_ms,
        "eval_latency_ms": s.eval_latency_ms,
    }


def request_row(r: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "run_id": r.run_id,
        "step_index": r.step_index,
        "attempt": r.attempt,
        "kind": r.kind,
        "action_type": r.action_type,
        "payload": dict(r.payload),
        "payload_hash": r.payload_hash,
        "reasons": list(r.reasons),
        "scores": dict(r.scores),
        "required_approvals": r.required_approvals,
        "requester_id": r.requester_id,
        "status": r.status,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "on_expiry": r.on_expiry,
        "decided_at": r.decided_at,
        "policy_version": r.policy_version,
    }


def intent_row(i: ActionIntent) -> dict[str, Any]:
    return {
        "idempotency_key": i.idempotency_key,
        "request_id": i.request_id,
        "run_id": i.run_id,
        "action_type": i.action_type,
        "payload": dict(i.payload),
        "payload_hash": i.payload_hash,
        "status": i.status,
        "attempts": i.attempts,
        "result": i.result,
        "error": i.error,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
        "owner": i.owner,
        "claim_until": i.claim_until,
    }


def event_row(e: EventRecord) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "type": e.type,
        "ts": e.ts,
        "run_id": e.run_id,
        "workflow": e.workflow,
        "step_id": e.step_id,
        "payload": dict(e.payload),
    }


# literal SQL (not an expanding IN parameter), so the statement can run as executemany
_IS_ACTIVE = text("status IN (" + ", ".join(f"'{s}'" for s in _ACTIVE) + ")")

_RUN_STEP_UPDATE = (
    update(t.runs)
    .where(t.runs.c.run_id == bindparam("b_run_id"))
    .values(
        next_step=bindparam("b_next_step"),
        updated_at=bindparam("b_updated_at"),
        error=case((_IS_ACTIVE, bindparam("b_error")), else_=t.runs.c.error),
        status=case((_IS_ACTIVE, bindparam("b_status")), else_=t.runs.c.status),
        # SET reads the row as it was: a run someone else stopped is released too
        owner=case((_IS_ACTIVE, cast(bindparam("b_owner"), String)), else_=None),
        lease_until=case((_IS_ACTIVE, cast(bindparam("b_lease_until"), Float)), else_=None),
        state_digest=bindparam("b_digest"),
    )
)

WORKFLOW_PAUSED = "workflow paused"


_JSON_COLUMNS: dict[str, frozenset[str]] = {
    tbl.name: frozenset(c.name for c in tbl.columns if isinstance(c.type, JSON))
    for tbl in t.metadata.tables.values()
}
_compiled: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any]], Any] | None]] = {}


def _row_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """A row's values in ``names`` order, as one tuple (itemgetter: no generator per row)."""
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*names)


def bulk(conn: Connection, key: str, stmt: Any, rows: list[dict[str, Any]], table: str) -> None:
    """executemany with the statement compiled once per dialect and JSON encoded once.

    The hot path of group commit: SQLAlchemy's per-row parameter processing is skipped, the
    driver gets plain tuples (positional paramstyles) or dicts (named ones).
    """
    dialect = conn.dialect
    hit = _compiled.get((dialect.name, key))
    if hit is None:
        compiled = stmt.compile(dialect=dialect)
        getter = _row_getter(tuple(compiled.positiontup)) if compiled.positional else None
        hit = _compiled[(dialect.name, key)] = (str(compiled), getter)
    sql_text, getter = hit
    json_cols = _JSON_COLUMNS.get(table, frozenset())
    if json_cols:
        for row in rows:
            for col in json_cols:
                if col in row:
                    v = row[col]
                    row[col] = None if v is None else json_dumps(v)
    params: list[Any] = [getter(row) for row in rows] if getter is not None else rows
    driver_sql.run_text(conn, sql_text, params)


def _in_chunks(ids: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


# built once: read in every write batch that holds step commits
_RUN_ROWS = select(
    t.runs.c.run_id,
    t.runs.c.owner,
    t.runs.c.epoch,
    t.runs.c.status,
    t.runs.c.workflow,
    t.runs.c.workflow_version,
).where(t.runs.c.run_id.in_(bindparam("ids", expanding=True)))
_RUN_ROWS_FOR_UPDATE = _RUN_ROWS.with_for_update()


@dataclass(frozen=True, slots=True)
class RunRow:
    """What a step commit checks and reports of its run, read before it writes."""

    owner: str | None
    epoch: int
    status: str
    workflow: str
    workflow_version: int


def run_rows(conn: Connection, commits: Sequence[StepCommit]) -> dict[str, RunRow]:
    """The commits' runs as they stand, in one read inside the writing transaction (SQLite's is
    exclusive; PostgreSQL locks the rows, in key order): the lease each commit is checked
    against, the status a run stopped mid-step was stopped with, and what the commit reports."""
    ids = sorted({c.step.run_id for c in commits})
    q = _RUN_ROWS_FOR_UPDATE if conn.dialect.name == "postgresql" else _RUN_ROWS
    out: dict[str, RunRow] = {}
    for part in _in_chunks(ids):
        for r in driver_sql.fetch(conn, q, {"ids": part}):
            out[r[0]] = RunRow(r[1], int(r[2] or 0), r[3], r[4], int(r[5]))
    return out


def check_leases(commits: Sequence[StepCommit], rows: Mapping[str, RunRow]) -> dict[str, LeaseLost]:
    """The commits whose lease is not their run's current one (another process took it over)."""
    refused = {}
    for c in commits:
        lease = c.lease
        if lease is None:
            continue
        row = rows.get(c.step.run_id)
        owner, epoch = (row.owner, row.epoch) if row is not None else (None, -1)
        if owner != lease.owner or epoch != lease.epoch:
            refused[c.step.run_id] = LeaseLost(c.step.run_id, lease.owner, lease.epoch, owner)
    return refused


def reported_status(commits: Sequence[StepCommit], rows: Mapping[str, RunRow]) -> dict[str, str]:
    """Per run, its status after the commits (the run update's rule: an active run takes the
    commit's status, a stopped one keeps its own), for the runs that are then not active."""
    now: dict[str, str] = {}
    for c in commits:
        run_id = c.step.run_id
        row = rows.get(run_id)
        if row is None:  # no such run: the update wrote nothing
            continue
        status = now.get(run_id, row.status)
        now[run_id] = c.run_status.value if status in _ACTIVE else status
    return {run_id: s for run_id, s in now.items() if s not in _ACTIVE}


_PAUSED = select(t.workflow_state.c.name).where(t.workflow_state.c.paused == 1)


def paused_workflow_names(conn: Connection) -> set[str]:
    return {r[0] for r in driver_sql.fetch(conn, _PAUSED, {})}


def _pause_for_workflow(c: StepCommit) -> StepCommit:
    """The run reaches a step boundary while its workflow is paused: it stops here."""
    ev = EventRecord(
        f"{c.step.run_id}/{c.step.step_index}/{c.step.attempt}/workflow-paused",
        "run.paused",
        c.updated_at or c.step.finished_at,
        c.step.run_id,
        c.workflow,
        None,
        {"reason": WORKFLOW_PAUSED},
    )
    return replace(
        c,
        run_status=RunStatus.PAUSED,
        run_error=WORKFLOW_PAUSED,
        hand_to=None,
        events=(*c.events, ev),
    )


def _attempt_row(i: ActionIntent, ts: str) -> dict[str, Any]:
    return {
        "idempotency_key": i.idempotency_key,
        "attempt": i.attempts,
        "owner": i.owner,
        "started_at": ts,
        "finished_at": None,
        "outcome": None,
        "error": None,
    }


@dataclass
class WriteBatch:
    """Rows collected from many operations, written with one statement per table."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    commits: list[StepCommit] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    audit: list[AuditDraft] = field(default_factory=list)  # standalone appends, grouped too
    track_half_life_s: float = DEFAULT_HALF_LIFE_S  # a new track record's decay (router_sql)
    run_leases: list[float | None] = field(default_factory=list)  # per new run: its lease_s

    def __bool__(self) -> bool:
        return bool(self.runs or self.commits or self.events or self.audit)

    def add_runs(self, runs: Sequence[NewRun], events: Sequence[EventRecord]) -> None:
        for r in runs:
            self.run_leases.append(r.lease_s if r.owner is not None else None)
            self.runs.append(
                {
                    "run_id": r.run_id,
                    "workflow": r.workflow,
                    "workflow_version": r.workflow_version,
                    "status": r.status.value,
                    "input": dict(r.input),
                    "next_step": 0,
                    "error": r.error,
                    "operator_id": r.operator_id,
                    "trace_id": None,
                    "created_at": r.created_at,
                    "updated_at": r.created_at,
                    "owner": r.owner,
                    "lease_until": None,  # counted from the write (flush)
                    "epoch": 1 if r.owner is not None else 0,
                    "state_digest": r.state_digest,
                }
            )
        self.events.extend(event_row(e) for e in events)

    def add_step(self, c: StepCommit) -> None:
        self.commits.append(c)

    def flush(self, conn: Connection, known: Known | None = None) -> dict[str, str | LeaseLost]:
        """Write everything collected. Returns, per touched run, the status of runs that are
        now inactive, or the :class:`LeaseLost` refusing its commit (that commit wrote nothing).

        ``known``: what this transaction need not read again (:class:`~maestro_helix.store.
        known.Known`, checked at its start); updated with what it writes."""
        now = lease_now(conn) if self.runs or self.commits else 0.0  # one clock read a batch
        if self.runs:
            for row, lease_s in zip(self.runs, self.run_leases, strict=True):
                if lease_s is not None:
                    row["lease_until"] = now + lease_s
            bulk(conn, "runs.insert", t.runs.insert(), self.runs, "runs")
        rows = run_rows(conn, self.commits) if self.commits else {}
        refused = check_leases(self.commits, rows)
        commits = [c for c in self.commits if c.step.run_id not in refused]
        if any(c.run_status is RunStatus.RUNNING and c.workflow for c in commits):
            if known is not None and known.paused is not None:
                paused: set[str] | frozenset[str] = known.paused
            else:
                paused = paused_workflow_names(conn)
                if known is not None and driver_sql.raw_cursor(conn) is not None:
                    known.paused = frozenset(paused)
            if paused:
                commits = [
                    _pause_for_workflow(c)
                    if c.run_status is RunStatus.RUNNING and c.workflow in paused
                    else c
                    for c in commits
                ]
        self._write_commits(conn, commits, now, rows, known)
        if self.audit:
            append_audit(conn, self.audit, known)
        if self.events:
            bulk(conn, "events.insert", _EVENTS_INSERT, self.events, "reflexive_events")
        results: dict[str, str | LeaseLost] = dict(refused)
        results.update(reported_status(commits, rows))
        self.runs, self.commits, self.events, self.audit = [], [], [], []
        return results

    def _write_commits(
        self,
        conn: Connection,
        commits: Sequence[StepCommit],
        now: float,
        rows: Mapping[str, RunRow],
        known: Known | None,
    ) -> None:
        """``now``: read inside this transaction, under the writer's lock (leases count from the
        write); ``rows``: the runs as read in it (:func:`run_rows`)."""
        if not commits:
            return
        stopped = {
            run_id: (RunStatus(r.status), (r.workflow, r.workflow_version))
            for run_id, r in rows.items()
            if r.status in gil_commit.STOPPED_STATUSES
        }
        commits = gil_commit.stopped_mid_step(commits, stopped)  # a run stopped while it ran
        steps: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        audit: list[AuditDraft] = []
        requests: list[dict[str, Any]] = []
        intents: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        for c in commits:
            steps.append(_step_row(c.step))
            hand = c.hand_to if c.run_status is RunStatus.RUNNING else None
            updates.append(
                {
                    "b_run_id": c.step.run_id,
                    "b_next_step": c.next_step,
                    "b_updated_at": c.updated_at or c.step.finished_at,
                    "b_status": c.run_status.value,
                    "b_error": c.run_error,
                    "b_owner": hand.owner if hand is not None else None,
                    "b_lease_until": now + c.lease_s if hand is not None else None,
                    "b_digest": c.state_digest if hand is not None else None,
                }
            )
            audit.extend(c.audit)
            self.events.extend(event_row(e) for e in c.events)
            requests.extend(request_row(r) for r in c.requests)
            for i in c.intents:
                row = intent_row(i)
                if i.status == "started":
                    row["claim_until"] = now + c.claim_s
                intents.append(row)
                if i.status == "started":  # claimed with its step: its first call is recorded
                    attempts.append(_attempt_row(i, c.updated_at or c.step.finished_at))
        bulk(conn, "steps.insert", t.steps.insert(), steps, "steps")
        bulk(conn, "runs.step_update", _RUN_STEP_UPDATE, updates, "")
        router_sql.update_track(
            conn, commits, self.track_half_life_s, None if known is None else known.track
        )
        self.audit[:0] = audit  # one chain append per batch: the commits' entries first
        if requests:
            bulk(
                conn, "requests.insert", t.approval_requests.insert(), requests, "approval_requests"
            )
        if intents:
            bulk(conn, "intents.insert", t.action_executions.insert(), intents, "action_executions")
        if attempts:
            bulk(conn, "attempts.insert", t.action_attempts.insert(), attempts, "action_attempts")


_READ_HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash)
_HEAD_DELETE = t.audit_head.delete()
_HEAD_UPDATE = (
    update(t.audit_head)
    .where(t.audit_head.c.id == 1)
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"))
)
_HEAD_INSERT = t.audit_head.insert().values(id=1, seq=bindparam("h_seq"), hash=bindparam("h_hash"))


def read_head(conn: Connection) -> tuple[int, str]:
    rows = driver_sql.fetch(conn, _READ_HEAD, {})
    return (int(rows[0].seq), str(rows[0].hash)) if rows else (0, GENESIS_HASH)


_CHAIN_LOCK = 0x6D61  # "ma": the advisory lock class that serialises chain appends


def schema_lock_sql(lock_class: int) -> str:
    """A transaction-scoped PostgreSQL advisory lock of ``lock_class`` for the current schema.

    Advisory locks are database-wide; keyed by schema as well, deployments (or test suites) in
    separate schemas of one database never wait on each other's locks."""
    return f"SELECT pg_advisory_xact_lock({lock_class}, hashtext(coalesce(current_schema(), '')))"


CHAIN_LOCK_SQL = schema_lock_sql(_CHAIN_LOCK)


def lock_chain(conn: Connection) -> None:
    """Serialise appends to the audit chain across connections and processes.

    SQLite transactions here start with BEGIN IMMEDIATE (one writer at a time) already;
    PostgreSQL takes a transaction-scoped advisory lock, released at commit or rollback (taking
    it again in the same transaction is free). A batch that locked rows before waiting for it can
    deadlock with another that holds it and waits for those rows; PostgreSQL aborts one and the
    store runs that batch again whole (``ThreadedStore``).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(CHAIN_LOCK_SQL)


BATCHED_AUDIT = "maestro.audit_batched"
"""``Connection.info`` key: this connection's store sequences audit entries in batches."""


def mark_batched(_dbapi_conn: Any, record: Any) -> None:
    """A ``connect`` listener: the connection writes audit entries as pending."""
    record.info[BATCHED_AUDIT] = True


_PENDING_INSERT = t.audit_pending.insert().values(
    {c.name: bindparam(c.name) for c in t.audit_pending.columns if c.name != "id"}
)


def append_audit(
    conn: Connection, drafts: Sequence[AuditDraft], known: Known | None = None
) -> None:
    """Append entries to the chain: each gets the next seq and links to the one before it.

    With batched sequencing (``conn.info[BATCHED_AUDIT]``; ``store/sequencer_sql.py``) the
    entries are written as pending rows of this transaction, without the chain's lock; the one
    sequencer holding the lease gives them their seq and hash, many at a time.
    """
    if conn.info.get(BATCHED_AUDIT):
        rows = [d.fields() for d in drafts]
        bulk(conn, "audit.pending", _PENDING_INSERT, rows, "audit_pending")
        return
    chain_append(conn, drafts, known)


def chain_append(
    conn: Connection, drafts: Sequence[AuditDraft], known: Known | None = None
) -> None:
    """Give entries the next seqs and link them, under the chain's lock (one transaction).
    ``known``: the head as this connection last wrote it, if still standing (SQLite)."""
    lock_chain(conn)
    head = None if known is None else known.head
    seq, prev = head if head is not None else read_head(conn)
    rows = []
    for d in drafts:
        seq += 1
        row = d.fields()
        row["seq"] = seq
        row["prev_hash"] = prev
        prev = hashlib.sha256(canonical_bytes(row)).hexdigest()
        row["hash"] = prev
        rows.append(row)
    bulk(conn, "audit.insert", t.audit_log.insert(), rows, "audit_log")
    # one row holds the head; upsert it portably (delete + insert in the same transaction);
    # when this connection wrote it and nobody has written since, it is the one row id 1
    if head is not None:
        driver_sql.execute(conn, _HEAD_UPDATE, {"h_seq": seq, "h_hash": prev})
    else:
        driver_sql.execute(conn, _HEAD_DELETE)
        driver_sql.execute(conn, _HEAD_INSERT, {"h_seq": seq, "h_hash": prev})
    if known is not None and driver_sql.raw_cursor(conn) is not None:
        known.head = (seq, prev)


def audit_entries(conn: Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    cols = [t.audit_log.c[name] for name in (*AUDIT_FIELDS, "hash")]
    rows = conn.execute(
        select(*cols).where(t.audit_log.c.seq > after_seq).order_by(t.audit_log.c.seq).limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def audit_head(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).first()
    return (int(row.seq), str(row.hash)) if row else None


def _defn_digest(defn: WorkflowDef) -> str:
    body = defn.model_copy(update={"version": 1})
    return body.digest()


def save_workflow(conn: Connection, defn: WorkflowDef, created_at: str) -> WorkflowDef:
    lock_chain(conn)  # serialise version numbering across processes registering at once
    digest = _defn_digest(defn)
    head = conn.execute(
        select(t.workflows.c.version, t.workflows.c.definition)
        .where(t.workflows.c.name == defn.name)
        .order_by(t.workflows.c.version.desc())
        .limit(1)
    ).first()
    if head is not None and _defn_digest(WorkflowDef.model_validate(head.definition)) == digest:
        # the head already has this content (e.g. a restored version): new runs get the head
        return defn.model_copy(update={"version": int(head.version)})
    row = conn.execute(
        select(t.workflows.c.version).where(
            t.workflows.c.name == defn.name, t.workflows.c.digest == digest
        )
    ).first()
    if row is not None:
        return defn.model_copy(update={"version": int(row.version)})
    latest = conn.execute(
        select(func.max(t.workflows.c.version)).where(t.workflows.c.name == defn.name)
    ).scalar()
    version = 1 if latest is None else int(latest) + 1
    stored = defn.model_copy(update={"version": version})
    conn.execute(
        t.workflows.insert(),
        {
            "name": defn.name,
            "version": version,
            "digest": digest,
            "definition": stored.canonical(),
            "created_at": created_at,
        },
    )
    return stored


def get_workflow(conn: Connection, name: str, version: int | None) -> WorkflowDef:
    q = select(t.workflows.c.definition).where(t.workflows.c.name == name)
    if version is None:
        q = q.order_by(t.workflows.c.version.desc()).limit(1)
    else:
        q = q.where(t.workflows.c.version == version)
    row = conn.execute(q).first()
    if row is None:
        raise WorkflowNotFound(name, version)
    return WorkflowDef.model_validate(row.definition)


def list_workflows(conn: Connection) -> list[WorkflowDef]:
    rows = conn.execute(
        select(t.workflows.c.definition).order_by(t.workflows.c.name, t.workflows.c.version)
    )
    return [WorkflowDef.model_validate(r.definition) for r in rows]


def get_run(conn: Connection, run_id: str) -> RunRecord:
    row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).first()
    if row is None:
        raise RunNotFound(run_id)
    return run_record(row)


def list_runs(
    conn: Connection,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    offset: int,
) -> RunPage:
    cond = []
    if status is not None:
        cond.append(t.runs.c.status == status.value)
    if workflow is not None:
        cond.append(t.runs.c.workflow == workflow)
    total = conn.execute(select(func.count()).select_from(t.runs).where(*cond)).scalar_one()
    rows = conn.execute(
        select(t.runs)
        .where(*cond)
        .order_by(t.runs.c.created_at.desc(), t.runs.c.run_id)
        .limit(limit)
        .offset(offset)
    )
    return RunPage([run_record(r) for r in rows], int(total))


def run_ids(conn: Connection, statuses: Sequence[RunStatus]) -> list[str]:
    rows = conn.execute(
        select(t.runs.c.run_id)
        .where(t.runs.c.status.in_([s.value for s in statuses]))
        .order_by(t.runs.c.created_at, t.runs.c.run_id)
    )
    return [r.run_id for r in rows]


def step_records(conn: Connection, run_id: str) -> list[StepRecord]:
    rows = conn.execute(
        select(t.steps)
        .where(t.steps.c.run_id == run_id)
        .order_by(t.steps.c.step_index, t.steps.c.attempt)
    )
    return [StepRecord(**dict(r._mapping)) for r in rows]


def transition(conn: Connection, tr: Transition) -> RunRecord:
    current = get_run(conn, tr.run_id)
    if current.status not in tr.allowed:
        raise InvalidTransition(tr.run_id, current.status.value, tr.to.value)
    values: dict[str, Any] = {"status": tr.to.value, "updated_at": tr.updated_at}
    if tr.error is not None:
        values["error"] = tr.error
    conn.execute(update(t.runs).where(t.runs.c.run_id == tr.run_id).values(**values))
    if tr.audit:
        append_audit(conn, tr.audit)
    if tr.events:
        conn.execute(t.reflexive_events.insert(), [event_row(e) for e in tr.events])
    if tr.to in (RunStatus.CANCELLED, RunStatus.FAILED):  # decisions follow the run (GIL)
        from maestro_helix.store.gil_sql import withdraw_requests  # (gil_sql imports this module)

        withdraw_requests(conn, tr.run_id, tr.error or f"run {tr.to.value}", tr.updated_at)
    return get_run(conn, tr.run_id)


def events(conn: Connection, run_id: str | None, after_seq: int, limit: int) -> list[EventRecord]:
    q = select(t.reflexive_events).where(t.reflexive_events.c.seq > after_seq)
    if run_id is not None:
        q = q.where(t.reflexive_events.c.run_id == run_id)
    rows = conn.execute(q.order_by(t.reflexive_events.c.seq).limit(limit))
    return [EventRecord(**dict(r._mapping)) for r in rows]


_COUNTABLE: Mapping[str, Any] = {
    "runs": t.runs,
    "steps": t.steps,
    "audit_log": t.audit_log,
    "reflexive_events": t.reflexive_events,
    "workflows": t.workflows,
}


def count(conn: Connection, table: str) -> int:
    tbl = _COUNTABLE.get(table)
    if tbl is None:
        raise ValueError(f"unknown table {table!r} (known: {', '.join(_COUNTABLE)})")
    return int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())


def agent_stats(conn: Connection) -> list[AgentStat]:
    s = t.steps.c
    passed = func.sum(case((s.decision == "pass", 1), else_=0))
    rows = conn.execute(
        select(
            s.agent_id,
            s.capability,
            passed.label("passed"),
            func.count().label("total"),
            func.coalesce(func.sum(s.qsr), 0.0).label("qsr_sum"),
            func.coalesce(func.sum(s.mri), 0.0).label("mri_sum"),
        )
        .where(s.agent_id.is_not(None), s.capability.is_not(None))
        .group_by(s.agent_id, s.capability)
    )
    return [
        AgentStat(r.agent_id, r.capability, int(r.passed), int(r.total), r.qsr_sum, r.mri_sum)
        for r in rows
    ]
