"""Routing benchmark: regret against an oracle on a simulated fixture where an agent's quality
drifts, and the escalations exploration would cause without the guard.

Three agents share a capability. Their hidden quality depends on the input's kind and drifts:
``steady`` is good everywhere; ``sharp`` is the best on every kind until step 100, then falls
behind (its model was swapped); ``cheap`` is weak on "legal" inputs and risky (MRI). One step
per simulated 10 minutes. The production code routes: :class:`Router` (Thompson sampling over
the composite's posterior, MRI ceiling), :func:`fold` (the decayed record as the store folds it
in each step commit) and :func:`explore_guard` (an exploratory attempt that fails is retried on
the best agent). The gate is the default one with one attempt per step, so a failed attempt that
is not retried goes to people.

Reward of an attempt: the spec's composite of its expected scores, 0.4·QSR + 0.3·(1−MRI) +
0.3·P(pass). The oracle knows every agent's expected reward at every step and picks the best.
Regret = oracle's cumulative expected reward − the router's, as a share of the oracle's.
The old router (greedy on the undecayed mean, a fixed 5 % uniform exploration) runs the same
fixture for comparison.

Run:  python bench/bench_routing.py --steps 200 --seeds 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench_engine import machine

from maestro_helix.core.route import TrackRecord
from maestro_helix.core.scores import GateDecision, GateThresholds, GateVerdict
from maestro_helix.helix.routing import Observation, Router, RoutingConfig, explore_guard, fold

HERE = Path(__file__).parent
AGENTS = ("steady", "sharp", "cheap")
KINDS = ("sales", "support", "legal")
STEP_S = 600.0
GATE = GateThresholds(min_qsr=0.7, max_mri=0.3, max_attempts=1)


def truth(agent: str, kind: str, step: int, drift_at: int) -> tuple[float, float]:
    """(mean QSR, mean MRI) the agent would score on this input at this step."""
    if agent == "steady":
        return 0.82, 0.05
    if agent == "sharp":
        return (0.93, 0.04) if step < drift_at else (0.66, 0.08)
    return (0.55 if kind == "legal" else 0.78), 0.22


def sample(rng: random.Random, mean_q: float, mean_m: float) -> tuple[float, float]:
    q = min(1.0, max(0.0, rng.gauss(mean_q, 0.07)))
    m = min(1.0, max(0.0, rng.gauss(mean_m, 0.06)))
    return q, m


def p_pass(mean_q: float, mean_m: float) -> float:
    """P(QSR ≥ 0.7 and MRI ≤ 0.3) under the sampling noise (independent normals)."""
    nd = statistics.NormalDist
    return (1 - nd(mean_q, 0.07).cdf(0.7)) * nd(mean_m, 0.06).cdf(0.3)


def expected_reward(agent: str, kind: str, step: int, drift_at: int) -> float:
    q, m = truth(agent, kind, step, drift_at)
    return 0.4 * q + 0.3 * (1 - m) + 0.3 * p_pass(q, m)


@dataclass
class Outcome:
    regret_share: float
    escalations: int
    exploration_escalations: int
    guarded: int
    best_share_after_drift: float


def run_router(steps: int, seed: int, drift_at: int, config: RoutingConfig) -> Outcome:
    rng = random.Random(seed)
    router = Router(config.model_copy(update={"seed": seed}))
    recs: dict[str, TrackRecord] = {a: TrackRecord(a, "c") for a in AGENTS}
    oracle = got = 0.0
    escalations = exploration_escalations = guarded = 0
    after_best = after_total = 0
    for i in range(steps):
        now = i * STEP_S
        kind = rng.choice(KINDS)
        best_true = max(AGENTS, key=lambda a: expected_reward(a, kind, i, drift_at))
        oracle += expected_reward(best_true, kind, i, drift_at)
        attempt, exclude = 1, set[str]()
        route = router.choose("c", list(AGENTS), recs, now=now, attempt=attempt)
        got += expected_reward(route.chosen, kind, i, drift_at)
        if i >= drift_at:
            after_total += 1
            after_best += route.chosen == best_true
        while True:
            q, m = sample(rng, *truth(route.chosen, kind, i, drift_at))
            passed = q >= GATE.min_qsr and m <= GATE.max_mri
            raw = GateVerdict(
                GateDecision.PASS if passed else GateDecision.ESCALATE, (), GATE
            )  # one attempt per step: a failure goes to people
            verdict = explore_guard(route, raw)
            recs[route.chosen] = fold(
                recs[route.chosen],
                Observation(route.chosen, "c", now, q, m, passed),
                config.half_life_s,
            )
            if verdict.decision is GateDecision.ESCALATE:
                escalations += 1
                exploration_escalations += route.exploratory
                break
            if verdict.decision is GateDecision.PASS:
                break
            guarded += 1  # an exploratory failure: the best agent takes the step
            exclude.add(route.chosen)
            attempt += 1
            route = router.choose(
                "c", list(AGENTS), recs, now=now, exclude=exclude, attempt=attempt
            )
    share = after_best / after_total if after_total else 0.0
    return Outcome((oracle - got) / oracle, escalations, exploration_escalations, guarded, share)


def run_old(steps: int, seed: int, drift_at: int, explore: float = 0.05) -> Outcome:
    """The router before: greedy on the smoothed undecayed mean, 5 % uniform exploration,
    an exploratory failure escalated like any other."""
    rng = random.Random(seed)
    pick_rng = random.Random(seed)
    tallies = {a: [0, 0, 0.0, 0.0] for a in AGENTS}  # passed, total, qsr_sum, mri_sum

    def score(a: str) -> float:
        p, n, qs, ms = tallies[a]
        q = (qs + 0.75 * 3) / (n + 3)
        m = (ms + 0.1 * 3) / (n + 3)
        return 0.4 * q + 0.3 * (1 - m) + 0.3 * (p + 2) / (n + 3)

    oracle = got = 0.0
    escalations = exploration_escalations = 0
    after_best = after_total = 0
    for i in range(steps):
        kind = rng.choice(KINDS)
        best_true = max(AGENTS, key=lambda a: expected_reward(a, kind, i, drift_at))
        oracle += expected_reward(best_true, kind, i, drift_at)
        explored = pick_rng.random() < explore
        chosen = pick_rng.choice(AGENTS) if explored else max(AGENTS, key=score)
        explored = explored and chosen != max(AGENTS, key=score)
        got += expected_reward(chosen, kind, i, drift_at)
        if i >= drift_at:
            after_total += 1
            after_best += chosen == best_true
        q, m = sample(rng, *truth(chosen, kind, i, drift_at))
        passed = q >= GATE.min_qsr and m <= GATE.max_mri
        t = tallies[chosen]
        t[0] += int(passed)
        t[1] += 1
        t[2] += q
        t[3] += m
        if not passed:
            escalations += 1
            exploration_escalations += explored
    share = after_best / after_total if after_total else 0.0
    return Outcome((oracle - got) / oracle, escalations, exploration_escalations, 0, share)


def summarise(name: str, outs: list[Outcome]) -> str:
    r = [o.regret_share for o in outs]
    return (
        f"| {name} | {statistics.mean(r) * 100:.1f} % (max {max(r) * 100:.1f} %) "
        f"| {statistics.mean(o.best_share_after_drift for o in outs) * 100:.0f} % "
        f"| {sum(o.escalations for o in outs)} "
        f"| **{sum(o.exploration_escalations for o in outs)}** "
        f"| {sum(o.guarded for o in outs)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    drift_at = args.steps // 2
    rows = []
    for name, cfg in (
        ("Thompson, half-life 6 h (36 steps)", RoutingConfig(half_life_s=6 * 3600.0)),
        ("Thompson, default half-life 3 d", RoutingConfig()),
        ("Thompson, explore 0.5, half-life 6 h", RoutingConfig(explore=0.5, half_life_s=21600.0)),
    ):
        outs = [run_router(args.steps, s, drift_at, cfg) for s in range(args.seeds)]
        rows.append(summarise(name, outs))
    old = [run_old(args.steps, s, drift_at) for s in range(args.seeds)]
    rows.append(summarise("old router (greedy, 5 % uniform)", old))
    uniform = [run_old(args.steps, s, drift_at, explore=1.0) for s in range(args.seeds)]
    rows.append(summarise("uniform random (the metric's scale)", uniform))
    router = Router(RoutingConfig(seed=1))
    recs = [TrackRecord(a, "c", 40, 30, 32, 4, 0.0, 3600.0, 40, 30) for a in AGENTS]
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        router.choose("c", list(AGENTS), recs, now=60.0)
    choose_us = (time.perf_counter() - t0) / n * 1e6
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"## routing: {now} (commit {commit})",
            "",
            f"- machine: {machine()}",
            f"- command: `python bench/bench_routing.py --steps {args.steps} --seeds {args.seeds}`",
            f"- fixture: 3 agents, 3 input kinds, `sharp` drifts from best to worst at step "
            f"{drift_at}; one attempt per step (a failure not retried goes to people); "
            f"{args.seeds} seeds",
            "",
            "| router | regret (share of the oracle's reward) | best agent chosen after the "
            "drift | escalations | caused by exploration | exploratory failures retried on "
            "the best |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"`Router.choose` over 3 candidates (posteriors, draws, explanation): "
            f"{choose_us:.0f} µs per call.",
            "",
        ]
    )
    print(text)
    if not args.no_write:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
