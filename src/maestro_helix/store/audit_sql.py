"""SQL of the verifiable audit log: reading entries by filter, the Merkle tree's signed checkpoints,
and one consistent read of the whole log for verification.

The Merkle tree itself is never stored: it is a function of the seq-ordered entries
(``governance/merkle.py``), recomputed by whoever checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, create_engine, func, select
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import ChainReport, verify_chain
from maestro_helix.governance.audit import AUDIT_FIELDS, CanonicalRow, canonical_of_values
from maestro_helix.governance.auditscan import Segment, scan_segment
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


def iter_canonical(
    conn: Connection, page: int = 20_000, after: int = 0, until: int | None = None
) -> Iterator[CanonicalRow]:
    """Every entry in seq order as (seq, prev_hash, hash, canonical bytes), straight from the
    driver's cursor: the verify path (a million entries), with no dict per row but one.

    Keyset pages by seq (``after < seq <= until``); JSON columns decoded with orjson like the
    engine's JSON type does.
    """
    cols = ", ".join(_COLUMNS)
    bound = "" if until is None else f" AND seq <= {int(until)}"
    stmt = f"SELECT {cols} FROM audit_log WHERE seq > ?{bound} ORDER BY seq LIMIT ?"
    if conn.dialect.paramstyle != "qmark":
        stmt = stmt.replace("?", "%s")
    loads = orjson.loads
    json_at = [i for i, n in enumerate(_COLUMNS) if n in _JSON_FIELDS]
    seq_at, prev_at, hash_at = (_COLUMNS.index(n) for n in ("seq", "prev_hash", "hash"))
    fields = len(AUDIT_FIELDS)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        while True:
            cursor.execute(stmt, (after, page))
            rows = cursor.fetchall()
            if not rows:
                return
            for r in rows:
                values = list(r[:fields])
                for i in json_at:
                    v = values[i]
                    if isinstance(v, str | bytes):
                        values[i] = loads(v)
                yield (r[seq_at], r[prev_at], r[hash_at], canonical_of_values(values))
            after = int(rows[-1][seq_at])
    finally:
        cursor.close()


def _iter_audit(conn: Connection, page: int = 5000) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        rows = sql.audit_entries(conn, after, page)
        if not rows:
            return
        yield from rows
        after = int(rows[-1]["seq"])


def verify_chain_of(conn: Connection) -> ChainReport:
    """The chain checked entry by entry against the stored head (``verify_chain``)."""
    return verify_chain(_iter_audit(conn), sql.audit_head(conn))


def canonical_page(conn: Connection, after_seq: int, limit: int) -> list[CanonicalRow]:
    """Up to ``limit`` entries after ``after_seq`` as canonical rows (one page of a follower)."""
    return list(iter_canonical(conn, page=limit, after=after_seq, until=after_seq + limit))


def scan_audit(
    conn: Connection, fn: Callable[[Iterator[CanonicalRow], tuple[int, str] | None], T]
) -> T:
    """Run ``fn`` over every entry (canonical rows) and the recorded head, in one transaction."""
    return fn(iter_canonical(conn), sql.audit_head(conn))


def max_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.max(t.audit_log.c.seq))).scalar() or 0)


@dataclass(frozen=True, slots=True)
class ReaderTarget:
    """How a worker process opens the same database (read only)."""

    url: str
    connect_args: dict[str, Any]


def read_segment(target: ReaderTarget, start: int, length: int, sizes: Sequence[int]) -> Segment:
    """In a worker process: check the entries ``start + 1 .. start + length`` on its own."""
    engine = create_engine(target.url, connect_args=target.connect_args)
    try:
        with engine.connect() as conn:
            rows = iter_canonical(conn, after=start, until=start + length)
            return scan_segment(rows, start, length, sizes)
    finally:
        engine.dispose()


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
