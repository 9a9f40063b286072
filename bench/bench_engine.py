"""Engine benchmarks, measured side by side in one run; figures go to bench/RESULTS.md.

(a) throughput of the gated, audited, durable three-step workflow (demo agents, SQLite, fsync);
(b) QSR + MRI latency per step, p50 and p99, on the outputs that run produced;
(c) the peers, each in a process of its own (bench/peers.py): the same three steps with trivial
    work in LangGraph (in-memory and SQLite saver) and DBOS Transact (SQLite in WAL mode and
    PostgreSQL), as many runs in flight as ours; then the ratios.

Run:  pip install -e ".[bench]" && python bench/bench_engine.py --tasks 10000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.app import Maestro
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.engine.bridge import input_text
from maestro_helix.helix.base import EvaluationRequest, RiskRequest
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.store.base import RunStatus

HERE = Path(__file__).parent
PG_DEFAULT = os.environ.get("MAESTRO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


# -- (a) ours ---------------------------------------------------------------------------------


async def run_ours(n: int, db: Path, concurrency: int, durability: str) -> dict[str, Any]:
    from maestro_helix.store.sqlite import SQLiteStore

    store = SQLiteStore(db, durability=durability)  # type: ignore[arg-type]
    async with Maestro.open(
        store, agents=demo_agents(), action_types=demo_actions(), concurrency=concurrency
    ) as m:
        defn = await m.engine.register(demo_workflow())
        tasks = demo_tasks(n)
        t0, c0 = time.perf_counter(), time.process_time()
        ids = await m.engine.submit_many(defn, tasks)
        results = [await m.engine.wait(i) for i in ids]
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        report = await m.verify_audit()
        steps = await m.store.count("steps")
    done = sum(r.status in (RunStatus.COMPLETED, RunStatus.ESCALATED) for r in results)
    assert done == n and report.ok
    return {
        "tasks": n,
        "elapsed_s": elapsed,
        "tasks_per_min": n / elapsed * 60,
        "cpu_s": cpu,
        "step_attempts": steps,
        "escalated": sum(r.status is RunStatus.ESCALATED for r in results),
        "retries": sum(r.retries for r in results),
        "audit_entries": report.checked,
    }


# -- (b) evaluator latency --------------------------------------------------------------------


async def evaluator_latency(db: Path, limit: int = 6000) -> dict[str, float]:
    """Time QSR + MRI on real step outputs read back from the benchmark's database."""
    from maestro_helix.store.sqlite import SQLiteStore

    async with SQLiteStore(db) as store:
        defn = await store.get_workflow("research-pipeline")
        ids = (await store.list_runs(limit=limit // 3)).runs
        records = []
        for r in ids:
            for s in await store.step_records(r.run_id):
                if s.output is not None:
                    records.append((r.input, s))
    qsr, risk = QSREvaluator(), RiskAssessor()
    # the injection scan remembers texts it saw; start (b) with none of (a)'s remembered, so
    # only the repeats within these samples (a run's input at each of its steps) are reused
    from maestro_helix.helix import injection

    injection._remembered.cache_clear()
    from maestro_helix.core.workflow import render

    samples: list[float] = []
    for run_input, s in records:
        step = defn.step(s.step_id)
        out = AgentOutput.from_dict(s.output or {})
        scope = {"input": run_input, "steps": {}}
        payload = {"topic": run_input["topic"], "angle": run_input["angle"]}
        text = input_text(payload)
        mentions = tuple(str(render(m, scope)) for m in step.expect.mentions)
        task = str(render(step.task, scope))
        t0 = time.perf_counter()
        qsr.evaluate(EvaluationRequest(step.id, task, payload, text, out, step.expect, mentions))
        risk.assess(RiskRequest(step.id, f"{task} {text}", out, step.actions))
        samples.append((time.perf_counter() - t0) * 1000)
    return {
        "n": len(samples),
        "p50_ms": statistics.median(samples),
        "p99_ms": pct(samples, 99),
        "max_ms": max(samples),
    }


# -- (c) peers ----------------------------------------------------------------------------------

PEERS = ("langgraph-memory", "langgraph-sqlite", "dbos-sqlite", "dbos-postgres")


def run_peer(peer: str, n: int, concurrency: int, tmp: Path, pg: str) -> dict[str, Any]:
    """One peer in a process of its own (bench/peers.py); its JSON line."""
    d = tmp / peer
    d.mkdir()
    argv = [sys.executable, str(HERE / "peers.py"), peer, "--tasks", str(n)]
    argv += ["--concurrency", str(concurrency), "--dir", str(d), "--pg", pg]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench/peers.py {peer} failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- report -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=HERE,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


TARGETS = {  # ours / peer, issue 15
    "langgraph-memory": 2.0,
    "langgraph-sqlite": 8.0,
    "dbos-sqlite": 10.0,
    "dbos-postgres": 5.0,  # the production path's target; the embedded one is only compared
}
LABELS = {
    "langgraph-memory": "LangGraph, InMemorySaver (nothing durable)",
    "langgraph-sqlite": "LangGraph, AsyncSqliteSaver",
    "dbos-sqlite": "DBOS Transact, SQLite system database (WAL, synchronous=FULL)",
    "dbos-postgres": "DBOS Transact, PostgreSQL system database (same machine)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument(
        "--peer-tasks",
        type=int,
        default=None,
        help="tasks for each peer run (default: same as --tasks)",
    )
    ap.add_argument("--concurrency", type=int, default=256, help="runs in flight, ours and peers'")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated; '' for none")
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL for dbos-postgres's database")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--section", default="engine")
    args = ap.parse_args()
    peer_n = args.peer_tasks or args.tasks
    peers = [p for p in args.peers.split(",") if p]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        ap.error(f"--peers: unknown {unknown}; choose from {', '.join(PEERS)}")

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"(a) maestro: {args.tasks} tasks, SQLite synchronous=FULL ...", flush=True)
        ours = asyncio.run(run_ours(args.tasks, tmp / "bench.db", args.concurrency, "full"))
        print(f"    {ours['tasks_per_min']:,.0f} tasks/min", flush=True)
        print("(b) QSR + MRI latency ...", flush=True)
        lat = asyncio.run(evaluator_latency(tmp / "bench.db"))
        print(f"    p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms", flush=True)
        results = {}
        for peer in peers:
            print(f"(c) {peer}: {peer_n} tasks, {args.concurrency} in flight ...", flush=True)
            results[peer] = run_peer(peer, peer_n, args.concurrency, tmp, args.pg)
            print(f"    {results[peer]['tasks_per_min']:,.0f} tasks/min", flush=True)
    load1 = os.getloadavg()[0]

    versions = "; ".join(dict.fromkeys(r["version"] for r in results.values())) or "none"
    cpu_ms = ours["cpu_s"] / ours["tasks"] * 1000
    lines = [
        f"## {args.section}: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (commit {git_rev()})",
        "",
        f"- machine: {machine()}; load average (1 min) at start / end: {load0:.1f} / {load1:.1f}",
        f"- command: `python bench/bench_engine.py --tasks {args.tasks}"
        + (f" --peer-tasks {peer_n}" if peer_n != args.tasks else "")
        + f" --concurrency {args.concurrency}`",
        f"- peers ({args.concurrency} in flight each, one process each, trivial 3-step work, "
        f"no scoring, gating or audit): {versions}",
        "",
        "| measurement | figure | target |",
        "|---|---|---|",
        f"| (a) gated, audited, durable 3-step workflow, {ours['tasks']} tasks "
        f"({ours['step_attempts']} step attempts, {ours['retries']} retries, "
        f"{ours['escalated']} escalations, {ours['audit_entries']} audit entries; SQLite WAL, "
        f"synchronous=FULL) | **{ours['tasks_per_min']:,.0f} tasks/min** "
        f"({ours['elapsed_s']:.2f} s; {cpu_ms:.2f} ms CPU per task) | ≥ 60,000 |",
        f"| (b) QSR + MRI per step, {lat['n']} real step outputs | p50 {lat['p50_ms']:.3f} ms, "
        f"**p99 {lat['p99_ms']:.3f} ms** (max {lat['max_ms']:.2f}) | p99 ≤ 2 ms |",
    ]
    for peer, r in results.items():
        peer_cpu = r["cpu_s"] / r["tasks"] * 1000
        lines.append(
            f"| (c) {LABELS[peer]}, {r['tasks']} tasks | {r['tasks_per_min']:,.0f} tasks/min "
            f"({peer_cpu:.2f} ms CPU per task) | — |"
        )
    for peer, r in results.items():
        ratio = ours["tasks_per_min"] / r["tasks_per_min"]
        lines.append(f"| ratio ours / {LABELS[peer]} | **{ratio:.2f}×** | ≥ {TARGETS[peer]:g}× |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    existing = args.out.read_text() if args.out.exists() else "# Benchmark results\n\n"
    args.out.write_text(existing.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    sys.exit(main())
