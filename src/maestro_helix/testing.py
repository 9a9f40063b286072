"""Real fakes for users' tests: a held clock, function agents, a bus that records what it saw."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.bus.memory import InProcessBus
from maestro_helix.core.clock import FakeClock
from maestro_helix.core.records import EventRecord

__all__ = ["FakeClock", "RecordingBus", "agents_from"]


class RecordingBus(InProcessBus):
    """An in-process bus that also keeps every event published, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[EventRecord] = []

    async def publish(self, events: Sequence[EventRecord]) -> None:
        self.events.extend(events)
        await super().publish(events)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def agents_from(spec: Iterable[tuple[str, Callable[..., Any], Iterable[str]]]) -> AgentRegistry:
    """Build a registry from ``(id, callable, capabilities)`` triples."""
    return AgentRegistry(FunctionAgent(i, fn, caps) for i, fn, caps in spec)
