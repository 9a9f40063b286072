"""Orchestration intelligence in the distributed path (issue 13): workers on PostgreSQL + NATS
JetStream, as real processes, predict each step's risk, route it on the shared track record,
learn into the knowledge base and let agents revise after suggestions (re-evaluation)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from test_distributed import (  # noqa: F401  (``world`` is a fixture)
    NATS,
    _alive,
    _cleanup,
    _ensure_schema,
    _rows,
    _stop,
    _wait_done,
    _worker,
    world,
)


def _details(raw: object) -> dict[str, Any]:
    if isinstance(raw, str):
        return dict(json.loads(raw))
    assert isinstance(raw, dict)
    return raw


async def _submit_tasks(where: dict[str, str], tasks: list[dict[str, Any]]) -> list[str]:
    from dist_app import app
    from maestro_helix import Maestro
    from maestro_helix.bus.workqueue import JetStreamWorkQueue

    spec = app()
    async with (
        JetStreamWorkQueue(NATS, namespace=where["ns"]) as q,
        Maestro.open(
            where["db"],
            agents=spec.agents,
            action_types=spec.action_types,
            dispatcher=q,
            resume=False,
        ) as m,
    ):
        defn = await m.engine.register(spec.workflows[0])
        return await m.engine.submit_many(defn, tasks)


@pytest.mark.slow
def test_workers_predict_route_learn_and_reevaluate(
    world: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    from maestro_helix.agents.demo import demo_tasks

    pii = [t for t in demo_tasks(600, seed=7) if "@" in str(t.get("note", ""))][:4]
    tasks = pii + demo_tasks(16, seed=11)
    _ensure_schema(world)
    a = _worker(world, tmp_path / "a.log")
    b = _worker(world, tmp_path / "b.log")
    try:
        import time

        time.sleep(2.0)
        _alive((a, tmp_path / "a.log"), (b, tmp_path / "b.log"))
        ids = asyncio.run(_submit_tasks(world, tasks))
        statuses = _wait_done(world, len(ids))
        assert statuses["completed"] >= len(ids) - 2
        decisions = [
            (str(kind), str(step), _details(d))
            for kind, step, d in _rows(
                world,
                "SELECT kind, step_id, details FROM audit_log "
                "WHERE kind IN ('step.decision', 'step.prediction')",
            )
        ]
        decided = [d for k, _, d in decisions if k == "step.decision"]
        predicted = [d for k, _, d in decisions if k == "step.prediction"]
        # the predictor ran before every attempt, on the workers
        assert decided and len(predicted) == len(decided)
        assert all("features" in p and "mitigation" in p for p in predicted)
        # every routed attempt carries the router's explanation
        research = [d for k, s, d in decisions if k == "step.decision" and s == "research"]
        assert research and all("routing" in d for d in research)
        # agents revised after the evaluator's suggestions and were scored again
        rounds = [r for d in decided for r in d.get("reevaluations", ())]
        assert any(r["revised"] and r["kept"] for r in rounds), rounds
        # what was learnt is in the shared knowledge base
        ((versions,),) = _rows(world, "SELECT count(*) FROM knowledge_versions")
        ((items,),) = _rows(world, "SELECT count(*) FROM knowledge_items")
        assert int(versions) >= 1 and int(items) >= 1  # type: ignore[call-overload]
        # the track record the router reads is the workers' shared one
        ((tracked,),) = _rows(world, "SELECT count(*) FROM agent_track WHERE total > 0")
        assert int(tracked) >= 3  # type: ignore[call-overload]
    finally:
        _stop(a, b)
        asyncio.run(_cleanup(world))
    for log in ("a.log", "b.log"):
        assert "Traceback" not in (tmp_path / log).read_text()
