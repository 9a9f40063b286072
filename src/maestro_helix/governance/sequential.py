"""The canary's sequential test: e-processes that stay valid however often they are looked at.

A canary is evaluated again and again while runs settle. A fixed-sample test (or a fixed
threshold on the running rate) checked at every look rejects a good candidate far more often
than its nominal level. Here every decision is a test martingale (an *e-process*) compared with
``1/alpha``; by Ville's inequality the chance that it *ever* crosses, under the null, is at most
``alpha`` — at any stopping time, with any number of looks.

Two tests, each at ``alpha / 2`` (so a false rollback has chance at most ``alpha`` overall):

- **Worse than stable.** Null: the candidate's bad-run rate ``p_c`` is at most the stable
  version's ``p_s``. Statistic (universal inference with a running maximum-likelihood
  denominator, Wasserman, Ramdas & Balakrishnan 2020):
  ``E = m(k_c, n_c) · m(k_s, n_s) / sup_{p_c <= p_s} L(p_c, p_s)`` where ``m`` is the
  Beta-Bernoulli mixture (marginal) likelihood of each arm's outcomes. The mixture is a product
  of predictive probabilities, the denominator is at least the likelihood under the true null
  parameters, so ``E`` is dominated by a nonnegative martingale of mean 1.
- **Above the runbook's bar.** Null: ``p_c <= bar`` (2 %). ``E = m(k_c, n_c) / sup_{p <= bar}
  L(p)``, the same construction on one arm.

The rate bounds shown with a canary are the matching always-valid confidence sequences
(``{p : m(k, n) / L(p) < 1/alpha}``, Robbins' mixture), valid simultaneously over time.

Decisions also need a minimum sample (no decision on a handful of runs, and no data is never a
pass). Everything here is a pure function of counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from maestro_helix.core.rollout import CanaryConfig, CanaryDecision

__all__ = [
    "PRIOR",
    "ArmCounts",
    "Evaluation",
    "confidence_bounds",
    "evaluate",
    "log_e_above_bar",
    "log_e_worse_than",
]

PRIOR = (0.5, 12.0)
"""Beta(a, b) of the mixture: mass on the low rates a canary lives at (mean ~4 %). Any prior
keeps the tests valid; this one decides how fast they find a bad candidate."""


@dataclass(frozen=True, slots=True)
class ArmCounts:
    """Settled runs of one side of a canary: ``bad`` of ``n`` escalated to people or failed;
    ``in_progress`` are unfinished and not counted."""

    n: int = 0
    bad: int = 0
    in_progress: int = 0

    @property
    def rate(self) -> float | None:
        return self.bad / self.n if self.n else None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One look at a canary: the decision, why, and every number behind it."""

    decision: CanaryDecision
    reason: str
    candidate: ArmCounts
    stable: ArmCounts
    log_e_stable: float  # evidence that the candidate is worse than stable (log e-value)
    log_e_bar: float  # evidence that the candidate is above the bar
    log_threshold: float  # log(2 / alpha): each test's crossing line
    candidate_bounds: tuple[float, float] | None
    stable_bounds: tuple[float, float] | None

    def as_json(self) -> dict[str, object]:
        def arm(c: ArmCounts, b: tuple[float, float] | None) -> dict[str, object]:
            return {
                "runs": c.n,
                "bad": c.bad,
                "in_progress": c.in_progress,
                "rate": c.rate,
                "bounds": None if b is None else [round(b[0], 6), round(b[1], 6)],
            }

        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "candidate": arm(self.candidate, self.candidate_bounds),
            "stable": arm(self.stable, self.stable_bounds),
            "e_stable": _exp(self.log_e_stable),
            "e_bar": _exp(self.log_e_bar),
            "threshold": _exp(self.log_threshold),
        }


def _exp(x: float) -> float:
    return round(math.exp(min(x, 700.0)), 6)


def _log_lik(k: int, n: int, p: float) -> float:
    out = 0.0
    if k:
        out += k * math.log(p) if p > 0 else -math.inf
    if n - k:
        out += (n - k) * math.log1p(-p) if p < 1 else -math.inf
    return out


def _log_mix(k: int, n: int, prior: tuple[float, float] = PRIOR) -> float:
    a, b = prior
    return (
        math.lgamma(a + k)
        + math.lgamma(b + n - k)
        - math.lgamma(a + b + n)
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )


def log_e_above_bar(k: int, n: int, bar: float, prior: tuple[float, float] = PRIOR) -> float:
    """log E for the null ``p <= bar`` after ``k`` bad of ``n``."""
    if n == 0:
        return 0.0
    return _log_mix(k, n, prior) - _log_lik(k, n, min(k / n, bar))


def log_e_worse_than(
    cand: ArmCounts, stable: ArmCounts, prior: tuple[float, float] = PRIOR
) -> float:
    """log E for the null ``p_candidate <= p_stable``."""
    if cand.n == 0 or stable.n == 0:
        return 0.0
    pc, ps = cand.bad / cand.n, stable.bad / stable.n
    if pc > ps:  # the null's best fit lies on its boundary: one pooled rate
        pc = ps = (cand.bad + stable.bad) / (cand.n + stable.n)
    num = _log_mix(cand.bad, cand.n, prior) + _log_mix(stable.bad, stable.n, prior)
    return num - _log_lik(cand.bad, cand.n, pc) - _log_lik(stable.bad, stable.n, ps)


def confidence_bounds(
    k: int, n: int, alpha: float, prior: tuple[float, float] = PRIOR
) -> tuple[float, float] | None:
    """The always-valid (1 - alpha) bounds of a rate after ``k`` of ``n``; None without data."""
    if n == 0:
        return None
    line = math.log(1 / alpha)
    mix = _log_mix(k, n, prior)

    def inside(p: float) -> bool:
        return mix - _log_lik(k, n, p) < line

    centre = k / n

    def edge(lo: float, hi: float, inside_at_lo: bool) -> float:
        for _ in range(60):
            mid = (lo + hi) / 2
            if inside(mid) == inside_at_lo:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    lower = 0.0 if inside(0.0) else edge(centre, 0.0, True)
    upper = 1.0 if inside(1.0) else edge(centre, 1.0, True)
    return lower, upper


def evaluate(
    cand: ArmCounts, stable: ArmCounts, cfg: CanaryConfig, *, bounds: bool = True
) -> Evaluation:
    """Decide from the counts: roll back, promote (after a clean sample) or keep going
    (``bounds=False``: skip the rate bounds, which only inform people; simulations)."""
    line = math.log(2 / cfg.alpha)
    e_stable = log_e_worse_than(cand, stable)
    e_bar = log_e_above_bar(cand.bad, cand.n, cfg.bar)
    decision, reason = CanaryDecision.CONTINUE, ""
    if cand.n < cfg.min_runs:
        reason = (
            f"minimum sample not reached: {cand.n} of {cfg.min_runs} settled candidate runs"
            " (no decision before it)"
        )
    elif e_bar >= line:
        decision = CanaryDecision.ROLLBACK
        reason = (
            f"candidate above the {cfg.bar:.1%} bar: {cand.bad}/{cand.n} bad runs, e-value "
            f"{_exp(e_bar):g} >= {_exp(line):g}"
        )
    elif stable.n >= cfg.min_runs and e_stable >= line:
        decision = CanaryDecision.ROLLBACK
        reason = (
            f"candidate worse than stable: {cand.bad}/{cand.n} vs {stable.bad}/{stable.n} bad "
            f"runs, e-value {_exp(e_stable):g} >= {_exp(line):g}"
        )
    elif stable.n < cfg.min_runs:
        reason = f"stable side has {stable.n} of {cfg.min_runs} settled runs: keep going"
    elif cfg.promote_after and cand.n >= cfg.promote_after and cand.bad <= cfg.bar * cand.n:
        decision = CanaryDecision.PROMOTE
        reason = (
            f"clean sample: {cand.n} settled candidate runs (>= {cfg.promote_after}), "
            f"{cand.bad} bad, no rollback evidence"
        )
    else:
        reason = f"no evidence against the candidate yet ({cand.n} settled runs): keep going"
    return Evaluation(
        decision,
        reason,
        cand,
        stable,
        e_stable,
        e_bar,
        line,
        confidence_bounds(cand.bad, cand.n, cfg.alpha) if bounds else None,
        confidence_bounds(stable.bad, stable.n, cfg.alpha) if bounds else None,
    )
