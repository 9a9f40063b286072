"""Agents: anything that maps a step input to an output, registered explicitly with capabilities."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from maestro_helix.agents._threads import run_in_thread
from maestro_helix.core.errors import NoAgentForCapability, UnknownAgentError
from maestro_helix.core.outputs import AgentOutput, ProposedAction, StepContext
from maestro_helix.core.provenance import Source, agent_sources

__all__ = [
    "Agent",
    "AgentRegistry",
    "FunctionAgent",
    "MetacognitiveAgent",
    "normalise_output",
]


@runtime_checkable
class Agent(Protocol):
    """An agent. ``run`` must return an :class:`AgentOutput`."""

    id: str
    capabilities: frozenset[str]

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput: ...


class AgentOutputError(TypeError):
    """The agent returned something that is not an output."""


def normalise_output(value: Any) -> AgentOutput:
    """Turn what a user's callable returns into an :class:`AgentOutput`.

    ``str`` becomes the text; a mapping becomes the data (its ``text`` key, if a string, the text;
    its ``actions`` list, the proposed actions); an ``AgentOutput`` is kept as is.
    """
    if isinstance(value, AgentOutput):
        return value
    if isinstance(value, str):
        return AgentOutput(text=value)
    if isinstance(value, Mapping):
        data = dict(value)
        text = data.pop("text", "")
        actions_raw = data.pop("actions", None) or ()
        try:
            actions = tuple(
                a if isinstance(a, ProposedAction) else ProposedAction.from_dict(a)
                for a in actions_raw
            )
        except (KeyError, TypeError, ValueError) as e:
            raise AgentOutputError(f"bad 'actions' in agent output: {e!r}") from None
        return AgentOutput(
            text=text if isinstance(text, str) else str(text), data=data, actions=actions
        )
    raise AgentOutputError(
        f"an agent must return str, dict or AgentOutput, not {type(value).__name__}"
    )


AgentFn = Callable[..., Any]


class FunctionAgent:
    """A plain Python callable as an agent.

    The callable takes ``(input)`` or ``(input, ctx)`` and returns ``str``, ``dict`` or
    :class:`AgentOutput`; it may be ``async``. A sync callable runs in a (daemon) thread, so a
    slow or hung one never stalls the engine, the API or a shutdown, and its step timeout
    fires. ``inline=True`` runs it on the event loop instead: only for functions that never
    block (pure computation of microseconds), where the thread hop would dominate.

    Args:
        id: unique agent id.
        fn: the callable.
        capabilities: what it can do, e.g. ``{"research"}``.
        blocking: kept for compatibility (sync callables run in a thread by default).
        inline: run a sync callable on the event loop.
        untrusted: the untrusted sources it reads (``web``, ``email``, ``upload``, ``tenant``,
            ``tool``): the outputs of every step it runs are tainted (the rule of two).
    """

    def __init__(
        self,
        id: str,
        fn: AgentFn,
        capabilities: Iterable[str],
        *,
        blocking: bool = True,
        inline: bool = False,
        untrusted: Iterable[str] = (),
    ) -> None:
        self.id = id
        self.capabilities = frozenset(capabilities)
        self.untrusted = frozenset(Source(s) for s in untrusted)
        self._fn = fn
        self._async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        self._blocking = blocking and not inline
        self._takes_ctx = _arity(fn) >= 2

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        args = (input, ctx) if self._takes_ctx else (input,)
        if self._async:
            value = await self._fn(*args)
        elif self._blocking:
            value = await run_in_thread(self._fn, *args)
        else:
            value = self._fn(*args)
            if inspect.isawaitable(value):
                value = await value
        return normalise_output(value)

    def __repr__(self) -> str:
        return f"FunctionAgent({self.id!r}, capabilities={sorted(self.capabilities)})"


def _arity(fn: AgentFn) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


SelfCheck = Callable[[Mapping[str, Any], AgentOutput], float | Awaitable[float]]


class MetacognitiveAgent:
    """Gives an agent self-evaluation and lets it take the evaluator's feedback on retries.

    On a retry, ``ctx.feedback`` carries the evaluator's suggestions and the reasons the last
    attempt was not accepted; the wrapped agent sees them in its ``ctx`` and, when
    ``feedback_key`` is set, also in its input under that key (for agents that only take input,
    like prompt-building LLM agents). After each run the wrapper scores the output with
    ``self_check`` and records it as ``output.self_score``; Helix keeps it beside the QSR so the
    agent's calibration can be audited.

    Args:
        agent: the agent to wrap.
        self_check: returns the agent's own 0..1 estimate of its output's quality.
        feedback_key: input key under which to pass the feedback on retries (None: ctx only).
    """

    def __init__(
        self,
        agent: Agent,
        *,
        self_check: SelfCheck | None = None,
        feedback_key: str | None = "feedback",
    ) -> None:
        self.agent = agent
        self.id = agent.id
        self.capabilities = agent.capabilities
        self.untrusted: frozenset[Source] = frozenset(getattr(agent, "untrusted", ()))
        # an agent that retries its own transient failures (ChatAgent) still does when wrapped
        self.retries_transient: bool = bool(getattr(agent, "retries_transient", False))
        self._self_check = self_check
        self._feedback_key = feedback_key

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        if ctx.feedback is not None and self._feedback_key is not None:
            input = {**input, self._feedback_key: ctx.feedback.to_dict()}
        out = await self.agent.run(input, ctx)
        if self._self_check is None:
            return out
        score = self._self_check(input, out)
        if inspect.isawaitable(score):
            score = await score
        return replace(out, self_score=max(0.0, min(1.0, float(score))))


@dataclass(frozen=True, slots=True)
class _Entry:
    agent: Agent
    order: int


class AgentRegistry:
    """The agents a system may use, registered explicitly."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._agents: dict[str, _Entry] = {}
        self._by_capability: dict[str, list[Agent]] = {}
        for a in agents:
            self.register(a)

    def register(self, agent: Agent) -> Agent:
        if not isinstance(agent, Agent):
            raise TypeError(f"{agent!r} is not an agent (needs id, capabilities and run())")
        if agent.id in self._agents:
            raise ValueError(f"agent id {agent.id!r} is already registered")
        self._agents[agent.id] = _Entry(agent, len(self._agents))
        self._by_capability.clear()
        return agent

    def add(
        self,
        id: str,
        fn: AgentFn,
        capabilities: Iterable[str],
        *,
        blocking: bool = True,
        inline: bool = False,
        untrusted: Iterable[str] = (),
    ) -> Agent:
        """Register a plain callable (see :class:`FunctionAgent`)."""
        return self.register(
            FunctionAgent(
                id, fn, capabilities, blocking=blocking, inline=inline, untrusted=untrusted
            )
        )

    def get(self, agent_id: str) -> Agent:
        try:
            return self._agents[agent_id].agent
        except KeyError:
            raise UnknownAgentError(agent_id, list(self._agents)) from None

    def for_capability(self, capability: str) -> list[Agent]:
        """Agents with ``capability``, in registration order (do not mutate the list)."""
        found = self._by_capability.get(capability)
        if found is None:
            found = [e.agent for e in self._agents.values() if capability in e.agent.capabilities]
            if found:
                self._by_capability[capability] = found
        if not found:
            raise NoAgentForCapability(capability, sorted(self.capabilities()))
        return found

    def capabilities(self) -> frozenset[str]:
        return frozenset(c for e in self._agents.values() for c in e.agent.capabilities)

    def ids(self) -> frozenset[str]:
        return frozenset(self._agents)

    def untrusted(self) -> dict[str, frozenset[Source]]:
        """Agent id → the untrusted sources it declares (agents that declare none are absent)."""
        return agent_sources(e.agent for e in self._agents.values())

    def __len__(self) -> int:
        return len(self._agents)
