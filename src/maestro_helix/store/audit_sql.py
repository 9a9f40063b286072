"""SQL of the verifiable audit log: reading entries by filter, the Merkle tree's signed checkpoints,
and one consistent read of the whole log for verification.

The Merkle tree itself is never stored: it is a function of the seq-ordered entries
(``governance/merkle.py``), recomputed by whoever checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, select
from sqlalchemy.engine import Connection

from maestro_helix.governance.audit import AUDIT_FIELDS
from maestro_helix.store import schema as t
from maestro_helix.store import sql
from maestro_helix.store.base import AuditFilter, CheckpointRecord

T = TypeVar("T")

_COLUMNS = (*AUDIT_FIELDS, "hash")
_JSON_FIELDS = frozenset(c.name for c in t.audit_log.columns if isinstance(c.type, JSON))


def find_audit(conn: Connection, f: AuditFilter) -> list[dict[str, Any]]:
    """Entries matching every given filter, in seq order, after ``f.after_seq``."""
    c = t.audit_log.c
    q = select(*(c[n] for n in _COLUMNS)).where(c.seq > f.after_seq)
    if f.seq is not None:
        q = q.where(c.seq == f.seq)
    if f.run_id is not None:
        q = q.where(c.run_id == f.run_id)
    if f.operator is not None:
        q = q.where(c.human_operator_id == f.operator)
    if f.kind is not None:
        q = q.where(c.kind == f.kind)
    rows = conn.execute(q.order_by(c.seq).limit(f.limit))
    return [dict(r._mapping) for r in rows]


def iter_audit_fast(conn: Connection, page: int = 20_000) -> Iterator[dict[str, Any]]:
    """Every entry in seq order, straight from the driver (the verify path: 1M entries).

    Keyset pages by seq; JSON columns decoded with orjson like the engine's JSON type does.
    """
    cols = ", ".join(_COLUMNS)
    stmt = f"SELECT {cols} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"
    if conn.dialect.paramstyle != "qmark":
        stmt = stmt.replace("?", "%s")
    loads = orjson.loads
    json_at = [i for i, n in enumerate(_COLUMNS) if n in _JSON_FIELDS]
    after = 0
    while True:
        rows = conn.exec_driver_sql(stmt, (after, page)).fetchall()
        if not rows:
            return
        for r in rows:
            d = dict(zip(_COLUMNS, r, strict=True))
            for i in json_at:
                v = r[i]
                if isinstance(v, str | bytes):
                    d[_COLUMNS[i]] = loads(v)
            yield d
        after = int(rows[-1][0])


def scan_audit(
    conn: Connection, fn: Callable[[Iterator[dict[str, Any]], tuple[int, str] | None], T]
) -> T:
    """Run ``fn`` over every entry and the recorded head, read in one transaction."""
    return fn(iter_audit_fast(conn), sql.audit_head(conn))


def save_checkpoint(conn: Connection, cp: CheckpointRecord) -> bool:
    """Store a checkpoint; False (nothing written) when one of that tree size exists."""
    exists = conn.execute(
        select(t.audit_checkpoints.c.tree_size).where(
            t.audit_checkpoints.c.tree_size == cp.tree_size
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        t.audit_checkpoints.insert(),
        {
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash,
            "ts": cp.ts,
            "origin": cp.origin,
            "key_id": cp.key_id,
            "note": cp.note,
        },
    )
    return True


def list_checkpoints(conn: Connection) -> list[CheckpointRecord]:
    rows = conn.execute(select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.tree_size))
    return [CheckpointRecord(**dict(r._mapping)) for r in rows]
