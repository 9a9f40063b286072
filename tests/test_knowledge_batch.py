"""The knowledge base is pushed in batches (issue 13): one version per run or tick, not one per
insight; nothing waiting is lost when the system closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.core.records import RunStatus
from maestro_helix.core.workflow import parse_definition
from maestro_helix.helix.gate import GateConfig
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]

CLEAN = {"topic": "solar panel leasing", "angle": "costs", "domain": "finance", "ref": "T-1"}


def _gates(push_every_s: float) -> GateConfig:
    return GateConfig.model_validate({"knowledge": {"push_every_s": push_every_s, "refresh_s": 0}})


async def test_one_run_makes_one_version_however_many_insights_it_yields(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(
        stores(), agents=demo_agents(), action_types=demo_actions(), gates=_gates(30.0)
    ) as m:
        wf = await m.engine.register(demo_workflow())
        r = await m.run(wf, CLEAN)  # completes: what it learnt is pushed at once
        versions = await m.store.knowledge_versions()
        _, items = await m.store.knowledge_items()
    assert r.status is RunStatus.COMPLETED
    assert len(items) >= 2, "the demo's steps score high enough to be learnt"
    assert [(v.version, v.items) for v in versions] == [(1, len(items))]
    assert versions[0].note.startswith(f"{len(items)} insights: {r.run_id}/")


async def test_a_batch_of_runs_makes_far_fewer_versions_than_insights(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(
        stores(), agents=demo_agents(), action_types=demo_actions(), gates=_gates(1.0)
    ) as m:
        wf = await m.engine.register(demo_workflow())
        results = await m.run_many(wf, demo_tasks(24, seed=5))
        versions = await m.store.knowledge_versions()
        _, items = await m.store.knowledge_items()
    completed = sum(r.status is RunStatus.COMPLETED for r in results)
    assert len(items) > completed + 1  # several insights per run
    # at most one per completed run, and one per tick for the runs that did not complete
    assert 1 <= len(versions) <= completed + 1 < len(items)


async def test_pushing_each_insight_at_once_is_still_possible(stores: StoreFactory) -> None:
    async with Maestro.open(
        stores(), agents=demo_agents(), action_types=demo_actions(), gates=_gates(0.0)
    ) as m:
        wf = await m.engine.register(demo_workflow())
        await m.run(wf, CLEAN)
        versions = await m.store.knowledge_versions()
        _, items = await m.store.knowledge_items()
    assert len(versions) == len(items) >= 2


TWO = parse_definition(
    {
        "name": "learn-then-stop",
        "steps": [
            {
                "id": "research",
                "capability": "research",
                "task": "Research ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"mentions": ["${input.topic}"]},
            },
            {
                "id": "review",
                "capability": "review",
                "task": "Review ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "gate": {"max_attempts": 1},
            },
        ],
    }
)


def _research(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"Research on {t}: {t} contracts last ten years and {t} costs fall each year."


def _broken(inp: Mapping[str, Any]) -> str:
    raise ValueError("the reviewer is broken")


def _agents() -> AgentRegistry:
    return AgentRegistry(
        [
            FunctionAgent("r", _research, {"research"}, inline=True),
            FunctionAgent("v", _broken, {"review"}, inline=True),
        ]
    )


async def test_a_run_that_never_completes_has_its_insights_pushed_at_the_tick(
    stores: StoreFactory,
) -> None:
    async with Maestro.open(stores(), agents=_agents(), gates=_gates(0.05)) as m:
        r = await m.run(TWO, {"topic": "solar panel leasing"})
        assert r.status is not RunStatus.COMPLETED
        assert m.learning is not None
        for _ in range(100):
            if await m.store.knowledge_version():
                break
            await asyncio.sleep(0.02)
        assert await m.store.knowledge_version() == 1 and m.learning.pending == 0


async def test_insights_waiting_when_the_system_closes_are_pushed(stores: StoreFactory) -> None:
    async with Maestro.open(stores(), agents=_agents(), gates=_gates(60.0)) as m:
        await m.run(TWO, {"topic": "solar panel leasing"})
        assert m.learning is not None and m.learning.pending == 1
        assert await m.store.knowledge_version() == 0  # waiting for its tick
    async with Maestro.open(stores(), agents=_agents()) as m:
        v, items = await m.store.knowledge_items()
    assert v == 1 and len(items) == 1
