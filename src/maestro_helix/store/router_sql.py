"""The router's track record in SQL: folded inside the step commit's transaction, read per choice.

Every step commit that gates an agent's attempt adds one observation to that agent × capability
row (:func:`update_track`), in the same transaction as the step row, so the record is exactly the
committed steps: shared by every process and worker, identical after a restart, and untouched
by a commit that was refused (a lost lease writes nothing). Concurrent writers on PostgreSQL
lock the rows (keys in sorted order); SQLite's write transaction is exclusive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from maestro_helix.core.records import StepCommit
from maestro_helix.core.route import TrackRecord
from maestro_helix.helix.gate import AGENT_FAILED
from maestro_helix.helix.predict import HELD_BY_PREDICTION
from maestro_helix.helix.routing import Observation, fold, observation
from maestro_helix.store import driver_sql
from maestro_helix.store import schema as t

__all__ = ["all_track_records", "observations", "track_records", "update_track"]

_COLS = ("n", "passed", "qsr_sum", "mri_sum", "as_of", "half_life_s", "total", "passes")


def _epoch(ts: str) -> float:
    if not ts:
        return time.time()
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return time.time()


def observation_of(c: StepCommit) -> Observation | None:
    """The observation one commit makes (see :func:`maestro_helix.helix.routing.observation`)."""
    s = c.step
    reasons = s.verdict.get("reasons", ()) if s.verdict else ()
    agent_failed = s.output is None and any(str(r).startswith(AGENT_FAILED) for r in reasons)
    policy_escalation = bool(c.requests) and all(
        r.scores.get("policy_required") for r in c.requests
    )
    held = any(str(r).startswith(HELD_BY_PREDICTION) for r in reasons)
    return observation(
        agent_id=s.agent_id,
        capability=s.capability,
        t=_epoch(s.finished_at),
        decision=s.decision,
        qsr=s.qsr,
        mri=s.mri,
        agent_failed=agent_failed,
        policy_escalation=policy_escalation,
        held_by_prediction=held,
    )


def observations(commits: Iterable[StepCommit]) -> list[Observation]:
    return [o for o in (observation_of(c) for c in commits) if o is not None]


def _record(row: Any) -> TrackRecord:
    return TrackRecord(
        row.agent_id,
        row.capability,
        row.n,
        row.passed,
        row.qsr_sum,
        row.mri_sum,
        row.as_of,
        row.half_life_s,
        int(row.total),
        int(row.passes),
    )


# built once: update_track runs in every write batch with step commits
_TRACK_INSERT_PG = pg_insert(t.agent_track).on_conflict_do_nothing()
_TRACK_INSERT_SQLITE = sqlite_insert(t.agent_track).on_conflict_do_nothing()
_TRACK_ROWS = select(t.agent_track).where(
    t.agent_track.c.agent_id.in_(bindparam("agents", expanding=True)),
    t.agent_track.c.capability.in_(bindparam("caps", expanding=True)),
)
_TRACK_LOCKED = _TRACK_ROWS.order_by(
    t.agent_track.c.agent_id, t.agent_track.c.capability
).with_for_update()
_TRACK_UPDATE = (
    update(t.agent_track)
    .where(
        t.agent_track.c.agent_id == bindparam("k_agent"),
        t.agent_track.c.capability == bindparam("k_cap"),
    )
    .values({c: bindparam(f"v_{c}") for c in _COLS})
)


def update_track(
    conn: Connection,
    commits: Sequence[StepCommit],
    half_life_s: float,
    known: dict[tuple[str, str], TrackRecord] | None = None,
) -> None:
    """Fold the commits' observations into their rows (inside the writing transaction).

    ``known``: rows as this connection last wrote them, still standing (``store/known.py``,
    SQLite): when it holds every row the commits fold, none is read; updated with the rows
    written."""
    obs = observations(commits)
    if not obs:
        return
    keys = sorted({(o.agent_id, o.capability) for o in obs})
    if known is not None and all(k in known for k in keys):
        current = {k: known[k] for k in keys}
    else:
        current = _read_track(conn, keys)
    for o in obs:
        k = (o.agent_id, o.capability)
        current[k] = fold(current[k], o, half_life_s)
    driver_sql.execute_many(
        conn,
        _TRACK_UPDATE,
        [
            {"k_agent": k[0], "k_cap": k[1]} | {f"v_{c}": getattr(current[k], c) for c in _COLS}
            for k in keys
        ],
    )
    if known is not None and driver_sql.raw_cursor(conn) is not None:
        known.update(current)


def _read_track(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[Any, TrackRecord]:
    """The rows of ``keys``, created empty where missing (PostgreSQL: locked, in key order)."""
    empty = {c: 0.0 for c in _COLS} | {"total": 0, "passes": 0}
    rows = [{"agent_id": a, "capability": c, **empty} for a, c in keys]
    pg = conn.dialect.name == "postgresql"
    driver_sql.execute_many(conn, _TRACK_INSERT_PG if pg else _TRACK_INSERT_SQLITE, rows)
    params = {"agents": sorted({k[0] for k in keys}), "caps": sorted({k[1] for k in keys})}
    found = driver_sql.fetch(conn, _TRACK_LOCKED if pg else _TRACK_ROWS, params)
    return {(r.agent_id, r.capability): _record(r) for r in found}


# built once: read before every routed attempt
_TRACK_OF_CAP = select(t.agent_track).where(t.agent_track.c.capability == bindparam("cap"))
_TRACK_OF_AGENTS = _TRACK_OF_CAP.where(
    t.agent_track.c.agent_id.in_(bindparam("agents", expanding=True))
)


def track_records(conn: Connection, capability: str, agent_ids: Sequence[str]) -> list[TrackRecord]:
    if agent_ids:
        rows = conn.execute(_TRACK_OF_AGENTS, {"cap": capability, "agents": list(agent_ids)})
    else:
        rows = conn.execute(_TRACK_OF_CAP, {"cap": capability})
    return [_record(r) for r in rows]


def all_track_records(conn: Connection) -> list[TrackRecord]:
    a = t.agent_track.c
    q = select(t.agent_track).order_by(a.capability, a.agent_id)
    return [_record(r) for r in conn.execute(q)]
