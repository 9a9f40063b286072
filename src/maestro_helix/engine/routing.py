"""RouteLink (an input link): pick the agent for an attempt from the track record in the store,
and say why.

The record is read from the store, never kept from start-up: every process and worker routes on
the same, committed record. A read is used again until this process commits another step (the
store's ``commit_generation`` moves) or ``refresh_s`` passes (other processes' commits): choices
made between two of this process's commits share one read instead of one each. The decision
travels on ``StepInput.route`` to the risk assessor (the agent's record), the gate (an
exploratory attempt that fails is retried on the best agent) and the audit entry
(``details.routing``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.core.clock import Clock, SystemClock
from maestro_helix.core.ports import RoutingPort
from maestro_helix.core.route import RouteDecision, TrackRecord
from maestro_helix.core.steps import StepInput
from maestro_helix.helix.routing import Router, fixed

__all__ = ["RouteLink"]


class RouteLink:
    """The step's fixed agent, or the router's choice for its capability.

    Args:
        agents: the registry (candidates per capability).
        router: the chooser (weights, exploration, risk ceiling).
        store: where the track record lives; None routes on the priors alone (tests, the
            Helix service).
        clock: the records are decayed to its ``now``.
        refresh_s: the longest a read is used again while this process commits nothing (0:
            read at every choice).
    """

    def __init__(
        self,
        agents: AgentRegistry,
        router: Router,
        store: RoutingPort | None = None,
        clock: Clock | None = None,
        refresh_s: float = 1.0,
    ) -> None:
        self.agents = agents
        self.router = router
        self.store = store
        self.clock = clock or SystemClock()
        self.refresh_s = refresh_s
        self._read: dict[tuple[str, tuple[str, ...]], tuple[int, float, list[TrackRecord]]] = {}
        self._reading: dict[tuple[str, tuple[str, ...]], asyncio.Future[list[TrackRecord]]] = {}

    async def _records(self, capability: str, agent_ids: Sequence[str]) -> list[TrackRecord]:
        if self.store is None:
            return []
        generation = getattr(self.store, "commit_generation", None)
        key = (capability, tuple(agent_ids))
        t = self.clock.monotonic()
        hit = self._read.get(key)
        if (
            hit is not None
            and generation is not None
            and hit[0] == generation
            and t - hit[1] < self.refresh_s
        ):
            return hit[2]
        if generation is None:
            try:
                return await self.store.track_records(capability, agent_ids)
            except NotImplementedError:
                return []
        pending = self._reading.get(key)
        if pending is None:  # one read at a time per key: the choices meanwhile share it
            pending = self._reading[key] = asyncio.ensure_future(
                self._read_once(key, capability, agent_ids, t)
            )
            pending.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(pending)

    async def _read_once(
        self, key: tuple[str, tuple[str, ...]], capability: str, agent_ids: Sequence[str], t: float
    ) -> list[TrackRecord]:
        assert self.store is not None
        try:
            records = await self.store.track_records(capability, agent_ids)
        except NotImplementedError:
            records = []
        # as of the read's return: it saw the writer's batch up to the read itself (a commit
        # later in that batch waits for the next generation)
        self._read[key] = (int(getattr(self.store, "commit_generation", 0)), t, records)
        return records

    async def decide(self, inp: StepInput) -> RouteDecision:
        step = inp.step
        now = self.clock.now().timestamp()
        cap = step.capability
        given = inp.agent_id or step.agent
        if given is not None:
            rec = None
            if cap is not None:
                found = await self._records(cap, [given])
                rec = (found[0] if found else TrackRecord(given, cap)).at(now)
            route = fixed(given, cap, rec)
            if inp.agent_id is not None and step.agent is None:
                route = replace(route, why=f"the caller gave the agent {given}")
            return route
        assert cap is not None, "a step names an agent or a capability"
        candidates = [a.id for a in self.agents.for_capability(cap)]
        records = await self._records(cap, candidates)
        return self.router.choose(
            cap, candidates, records, now=now, exclude=inp.exclude_agents, attempt=inp.attempt
        )

    async def prepare(self, inp: StepInput) -> StepInput:
        """An input link: the input with its agent and the routing decision."""
        if inp.route is not None:
            return inp
        route = await self.decide(inp)
        return replace(inp, agent_id=route.chosen, route=route)
