"""One measurement for bench_leases.py: N demo runs through the full pipeline on a fresh SQLite
file (fsync), in this process; prints JSON. Runs against whichever maestro_helix is importable,
so the same probe measures two versions of the code side by side."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.app import Maestro


async def main(n: int, db: str | None, seed: int) -> None:
    path = db or str(Path(tempfile.mkdtemp()) / "bench.db")
    async with Maestro.open(
        path, agents=demo_agents(), action_types=demo_actions(), concurrency=256
    ) as m:
        defn = await m.engine.register(demo_workflow())
        inputs = demo_tasks(n, seed=seed)
        t0 = time.perf_counter()
        ids = await m.engine.submit_many(defn, inputs)
        for run_id in ids:
            await m.engine.wait(run_id)
        elapsed = time.perf_counter() - t0
    print(json.dumps({"tasks": n, "seconds": elapsed}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None, 7))
