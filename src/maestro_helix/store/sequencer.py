"""The audit sequencer: one per deployment at a time (a lease), any process may run one.

Start one in every process that writes with batched sequencing (``ThreadedStore.
use_batched_audit``); the one holding the lease sequences, the others renew their claim attempt
each tick and take over within ``lease_s`` of the holder's death.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from maestro_helix.core.errors import StoreError
from maestro_helix.store.base import Store

log = logging.getLogger(__name__)

__all__ = ["AuditSequencer"]


class AuditSequencer:
    """Moves pending audit entries into the chain in batches while it holds the lease.

    Args:
        store: a store whose writers write audit entries as pending.
        interval_s: pause between batches when nothing (or less than a batch) was pending.
        lease_s: how long a lease lasts without renewal (a dead holder is replaced after it).
        batch: at most this many entries per transaction.
    """

    def __init__(
        self, store: Store, *, interval_s: float = 0.005, lease_s: float = 5.0, batch: int = 5000
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.lease_s = lease_s
        self.batch = batch
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sequenced = 0
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int | None:
        """One batch: how many were sequenced (None: another process holds the lease)."""
        n = await self.store.sequence_audit(self.holder, self.lease_s, self.batch)
        self.sequenced += n or 0
        return n

    async def drain(self) -> int:
        """Sequence until nothing is pending (as holder); how many."""
        total = 0
        while True:
            n = await self.tick()
            if not n:
                return total
            total += n

    async def _loop(self) -> None:
        while True:
            try:
                n = await self.tick()
            except StoreError as e:
                log.warning("audit sequencing failed; retrying", extra={"error": str(e)})
                n = None
            if n is None or n < self.batch:
                await asyncio.sleep(self.interval_s if n is not None else self.lease_s / 5)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="audit-sequencer")

    async def aclose(self) -> None:
        """Stop, after sequencing what is pending if this process holds the lease."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(StoreError):
            await self.drain()
