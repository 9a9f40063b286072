"""One exception tree for the whole project.

Third-party errors (SQLAlchemy, YAML, pydantic, ...) are translated into these at the adapter that
meets them, so callers catch ``MaestroError`` and never a library's private exception.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class MaestroError(Exception):
    """Base of every error this package raises on purpose."""

    retryable: bool = False


class ConfigError(MaestroError):
    """A configuration or definition file is invalid.

    Attributes:
        source: the file (or ``"<python>"``/``"<api>"``) the bad value came from.
        path: the dotted/indexed path to the field, e.g. ``steps[2].capability``.
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = source
        self.path = path
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.reason}"


class ConfigErrors(ConfigError):
    """Several problems found in one file; reported together so a user fixes them in one pass."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(first.source, first.path, first.reason)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


class WorkflowDefinitionError(ConfigErrors):
    """A workflow definition is invalid (unknown capability, bad reference, bad field...)."""


class UnknownAgentError(MaestroError):
    def __init__(self, agent_id: str, known: Sequence[str]) -> None:
        self.agent_id = agent_id
        self.known = tuple(sorted(known))
        super().__init__(f"unknown agent {agent_id!r} (known: {', '.join(self.known) or 'none'})")


class NoAgentForCapability(MaestroError):
    def __init__(self, capability: str, known: Sequence[str]) -> None:
        self.capability = capability
        self.known = tuple(sorted(known))
        super().__init__(
            f"no agent registered for capability {capability!r} "
            f"(known: {', '.join(self.known) or 'none'})"
        )


class RunNotFound(MaestroError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id!r}")


class WorkflowNotFound(MaestroError):
    def __init__(self, name: str, version: int | None = None) -> None:
        self.name = name
        self.version = version
        what = name if version is None else f"{name} v{version}"
        super().__init__(f"no workflow {what!r}")


class InvalidTransition(MaestroError):
    """A run was asked to move to a state it cannot reach from where it is."""

    def __init__(self, run_id: str, current: str, wanted: str) -> None:
        self.run_id = run_id
        self.current = current
        self.wanted = wanted
        super().__init__(f"run {run_id}: cannot go from {current!r} to {wanted!r}")


class LeaseLost(MaestroError):
    """This process no longer holds the run it tried to write: another process took it over
    (its lease expired) or it was never ours. Nothing of the write was stored."""

    def __init__(self, run_id: str, owner: str, epoch: int, holder: str | None) -> None:
        self.run_id = run_id
        self.owner = owner
        self.epoch = epoch
        self.holder = holder
        super().__init__(
            f"run {run_id}: lease lost (this process {owner!r} at epoch {epoch}; "
            f"held by {holder or 'nobody'})"
        )


class RunHeld(MaestroError):
    """Another live process holds the run (its lease has not expired): try again later."""

    def __init__(self, run_id: str, holder: str | None, retry_after_s: float) -> None:
        self.run_id = run_id
        self.holder = holder
        self.retry_after_s = retry_after_s
        super().__init__(
            f"run {run_id} is held by {holder or 'another process'}; retry in {retry_after_s:.1f} s"
        )


class StoreError(MaestroError):
    """The store could not complete an operation; nothing of it was written."""

    retryable = True


class StoreClosed(StoreError):
    retryable = False


class InputError(MaestroError):
    """A run input (or other user payload) is malformed."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class MissingExtra(MaestroError):
    """A feature needs an optional dependency that is not installed.

    Attributes:
        feature: what was asked for, e.g. ``"maestro serve"`` or ``"--bus nats://"``.
        extra: the ``pip install 'maestro-helix[EXTRA]'`` that brings it.
        module: the module that could not be imported.
    """

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        self.module = module
        super().__init__(
            f"{feature} needs the [{extra}] extra ({module} is not installed): "
            f"pip install 'maestro-helix[{extra}]'"
        )


class AuditLogError(MaestroError):
    """A request about the audit log's Merkle tree that cannot be answered (a leaf or tree size
    out of range, a malformed checkpoint or proof)."""


class EvaluationInconclusive(MaestroError):
    """An evaluator could not decide: its evidence straddles the gate (an LLM judge's samples
    fall on both sides of it). The step is escalated, never passed or failed by luck."""


class AgentFailureKind(enum.StrEnum):
    """Why an agent produced no output; decides what happens to the attempt.

    ``TRANSIENT``: worth trying again after a pause (rate limit, overload, timeout, lost
    connection).
    ``BAD_OUTPUT``: the agent answered, but not in the shape asked for (a model's malformed JSON);
    a new attempt with feedback may do better.
    ``REJECTED``: the endpoint refused the call for good (bad key, unknown model, bad request).
    ``BUG``: the agent's code or configuration is wrong (``KeyError``, ``TypeError``, a template
    that names a missing field); trying again gives the same result.
    """

    TRANSIENT = "transient"
    BAD_OUTPUT = "bad_output"
    REJECTED = "rejected"
    BUG = "bug"

    @property
    def retryable(self) -> bool:
        """A new attempt can help (TRANSIENT, BAD_OUTPUT)."""
        return self in (AgentFailureKind.TRANSIENT, AgentFailureKind.BAD_OUTPUT)


class AgentError(MaestroError):
    """An agent could not produce an output; ``kind`` says why (see :class:`AgentFailureKind`).

    Attributes:
        agent_id: the agent that failed ("" when not known where it was raised).
        message: what went wrong, for people.
        kind: the failure class.
        status: the HTTP status of the endpoint's answer, when there was one.
    """

    kind: AgentFailureKind = AgentFailureKind.BUG

    def __init__(self, agent_id: str, message: str, *, status: int | None = None) -> None:
        self.agent_id = agent_id
        self.message = message
        self.status = status
        super().__init__(f"agent {agent_id}: {message}" if agent_id else message)

    @property
    def retryable(self) -> bool:  # type: ignore[override]  # derived from kind, not a constant
        return self.kind.retryable


class TransientAgentError(AgentError):
    """Try again after a pause; ``retry_after_s`` is the endpoint's ``Retry-After``, if any."""

    kind = AgentFailureKind.TRANSIENT

    def __init__(
        self,
        agent_id: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(agent_id, message, status=status)
        self.retry_after_s = retry_after_s


class AgentOutputInvalid(AgentError):
    """The agent answered, but the answer is not usable (not JSON, unknown tool, wrong shape)."""

    kind = AgentFailureKind.BAD_OUTPUT


class AgentRejected(AgentError):
    """The endpoint refused the call for good (401, 403, 404, 400 ...)."""

    kind = AgentFailureKind.REJECTED


class AgentConfigError(AgentError):
    """The agent's configuration is wrong at run time (e.g. its prompt names a missing field)."""

    kind = AgentFailureKind.BUG


class HelixServiceError(MaestroError):
    """The Helix service refused a request or could not be reached (``HelixClient``).

    Attributes:
        status: the HTTP status (None: no answer, e.g. the connection failed).
        code: the service's error code (``unauthenticated``, ``invalid_request`` ...).
        message: what went wrong.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"Helix service: {message}" + (f" (HTTP {status})" if status else ""))

    @property
    def retryable(self) -> bool:  # type: ignore[override]  # depends on the status
        return self.status is None or self.status in (408, 425, 429) or self.status >= 500
