"""The demo app with a slow analysis step (for killing a worker mid-step)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_workflow
from maestro_helix.appspec import AppSpec
from maestro_helix.core.outputs import AgentOutput, StepContext


class Slow:
    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.id, self.capabilities = inner.id, inner.capabilities

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        await asyncio.sleep(self.delay)
        return await self.inner.run(input, ctx)  # type: ignore[no-any-return]


def app() -> AppSpec:
    demo = demo_agents()
    agents = AgentRegistry(
        Slow(demo.get(i), 0.3) if i.startswith("analysis") else demo.get(i)
        for i in sorted(demo.ids())
    )
    return AppSpec(agents, tuple(demo_actions()), workflows=(demo_workflow(),))
