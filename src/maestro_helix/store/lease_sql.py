"""Who may hold what, on a synchronous SQLAlchemy ``Connection``: the lease clock, each
process's heartbeat (``owners``), and the lease and claim rule built on both — a lease or claim
passes to another process only when its time is over *and* its holder has stopped beating.
Renewal, release, taking a run (:func:`acquire_run`, fenced on a work item's epoch and step)
and the runs nobody live holds are here too; the fenced writes that check a lease as they
commit are in :mod:`maestro_helix.store.sql` and :mod:`maestro_helix.store.gil_sql`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    cast,
    column,
    delete,
    exists,
    func,
    or_,
    select,
    update,
    values,
)
from sqlalchemy.engine import Connection

from maestro_helix.core.records import QUEUE_OWNER, UNFINISHED, LiveProcess, RunRecord
from maestro_helix.store import schema as t
from maestro_helix.store.rows import run_record

ACTIVE = [s.value for s in UNFINISHED]
"""The stored statuses of unfinished runs."""


def owner_alive(owner: Any, now: float) -> Any:
    """Whether ``owner`` (a column) has beaten within its lease time (:func:`keep_alive`)."""
    o = t.owners.c
    return exists().where(o.owner == owner, o.alive_until >= now)


def lapsed(owner: Any, until: Any, now: float) -> Any:
    """A lease or claim another process may take over: its time is over and its holder has
    stopped beating. A holder whose renewals are late (a writer queue stalled behind a slow
    transaction, a starved CPU) but whose heartbeat goes on keeps what it holds: handing an
    action it is calling to another process would call the handler twice."""
    return and_(until < now, ~owner_alive(owner, now))


_DAY_S = 86_400.0


def keep_alive(conn: Connection, owner: str, ttl_s: float) -> None:
    """Record that ``owner`` is alive for ``ttl_s`` more seconds (the database's clock on
    PostgreSQL). A process's first beat also drops rows of processes silent for a day."""
    now = lease_now(conn)
    o = t.owners.c
    n = conn.execute(
        update(t.owners).where(o.owner == owner).values(alive_until=now + ttl_s)
    ).rowcount
    if n:
        return
    conn.execute(delete(t.owners).where(o.alive_until < now - _DAY_S))
    conn.execute(
        t.owners.insert().values(
            owner=owner,
            alive_until=now + ttl_s,
            started_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
        )
    )


def live_owners(conn: Connection) -> list[LiveProcess]:
    """Processes beating now, oldest first, with what each holds."""
    o = t.owners.c
    now = lease_now(conn)
    rows = conn.execute(
        select(o.owner, o.alive_until, o.started_at)
        .where(o.alive_until >= now)
        .order_by(o.started_at, o.owner)
    ).all()
    if not rows:
        return []
    names = [r.owner for r in rows]
    r_c, a_c = t.runs.c, t.action_executions.c
    runs: dict[str, int] = dict(
        conn.execute(
            select(r_c.owner, func.count())
            .where(r_c.owner.in_(names), r_c.status.in_(ACTIVE))
            .group_by(r_c.owner)
        ).all()
    )
    actions: dict[str, int] = dict(
        conn.execute(
            select(a_c.owner, func.count())
            .where(a_c.owner.in_(names), a_c.status == "started")
            .group_by(a_c.owner)
        ).all()
    )
    return [
        LiveProcess(
            r.owner,
            r.started_at,
            round(r.alive_until - now, 3),
            int(runs.get(r.owner, 0)),
            int(actions.get(r.owner, 0)),
        )
        for r in rows
    ]


def renew_leases(conn: Connection, owner: str, ttl_s: float) -> int:
    """Extend every lease and action claim ``owner`` holds; returns the runs renewed."""
    until = lease_now(conn) + ttl_s
    n = conn.execute(
        update(t.runs)
        .where(t.runs.c.owner == owner, t.runs.c.status.in_(ACTIVE))
        .values(lease_until=until)
    ).rowcount
    conn.execute(
        update(t.action_executions)
        .where(t.action_executions.c.owner == owner, t.action_executions.c.status == "started")
        .values(claim_until=until)
    )
    return int(n)


def release_leases(conn: Connection, owner: str, run_ids: Sequence[str] | None = None) -> int:
    """Give up the leases ``owner`` holds (all, or those of ``run_ids``): another process may
    continue those runs at once."""
    q = update(t.runs).where(t.runs.c.owner == owner)
    if run_ids is not None:
        q = q.where(t.runs.c.run_id.in_(list(run_ids)))
    return int(conn.execute(q.values(owner=None, lease_until=None)).rowcount)


def acquire_run(
    conn: Connection,
    run_id: str,
    owner: str,
    ttl_s: float,
    *,
    handed: tuple[int, int] | None = None,
    step: int | None = None,
) -> tuple[RunRecord, bool] | None:
    """Take the lease of an unfinished run nobody holds (or whose holder's lease expired, or
    that waits on the work queue). Raises the fencing token. Returns the run and whether its
    workflow is paused, or None when another live process holds it (or it is not unfinished).

    ``handed``: (epoch, step index) of a work item; the run is taken only if it still waits on
    the queue exactly as that item left it (nobody took it since: any taking raises the epoch).
    ``step``: only if the run is at that step (an item for a step it has passed takes nothing).
    """
    r = t.runs.c
    now = _statement_now(conn)
    if handed is None:
        who = or_(
            r.owner.is_(None),
            r.owner == QUEUE_OWNER,
            r.owner == owner,
            lapsed(r.owner, r.lease_until, now),
        )
    else:
        who = and_(r.owner == QUEUE_OWNER, r.epoch == handed[0], r.next_step == handed[1])
    if step is not None:
        who = and_(who, r.next_step == step)
    w = t.workflow_state.c
    # PostgreSQL: one statement (the clock, the take and the pause flag), a round trip each
    # saved on every work item; SQLite renders RETURNING's columns unqualified, so its pause
    # flag is read on its own (in-process, no round trip)
    one = conn.dialect.name == "postgresql"
    paused = select(w.paused).where(w.name == r.workflow).scalar_subquery().label("paused")
    returning = (*t.runs.c, paused) if one else tuple(t.runs.c)
    row = conn.execute(
        update(t.runs)
        .where(r.run_id == run_id, r.status.in_(ACTIVE), who)
        .values(owner=owner, lease_until=now + ttl_s, epoch=r.epoch + 1)
        .returning(*returning)
    ).first()
    if row is None:
        return None
    rec = run_record(row)
    flag = (
        row.paused if one else conn.execute(select(w.paused).where(w.name == rec.workflow)).scalar()
    )
    return rec, bool(flag)


def acquire_handed(
    conn: Connection, owner: str, ttl_s: float, items: Sequence[tuple[str, int, int]]
) -> dict[str, tuple[RunRecord, bool]]:
    """:func:`acquire_run` with ``handed`` for many work items at once, in one statement on
    PostgreSQL: each (run id, epoch, step index) is taken only if its run still waits on the
    queue exactly as that item left it. Returns the runs taken (and whether each one's workflow
    is paused); a run not in it was not taken."""
    if conn.dialect.name != "postgresql":
        got = {}
        for run_id, epoch, step in items:
            one = acquire_run(conn, run_id, owner, ttl_s, handed=(epoch, step))
            if one is not None:
                got[run_id] = one
        return got
    r, w = t.runs.c, t.workflow_state.c
    v = values(
        column("run_id", String), column("epoch", Integer), column("step", Integer), name="v"
    ).data(list(items))
    paused = select(w.paused).where(w.name == r.workflow).scalar_subquery().label("paused")
    rows = conn.execute(
        update(t.runs)
        .where(
            r.run_id == v.c.run_id,
            r.status.in_(ACTIVE),
            r.owner == QUEUE_OWNER,
            r.epoch == v.c.epoch,
            r.next_step == v.c.step,
        )
        .values(owner=owner, lease_until=_statement_now(conn) + ttl_s, epoch=r.epoch + 1)
        .returning(*t.runs.c, paused)
    ).all()
    return {row.run_id: (run_record(row), bool(row.paused)) for row in rows}


def _statement_now(conn: Connection) -> Any:
    """Now for the statement that takes a lease: on PostgreSQL the server's clock read inside
    that statement (the same clock as :func:`lease_now`, without a round trip of its own); on
    SQLite this machine's (a float)."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return lease_now(conn)


def runs_to_resume(conn: Connection, owner: str) -> list[str]:
    """Unfinished runs no live process holds (free, ours, or with an expired lease)."""
    r = t.runs.c
    now = lease_now(conn)
    rows = conn.execute(
        select(r.run_id)
        .where(
            r.status.in_(ACTIVE),
            or_(r.owner.is_(None), r.owner == owner, lapsed(r.owner, r.lease_until, now)),
        )
        .order_by(r.created_at, r.run_id)
    )
    return [row.run_id for row in rows]


def lease_now(conn: Connection) -> float:
    """Now, for lease and claim times (seconds since the epoch): the database server's clock
    on PostgreSQL, so processes on many machines agree whatever their own clocks say; this
    machine's on SQLite, where every process sharing the file is on this machine."""
    if conn.dialect.name == "postgresql":
        now = conn.exec_driver_sql("SELECT extract(epoch FROM clock_timestamp())").scalar_one()
        return float(now)
    return time.time()
