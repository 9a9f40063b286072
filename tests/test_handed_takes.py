"""Work items' takes grouped into one statement on PostgreSQL (``PostgresStore.acquire_run``
with ``handed``): each take keeps its own fence, exactly as one take alone would."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from conftest import make_store
from maestro_helix.agents.demo import demo_workflow
from maestro_helix.core.records import QUEUE_OWNER, NewRun

NOW = "2026-12-01T00:00:00+00:00"


async def _queued(store, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    defn = await store.save_workflow(demo_workflow(), NOW)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    runs = [
        NewRun(i, defn.name, defn.version, {"topic": "x"}, NOW, None, owner=QUEUE_OWNER, lease_s=30)
        for i in ids
    ]
    await store.create_runs(runs)
    return ids


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_grouped_takes_each_keep_their_fence(
    backend: str, tmp_path: Path, pg_schema: str
) -> None:
    store = make_store(backend, tmp_path, pg_schema)
    async with store:
        ids = await _queued(store, 6)
        epoch = (await store.get_run(ids[0])).epoch
        takes = [
            store.acquire_run(ids[0], "w1", 10.0, handed=(epoch, 0)),  # as the item left it
            store.acquire_run(ids[1], "w1", 10.0, handed=(epoch + 1, 0)),  # an old epoch
            store.acquire_run(ids[2], "w1", 10.0, handed=(epoch, 1)),  # another step
            store.acquire_run(ids[3], "w1", 10.0, handed=(epoch, 0)),
            store.acquire_run(ids[3], "w2", 10.0, handed=(epoch, 0)),  # the same item twice
            store.acquire_run(ids[4], "w1", 10.0, handed=(epoch, 0)),
        ]
        got = await asyncio.gather(*takes)
        assert [g is not None for g in got] == [True, False, False, True, False, True]
        for g, owner in ((got[0], "w1"), (got[3], "w1"), (got[5], "w1")):
            assert g is not None
            rec, paused = g
            assert rec.owner == owner and rec.epoch == epoch + 1 and paused is False
        assert (await store.get_run(ids[1])).owner == QUEUE_OWNER  # untouched
        # taken once: the same item again finds the fence closed
        assert await store.acquire_run(ids[0], "w2", 10.0, handed=(epoch, 0)) is None
        await store.set_workflow_paused(demo_workflow().name, True, NOW, None)
        paused_take = await store.acquire_run(ids[5], "w1", 10.0, handed=(epoch, 0))
        assert paused_take is not None and paused_take[1] is True
