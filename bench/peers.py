"""Peers for bench/bench_engine.py: the same trivial three-step work in LangGraph and DBOS.

Each peer runs in a process of its own (``bench_engine.py`` starts one per peer), so no peer's
imports, threads or registries touch another's figures:

    python bench/peers.py langgraph-memory --tasks 10000 --concurrency 256
    python bench/peers.py langgraph-sqlite --tasks 10000 --concurrency 256 --dir /tmp/x
    python bench/peers.py dbos-sqlite      --tasks 10000 --concurrency 256 --dir /tmp/x
    python bench/peers.py dbos-postgres    --tasks 10000 --concurrency 256 --pg URL

It prints one JSON line: tasks, elapsed_s, tasks_per_min, cpu_s (this process's CPU time while the
tasks ran, every thread), version.

The work is what the issue's table compares against: three steps (research, analysis, synthesis)
that each build a string from the previous one; no scoring, gating or audit. ``concurrency``
workflows are in flight at once on one asyncio loop, as in our engine.

- LangGraph: ``StateGraph`` of three nodes, ``ainvoke`` per task with its own ``thread_id``;
  ``InMemorySaver`` (nothing durable) or ``AsyncSqliteSaver`` (a checkpoint per super-step).
- DBOS Transact: an ``async`` ``@DBOS.workflow`` of three ``async`` ``@DBOS.step`` calls, each
  started with ``DBOS.start_workflow_async`` and awaited through its handle. SQLite: a system
  database file switched to WAL before DBOS opens it (DBOS leaves the journal mode alone),
  synchronous=FULL (SQLite's default, as ours). PostgreSQL: a database of its own
  (``bench_dbos_<pid>``) created on the server given and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypedDict

PG_DEFAULT = os.environ.get("MAESTRO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def topics(n: int) -> list[str]:
    return [f"topic {i}" for i in range(n)]


async def bounded(
    n: int, concurrency: int, one: Callable[[int], Awaitable[str]]
) -> tuple[float, float]:
    """Run ``one(i)`` for i < n with at most ``concurrency`` in flight; the elapsed seconds and
    the process's CPU seconds (every thread) in that time."""
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            out = await one(i)
            assert out.startswith("summary: analysis of findings on topic"), out

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    return time.perf_counter() - t0, time.process_time() - c0


# -- LangGraph ----------------------------------------------------------------------------------


class _State(TypedDict, total=False):
    topic: str
    findings: str
    analysis: str
    summary: str


def _graph(checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    async def research(s: _State) -> _State:
        return {"findings": f"findings on {s['topic']}"}

    async def analysis(s: _State) -> _State:
        return {"analysis": f"analysis of {s['findings']}"}

    async def synthesis(s: _State) -> _State:
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


async def langgraph(n: int, concurrency: int, saver: str, tmp: Path) -> tuple[float, float]:
    ts = topics(n)

    async def run(graph: Any) -> tuple[float, float]:
        async def one(i: int) -> str:
            cfg = {"configurable": {"thread_id": f"t{i}"}}
            out = await graph.ainvoke({"topic": ts[i]}, cfg)
            return str(out["summary"])

        return await bounded(n, concurrency, one)

    if saver == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        return await run(_graph(InMemorySaver()))
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(tmp / "langgraph.db")) as cp:
        return await run(_graph(cp))


# -- DBOS Transact ------------------------------------------------------------------------------


async def dbos(n: int, concurrency: int, url: str) -> tuple[float, float]:
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {"name": "bench-peers", "system_database_url": url, "log_level": "ERROR"}
    DBOS(config=config)

    @DBOS.step()
    async def research(topic: str) -> str:
        return f"findings on {topic}"

    @DBOS.step()
    async def analysis(findings: str) -> str:
        return f"analysis of {findings}"

    @DBOS.step()
    async def synthesis(text: str) -> str:
        return f"summary: {text}"

    @DBOS.workflow()
    async def pipeline(topic: str) -> str:
        return await synthesis(await analysis(await research(topic)))

    DBOS.launch()
    ts = topics(n)
    try:

        async def one(i: int) -> str:
            handle = await DBOS.start_workflow_async(pipeline, ts[i])
            return await handle.get_result()

        return await bounded(n, concurrency, one)
    finally:
        DBOS.destroy(destroy_registry=True)


def _sqlite_wal(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    assert mode == "wal", mode
    return f"sqlite:///{path}"


def _pg_database(base: str, create: bool) -> str:
    """Create (or drop) the database ``bench_dbos_<pid>`` next to ``base``'s; its URL."""
    import psycopg

    name = f"bench_dbos_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        if create:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        else:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "peer", choices=["langgraph-memory", "langgraph-sqlite", "dbos-sqlite", "dbos-postgres"]
    )
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--dir", type=Path, default=Path("."))
    ap.add_argument("--pg", default=PG_DEFAULT, help="a PostgreSQL URL to create the database by")
    args = ap.parse_args()
    if args.peer.startswith("langgraph"):
        saver = args.peer.removeprefix("langgraph-")
        elapsed, cpu = asyncio.run(langgraph(args.tasks, args.concurrency, saver, args.dir))
        version = f"langgraph {md.version('langgraph')}"
        if saver == "sqlite":
            version += f", langgraph-checkpoint-sqlite {md.version('langgraph-checkpoint-sqlite')}"
    elif args.peer == "dbos-sqlite":
        url = _sqlite_wal(args.dir / "dbos.sqlite")
        elapsed, cpu = asyncio.run(dbos(args.tasks, args.concurrency, url))
        version = f"dbos {md.version('dbos')}"
    else:
        url = _pg_database(args.pg, create=True)
        try:
            elapsed, cpu = asyncio.run(dbos(args.tasks, args.concurrency, url))
        finally:
            _pg_database(args.pg, create=False)
        version = f"dbos {md.version('dbos')}"
    print(
        json.dumps(
            {
                "peer": args.peer,
                "tasks": args.tasks,
                "concurrency": args.concurrency,
                "elapsed_s": elapsed,
                "tasks_per_min": args.tasks / elapsed * 60,
                "cpu_s": cpu,
                "version": version,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
