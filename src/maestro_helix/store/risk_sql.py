"""SQL of the predictive risk models (``risk_models``) and the step history they read.

A model is stored once with the next version number, its metrics and SHA-256; at most one row
is active. Saving and activating write an audit entry naming who did it. The agents' recent
record is read from the router's track record (``agent_track``), not from ``steps``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.errors import MaestroError
from maestro_helix.helix.predict import AgentHistory
from maestro_helix.store import router_sql
from maestro_helix.store import schema as t
from maestro_helix.store.sql import append_audit, lock_chain

__all__ = [
    "StoredModel",
    "activate_model",
    "agent_history",
    "get_model",
    "list_models",
    "save_model",
]


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One stored model version (``model`` is the JSON document, ``sha256`` its hash)."""

    version: int
    created_at: str
    created_by: str | None
    sha256: str
    active: bool
    metrics: Mapping[str, Any]
    model: Mapping[str, Any]


def _row(r: Any) -> StoredModel:
    return StoredModel(
        r.version, r.created_at, r.created_by, r.sha256, bool(r.active), r.metrics, r.model
    )


def _audit(
    conn: Connection, kind: AuditKind, version: int, ts: str, by: str | None, **details: Any
) -> None:
    lock_chain(conn)
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"{kind}/{version}/{ts}",
                ts=ts,
                kind=kind,
                human_operator_id=by or "",
                details={"version": version, **details},
            )
        ],
    )


def save_model(
    conn: Connection,
    make: Any,
    *,
    ts: str,
    by: str | None,
    activate: bool,
) -> StoredModel:
    """Store ``make(version)`` (the finished document for that version number: it carries its
    own version and hash) as the next version; optionally make it the active one."""
    c = t.risk_models.c
    version = int(conn.execute(select(func.coalesce(func.max(c.version), 0))).scalar_one()) + 1
    doc = make(version)
    if activate:
        conn.execute(update(t.risk_models).values(active=0))
    conn.execute(
        t.risk_models.insert(),
        {
            "version": version,
            "created_at": ts,
            "created_by": by,
            "sha256": doc["sha256"],
            "active": int(activate),
            "metrics": doc.get("metrics", {}),
            "model": doc,
        },
    )
    _audit(conn, AuditKind.RISK_MODEL_SAVED, version, ts, by, sha256=doc["sha256"], active=activate)
    return get_model(conn, version)


def activate_model(conn: Connection, version: int, *, ts: str, by: str | None) -> StoredModel:
    """Make ``version`` the one active model (the others inactive)."""
    c = t.risk_models.c
    if conn.execute(select(c.version).where(c.version == version)).first() is None:
        raise MaestroError(f"no risk model version {version}")
    conn.execute(update(t.risk_models).values(active=0))
    conn.execute(update(t.risk_models).where(c.version == version).values(active=1))
    _audit(conn, AuditKind.RISK_MODEL_ACTIVATED, version, ts, by)
    return get_model(conn, version)


def get_model(conn: Connection, version: int | None = None) -> StoredModel:
    """One version, or the active one (``None``). Raises MaestroError when there is none."""
    c = t.risk_models.c
    q = select(t.risk_models)
    q = q.where(c.active == 1) if version is None else q.where(c.version == version)
    r = conn.execute(q).first()
    if r is None:
        raise MaestroError(
            "no active risk model (train one: maestro risk train)"
            if version is None
            else f"no risk model version {version}"
        )
    return _row(r)


def active_version(conn: Connection) -> int | None:
    c = t.risk_models.c
    r = conn.execute(select(c.version).where(c.active == 1)).first()
    return None if r is None else int(r.version)


def list_models(conn: Connection) -> list[StoredModel]:
    rows = conn.execute(select(t.risk_models).order_by(t.risk_models.c.version))
    return [_row(r) for r in rows]


def agent_history(conn: Connection, last: int = 50) -> dict[tuple[str, str], AgentHistory]:
    """Each (agent, capability)'s record, from the router's track record (``agent_track``, one
    row each, folded in every step commit): decayed pass rate, mean QSR and MRI; ``n`` capped at
    ``last``. A read of one small table, never a scan of ``steps``."""
    now = time.time()
    return {
        (r.agent_id, r.capability): AgentHistory.of(r, now, last)
        for r in router_sql.all_track_records(conn)
        if r.total > 0
    }
