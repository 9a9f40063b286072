"""Publishing stored events to the bus, surviving its outages: what the bus refuses waits here
in order and is re-published (same ids, so de-duplicated) until it takes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from maestro_helix.bus.base import EventBus
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.records import EventRecord

__all__ = ["EventPublisher"]

log = logging.getLogger("maestro_helix.engine.engine")


class EventPublisher:
    """Publishes events already stored; a bus outage never stops a run."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._waiting: list[EventRecord] = []
        self._republisher: asyncio.Task[None] | None = None

    @property
    def unpublished(self) -> int:
        return len(self._waiting)

    async def publish(self, events: Sequence[EventRecord]) -> None:
        """Publish stored events. A bus outage never stops a run: the events are already in the
        store, and those the bus refused are re-published (same ids: de-duplicated) until it
        takes them."""
        if not events:
            return
        if self._waiting:  # keep order: nothing overtakes what is waiting
            self._waiting.extend(events)
            return
        try:
            await self.bus.publish(events)
        except MaestroError as e:
            log.warning("event bus unavailable; will re-publish", extra={"error": str(e)})
            self._waiting.extend(events)
            if self._republisher is None or self._republisher.done():
                self._republisher = asyncio.create_task(self._republish(), name="republish")

    async def _republish(self) -> None:
        delay = 0.2
        while self._waiting:
            await asyncio.sleep(delay)
            batch = list(self._waiting)
            try:
                await self.bus.publish(batch)
            except MaestroError as e:
                delay = min(delay * 2, 5.0)
                log.warning(
                    "event bus still unavailable", extra={"error": str(e), "waiting": len(batch)}
                )
                continue
            del self._waiting[: len(batch)]
            delay = 0.2

    async def aclose(self) -> None:
        """Give a recovering bus a little time to take what is waiting; then give up (the
        events are in the store)."""
        if self._republisher is not None and not self._republisher.done():
            try:  # give a recovering bus a little time to take what is waiting
                await asyncio.wait_for(asyncio.shield(self._republisher), timeout=10)
            except TimeoutError:
                self._republisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._republisher
                log.error(
                    "closing with unpublished events (they are in the store)",
                    extra={"count": len(self._waiting)},
                )
