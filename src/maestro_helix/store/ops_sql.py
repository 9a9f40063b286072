"""SQL of the admin operations, on a synchronous SQLAlchemy ``Connection``.

Workflow versions and restore (a restore adds a new head version, history is never rewritten),
the per-workflow pause flag, and the score logs (QSR and MRI of every step attempt) with keyset
pagination. Like ``sql.py`` and ``gil_sql.py``, each function runs inside the transaction the
store's writer thread opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.errors import InputError, WorkflowNotFound
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.store import schema as t
from maestro_helix.store.sql import append_audit, get_workflow, lock_chain

__all__ = [
    "MAX_LOG_LIMIT",
    "ScoreEntry",
    "ScorePage",
    "WorkflowState",
    "WorkflowVersion",
    "decode_cursor",
    "encode_cursor",
    "list_workflow_versions",
    "mri_log",
    "paused_workflows",
    "qsr_log",
    "restore_workflow",
    "set_workflow_paused",
    "stored_ts",
]

MAX_LOG_LIMIT = 1000

# mirrors ``schema.workflow_state`` (created by migration 0003); kept here so this module does not
# depend on when that definition lands in schema.py
workflow_state = Table(
    "workflow_state",
    MetaData(),
    Column("name", String(64), primary_key=True),
    Column("paused", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", String(32), nullable=True),
    Column("updated_by", String(64), nullable=True),
)

Metric = Literal["qsr", "mri"]


# -- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """One stored version of a workflow.

    Attributes:
        digest: SHA-256 of the definition's content (its version number left out), so a restored
            version has the digest of the version it was restored from.
        head: True for the newest version, the one new runs get by default.
    """

    name: str
    version: int
    created_at: str
    digest: str
    head: bool


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """Whether a workflow is paused, and who set it last (None when never set)."""

    name: str
    paused: bool
    updated_at: str | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    """One step attempt in a score log.

    Attributes:
        score: the attempt's QSR (qsr log) or MRI (mri log); None when it was not evaluated
            (the agent failed, or the evaluator did).
        factors: names of the risk factors, strongest first (mri log only).
    """

    metric: Metric
    run_id: str
    workflow: str
    step_id: str
    step_index: int
    attempt: int
    agent_id: str | None
    score: float | None
    decision: str
    finished_at: str
    factors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "step_id": self.step_id,
            "step_index": self.step_index,
            "attempt": self.attempt,
            "agent_id": self.agent_id,
            self.metric: self.score,
            "decision": self.decision,
            "finished_at": self.finished_at,
        }
        if self.metric == "mri":
            out["factors"] = list(self.factors)
        return out


@dataclass(frozen=True, slots=True)
class ScorePage:
    """One page of a score log; ``next_cursor`` is None on the last page."""

    items: tuple[ScoreEntry, ...]
    next_cursor: str | None


# -- workflow versions -------------------------------------------------------------------------


def _content_digest(definition: Mapping[str, Any]) -> str:
    # the same digest save_workflow stores: the definition's, with the version number held at 1
    return WorkflowDef.model_validate(definition).model_copy(update={"version": 1}).digest()


def _head(conn: Connection, name: str) -> int | None:
    latest = conn.execute(
        select(func.max(t.workflows.c.version)).where(t.workflows.c.name == name)
    ).scalar()
    return None if latest is None else int(latest)


def list_workflow_versions(conn: Connection, name: str) -> list[WorkflowVersion]:
    """Every stored version of ``name``, oldest first; WorkflowNotFound if there is none."""
    w = t.workflows.c
    rows = conn.execute(
        select(w.version, w.created_at, w.definition).where(w.name == name).order_by(w.version)
    ).all()
    if not rows:
        raise WorkflowNotFound(name)
    head = int(rows[-1].version)
    return [
        WorkflowVersion(
            name=name,
            version=int(r.version),
            created_at=r.created_at,
            digest=_content_digest(r.definition),
            head=int(r.version) == head,
        )
        for r in rows
    ]


def restore_workflow(
    conn: Connection, name: str, version: int, ts: str, by: str | None
) -> WorkflowDef:
    """Make ``version``'s definition the head again, as a new version; audited.

    Nothing stored is changed: the definition of ``version`` is copied to the version after the
    current head, so runs started on any version keep pointing at what they ran, and the history
    shows the rollback. Raises WorkflowNotFound when ``name`` has no such version.
    """
    lock_chain(conn)  # one restore at a time per database (PostgreSQL); the audit append needs it
    source = get_workflow(conn, name, version)
    head = _head(conn, name)
    assert head is not None  # get_workflow found a version
    new_version = head + 1
    restored = source.model_copy(update={"version": new_version})
    content = _content_digest(source.canonical())
    conn.execute(
        t.workflows.insert(),
        {
            "name": name,
            "version": new_version,
            # (name, digest) is unique and the content's digest is taken by the source's row:
            # the copy stores a digest of (content, its version); list_workflow_versions reports
            # the content digest for every row
            "digest": hashlib.sha256(f"{content}/restored/{new_version}".encode()).hexdigest(),
            "definition": restored.canonical(),
            "created_at": ts,
        },
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"workflow/{name}/restored/{new_version}",
                ts=ts,
                kind=AuditKind.WORKFLOW_RESTORED,
                workflow=name,
                workflow_version=new_version,
                human_operator_id=by or "",
                details={"restored_from": version, "previous_head": head, "digest": content},
            )
        ],
    )
    return restored


# -- pause flag ----------------------------------------------------------------------------------


def set_workflow_paused(
    conn: Connection, name: str, paused: bool, ts: str, by: str | None
) -> WorkflowState:
    """Set the pause flag of ``name``; a change is audited, setting it as it is is a no-op.

    Raises WorkflowNotFound when no version of ``name`` is stored.
    """
    lock_chain(conn)
    head = _head(conn, name)
    if head is None:
        raise WorkflowNotFound(name)
    s = workflow_state.c
    row = conn.execute(select(workflow_state).where(s.name == name)).first()
    if row is None and not paused:
        return WorkflowState(name, False)
    if row is not None and bool(row.paused) == paused:
        return WorkflowState(name, paused, row.updated_at, row.updated_by)
    values = {"paused": int(paused), "updated_at": ts, "updated_by": by}
    if row is None:
        conn.execute(workflow_state.insert(), {"name": name, **values})
    else:
        conn.execute(update(workflow_state).where(s.name == name).values(**values))
    kind = AuditKind.WORKFLOW_PAUSED if paused else AuditKind.WORKFLOW_RESUMED
    append_audit(
        conn,
        [
            AuditDraft(
                # uuid: the same operator may flip the flag twice within one clock tick
                entry_id=f"workflow/{name}/{kind}/{uuid.uuid4().hex}",
                ts=ts,
                kind=kind,
                workflow=name,
                workflow_version=head,
                human_operator_id=by or "",
                details={"paused": paused},
            )
        ],
    )
    return WorkflowState(name, paused, ts, by)


def paused_workflows(conn: Connection) -> set[str]:
    """Names of the workflows paused now."""
    s = workflow_state.c
    return {r.name for r in conn.execute(select(s.name).where(s.paused != 0))}


# -- score logs ----------------------------------------------------------------------------------

Cursor = tuple[str, str, int, int]  # (finished_at, run_id, step_index, attempt)


def encode_cursor(key: Cursor) -> str:
    """The opaque cursor for the entry with sort key ``key`` (the next page starts after it)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Cursor:
    """The sort key inside a cursor from :func:`encode_cursor`; InputError if it is not one."""
    bad = InputError("cursor", "not a cursor this API returned (pass next_cursor unchanged)")
    if len(cursor) > 512:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not (
        isinstance(key, list)
        and len(key) == 4
        and isinstance(key[0], str)
        and isinstance(key[1], str)
        and "\x00" not in key[0] + key[1]  # PostgreSQL refuses NUL in text
        and all(isinstance(x, int) and not isinstance(x, bool) for x in key[2:])
        and all(-(2**31) <= x < 2**31 for x in key[2:])
    ):
        raise bad
    return key[0], key[1], key[2], key[3]


def stored_ts(value: datetime, field: str) -> str:
    """A datetime in the stored form (ISO-8601 UTC with microseconds); naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise InputError(field, "timestamp out of range") from None


def _bound(value: float | None, field: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:  # NaN fails this too
        raise InputError(field, "must be a number from 0 to 1")


def _score_log(
    conn: Connection,
    metric: Metric,
    *,
    workflow: str | None,
    step: str | None,
    agent: str | None,
    since: datetime | None,
    until: datetime | None,
    below: float | None,
    above: float | None,
    after_cursor: str | None,
    limit: int,
) -> ScorePage:
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise InputError("limit", f"must be from 1 to {MAX_LOG_LIMIT}")
    _bound(below, "below")
    _bound(above, "above")
    s, r = t.steps.c, t.runs.c
    score = s.qsr if metric == "qsr" else s.mri
    cols: list[Any] = [
        s.run_id,
        r.workflow,
        s.step_id,
        s.step_index,
        s.attempt,
        s.agent_id,
        score.label("score"),
        s.decision,
        s.finished_at,
    ]
    if metric == "mri":
        cols.append(s.risk)
    cond: list[ColumnElement[bool]] = []
    if workflow is not None:
        cond.append(r.workflow == workflow)
    if step is not None:
        cond.append(s.step_id == step)
    if agent is not None:
        cond.append(s.agent_id == agent)
    if since is not None:
        cond.append(s.finished_at >= stored_ts(since, "since"))
    if until is not None:
        cond.append(s.finished_at < stored_ts(until, "until"))
    if below is not None:
        cond.append(score < below)
    if above is not None:
        cond.append(score > above)
    if after_cursor is not None:
        ts, run_id, index, attempt = decode_cursor(after_cursor)
        # (finished_at, run_id, step_index, attempt) > cursor, spelled out for every backend
        cond.append(
            or_(
                s.finished_at > ts,
                and_(
                    s.finished_at == ts,
                    or_(
                        s.run_id > run_id,
                        and_(
                            s.run_id == run_id,
                            or_(
                                s.step_index > index,
                                and_(s.step_index == index, s.attempt > attempt),
                            ),
                        ),
                    ),
                ),
            )
        )
    rows = conn.execute(
        select(*cols)
        .select_from(t.steps.join(t.runs, s.run_id == r.run_id))
        .where(*cond)
        .order_by(s.finished_at, s.run_id, s.step_index, s.attempt)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    items = tuple(
        ScoreEntry(
            metric=metric,
            run_id=row.run_id,
            workflow=row.workflow,
            step_id=row.step_id,
            step_index=int(row.step_index),
            attempt=int(row.attempt),
            agent_id=row.agent_id,
            score=None if row.score is None else float(row.score),
            decision=row.decision,
            finished_at=row.finished_at,
            factors=_factor_names(row.risk) if metric == "mri" else (),
        )
        for row in rows[:limit]
    )
    last = items[-1] if more else None
    cursor = (
        encode_cursor((last.finished_at, last.run_id, last.step_index, last.attempt))
        if last is not None
        else None
    )
    return ScorePage(items, cursor)


def _factor_names(risk: Any) -> tuple[str, ...]:
    if not isinstance(risk, Mapping):
        return ()
    return tuple(
        str(f["name"])
        for f in risk.get("factors") or ()
        if isinstance(f, Mapping) and f.get("name") is not None
    )


def qsr_log(
    conn: Connection,
    *,
    workflow: str | None = None,
    step: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    below: float | None = None,
    above: float | None = None,
    after_cursor: str | None = None,
    limit: int = 100,
) -> ScorePage:
    """QSR of every step attempt, oldest first (by finish time), filtered and paged.

    Args:
        workflow: only runs of this workflow (any version).
        step: only this step id.
        agent: only attempts this agent ran.
        since: finished at or after (inclusive); a naive datetime is UTC.
        until: finished before (exclusive).
        below: QSR strictly below this (0..1); attempts without a QSR are then left out.
        above: QSR strictly above this (0..1).
        after_cursor: ``next_cursor`` of the previous page.
        limit: entries per page, 1..1000.

    Raises:
        InputError: a bad cursor, limit or bound.
    """
    return _score_log(
        conn,
        "qsr",
        workflow=workflow,
        step=step,
        agent=agent,
        since=since,
        until=until,
        below=below,
        above=above,
        after_cursor=after_cursor,
        limit=limit,
    )


def mri_log(
    conn: Connection,
    *,
    workflow: str | None = None,
    step: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    below: float | None = None,
    above: float | None = None,
    after_cursor: str | None = None,
    limit: int = 100,
) -> ScorePage:
    """MRI of every step attempt with its risk factor names; filters as :func:`qsr_log`."""
    return _score_log(
        conn,
        "mri",
        workflow=workflow,
        step=step,
        agent=agent,
        since=since,
        until=until,
        below=below,
        above=above,
        after_cursor=after_cursor,
        limit=limit,
    )
