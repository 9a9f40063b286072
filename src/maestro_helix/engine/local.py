"""The in-process work queue: the engine's own :class:`~maestro_helix.core.work.Dispatcher`.

Step attempts of runs executed here are handed to this queue and taken by the engine's N tasks,
as a JetStream work queue hands them to workers elsewhere; both end in the engine's one step
function. An item of a run submitted here comes with its state (no store read before its first
step); an item of a run taken up from the store (:data:`NEXT`) is rebuilt from it first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from maestro_helix.core.work import WorkItem

__all__ = ["NEXT", "LocalDispatcher", "next_of"]

NEXT = -1
"""``WorkItem.step_index`` of a run taken up from the store: its next attempt, as stored."""


def next_of(run_id: str) -> WorkItem:
    """An item for whatever attempt of ``run_id`` is next (read from the store when taken)."""
    return WorkItem(run_id, NEXT, 0, None)


class LocalDispatcher:
    """An asyncio queue of work items consumed by the engine's tasks."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[WorkItem | None] = asyncio.Queue()

    async def dispatch(self, items: Sequence[WorkItem]) -> None:
        for item in items:
            self._queue.put_nowait(item)

    async def take(self) -> WorkItem | None:
        """The next item; None when the queue was closed."""
        return await self._queue.get()

    def close(self, consumers: int) -> int:
        """Drop what nobody started (other processes take those runs up) and wake each of
        ``consumers`` with None. Returns how many items were dropped."""
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            dropped += 1
        for _ in range(consumers):
            self._queue.put_nowait(None)
        return dropped
