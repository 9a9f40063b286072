"""The engine's own overhead with slow agents (simulated LLM latency); figures go to
bench/RESULTS.md.

N runs are in flight at once (engine concurrency = N); each has S steps whose agent waits a
seeded uniform 0.2–2 s (``asyncio.sleep``: an LLM call that takes CPU from nobody) and returns a
short text that passes the gate. Every step is still scored (QSR + MRI), gated, audited and
committed to SQLite with fsync.

- throughput against the ideal: with nothing but the waits, all N runs would end when the
  slowest run's waits end (``ideal_s``); Little's law gives the same bound, concurrency / mean
  run latency;
- engine overhead per step: the time between one agent returning and the next agent of the same
  run starting (scoring, gate, audit, the commit, scheduling), and from submit to the first
  agent; p50 / p99;
- peak RSS of the process;
- CPU per step attempt (the process's user + system time over the run, the store's writer
  thread included, divided by the attempts): its inverse is what one engine process can do
  (steps/s on one core). The offered load is runs in flight / mean wait (steps/s). When the
  offered load is above the capacity (utilisation > 1) the engine is saturated and the
  "overhead" measured is mostly the queue of steps waiting for the CPU, not the cost of one
  step: compare p50/p99 at a utilisation below 1 (fewer runs in flight) for the cost itself.

Run:  python bench/bench_slow_agents.py --runs 10000 --steps 2
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import platform
import random
import resource
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.app import Maestro
from maestro_helix.core.outputs import AgentOutput, StepContext
from maestro_helix.core.workflow import parse_definition
from maestro_helix.store.base import RunStatus


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


class Timeline:
    """When each agent call started and ended, by (run input ref, step)."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str], tuple[float, float]] = {}


def wait_for(ref: str, step: str) -> float:
    return random.Random(f"{ref}/{step}").uniform(0.2, 2.0)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_agent(timeline: Timeline, waits: Mapping[tuple[str, str], float]) -> FunctionAgent:
    async def slow(inp: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        t0 = time.perf_counter()
        ref = str(inp["ref"])
        # drawn before the run (seeding a Random per call would be CPU the loop's other steps
        # wait for, counted as engine overhead)
        await asyncio.sleep(waits[(ref, ctx.step)])
        timeline.spans[(ref, ctx.step)] = (t0, time.perf_counter())
        return AgentOutput(
            text=f"Order {ref}: the parcel left the warehouse and arrives within two days.",
            data={"ref": ref},
        )

    return FunctionAgent("slow.llm", slow, {"reply"})


def workflow(steps: int) -> Any:
    return parse_definition(
        {
            "name": "slow-agents",
            "steps": [
                {
                    "id": f"s{i}",
                    "capability": "reply",
                    "task": "Tell the customer where order ${input.ref} is",
                    "input": {"ref": "${input.ref}"},
                    "expect": {"mentions": ["${input.ref}"], "min_length": 20},
                }
                for i in range(steps)
            ],
        }
    )


async def bench(runs: int, steps: int, db: Path, durability: str) -> dict[str, Any]:
    from maestro_helix.store.sqlite import SQLiteStore

    timeline = Timeline()
    store = SQLiteStore(db, durability=durability)  # type: ignore[arg-type]
    inputs = [{"ref": f"A-{i:06d}"} for i in range(runs)]
    names = [f"s{i}" for i in range(steps)]
    waits = {(x["ref"], s): wait_for(x["ref"], s) for x in inputs for s in names}
    async with Maestro.open(
        store, agents=AgentRegistry([make_agent(timeline, waits)]), concurrency=runs, resume=False
    ) as m:
        defn = await m.engine.register(workflow(steps))
        cpu0 = cpu_s()
        t0 = time.perf_counter()
        ids = await m.engine.submit_many(defn, inputs)
        t_submitted = time.perf_counter()
        results = await asyncio.gather(*(m.engine.wait(i, poll_s=0.2) for i in ids))
        wall = time.perf_counter() - t0
        cpu = cpu_s() - cpu0
    completed = sum(r.status is RunStatus.COMPLETED for r in results)
    attempts = sum(len(r.attempts) for r in results)
    per_run_wait = [sum(waits[(x["ref"], s)] for s in names) for x in inputs]
    gaps: list[float] = []
    first: list[float] = []
    for x in inputs:
        spans = [timeline.spans.get((x["ref"], s)) for s in names]
        if any(sp is None for sp in spans):
            continue
        first.append(spans[0][0] - t0)  # type: ignore[index]
        for a, b in itertools.pairwise(spans):
            gaps.append(b[0] - a[1])  # type: ignore[index]
    ideal = max(per_run_wait)
    mean_run = sum(per_run_wait) / runs
    cpu_per_attempt = cpu / max(attempts, 1)
    offered = runs / (mean_run / steps)  # steps/s the waits would let through
    return {
        "attempts": attempts,
        "cpu_s": cpu,
        "cpu_per_attempt_ms": cpu_per_attempt * 1000,
        "capacity": 1.0 / cpu_per_attempt if cpu_per_attempt else float("inf"),
        "offered": offered,
        "utilisation": offered * cpu_per_attempt,
        "load": os.getloadavg()[0],
        "runs": runs,
        "steps": steps,
        "completed": completed,
        "wall_s": wall,
        "submit_s": t_submitted - t0,
        "ideal_s": ideal,
        "throughput": runs / wall,
        "ideal_throughput": runs / ideal,
        "littles_law": runs / mean_run,
        "gap_p50_ms": pct(gaps, 50) * 1000 if gaps else float("nan"),
        "gap_p99_ms": pct(gaps, 99) * 1000 if gaps else float("nan"),
        "gap_max_ms": max(gaps) * 1000 if gaps else float("nan"),
        "first_p50_ms": pct(first, 50) * 1000,
        "first_p99_ms": pct(first, 99) * 1000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--durability", choices=["full", "normal"], default="full")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        r = asyncio.run(bench(args.runs, args.steps, Path(tmp) / "slow.db", args.durability))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## slow agents: {now} (commit {commit})\n")
    machine = platform.processor() or platform.machine()
    print(f"- machine: {machine}, Python {platform.python_version()}, durability {args.durability}")
    print(
        f"- command: `python bench/bench_slow_agents.py --runs {r['runs']} --steps {r['steps']}`\n"
    )
    print("| measurement | figure | target |")
    print("|---|---|---|")
    print(f"| runs completed | {r['completed']} / {r['runs']} ({r['steps']} steps each) | all |")
    print(
        f"| wall time (submit {r['submit_s']:.2f} s included) | {r['wall_s']:.2f} s "
        f"(ideal {r['ideal_s']:.2f} s: the slowest run's waits) | — |"
    )
    share = r["throughput"] / r["ideal_throughput"]
    print(
        f"| throughput | **{r['throughput']:.0f} runs/s** = {share:.0%}"
        f" of the ideal {r['ideal_throughput']:.0f} runs/s (Little's law bound "
        f"{r['littles_law']:.0f} runs/s) | — |"
    )
    print(
        f"| engine overhead per step (agent returns → next agent starts) | p50 "
        f"{r['gap_p50_ms']:.1f} ms, **p99 {r['gap_p99_ms']:.1f} ms** (max {r['gap_max_ms']:.0f}) | "
        "p99 ≤ 5 ms |"
    )
    print(
        f"| submit → first agent starts | p50 {r['first_p50_ms']:.0f} ms, "
        f"p99 {r['first_p99_ms']:.0f} ms | — |"
    )
    print(f"| peak RSS | **{r['peak_rss_mib']:.0f} MiB** | < 1 GiB |")
    print(
        f"| CPU per step attempt (process user + sys / {r['attempts']} attempts) | "
        f"{r['cpu_per_attempt_ms']:.2f} ms → capacity {r['capacity']:.0f} steps/s | — |"
    )
    print(
        f"| offered load (runs in flight / mean wait) | {r['offered']:.0f} steps/s → "
        f"**utilisation {r['utilisation']:.2f}** (> 1: saturated, the overhead is the queue) | "
        "< 1 |"
    )
    print(
        f"| CPU share (process CPU / wall time) | {r['cpu_s'] / r['wall_s']:.2f} of a core; "
        f"load average (1 min) at the end {r['load']:.1f} on {os.cpu_count()} cores | — |"
    )


if __name__ == "__main__":
    main()
