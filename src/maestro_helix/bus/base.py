"""The ``EventBus`` interface: reflexive events, published after they are stored."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

from maestro_helix.core.records import EventRecord

REFLEXIVE_SUBJECT = "reflexive.events"

EventHandler = Callable[[EventRecord], Awaitable[None] | None]


class Subscription(ABC):
    @abstractmethod
    async def aclose(self) -> None:
        """Stop delivering to this handler; events already queued for it are delivered first."""


class EventBus(ABC):
    """Publishes reflexive events on ``reflexive.events`` (subject/topic) to subscribers."""

    subject: str = REFLEXIVE_SUBJECT

    @abstractmethod
    async def publish(self, events: Sequence[EventRecord]) -> None:
        """Publish events in order. Returns once the bus has accepted them."""

    @abstractmethod
    async def subscribe(self, handler: EventHandler) -> Subscription: ...

    async def open(self) -> None:  # noqa: B027 - optional hook, most buses need nothing
        """Connect (no-op for buses that need no connection)."""

    @abstractmethod
    async def aclose(self) -> None: ...
