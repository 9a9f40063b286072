"""Operator identity: API tokens (stored hashed) and roles."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from maestro_helix.core.audit import AuditDraft, AuditKind
from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.ports import Store
from maestro_helix.governance.policy import Role
from maestro_helix.governance.records import OperatorChange

__all__ = [
    "AuthError",
    "Operator",
    "add_operator",
    "authenticate",
    "change_operator",
    "hash_token",
    "new_token",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
TOKEN_PREFIX = "mh_"


class AuthError(MaestroError):
    """Missing, malformed or unknown token (HTTP 401)."""


@dataclass(frozen=True, slots=True)
class Operator:
    operator_id: str
    role: Role


def new_token() -> str:
    """A fresh API token: shown once, never stored in clear."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_operator(
    store: Store, name: str, role: Role, clock: Clock | None = None
) -> tuple[Operator, str]:
    """Create an operator; returns it and its token (the only time the token is visible)."""
    if not _NAME.match(name):
        raise MaestroError(
            f"operator name {name!r} is invalid (letters, digits, . _ - @; at most 64)"
        )
    token = new_token()
    await store.add_operator(name, role, hash_token(token), iso((clock or SystemClock()).now()))
    return Operator(name, role), token


async def authenticate(store: Store, token: str | None) -> Operator:
    """The operator holding ``token``; :class:`AuthError` if there is none."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError("missing or malformed API token")
    # the lookup is by SHA-256 of the token: timing reveals nothing about a stored token
    rec = await store.operator_by_token(hash_token(token))
    if rec is None:
        raise AuthError("unknown or disabled API token")
    return Operator(rec.operator_id, rec.role)


async def change_operator(
    store: Store,
    name: str,
    change: OperatorChange,
    *,
    by: Operator | None,
    clock: Clock | None = None,
) -> str | None:
    """Disable, enable, rotate the token of, or remove an operator; audited with who did it.

    ``by`` is the admin doing it (None: someone with direct database access, recorded so).
    A disabled or removed operator's token stops working at once in every process: every
    request looks the token up in the store. Returns the new token of a rotation (shown once).

    Raises:
        AuthError: ``by`` is not an admin.
        OperatorNotFound: no such operator.
    """
    ts = iso((clock or SystemClock()).now())
    if by is not None and not by.role.at_least(Role.ADMIN):
        why = f"operator {by.operator_id} is not an admin: only admins manage operators"
        await store.append_audit(
            [
                AuditDraft(
                    entry_id=f"operator.refused/{name}/{ts}",
                    ts=ts,
                    kind=AuditKind.OPERATOR_REFUSED,
                    human_operator_id=by.operator_id,
                    details={"operator_id": name, "change": change.value, "reason": why},
                )
            ]
        )
        raise AuthError(why)
    token = new_token() if change is OperatorChange.ROTATE else None
    await store.change_operator(
        name,
        change,
        ts=ts,
        by=by.operator_id if by is not None else None,
        token_hash=hash_token(token) if token is not None else None,
    )
    return token
