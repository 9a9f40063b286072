"""Who is calling: bearer tokens for the API, server-side sessions (with CSRF tokens) for the UI.

A UI session maps a random id (the cookie) to the SHA-256 of the operator's API token, never the
token itself; every request looks the operator up again, so a disabled operator or a changed role
takes effect at once.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from maestro_helix.api._errors import BEARER_CHALLENGE, ApiError
from maestro_helix.app import Maestro
from maestro_helix.governance.identity import AuthError, Operator, authenticate
from maestro_helix.governance.policy import Role

SESSION_COOKIE = "mh_session"
LOGIN_COOKIE = "mh_login"  # double-submit token of the login form (login CSRF)
SESSION_TTL_S = 8 * 3600
MAX_SESSIONS = 10_000


def system_of(request: Request) -> Maestro:
    """The system the app was created over (``create_app`` puts it on ``app.state``)."""
    system = request.app.state.maestro
    assert isinstance(system, Maestro)
    return system


def sessions_of(request: Request) -> Sessions:
    sessions = request.app.state.sessions
    assert isinstance(sessions, Sessions)
    return sessions


async def current_operator(request: Request) -> Operator:
    """The operator whose token is in ``Authorization: Bearer``; 401 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthenticated",
            "send an API token as 'Authorization: Bearer <token>'",
            headers=BEARER_CHALLENGE,
        )
    try:
        return await authenticate(system_of(request).store, token.strip())
    except AuthError as e:
        raise ApiError(
            401,
            "unauthenticated",
            str(e),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None


def require(role: Role) -> Callable[[Request], Coroutine[Any, Any, Operator]]:
    """A dependency: the authenticated caller, if their role is at least ``role``; 403 if not."""

    async def guard(request: Request) -> Operator:
        op = await current_operator(request)
        if not op.role.at_least(role):
            raise ApiError(
                403,
                "forbidden",
                f"operator {op.operator_id} has role {op.role.value!r}; "
                f"this needs {role.value!r} or above",
            )
        return op

    return guard


System = Annotated[Maestro, Depends(system_of)]
AnyRole = Annotated[Operator, Depends(require(Role.VIEWER))]
OperatorRole = Annotated[Operator, Depends(require(Role.OPERATOR))]


@dataclass(slots=True)
class Session:
    session_id: str
    token_hash: str
    csrf: str
    expires: float  # time.monotonic()
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def flash(self, kind: str, message: str) -> None:
        self.flashes.append((kind, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out


class Sessions:
    """UI sessions, in memory: a restart signs everyone out (tokens stay valid).

    Args:
        ttl_s: a session's lifetime from sign-in.
        limit: most sessions kept; the oldest go first.
    """

    def __init__(self, ttl_s: float = SESSION_TTL_S, limit: int = MAX_SESSIONS) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, token_hash: str) -> Session:
        now = time.monotonic()
        for sid in [s for s, v in self._by_id.items() if v.expires <= now]:
            del self._by_id[sid]
        while len(self._by_id) >= self.limit:
            self._by_id.popitem(last=False)
        s = Session(
            secrets.token_urlsafe(32), token_hash, secrets.token_urlsafe(32), now + self.ttl_s
        )
        self._by_id[s.session_id] = s
        return s

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        s = self._by_id.get(session_id)
        if s is None:
            return None
        if s.expires <= time.monotonic():
            del self._by_id[session_id]
            return None
        return s

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens; a missing one never matches."""
    return bool(a) and bool(b) and secrets.compare_digest(str(a), str(b))
