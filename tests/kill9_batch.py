"""Phase 1 of the kill -9 test: submit a batch, say so, and run it until killed."""

from __future__ import annotations

import asyncio
import sys

from kill9_agents import registry
from maestro_helix.agents.demo import demo_tasks, demo_workflow
from maestro_helix.app import Maestro


async def main(db: str, n: int) -> None:
    spec = registry()
    async with Maestro.open(
        db, agents=spec.agents, action_types=spec.action_types, concurrency=64, resume=False
    ) as m:
        defn = await m.engine.register(demo_workflow())
        ids = await m.engine.submit_many(defn, demo_tasks(n))
        print(f"submitted {len(ids)}", flush=True)
        for run_id in ids:
            await m.engine.wait(run_id)
        print("finished", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
