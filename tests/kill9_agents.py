"""Demo agents that log every invocation to $MAESTRO_TEST_LOG (used by the kill -9 test)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_workflow
from maestro_helix.appspec import AppSpec
from maestro_helix.core.outputs import AgentOutput, StepContext


class LoggingAgent:
    def __init__(self, inner: Any, fd: int) -> None:
        self.inner = inner
        self.id = inner.id
        self.capabilities = inner.capabilities
        self._fd = fd

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        # O_APPEND writes of one short line are atomic; the line is on its way before the step
        os.write(self._fd, f"{ctx.run_id} {ctx.step} {ctx.attempt}\n".encode())
        return await self.inner.run(input, ctx)


def registry() -> AppSpec:
    fd = os.open(os.environ["MAESTRO_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    demo = demo_agents()
    agents = AgentRegistry(LoggingAgent(demo.get(i), fd) for i in sorted(demo.ids()))
    return AppSpec(agents, tuple(demo_actions()), workflows=(demo_workflow(),))
