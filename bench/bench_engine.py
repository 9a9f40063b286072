"""Engine benchmarks, measured side by side in one run; figures go to bench/RESULTS.md.

(a) throughput of the gated, audited, durable three-step workflow (demo agents, SQLite, fsync);
(b) QSR + MRI latency per step, p50 and p99, on the outputs that run produced;
(c) the same three-step workflow with trivial agents in LangGraph, with its in-memory saver and
    with its SQLite saver, as the peer.

Run:  pip install -e ".[bench]" && python bench/bench_engine.py --tasks 10000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.app import Maestro
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.engine.bridge import input_text
from maestro_helix.helix.base import EvaluationRequest, RiskRequest
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.store.base import RunStatus

HERE = Path(__file__).parent


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
        t0 = time.perf_counter()
        ids = await m.engine.submit_many(defn, tasks)
        results = [await m.engine.wait(i) for i in ids]
        elapsed = time.perf_counter() - t0
        report = await m.verify_audit()
        steps = await m.store.count("steps")
    done = sum(r.status in (RunStatus.COMPLETED, RunStatus.ESCALATED) for r in results)
    assert done == n and report.ok
    return {
        "tasks": n,
        "elapsed_s": elapsed,
        "tasks_per_min": n / elapsed * 60,
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


# -- (c) LangGraph ------------------------------------------------------------------------------


class _State(TypedDict, total=False):
    topic: str
    findings: str
    analysis: str
    summary: str


def _graph(checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    def research(s: _State) -> _State:
        return {"findings": f"findings on {s['topic']}"}

    def analysis(s: _State) -> _State:
        return {"analysis": f"analysis of {s['findings']}"}

    def synthesis(s: _State) -> _State:
        return {"summary": f"summary: {s['analysis']}"}

    g = StateGraph(_State)
    g.add_node("research", research)
    g.add_node("analysis", analysis)
    g.add_node("synthesis", synthesis)
    g.add_edge(START, "research")
    g.add_edge("research", "analysis")
    g.add_edge("analysis", "synthesis")
    g.add_edge("synthesis", END)
    return g.compile(checkpointer=checkpointer)


def run_langgraph(n: int, saver: str, tmp: Path) -> dict[str, Any]:
    tasks = demo_tasks(n)
    if saver == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        graph = _graph(InMemorySaver())
        conn = None
    else:
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(tmp / "langgraph.db", check_same_thread=False)
        graph = _graph(SqliteSaver(conn))
    t0 = time.perf_counter()
    for i, t in enumerate(tasks):
        out = graph.invoke({"topic": t["topic"]}, {"configurable": {"thread_id": f"t{i}"}})
        assert out["summary"]
    elapsed = time.perf_counter() - t0
    if conn is not None:
        conn.close()
    return {"tasks": n, "elapsed_s": elapsed, "tasks_per_min": n / elapsed * 60}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument(
        "--peer-tasks",
        type=int,
        default=None,
        help="tasks for each LangGraph run (default: same as --tasks)",
    )
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--section", default="engine")
    args = ap.parse_args()
    peer_n = args.peer_tasks or args.tasks

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"(a) maestro: {args.tasks} tasks, SQLite synchronous=FULL ...", flush=True)
        ours = asyncio.run(run_ours(args.tasks, tmp / "bench.db", args.concurrency, "full"))
        print(f"    {ours['tasks_per_min']:,.0f} tasks/min", flush=True)
        print("(b) QSR + MRI latency ...", flush=True)
        lat = asyncio.run(evaluator_latency(tmp / "bench.db"))
        print(f"    p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms", flush=True)
        print(f"(c) LangGraph in-memory saver: {peer_n} tasks ...", flush=True)
        lg_mem = run_langgraph(peer_n, "memory", tmp)
        print(f"    {lg_mem['tasks_per_min']:,.0f} tasks/min", flush=True)
        print(f"(c) LangGraph SQLite saver: {peer_n} tasks ...", flush=True)
        lg_sql = run_langgraph(peer_n, "sqlite", tmp)
        print(f"    {lg_sql['tasks_per_min']:,.0f} tasks/min", flush=True)

    import importlib.metadata as md

    r_sql = ours["tasks_per_min"] / lg_sql["tasks_per_min"]
    r_mem = ours["tasks_per_min"] / lg_mem["tasks_per_min"]
    lines = [
        f"## {args.section}: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (commit {git_rev()})",
        "",
        f"- machine: {machine()}",
        f"- command: `python bench/bench_engine.py --tasks {args.tasks}"
        + (f" --peer-tasks {peer_n}" if peer_n != args.tasks else "")
        + f" --concurrency {args.concurrency}`",
        f"- peer: langgraph {md.version('langgraph')}, "
        f"langgraph-checkpoint-sqlite {md.version('langgraph-checkpoint-sqlite')}",
        "",
        "| measurement | figure | target |",
        "|---|---|---|",
        f"| (a) gated, audited, durable 3-step workflow, {ours['tasks']} tasks "
        f"({ours['step_attempts']} step attempts, {ours['retries']} retries, "
        f"{ours['escalated']} escalations, {ours['audit_entries']} audit entries; SQLite WAL, "
        f"synchronous=FULL) | **{ours['tasks_per_min']:,.0f} tasks/min** "
        f"({ours['elapsed_s']:.2f} s) | ≥ 60,000 |",
        f"| (b) QSR + MRI per step, {lat['n']} real step outputs | p50 {lat['p50_ms']:.3f} ms, "
        f"**p99 {lat['p99_ms']:.3f} ms** (max {lat['max_ms']:.2f}) | p99 ≤ 2 ms |",
        f"| (c) LangGraph, trivial agents, InMemorySaver, {lg_mem['tasks']} tasks | "
        f"{lg_mem['tasks_per_min']:,.0f} tasks/min | — |",
        f"| (c) LangGraph, trivial agents, SqliteSaver, {lg_sql['tasks']} tasks | "
        f"{lg_sql['tasks_per_min']:,.0f} tasks/min | — |",
        f"| ratio ours / LangGraph SqliteSaver | **{r_sql:.1f}×** | ≥ 10× |",
        f"| ratio ours / LangGraph InMemorySaver | **{r_mem:.1f}×** | ≥ 2.5× |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    existing = args.out.read_text() if args.out.exists() else "# Benchmark results\n\n"
    args.out.write_text(existing.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    sys.exit(main())
