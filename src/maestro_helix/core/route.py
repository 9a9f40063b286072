"""Routing values every room shares: an agent's stored track record, and one routing decision
with its explanation (it travels on ``StepInput.route`` into the audit entry). Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["CandidateView", "RouteDecision", "RouteMode", "TrackRecord"]


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """One agent × capability track record as stored: decayed sums as of ``as_of``.

    The sums are exponentially decayed: an observation made ``d`` seconds before ``as_of``
    counts ``0.5 ** (d / half_life_s)``. ``total`` and ``passes`` are plain counts (for reports).

    Attributes:
        n: decayed number of observed attempts.
        passed: decayed number of those that are the agent's success (RMM's numerator).
        qsr_sum, mri_sum: decayed sums of QSR and MRI.
        as_of: epoch seconds the sums are decayed to (the newest observation's time).
        half_life_s: the decay this record was folded with (readers decay with it too).
    """

    agent_id: str
    capability: str
    n: float = 0.0
    passed: float = 0.0
    qsr_sum: float = 0.0
    mri_sum: float = 0.0
    as_of: float = 0.0
    half_life_s: float = 0.0
    total: int = 0
    passes: int = 0

    def at(self, now: float) -> TrackRecord:
        """The record decayed to ``now`` (never grown: a ``now`` before ``as_of`` keeps it)."""
        if self.half_life_s <= 0 or now <= self.as_of or self.n == 0:
            return self
        f = 0.5 ** ((now - self.as_of) / self.half_life_s)
        return TrackRecord(
            self.agent_id,
            self.capability,
            self.n * f,
            self.passed * f,
            self.qsr_sum * f,
            self.mri_sum * f,
            now,
            self.half_life_s,
            self.total,
            self.passes,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "capability": self.capability,
            "n": self.n,
            "passed": self.passed,
            "qsr_sum": self.qsr_sum,
            "mri_sum": self.mri_sum,
            "as_of": self.as_of,
            "half_life_s": self.half_life_s,
            "total": self.total,
            "passes": self.passes,
        }


class RouteMode(StrEnum):
    FIXED = "fixed"  # the step names its agent
    ONLY = "only"  # one candidate left
    THOMPSON = "thompson"  # a draw from each candidate's posterior, highest wins
    BEST = "best"  # a retry: the best posterior mean, no exploration


@dataclass(frozen=True, slots=True)
class CandidateView:
    """One candidate as the router saw it: its record's means, its posterior and its draw."""

    agent_id: str
    n: float
    qsr: float
    mri: float
    rmm: float
    mean: float
    std: float
    draw: float | None = None
    excluded: str | None = None  # why it could not be chosen (failed this step, risk ceiling)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "agent_id": self.agent_id,
            "n": round(self.n, 4),
            "qsr": round(self.qsr, 4),
            "mri": round(self.mri, 4),
            "rmm": round(self.rmm, 4),
            "mean": round(self.mean, 4),
            "std": round(self.std, 4),
        }
        if self.draw is not None:
            d["draw"] = round(self.draw, 4)
        if self.excluded is not None:
            d["excluded"] = self.excluded
        return d


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Which agent runs an attempt, and why.

    Attributes:
        chosen: the agent.
        best: the eligible candidate with the highest posterior mean.
        exploratory: ``chosen`` is not ``best`` (the draw favoured a less proven agent); such
            an attempt that fails the gate is retried on the best agent, never escalated.
        why: the reason in words.
        record: the chosen agent's record (decayed to the decision's time), for MRI's
            ``agent.record`` factor.
    """

    mode: RouteMode
    chosen: str
    capability: str | None = None
    best: str | None = None
    exploratory: bool = False
    why: str = ""
    candidates: tuple[CandidateView, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    record: TrackRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "capability": self.capability,
            "chosen": self.chosen,
            "best": self.best,
            "exploratory": self.exploratory,
            "why": self.why,
            "weights": dict(self.weights),
            "candidates": [c.to_dict() for c in self.candidates],
        }
