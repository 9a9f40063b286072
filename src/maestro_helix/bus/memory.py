"""In-process event bus: the zero-set-up default. Each subscriber has its own bounded queue."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence

from maestro_helix.bus.base import EventBus, EventHandler, Subscription
from maestro_helix.core.records import EventRecord

log = logging.getLogger(__name__)


class _MemorySubscription(Subscription):
    def __init__(self, bus: InProcessBus, handler: EventHandler, maxsize: int) -> None:
        self._bus = bus
        self._handler = handler
        self.queue: asyncio.Queue[EventRecord | None] = asyncio.Queue(maxsize)
        self._task = asyncio.create_task(self._deliver(), name="maestro-bus-subscriber")
        self.delivered = 0
        self.failed = 0

    async def _deliver(self) -> None:
        while True:
            ev = await self.queue.get()
            if ev is None:
                return
            try:
                res = self._handler(ev)
                if inspect.isawaitable(res):
                    await res
                self.delivered += 1
            except Exception:
                # a broken subscriber must not stop the engine or other subscribers
                self.failed += 1
                log.exception("event handler failed", extra={"event_id": ev.event_id})

    async def aclose(self) -> None:
        if self in self._bus._subs:
            self._bus._subs.remove(self)
            await self.queue.put(None)
            await self._task


class InProcessBus(EventBus):
    """Delivers events to subscribers in this process, in publish order.

    A slow subscriber applies back-pressure (its queue is bounded) rather than growing memory
    without limit. Publishing with no subscribers costs almost nothing.

    Args:
        maxsize: queue bound per subscriber.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self._subs: list[_MemorySubscription] = []
        self._maxsize = maxsize
        self.published = 0

    async def publish(self, events: Sequence[EventRecord]) -> None:
        self.published += len(events)
        for sub in self._subs:
            for ev in events:
                if sub.queue.full():
                    await sub.queue.put(ev)
                else:
                    sub.queue.put_nowait(ev)

    async def subscribe(self, handler: EventHandler) -> Subscription:
        sub = _MemorySubscription(self, handler, self._maxsize)
        self._subs.append(sub)
        return sub

    async def aclose(self) -> None:
        for sub in list(self._subs):
            await sub.aclose()
