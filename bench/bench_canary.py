"""The canary's decision rule by simulation: false rollbacks and time to roll back a bad
candidate, ours (sequential e-value tests, governance/sequential.py) against fixed-threshold
rules evaluated on the same simulated runs.

Each simulated canary sends ``share`` of new runs to the candidate; a run is bad (escalated to
people or failed) with the arm's rate. The rules look after every ``look`` settled candidate runs
(continuous monitoring) up to ``horizon`` candidate runs. Rules compared:

- ours: :func:`maestro_helix.governance.sequential.evaluate` (minimum sample, e-values against
  stable and against the runbook's 2 % bar, alpha 5 %);
- Flagger-style: every ``window`` candidate runs one metric check, failed when the window's rate
  is above 2 %; rollback after ``failed_checks`` failed checks (Flagger's ``threshold``);
- running-rate: roll back as soon as the running candidate rate is above 2 % after the same
  minimum sample (a literal reading of the runbook line, checked at every look).

    python bench/bench_canary.py --sims 2000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from maestro_helix.core.rollout import CanaryConfig, CanaryDecision
from maestro_helix.governance.sequential import ArmCounts, evaluate

BAR = 0.02


@dataclass
class Outcome:
    rolled_back: bool
    at: int  # candidate runs seen when it stopped (or the horizon)


Rule = Callable[[list[int], list[int], int], Outcome]


def stream(rng: random.Random, pc: float, ps: float, share: float, horizon: int, look: int):
    """Per look: (candidate runs, candidate bad, stable runs, stable bad), cumulative."""
    per_look_stable = round(look * (1 - share) / share)
    n_c = k_c = n_s = k_s = 0
    out = []
    while n_c < horizon:
        n_c += look
        k_c += sum(rng.random() < pc for _ in range(look))
        n_s += per_look_stable
        k_s += sum(rng.random() < ps for _ in range(per_look_stable))
        out.append((n_c, k_c, n_s, k_s))
    return out


def ours(looks, cfg: CanaryConfig) -> Outcome:
    for n_c, k_c, n_s, k_s in looks:
        ev = evaluate(ArmCounts(n_c, k_c), ArmCounts(n_s, k_s), cfg, bounds=False)
        if ev.decision is CanaryDecision.ROLLBACK:
            return Outcome(True, n_c)
    return Outcome(False, looks[-1][0])


def flagger(looks, window: int, failed_checks: int) -> Outcome:
    failed, last_n, last_k = 0, 0, 0
    for n_c, k_c, _, _ in looks:
        if n_c - last_n >= window:
            if (k_c - last_k) / (n_c - last_n) > BAR:
                failed += 1
                if failed >= failed_checks:
                    return Outcome(True, n_c)
            last_n, last_k = n_c, k_c
    return Outcome(False, looks[-1][0])


def running_rate(looks, min_runs: int) -> Outcome:
    for n_c, k_c, _, _ in looks:
        if n_c >= min_runs and k_c / n_c > BAR:
            return Outcome(True, n_c)
    return Outcome(False, looks[-1][0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--horizon", type=int, default=2000, help="candidate runs per canary")
    ap.add_argument("--look", type=int, default=5, help="candidate runs between looks")
    ap.add_argument("--stable-rate", type=float, default=0.01)
    ap.add_argument("--window", type=int, default=20, help="Flagger: candidate runs per check")
    ap.add_argument("--failed-checks", type=int, default=5, help="Flagger: threshold")
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    cfg = CanaryConfig()
    rules = {
        "ours (e-values, min sample, 2 % bar)": lambda lk: ours(lk, cfg),
        f"Flagger-style ({a.window}-run checks, {a.failed_checks} failed)": lambda lk: flagger(
            lk, a.window, a.failed_checks
        ),
        f"running rate > 2 % after {cfg.min_runs} runs": lambda lk: running_rate(lk, cfg.min_runs),
    }
    scenarios = {
        f"candidate as good as stable ({a.stable_rate:.1%})": a.stable_rate,
        "candidate at the bar (2 %)": BAR,
        "candidate at twice the bar (4 %)": 2 * BAR,
    }
    t0 = time.perf_counter()
    print(
        f"sims {a.sims}, horizon {a.horizon} candidate runs, look every {a.look}, share "
        f"{cfg.share:.0%}, stable rate {a.stable_rate:.1%}, alpha {cfg.alpha}, min sample "
        f"{cfg.min_runs}\n"
    )
    print("| scenario | rule | rolled back | median candidate runs to rollback (p90) |")
    print("|---|---|---|---|")
    for sname, pc in scenarios.items():
        rng = random.Random(a.seed)
        sims = [stream(rng, pc, a.stable_rate, cfg.share, a.horizon, a.look) for _ in range(a.sims)]
        for rname, rule in rules.items():
            res = [rule(lk) for lk in sims]
            back = [r.at for r in res if r.rolled_back]
            share = len(back) / len(res)
            if back:
                q = statistics.quantiles(back, n=10) if len(back) > 1 else [back[0]] * 9
                when = f"{statistics.median(back):.0f} ({q[8]:.0f})"
            else:
                when = "—"
            print(f"| {sname} | {rname} | {share:.1%} | {when} |")
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
