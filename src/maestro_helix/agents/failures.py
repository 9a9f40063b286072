"""What kind of failure an agent's exception is, and retrying the transient ones with backoff.

:func:`classify_agent_error` is pure: it looks at the exception's type (and, for an HTTP error,
its status) and says :class:`~maestro_helix.core.errors.AgentFailureKind`. The step's agent link
uses it to decide: a transient failure is retried inside the attempt with exponential backoff and
jitter (:func:`call_with_retries`); a bug fails the attempt with its type and message.
"""

from __future__ import annotations

import asyncio
import errno
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from maestro_helix.core.errors import AgentError, AgentFailureKind, MaestroError
from maestro_helix.core.outputs import AgentOutput, StepContext

if TYPE_CHECKING:
    from maestro_helix.agents.base import Agent

__all__ = [
    "AgentFailure",
    "RetryPolicy",
    "call_agent",
    "call_with_retries",
    "classify_agent_error",
    "describe_error",
    "is_transient_status",
    "run_agent",
]

T = TypeVar("T")

# OSErrors that say "the file system or the code is wrong", not "the network had a bad moment"
_DETERMINISTIC_OSERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.ENETUNREACH,
        errno.EPIPE,
        errno.ETIMEDOUT,
    }
)


def is_transient_status(status: int) -> bool:
    """HTTP statuses worth retrying: 408, 409 (lock conflicts), 425, 429 and every 5xx."""
    return status in (408, 409, 425, 429) or 500 <= status <= 599


def classify_agent_error(exc: BaseException) -> AgentFailureKind:
    """The failure class of an exception raised by an agent.

    - :class:`~maestro_helix.core.errors.AgentError` subclasses carry their own ``kind``.
    - Timeouts, connection errors, httpx transport errors and network ``OSError`` are TRANSIENT.
    - httpx ``HTTPStatusError``: 408/409/425/429/5xx TRANSIENT, any other status REJECTED.
    - Other ``MaestroError``: TRANSIENT when ``retryable`` (e.g. a store hiccup), else BUG.
    - Everything else (``KeyError``, ``TypeError``, ``ValueError`` ...) is a BUG.
    """
    if isinstance(exc, AgentError):
        return exc.kind
    if isinstance(exc, TimeoutError | ConnectionError):
        return AgentFailureKind.TRANSIENT
    httpx_kind = _classify_httpx(exc)
    if httpx_kind is not None:
        return httpx_kind
    if isinstance(exc, OSError):
        if isinstance(exc, _DETERMINISTIC_OSERRORS):
            return AgentFailureKind.BUG
        if exc.errno is None or exc.errno in _TRANSIENT_ERRNOS:
            return AgentFailureKind.TRANSIENT
        return AgentFailureKind.BUG
    if isinstance(exc, MaestroError):
        return AgentFailureKind.TRANSIENT if exc.retryable else AgentFailureKind.BUG
    return AgentFailureKind.BUG


def _classify_httpx(exc: BaseException) -> AgentFailureKind | None:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency; kept optional for embedding
        return None
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return (
            AgentFailureKind.TRANSIENT if is_transient_status(status) else AgentFailureKind.REJECTED
        )
    if isinstance(exc, httpx.TransportError):  # timeouts, connect/read errors, protocol errors
        return AgentFailureKind.TRANSIENT
    return None


def describe_error(exc: BaseException) -> str:
    """``Type: message`` (the form the step record and audit entry keep)."""
    if isinstance(exc, AgentError):
        return f"{type(exc).__name__}: {exc.message}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class AgentFailure:
    """A classified agent failure: what the gate, the audit entry and the metric see.

    Attributes:
        kind: the failure class.
        error_type: the exception's class name, e.g. ``"KeyError"``.
        message: ``Type: message``.
        tries: how many calls were made before giving up (transient retries included).
    """

    kind: AgentFailureKind
    error_type: str
    message: str
    tries: int = 1

    @classmethod
    def of(cls, exc: BaseException, tries: int = 1) -> AgentFailure:
        return cls(classify_agent_error(exc), type(exc).__name__, describe_error(exc), tries)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "error_type": self.error_type,
            "message": self.message,
            "tries": self.tries,
        }


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of transient failures inside one attempt: exponential backoff with full jitter.

    The pause before try ``n`` (n ≥ 2) is ``uniform(0, min(max_s, initial_s · 2^(n-2)))``, at least
    the endpoint's ``Retry-After`` when it sent one (capped at ``max_s``).

    Attributes:
        tries: calls in all, the first included (1 = no retries).
        initial_s: the cap of the first pause.
        max_s: the cap of any pause.
    """

    tries: int = 4
    initial_s: float = 0.5
    max_s: float = 20.0

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError(f"RetryPolicy.tries must be >= 1, got {self.tries}")
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError("RetryPolicy needs 0 <= initial_s <= max_s")

    def pause_s(self, retry_number: int, retry_after_s: float | None = None) -> float:
        """The pause before retry ``retry_number`` (1 = the first retry)."""
        cap = min(self.max_s, self.initial_s * (2 ** (retry_number - 1)))
        pause = random.uniform(0.0, cap)  # jitter, not cryptography
        if retry_after_s is not None:
            pause = max(pause, min(self.max_s, retry_after_s))
        return pause


NO_RETRIES = RetryPolicy(tries=1)


def _is_transient(exc: BaseException) -> bool:
    return classify_agent_error(exc) is AgentFailureKind.TRANSIENT


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call ``fn`` until it returns or fails with a non-transient error or ``policy.tries`` run out.

    The last exception is raised as is (classify it with :func:`classify_agent_error`); its
    ``__notes__`` say how many tries were made. ``on_retry(exc, retry_number, pause_s)`` is called
    before each pause (for metrics and logs).
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after_s", None)
        pause = policy.pause_s(state.attempt_number, retry_after)
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number, pause)
        return pause

    # The first try runs outside tenacity: almost every call succeeds at once, and tenacity's
    # per-call state (~0.2 ms of CPU a call here) is then spent only when a retry is due. A
    # transient first failure is replayed as tenacity's first try, so the pauses, the stop and
    # on_retry are exactly tenacity's.
    try:
        return await fn()
    except Exception as e:
        if policy.tries <= 1 or not _is_transient(e):
            e.add_note("after 1 try")
            raise
        replay: list[Exception] = [e]

    async def again() -> T:
        if replay:
            raise replay.pop()
        return await fn()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.tries),
        wait=wait,
        retry=retry_if_exception(_is_transient),
        sleep=sleep,
        reraise=True,
    )
    tries = 0
    try:
        async for attempt in retrying:
            with attempt:
                tries += 1
                return await again()
    except Exception as e:
        e.add_note(f"after {tries} tr{'y' if tries == 1 else 'ies'}")
        raise
    raise AssertionError("unreachable: tenacity returns, raises or retries")  # pragma: no cover


async def run_agent(
    agent: Agent,
    input: Mapping[str, Any],
    ctx: StepContext,
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
) -> AgentOutput:
    """Run ``agent`` once, retrying its transient failures with backoff (for the step's link).

    An agent that retries its own calls (``ChatAgent``: ``retries_transient = True``) runs once;
    retrying it here would multiply its retries.
    """
    if getattr(agent, "retries_transient", False):
        return await agent.run(input, ctx)
    return await call_with_retries(lambda: agent.run(input, ctx), policy, on_retry=on_retry)


async def call_agent(
    agent: Agent,
    input: Mapping[str, Any],
    ctx: StepContext,
    *,
    retry: RetryPolicy = NO_RETRIES,
    timeout_s: float | None = None,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
) -> tuple[AgentOutput | None, AgentFailure | None]:
    """One attempt of a step's agent, for the engine's agent link: the output, or the classified
    failure (never raises but for cancellation).

    Transient failures are retried inside the attempt per ``retry``; ``timeout_s`` bounds the
    whole attempt (retries included) and is itself a transient failure. A non-output return
    (``AgentOutputError``) and any other exception are classified by :func:`classify_agent_error`.
    """
    tries = 0

    def counted(exc: BaseException, n: int, pause: float) -> None:
        if on_retry is not None:
            on_retry(exc, n, pause)

    async def attempt() -> AgentOutput:
        nonlocal tries
        tries += 1
        return await agent.run(input, ctx)

    async def with_retries() -> AgentOutput:
        if getattr(agent, "retries_transient", False):
            return await attempt()
        return await call_with_retries(attempt, retry, on_retry=counted)

    try:
        if timeout_s is None:
            return await with_retries(), None
        return await asyncio.wait_for(with_retries(), timeout_s), None
    except TimeoutError as e:
        if timeout_s is None:  # the agent's own timeout (a socket, say): transient too
            return None, AgentFailure.of(e, tries)
        msg = f"TimeoutError: timed out after {timeout_s} s"
        return None, AgentFailure(AgentFailureKind.TRANSIENT, "TimeoutError", msg, tries)
    except Exception as e:
        return None, AgentFailure.of(e, tries)
