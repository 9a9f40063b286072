"""Routing: pick the agent for a capability by composite score 0.4·QSR + 0.3·(1−MRI) + 0.3·RMM.

The router learns only from scores (numbers), never from inputs or outputs, so it cannot retain
personal data. Each (agent, capability) pair starts from a prior so a new agent is neither
trusted nor shunned, and a small exploration share keeps every agent's record current.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from maestro_helix.helix.base import AgentRecord

__all__ = ["AgentTally", "Router", "RoutingWeights"]


@dataclass(frozen=True, slots=True)
class RoutingWeights:
    qsr: float = 0.4
    risk: float = 0.3
    reliability: float = 0.3


@dataclass(slots=True)
class AgentTally:
    passed: int = 0
    total: int = 0
    qsr_sum: float = 0.0
    mri_sum: float = 0.0

    def record(self, agent_id: str) -> AgentRecord:
        return AgentRecord(agent_id, self.passed, self.total)


class Router:
    """Chooses agents by composite score; updated with every gated step.

    Args:
        weights: composite weights (QSR, 1−MRI, RMM).
        explore: share of choices given to a uniformly random candidate.
        prior_weight: how many pseudo-observations the priors are worth.
        seed: for the exploration draw (reproducible demos and tests).
    """

    PRIOR_QSR = 0.75
    PRIOR_MRI = 0.1

    def __init__(
        self,
        weights: RoutingWeights | None = None,
        *,
        explore: float = 0.05,
        prior_weight: float = 3.0,
        seed: int | None = 0,
    ) -> None:
        self.weights = weights or RoutingWeights()
        self.explore = explore
        self.prior_weight = prior_weight
        self._rng = random.Random(seed)
        self._tallies: dict[tuple[str, str], AgentTally] = {}

    def tally(self, agent_id: str, capability: str) -> AgentTally:
        key = (agent_id, capability)
        t = self._tallies.get(key)
        if t is None:
            t = self._tallies[key] = AgentTally()
        return t

    def load(self, stats: Iterable[tuple[str, str, int, int, float, float]]) -> None:
        """Seed from stored history: (agent, capability, passed, total, qsr_sum, mri_sum)."""
        for agent_id, cap, passed, total, qsr_sum, mri_sum in stats:
            self._tallies[(agent_id, cap)] = AgentTally(passed, total, qsr_sum, mri_sum)

    def observe(
        self, agent_id: str, capability: str, *, qsr: float | None, mri: float | None, passed: bool
    ) -> None:
        t = self.tally(agent_id, capability)
        t.total += 1
        t.passed += int(passed)
        t.qsr_sum += qsr if qsr is not None else 0.0
        t.mri_sum += mri if mri is not None else 1.0

    def score(self, agent_id: str, capability: str) -> float:
        t = self._tallies.get((agent_id, capability)) or AgentTally()
        w = self.prior_weight
        q = (t.qsr_sum + self.PRIOR_QSR * w) / (t.total + w)
        m = (t.mri_sum + self.PRIOR_MRI * w) / (t.total + w)
        r = t.record(agent_id).reliability()
        ws = self.weights
        return ws.qsr * q + ws.risk * (1.0 - m) + ws.reliability * r

    def choose(
        self, capability: str, candidates: Sequence[str], exclude: Iterable[str] = ()
    ) -> str:
        """The best candidate, skipping ``exclude`` (agents that already failed this step)
        unless no other is left."""
        pool = [c for c in candidates if c not in set(exclude)] or list(candidates)
        if len(pool) == 1:
            return pool[0]
        if self.explore > 0 and self._rng.random() < self.explore:
            return self._rng.choice(pool)
        return max(pool, key=lambda a: self.score(a, capability))
