"""Routing: pick the agent for a capability by Thompson sampling over each candidate's posterior
of the composite score 0.4·QSR + 0.3·(1−MRI) + 0.3·RMM (weights configurable).

The track record (:class:`~maestro_helix.core.route.TrackRecord`) lives in the store, one row
per agent × capability, folded in the step's own commit (:func:`fold`, :func:`observation`), so
every process and worker reads the same record and a restart changes nothing. Observations decay
with a half-life. The router learns only from scores (numbers), never from inputs or outputs.

Each component is a Beta posterior (prior mean and weight below, plus the decayed observations);
a choice draws one composite from each eligible candidate's posterior and takes the highest
(``explore`` scales how far a draw may stray from the mean: 0 is greedy, 1 is plain Thompson).
Guardrails: an agent whose MRI record is above ``mri_ceiling`` is not chosen (the ceiling may be
lowered, never raised above :data:`MAX_MRI_CEILING`); retries go to the best mean, never explore;
an exploratory attempt that fails the gate is retried on the best agent (:func:`explore_guard`),
never escalated to people because of the exploration.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maestro_helix.core.route import CandidateView, RouteDecision, RouteMode, TrackRecord
from maestro_helix.core.scores import GateDecision, GateVerdict

__all__ = [
    "MAX_MRI_CEILING",
    "Observation",
    "Router",
    "RoutingConfig",
    "RoutingWeights",
    "explore_guard",
    "fixed",
    "fold",
    "observation",
]

MAX_MRI_CEILING = 0.5
"""The highest MRI record an agent may have and still be chosen; configuration only lowers it."""

PRIOR_QSR = 0.75
PRIOR_MRI = 0.1
PRIOR_RMM = 2.0 / 3.0  # as AgentRecord.reliability: Beta(2, 1)


class RoutingWeights(BaseModel):
    """The composite's weights (the spec's 0.4 / 0.3 / 0.3); normalised to sum 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    qsr: float = Field(default=0.4, ge=0)
    risk: float = Field(default=0.3, ge=0)
    reliability: float = Field(default=0.3, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> RoutingWeights:
        if self.qsr + self.risk + self.reliability <= 0:
            raise ValueError("at least one routing weight must be above 0")
        return self

    def normalised(self) -> tuple[float, float, float]:
        s = self.qsr + self.risk + self.reliability
        return self.qsr / s, self.risk / s, self.reliability / s


class RoutingConfig(BaseModel):
    """The ``routing`` section of ``helix_quality_gates.json``.

    Attributes:
        weights: composite weights.
        explore: posterior spread used by a draw (0 greedy, 1 Thompson, up to 2).
        mri_ceiling: an agent whose MRI record is above this is not chosen (at most 0.5).
        half_life_s: an observation's weight halves every this many seconds (new records).
        prior_weight: how many observations each prior is worth.
        seed: the draw's seed (reproducible demos and tests); None draws from the OS.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    weights: RoutingWeights = Field(default_factory=RoutingWeights)
    explore: float = Field(default=1.0, ge=0.0, le=2.0)
    mri_ceiling: float = Field(default=0.3, gt=0.0, le=MAX_MRI_CEILING)
    half_life_s: float = Field(default=3 * 86400.0, gt=0.0)
    prior_weight: float = Field(default=3.0, gt=0.0)
    seed: int | None = None


# -- the track record -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """What one gated attempt adds to its agent's record (numbers only)."""

    agent_id: str
    capability: str
    t: float
    qsr: float
    mri: float
    passed: bool


def observation(
    *,
    agent_id: str | None,
    capability: str | None,
    t: float,
    decision: str,
    qsr: float | None,
    mri: float | None,
    agent_failed: bool,
    policy_escalation: bool,
    held_by_prediction: bool = False,
) -> Observation | None:
    """The observation an attempt makes, the one rule for it (live and rebuilt alike).

    * An agent that failed (crash, timeout, unusable output) scores QSR 0 and MRI 1: it is the
      agent's doing and the worst outcome.
    * An attempt whose scores are missing for another reason (an evaluator crashed, the step's
      input could not be built) is not the agent's doing: no observation.
    * It is the agent's success when it passed the gate, or when it was sent to people only
      because the policy asks people for its actions (``policy_escalation``: an amount tier),
      or because the risk predictor held a result the gate passed (``held_by_prediction``):
      neither is the agent's doing.
    """
    if agent_id is None or capability is None:
        return None
    if agent_failed:
        return Observation(agent_id, capability, t, 0.0, 1.0, False)
    if qsr is None or mri is None:
        return None
    passed = decision == GateDecision.PASS.value or (
        decision == GateDecision.ESCALATE.value and (policy_escalation or held_by_prediction)
    )
    return Observation(agent_id, capability, t, qsr, mri, passed)


def fold(rec: TrackRecord, obs: Observation, half_life_s: float) -> TrackRecord:
    """``rec`` with ``obs`` added. Order-independent: folding the same observations in any order
    gives the same record (each one weighs ``0.5 ** ((as_of - t) / half_life)``), so processes
    committing concurrently agree. An empty record takes ``half_life_s``; a stored one keeps its."""
    h = rec.half_life_s if rec.n > 0 and rec.half_life_s > 0 else half_life_s
    as_of = max(rec.as_of, obs.t)
    old = 0.5 ** ((as_of - rec.as_of) / h) if rec.n > 0 else 0.0
    new = 0.5 ** ((as_of - obs.t) / h)
    return TrackRecord(
        rec.agent_id,
        rec.capability,
        rec.n * old + new,
        rec.passed * old + (new if obs.passed else 0.0),
        rec.qsr_sum * old + obs.qsr * new,
        rec.mri_sum * old + obs.mri * new,
        as_of,
        h,
        rec.total + 1,
        rec.passes + int(obs.passed),
    )


# -- choosing -------------------------------------------------------------------------------------


def _beta(prior: float, w: float, n: float, s: float) -> tuple[float, float]:
    s = min(max(s, 0.0), n)
    return prior * w + s, (1.0 - prior) * w + (n - s)


def _moments(a: float, b: float) -> tuple[float, float]:
    m = a / (a + b)
    return m, a * b / ((a + b) ** 2 * (a + b + 1.0))


@dataclass(frozen=True, slots=True)
class _Posterior:
    agent_id: str
    n: float
    params: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    means: tuple[float, float, float]  # QSR, MRI, RMM
    mean: float
    std: float


class Router:
    """Chooses agents; pure apart from its random draw (the record comes from the store).

    Args:
        config: weights, exploration, the risk ceiling, priors and the seed.
    """

    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.config = config or RoutingConfig()
        self._rng = random.Random(self.config.seed)

    def posterior(self, rec: TrackRecord) -> _Posterior:
        w = self.config.prior_weight
        pq = _beta(PRIOR_QSR, w, rec.n, rec.qsr_sum)
        pm = _beta(PRIOR_MRI, w, rec.n, rec.mri_sum)
        # RMM's prior is Beta(2, 1), as the risk assessor's agent record
        pr = (rec.passed + 2.0, max(rec.n - rec.passed, 0.0) + 1.0)
        (mq, vq), (mm, vm), (mr, vr) = _moments(*pq), _moments(*pm), _moments(*pr)
        wq, wm, wr = self.config.weights.normalised()
        mean = wq * mq + wm * (1.0 - mm) + wr * mr
        std = math.sqrt(wq * wq * vq + wm * wm * vm + wr * wr * vr)
        return _Posterior(rec.agent_id, rec.n, (pq, pm, pr), (mq, mm, mr), mean, std)

    def _draw(self, p: _Posterior) -> float:
        (aq, bq), (am, bm), (ar, br) = p.params
        rng = self._rng
        wq, wm, wr = self.config.weights.normalised()
        sample = (
            wq * rng.betavariate(aq, bq)
            + wm * (1.0 - rng.betavariate(am, bm))
            + wr * rng.betavariate(ar, br)
        )
        return p.mean + self.config.explore * (sample - p.mean)

    def choose(
        self,
        capability: str,
        candidates: Sequence[str],
        records: Mapping[str, TrackRecord] | Iterable[TrackRecord],
        *,
        now: float,
        exclude: Iterable[str] = (),
        attempt: int = 1,
    ) -> RouteDecision:
        """The agent for one attempt, with the explanation.

        Args:
            capability: the step's capability.
            candidates: agents registered for it, in registration order.
            records: their stored records (missing ones start from the priors).
            now: epoch seconds; records are decayed to it.
            exclude: agents that already failed this step (skipped unless no other is left).
            attempt: the attempt number; only a first attempt explores.
        """
        recs = records if isinstance(records, Mapping) else {r.agent_id: r for r in records}
        posts = {
            a: self.posterior((recs.get(a) or TrackRecord(a, capability)).at(now))
            for a in candidates
        }
        excluded: dict[str, str] = {}
        failed = set(exclude)
        if any(a not in failed for a in candidates):
            excluded.update({a: "failed this step" for a in candidates if a in failed})
        ceiling = self.config.mri_ceiling
        over = {
            a: f"MRI record {p.means[1]:.3f} > ceiling {ceiling}"
            for a, p in posts.items()
            if p.means[1] > ceiling and a not in excluded
        }
        eligible = [a for a in candidates if a not in excluded and a not in over]
        note = ""
        if eligible:
            excluded.update(over)
        else:  # every agent left is over the ceiling: the least risky, said so
            pool = [a for a in candidates if a not in excluded]
            eligible = [min(pool, key=lambda a: posts[a].means[1])]
            excluded.update({a: why for a, why in over.items() if a not in eligible})
            note = f"; every candidate's MRI record is above the ceiling {ceiling}: least risky"
        best = max(eligible, key=lambda a: posts[a].mean)
        draws: dict[str, float] = {}
        if len(eligible) == 1:
            mode, chosen = RouteMode.ONLY, eligible[0]
            why = f"{chosen} is the only eligible candidate{note}"
        elif attempt > 1 or self.config.explore == 0:
            mode, chosen = RouteMode.BEST, best
            why = (
                f"retry: {best} has the best posterior mean {posts[best].mean:.3f}"
                if attempt > 1
                else f"exploration off: {best} has the best posterior mean {posts[best].mean:.3f}"
            )
        else:
            mode = RouteMode.THOMPSON
            draws = {a: self._draw(posts[a]) for a in eligible}
            chosen = max(eligible, key=lambda a: draws[a])
            why = f"{chosen} drew {draws[chosen]:.3f}, the highest of {len(eligible)}"
            if chosen != best:
                why += f" (exploring: {best} has the best mean {posts[best].mean:.3f})"
        views = tuple(
            CandidateView(
                a,
                posts[a].n,
                posts[a].means[0],
                posts[a].means[1],
                posts[a].means[2],
                posts[a].mean,
                posts[a].std,
                draws.get(a),
                excluded.get(a),
            )
            for a in candidates
        )
        wq, wm, wr = self.config.weights.normalised()
        return RouteDecision(
            mode=mode,
            chosen=chosen,
            capability=capability,
            best=best,
            exploratory=chosen != best,
            why=why,
            candidates=views,
            weights={"qsr": wq, "risk": wm, "reliability": wr},
            record=(recs.get(chosen) or TrackRecord(chosen, capability)).at(now),
        )


def fixed(agent_id: str, capability: str | None, record: TrackRecord | None) -> RouteDecision:
    """The decision for a step that names its agent."""
    return RouteDecision(
        mode=RouteMode.FIXED,
        chosen=agent_id,
        capability=capability,
        best=agent_id,
        why=f"the step names its agent {agent_id}",
        record=record,
    )


def explore_guard(route: RouteDecision | None, verdict: GateVerdict) -> GateVerdict:
    """An exploratory attempt that did not pass is retried on the best agent: whatever the gate
    said (retry, escalate, fail), people never hear of an attempt only exploration made."""
    if route is None or not route.exploratory or verdict.decision is GateDecision.PASS:
        return verdict
    why = (
        f"exploratory attempt by {route.chosen} did not pass ({verdict.decision.value}): "
        f"retried on the best agent {route.best}"
    )
    return GateVerdict(GateDecision.RETRY, (*verdict.reasons, why), verdict.thresholds)
