"""One exception tree for the whole project.

Third-party errors (SQLAlchemy, YAML, pydantic, ...) are translated into these at the adapter that
meets them, so callers catch ``MaestroError`` and never a library's private exception.
"""

from __future__ import annotations

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


class EvaluationInconclusive(MaestroError):
    """An evaluator could not decide: its evidence straddles the gate (an LLM judge's samples
    fall on both sides of it). The step is escalated, never passed or failed by luck."""
