"""The versioned knowledge base (CSIL) in SQL: push, read a version, roll back, prune.

Items are immutable rows; ``knowledge_spans`` says which versions hold each (``from_version <= v <
to_version``, open-ended for the current one). A push or a rollback makes one new version in one
transaction (PostgreSQL: under an advisory lock, so concurrent pushes get consecutive numbers).
Nothing is stored that the project's detectors still find personal data or secrets in: the store
checks every item again, whatever the caller did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.errors import InputError
from maestro_helix.core.knowledge import Insight, InsightDraft, KnowledgeVersion
from maestro_helix.helix.pii import scan
from maestro_helix.store import driver_sql
from maestro_helix.store import schema as t
from maestro_helix.store.sql import append_audit

__all__ = [
    "item_id",
    "knowledge_items",
    "knowledge_versions",
    "prune_knowledge",
    "push_knowledge",
    "rollback_knowledge",
]

_LOCK_KEY = 0x6B6E6F77  # "know": one writer of versions at a time on PostgreSQL
i_c, s_c, v_c = t.knowledge_items.c, t.knowledge_spans.c, t.knowledge_versions.c


def item_id(d: InsightDraft) -> str:
    """Content address: the same insight for the same capability is one item."""
    return hashlib.sha256(f"{d.capability or ''}\x00{d.text}".encode()).hexdigest()[:32]


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


_CURRENT = select(func.coalesce(func.max(v_c.version), 0))


def _current(conn: Connection) -> int:
    return int(driver_sql.fetch(conn, _CURRENT, {})[0][0])


def _in(version: Any) -> Any:
    return and_(
        s_c.from_version <= version, or_(s_c.to_version.is_(None), s_c.to_version > version)
    )


# built once: a push runs after most passing attempts (the learning service), on the writer
_HELD = select(s_c.item_id).where(
    s_c.item_id.in_(bindparam("ids", expanding=True)), _in(bindparam("v"))
)
_ITEMS_KNOWN = select(i_c.item_id).where(i_c.item_id.in_(bindparam("ids", expanding=True)))
_ITEM_INSERT = insert(t.knowledge_items)
_SPAN_INSERT = insert(t.knowledge_spans)
_ITEMS_OF = select(v_c["items"]).where(v_c.version == bindparam("v"))
_VERSION_INSERT = insert(t.knowledge_versions)


def _members(conn: Connection, version: int) -> set[str]:
    return set(conn.execute(select(s_c.item_id).where(_in(version))).scalars())


def _new_version(
    conn: Connection, v: int, ts: str, op: str, note: str, n: int | None = None
) -> KnowledgeVersion:
    if n is None:
        n = len(_members(conn, v))
    row = {"version": v, "created_at": ts, "op": op, "note": note, "items": n}
    driver_sql.execute_many(conn, _VERSION_INSERT, [row])
    return KnowledgeVersion(v, ts, op, note, n)


def push_knowledge(
    conn: Connection, drafts: Sequence[InsightDraft], ts: str, note: str
) -> KnowledgeVersion | None:
    """A new version with ``drafts`` added; None when every one is already in the current one.

    Raises:
        InputError: an item still holds something the detectors find (nothing is written).
    """
    for i, d in enumerate(drafts):
        found = scan(d.text)
        if found:
            kinds = sorted({f.kind for f in found})
            raise InputError(
                f"insight[{i}].text", f"still holds {', '.join(kinds)}: refused, nothing stored"
            )
    _lock(conn)
    cur = _current(conn)
    fresh: dict[str, InsightDraft] = {}
    for d in drafts:
        fresh.setdefault(item_id(d), d)
    if cur:  # only the drafts' own rows are read: a push costs the same on a large base
        have = driver_sql.fetch(conn, _HELD, {"ids": list(fresh), "v": cur})
        for (k,) in have:
            fresh.pop(k, None)
    if not fresh:
        return None
    v = cur + 1
    known = {r[0] for r in driver_sql.fetch(conn, _ITEMS_KNOWN, {"ids": list(fresh)})}
    new_rows = [
        {
            "item_id": k,
            "capability": d.capability,
            "text": d.text,
            "provenance": {**d.provenance, "version": v},
            "created_at": ts,
        }
        for k, d in fresh.items()
        if k not in known
    ]
    if new_rows:
        driver_sql.execute_many(conn, _ITEM_INSERT, new_rows)
    driver_sql.execute_many(
        conn,
        _SPAN_INSERT,
        [{"item_id": k, "from_version": v, "to_version": None} for k in fresh],
    )
    held = driver_sql.fetch(conn, _ITEMS_OF, {"v": cur})
    before = (held[0][0] if held else None) or 0
    return _new_version(conn, v, ts, "push", note, int(before) + len(fresh))


def _audit(conn: Connection, kind: AuditKind, ts: str, by: str, details: dict[str, Any]) -> None:
    entry = AuditDraft(
        entry_id=f"{kind}/{ts}/{by}", ts=ts, kind=kind, human_operator_id=by, details=details
    )
    append_audit(conn, [entry])


def rollback_knowledge(conn: Connection, to_version: int, ts: str, by: str) -> KnowledgeVersion:
    """A new version holding exactly what ``to_version`` held; audited with ``by``."""
    _lock(conn)
    cur = _current(conn)
    kept = {int(v) for v in conn.execute(select(v_c.version)).scalars()}
    if to_version not in kept:
        raise InputError(
            "version", f"no knowledge version {to_version} (kept: {_ranges(sorted(kept))})"
        )
    target, now = _members(conn, to_version), _members(conn, cur)
    v = cur + 1
    for k in now - target:
        conn.execute(
            update(t.knowledge_spans)
            .where(s_c.item_id == k, s_c.to_version.is_(None))
            .values(to_version=v)
        )
    add = sorted(target - now)
    if add:
        conn.execute(
            insert(t.knowledge_spans),
            [{"item_id": k, "from_version": v, "to_version": None} for k in add],
        )
    made = _new_version(conn, v, ts, "rollback", f"to version {to_version}")
    _audit(conn, AuditKind.KNOWLEDGE_ROLLBACK, ts, by, {"to_version": to_version, **made.to_dict()})
    return made


def prune_knowledge(conn: Connection, keep: int, ts: str, by: str) -> tuple[int, int]:
    """Forget all but the newest ``keep`` versions and the items only they held; audited.

    Returns (versions removed, items removed)."""
    if keep < 1:
        raise InputError("keep", "must be at least 1 (the current version is always kept)")
    _lock(conn)
    cur = _current(conn)
    oldest = cur - keep + 1
    if oldest <= 1:
        return 0, 0
    gone_v = conn.execute(delete(t.knowledge_versions).where(v_c.version < oldest)).rowcount
    conn.execute(
        delete(t.knowledge_spans).where(s_c.to_version.is_not(None), s_c.to_version <= oldest)
    )
    orphans = select(i_c.item_id).where(
        ~select(s_c.item_id).where(s_c.item_id == i_c.item_id).exists()
    )
    ids = list(conn.execute(orphans).scalars())
    if ids:
        conn.execute(delete(t.knowledge_items).where(i_c.item_id.in_(ids)))
    done = (int(gone_v or 0), len(ids))
    _audit(
        conn,
        AuditKind.KNOWLEDGE_PRUNE,
        ts,
        by,
        {"keep": keep, "versions": done[0], "items": done[1]},
    )
    return done


def knowledge_versions(conn: Connection) -> list[KnowledgeVersion]:
    rows = conn.execute(select(t.knowledge_versions).order_by(v_c.version))
    return [KnowledgeVersion(r.version, r.created_at, r.op, r.note, r.items) for r in rows]


def knowledge_items(
    conn: Connection, version: int | None = None, capability: str | None = None
) -> tuple[int, list[Insight]]:
    """(version, its items) — the current version when ``version`` is None (0: empty base)."""
    cur = _current(conn)
    v = cur if version is None else version
    if version is not None:
        exists = conn.execute(select(v_c.version).where(v_c.version == v)).first()
        if exists is None:
            raise InputError("version", f"no knowledge version {v} (current: {cur})")
    if v == 0:
        return 0, []
    q = (
        select(t.knowledge_items)
        .join(t.knowledge_spans, s_c.item_id == i_c.item_id)
        .where(_in(v))
        .order_by(i_c.created_at, i_c.item_id)
    )
    if capability is not None:
        q = q.where(i_c.capability == capability)
    items = [
        Insight(r.item_id, r.capability, r.text, r.provenance, r.created_at)
        for r in conn.execute(q)
    ]
    return v, items


def current_version(conn: Connection) -> int:
    return _current(conn)


def _ranges(vs: list[int]) -> str:
    if not vs:
        return "none"
    return f"{vs[0]}..{vs[-1]}" if len(vs) > 1 else str(vs[0])
