"""A driver process of the many-processes test: submits N demo runs to the shared database and
waits for every one to stop (as ``maestro demo`` does), printing progress lines."""

from __future__ import annotations

import asyncio
import logging
import sys

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_tasks
from maestro_helix.observability.tracing import configure_logging
from mp_app import spec


async def main(db: str, n: int, seed: int) -> None:
    app = spec()
    async with Maestro.open(
        db, agents=app.agents, action_types=app.action_types, concurrency=32, housekeeping_s=1.0
    ) as m:
        defn = await m.engine.register(app.workflows[0])
        ids = await m.engine.submit_many(defn, demo_tasks(n, seed=seed))
        print("submitted", len(ids), flush=True)
        for i, run_id in enumerate(ids):
            await m.engine.wait(run_id)
            if i % 100 == 0:
                print("waited", i, flush=True)
        print("done", flush=True)


if __name__ == "__main__":
    configure_logging(logging.INFO)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
