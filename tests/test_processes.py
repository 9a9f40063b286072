"""`maestro processes`: the processes sharing a database now, with what each holds; a process
that closed cleanly is gone at once, one that died is gone once its heartbeat lapses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maestro_helix import Maestro
from maestro_helix.core.lease import Ownership
from test_engine import FLOW, TOPIC, good_research, registry

CLI = [sys.executable, "-m", "maestro_helix.cli.main"]


def _processes(db: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*CLI, "processes", "--db", str(db), "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["processes"])


async def test_a_live_process_is_listed_with_the_run_it_holds_and_gone_after_close(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    never = asyncio.Event()

    async def stuck(inp: Mapping[str, Any]) -> str:
        await never.wait()
        return ""

    agents = registry(researcher=(good_research, {"research"}), writer=(stuck, {"summary"}))
    async with Maestro.open(str(db), agents=agents, ownership=Ownership(ttl_s=30)) as m:
        run_id = await m.engine.submit(FLOW, {"topic": TOPIC})
        for _ in range(200):
            if (await m.store.get_run(run_id)).next_step == 1:
                break
            await asyncio.sleep(0.02)
        live = await asyncio.to_thread(_processes, db)
        mine = [p for p in live if p["owner"] == m.engine.owner]
        assert len(mine) == 1 and mine[0]["runs"] == 1, live
        assert 0 < mine[0]["alive_for_s"] <= 30
        never.set()
    after = await asyncio.to_thread(_processes, db)
    assert all(p["owner"] != m.engine.owner for p in after), "a closed process is not alive"
