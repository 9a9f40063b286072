"""Batched sequencing of the audit log (prototype): the SQL of the one sequencer.

Without it, every transaction that writes audit entries takes the chain's lock (a PostgreSQL
advisory lock) to read the head and give its entries the next seqs, and holds it until its commit
(fsync included): every step of every process queues on one lock. With it, writing transactions
insert their entries into ``audit_pending`` (no lock, no seq) and one sequencer — whoever holds
the lease row in ``audit_sequencer`` — moves pending entries into the chain many at a time:
one lock, one head read, one multi-row insert per batch. An entry is durable when its
transaction commits and part of the verifiable log (seq, hash, Merkle leaf) once sequenced.
"""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection

from maestro_helix.governance.audit import AuditDraft
from maestro_helix.store import schema as t
from maestro_helix.store import sql

_DRAFT_FIELDS = tuple(c.name for c in t.audit_pending.columns if c.name != "id")


def take_lease(conn: Connection, holder: str, now: float, lease_s: float) -> bool:
    """Renew the lease if ``holder`` has it, or take it if it expired; True if held now."""
    lease = t.audit_sequencer.c
    done = conn.execute(
        update(t.audit_sequencer)
        .where(lease.id == 1, or_(lease.holder == holder, lease.expires_at < now))
        .values(holder=holder, expires_at=now + lease_s)
    )
    return done.rowcount == 1


def sequence_pending(
    conn: Connection, holder: str, now: float, lease_s: float, limit: int
) -> int | None:
    """As the lease holder, move up to ``limit`` pending entries (oldest first) into the chain.

    Returns how many were sequenced, or None when another process holds the lease.
    """
    p = t.audit_pending.c
    waiting = conn.execute(select(p.id).order_by(p.id).limit(1)).first()
    if waiting is None:
        return 0  # idle: no write, no fsync (the lease may lapse; whoever has work retakes it)
    if not take_lease(conn, holder, now, lease_s):
        return None
    # one statement takes the oldest pending rows out; rows another transaction took meanwhile
    # are simply not returned, so no entry can be sequenced twice
    oldest = select(p.id).order_by(p.id).limit(limit).scalar_subquery()
    taken = conn.execute(
        delete(t.audit_pending).where(p.id.in_(oldest)).returning(*t.audit_pending.columns)
    ).all()
    rows = sorted(taken, key=lambda r: int(r.id))
    if not rows:
        return 0
    sql.chain_append(conn, [AuditDraft(**{f: getattr(r, f) for f in _DRAFT_FIELDS}) for r in rows])
    return len(rows)


def pending_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t.audit_pending)).scalar_one())
