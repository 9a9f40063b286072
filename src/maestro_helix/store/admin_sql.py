"""SQL of governance administration: operators (with their lifecycle) and policy versions.

Each public function runs inside one store transaction; every change writes an audit entry
naming who made it. The active policy is the newest row of ``policy_versions``; a change that
loosens a rule waits in ``policy_changes`` until a second admin approves it.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.errors import MaestroError
from maestro_helix.governance.policy import GovernancePolicy, Role, parse_policy
from maestro_helix.governance.records import (
    ActivePolicy,
    OperatorChange,
    OperatorNotFound,
    OperatorRecord,
    PolicyChange,
    PolicyChangeStatus,
)
from maestro_helix.store import schema as t
from maestro_helix.store.sql import append_audit, lock_chain

__all__ = [
    "ActivePolicy",
    "OperatorChange",
    "OperatorNotFound",
    "OperatorRecord",
    "PolicyChange",
    "PolicyChangeStatus",
]


def _audit(
    kind: AuditKind, ts: str, by: str | None, details: dict[str, Any], key: str
) -> AuditDraft:
    return AuditDraft(
        entry_id=f"{kind}/{key}/{ts}",
        ts=ts,
        kind=kind,
        human_operator_id=by or "",
        details=details,
    )


def add_operator(conn: Connection, operator_id: str, role: Role, token_hash: str, ts: str) -> None:
    exists = conn.execute(
        select(t.operators.c.operator_id).where(t.operators.c.operator_id == operator_id)
    ).first()
    if exists is not None:
        raise MaestroError(f"operator {operator_id!r} already exists")
    conn.execute(
        t.operators.insert(),
        {
            "operator_id": operator_id,
            "role": role.value,
            "token_hash": token_hash,
            "created_at": ts,
            "disabled": 0,
        },
    )
    append_audit(
        conn,
        [
            AuditDraft(
                entry_id=f"operator/{operator_id}/{ts}",
                ts=ts,
                kind=AuditKind.OPERATOR_ADDED,
                human_operator_id="",
                details={"operator_id": operator_id, "role": role.value},
            )
        ],
    )


def operator_by_token(conn: Connection, token_hash: str) -> OperatorRecord | None:
    row = conn.execute(select(t.operators).where(t.operators.c.token_hash == token_hash)).first()
    if row is None or row.disabled:
        return None
    return OperatorRecord(row.operator_id, Role(row.role), row.created_at, bool(row.disabled))


def list_operators(conn: Connection) -> list[OperatorRecord]:
    rows = conn.execute(select(t.operators).order_by(t.operators.c.operator_id))
    return [
        OperatorRecord(r.operator_id, Role(r.role), r.created_at, bool(r.disabled)) for r in rows
    ]


def change_operator(
    conn: Connection,
    operator_id: str,
    change: OperatorChange,
    *,
    ts: str,
    by: str | None,
    token_hash: str | None = None,
) -> None:
    """Disable, enable, rotate the token of (``token_hash`` is the new one) or remove an
    operator; audited as ``operator.<change>`` with who did it.

    Raises:
        OperatorNotFound: no such operator.
    """
    c = t.operators.c
    found = conn.execute(select(c.operator_id).where(c.operator_id == operator_id)).first()
    if found is None:
        raise OperatorNotFound(operator_id)
    where = t.operators.c.operator_id == operator_id
    if change is OperatorChange.DISABLE:
        conn.execute(update(t.operators).where(where).values(disabled=1))
    elif change is OperatorChange.ENABLE:
        conn.execute(update(t.operators).where(where).values(disabled=0))
    elif change is OperatorChange.ROTATE:
        assert token_hash is not None
        conn.execute(update(t.operators).where(where).values(token_hash=token_hash))
    else:
        conn.execute(delete(t.operators).where(where))
    details = {"operator_id": operator_id, "by": by or "database access (no token)"}
    append_audit(
        conn, [_audit(AuditKind(f"operator.{change.value}"), ts, by, details, operator_id)]
    )


# -- policy versions ------------------------------------------------------------------------------


def _latest(conn: Connection) -> Any:
    return conn.execute(
        select(t.policy_versions.c.version, t.policy_versions.c.digest)
        .order_by(t.policy_versions.c.version.desc())
        .limit(1)
    ).first()


def active_policy(conn: Connection) -> ActivePolicy | None:
    """The newest stored policy version (None on a fresh database)."""
    row = conn.execute(
        select(t.policy_versions).order_by(t.policy_versions.c.version.desc()).limit(1)
    ).first()
    if row is None:
        return None
    where = f"stored policy version {row.version} (replace it: maestro policy apply FILE)"
    policy = parse_policy(row.body, where)
    return ActivePolicy(int(row.version), policy, row.digest, row.created_at, row.created_by)


def policy_versions(conn: Connection) -> list[ActivePolicy]:
    rows = conn.execute(select(t.policy_versions).order_by(t.policy_versions.c.version))
    return [
        ActivePolicy(
            int(r.version),
            parse_policy(r.body, f"stored policy version {r.version}"),
            r.digest,
            r.created_at,
            r.created_by,
        )
        for r in rows
    ]


def _write_version(
    conn: Connection,
    policy: GovernancePolicy,
    ts: str,
    by: str | None,
    latest: int | None,
    **extra: Any,
) -> int:
    version = 1 if latest is None else latest + 1
    digest = policy.digest()
    conn.execute(
        t.policy_versions.insert(),
        {
            "version": version,
            "digest": digest,
            "body": policy.canonical(),
            "created_at": ts,
            "created_by": by,
        },
    )
    details = {"version": version, "digest": digest, "previous": latest, **extra}
    append_audit(conn, [_audit(AuditKind.POLICY_CHANGED, ts, by, details, str(version))])
    return version


def install_policy(conn: Connection, policy: GovernancePolicy, ts: str) -> ActivePolicy:
    """The active policy; on a fresh database, ``policy`` becomes version 1 first.

    Race-safe: processes starting together serialise on the chain lock (and SQLite's write
    transaction), so exactly one installs it and the others read it."""
    lock_chain(conn)
    current = active_policy(conn)
    if current is not None:
        return current
    _write_version(conn, policy, ts, None, None, installed="first start on an empty database")
    found = active_policy(conn)
    assert found is not None
    return found


def _change(row: Any) -> PolicyChange:
    return PolicyChange(
        row.change_id,
        int(row.base_version),
        row.digest,
        parse_policy(row.body, f"policy change {row.change_id}"),
        tuple(row.loosens),
        PolicyChangeStatus(row.status),
        row.proposed_by,
        row.proposed_at,
        row.decided_by,
        row.decided_at,
    )


def apply_policy(
    conn: Connection,
    policy: GovernancePolicy,
    loosens: tuple[str, ...],
    *,
    ts: str,
    by: str,
) -> PolicyChange:
    """An operator's policy change: applied at once when it only tightens; a loosening one
    waits for a second admin (``status == pending``). Unchanged: applied, no new version."""
    lock_chain(conn)
    current = _latest(conn)  # not parsed: an invalid stored policy can still be replaced
    base = current.version if current is not None else 0
    digest = policy.digest()
    change_id = "pc_" + secrets.token_hex(8)
    if current is not None and current.digest == digest:
        return PolicyChange(
            change_id, base, digest, policy, (), PolicyChangeStatus.APPLIED, by, ts, by, ts, base
        )
    status = PolicyChangeStatus.PENDING if loosens else PolicyChangeStatus.APPLIED
    conn.execute(
        t.policy_changes.insert(),
        {
            "change_id": change_id,
            "base_version": base,
            "digest": digest,
            "body": policy.canonical(),
            "loosens": list(loosens),
            "status": status.value,
            "proposed_by": by,
            "proposed_at": ts,
            "decided_by": None if loosens else by,
            "decided_at": None if loosens else ts,
        },
    )
    version = None
    if loosens:
        details = {"change_id": change_id, "base_version": base, "loosens": list(loosens)}
        append_audit(conn, [_audit(AuditKind.POLICY_PROPOSED, ts, by, details, change_id)])
    else:
        version = _write_version(conn, policy, ts, by, current.version if current else None)
    found = _change(
        conn.execute(
            select(t.policy_changes).where(t.policy_changes.c.change_id == change_id)
        ).one()
    )
    return replace(found, version=version)


def approve_policy_change(
    conn: Connection, change_id: str, *, ts: str, by: str, approve: bool
) -> PolicyChange:
    """A second admin approves (or rejects) a pending loosening change.

    The proposer deciding their own change is refused (audited; ``refused`` says why).

    Raises:
        MaestroError: no such pending change, or the active policy moved on since it was
            proposed.
    """
    lock_chain(conn)
    row = conn.execute(
        select(t.policy_changes).where(t.policy_changes.c.change_id == change_id)
    ).first()
    if row is None:
        raise MaestroError(f"no policy change {change_id!r}")
    change = _change(row)
    if change.status is not PolicyChangeStatus.PENDING:
        raise MaestroError(f"policy change {change_id} is {change.status.value}, not pending")
    if by == change.proposed_by:
        details = {"change_id": change_id, "code": "same_person"}
        append_audit(conn, [_audit(AuditKind.POLICY_REFUSED, ts, by, details, change_id)])
        why = f"{by} proposed policy change {change_id}: a second admin must approve it"
        return replace(change, refused=why)
    current = _latest(conn)
    if approve and (current.version if current else 0) != change.base_version:
        raise MaestroError(
            f"the active policy changed since {change_id} was proposed (it was based on "
            f"version {change.base_version}): propose it again"
        )
    status = PolicyChangeStatus.APPLIED if approve else PolicyChangeStatus.REJECTED
    conn.execute(
        update(t.policy_changes)
        .where(t.policy_changes.c.change_id == change_id)
        .values(status=status.value, decided_by=by, decided_at=ts)
    )
    version = None
    if approve:
        version = _write_version(
            conn,
            change.policy,
            ts,
            by,
            current.version if current else None,
            change_id=change_id,
            proposed_by=change.proposed_by,
            loosens=list(change.loosens),
        )
    else:
        details = {"change_id": change_id, "proposed_by": change.proposed_by}
        append_audit(conn, [_audit(AuditKind.POLICY_REJECTED, ts, by, details, change_id)])
    return replace(change, status=status, decided_by=by, decided_at=ts, version=version)


def policy_changes(conn: Connection, status: PolicyChangeStatus | None) -> list[PolicyChange]:
    q = select(t.policy_changes).order_by(t.policy_changes.c.proposed_at)
    if status is not None:
        q = q.where(t.policy_changes.c.status == status.value)
    return [_change(r) for r in conn.execute(q)]
