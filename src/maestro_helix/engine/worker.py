"""A worker: takes step attempts from the work queue, runs them, hands out the next one.

A worker acks an item only after the attempt is committed and the run's next item is stored on
the queue; if it dies before, the item is delivered again and handled idempotently.
"""

from __future__ import annotations

import asyncio
import logging

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.bus.workqueue import JetStreamWorkQueue, routes_for
from maestro_helix.core.work import WorkItem
from maestro_helix.engine.engine import Engine

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


async def run_worker(
    engine: Engine,
    agents: AgentRegistry,
    queue: JetStreamWorkQueue,
    *,
    concurrency: int = 32,
    capabilities: frozenset[str] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the routes of this worker's agents until ``stop`` is set (or forever)."""
    caps = agents.capabilities()
    if capabilities is not None:
        caps = caps & capabilities
    routes = routes_for(caps, agents.ids())

    async def handle(item: WorkItem) -> None:
        nxt = await engine.execute_item(
            item.run_id, item.step_index, item.attempt, epoch=item.epoch, state=item.state
        )
        if nxt is not None:
            await queue.dispatch([nxt])

    await queue.consume(routes, handle, concurrency=concurrency)
    log.info("worker ready", extra={"routes": routes})
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await queue.stop_consuming()
