"""The route link reads the track record again as soon as this process has committed another
step (the store's commit generation moves), and at least every ``refresh_s`` for other
processes' commits; choices in between share one read."""

from __future__ import annotations

from collections.abc import Sequence

from maestro_helix.core.route import TrackRecord
from maestro_helix.engine.routing import RouteLink
from maestro_helix.helix.routing import Router
from maestro_helix.testing import FakeClock
from test_routing import two_agents


class CountingStore:
    def __init__(self) -> None:
        self.commit_generation = 0
        self.reads = 0

    async def track_records(self, capability: str, agent_ids: Sequence[str]) -> list[TrackRecord]:
        self.reads += 1
        return []


async def test_a_local_commit_or_the_refresh_period_makes_the_next_choice_read_again() -> None:
    store, clock = CountingStore(), FakeClock()
    link = RouteLink(two_agents(), Router(), store, clock, refresh_s=1.0)  # type: ignore[arg-type]
    caps = ["summary"]
    for _ in range(3):
        await link._records(caps[0], ["a", "b"])
    assert store.reads == 1, "choices between two commits share one read"
    store.commit_generation += 1
    await link._records(caps[0], ["a", "b"])
    assert store.reads == 2, "a commit here: the record is read again"
    clock.advance(1.5)
    await link._records(caps[0], ["a", "b"])
    assert store.reads == 3, "other processes' commits: read again after refresh_s"


async def test_refresh_zero_reads_at_every_choice() -> None:
    store, clock = CountingStore(), FakeClock()
    link = RouteLink(two_agents(), Router(), store, clock, refresh_s=0.0)  # type: ignore[arg-type]
    for _ in range(3):
        await link._records("summary", ["a"])
    assert store.reads == 3
