"""Step attempts handed out to whoever runs them: a :class:`WorkItem` per attempt and the
:class:`Dispatcher` port (the in-process engine, or the JetStream work queue for workers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Dispatcher", "WorkItem"]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One step attempt of one run, handed to a worker that has the capability (or agent)."""

    run_id: str
    step_index: int
    attempt: int
    capability: str | None
    agent: str | None = None
    epoch: int = 0
    # the run's state as the commit that handed this item out left it (engine/state.py carry);
    # a worker uses it only when the run row's digest vouches for it
    state: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Unique per attempt and hand-out: the work queue de-duplicates re-sent items by it;
        an item handed out again after its run was taken back (a new epoch) is a new one."""
        return f"{self.run_id}.{self.step_index}.{self.attempt}.{self.epoch}"

    @property
    def route(self) -> str:
        return f"capability.{self.capability}" if self.capability else f"agent.{self.agent}"


class Dispatcher(Protocol):
    """Hands step attempts to workers (see ``bus.workqueue.JetStreamWorkQueue``)."""

    async def dispatch(self, items: Sequence[WorkItem]) -> None: ...
