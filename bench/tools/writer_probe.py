"""What the embedded store's writer does per task: transactions, statements, operations by kind.

    python bench/tools/writer_probe.py --tasks 2000
    PYTHONPATH=/path/to/other/src python bench/tools/writer_probe.py --tasks 2000

Runs bench_engine's (a) (the demo's 3-step workflow, full pipeline, SQLite with fsync) on a
store whose SQLite connections count what reaches the driver: ``BEGIN`` = one transaction, every
other ``execute``/``executemany`` call one statement (an ``executemany`` of many rows is one),
per thread; and the operations queued to the writer, by kind. The counting itself costs CPU:
read CPU figures from ``bench/bench_cpu.py``, not from here.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from maestro_helix.agents.demo import (
    demo_actions,
    demo_agents,
    demo_tasks,
    demo_workflow,
)
from maestro_helix.app import Maestro
from maestro_helix.store.sqlite import SQLiteStore

COUNTS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()
BY_STATEMENT = False


def _count(sql: str) -> None:
    who = threading.current_thread().name
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    key = "transactions" if head == "BEGIN" else "statements"
    if head in ("COMMIT", "ROLLBACK"):
        key = head.lower()
    with _LOCK:
        COUNTS[f"{who.rstrip('0123456789_-')}: {key}"] += 1
        if BY_STATEMENT and "writer" in who:
            COUNTS[f"  sql: {' '.join(sql.split())[:70]}"] += 1


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, *a: Any) -> Any:
        _count(sql)
        return super().execute(sql, *a)

    def executemany(self, sql: str, *a: Any) -> Any:
        _count(sql)
        return super().executemany(sql, *a)


class _Conn(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, *a: Any) -> Any:
        return self.cursor().execute(sql, *a)

    def executemany(self, sql: str, *a: Any) -> Any:
        return self.cursor().executemany(sql, *a)

    def commit(self) -> None:
        if self.in_transaction:
            _count("COMMIT")
        super().commit()


class CountingStore(SQLiteStore):
    def _make_engine(self) -> Engine:
        engine = super()._make_engine()

        @event.listens_for(engine, "do_connect")
        def _factory(_d: Any, _r: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = _Conn

        return engine

    def _submit(self, op: Any) -> Any:
        kind = next(
            (k for k in ("commit", "new_runs", "audit", "finish") if getattr(op, k) is not None),
            None,
        )
        if kind is None:
            name = getattr(op.fn, "__qualname__", "fn").split(".")
            kind = name[1] if len(name) > 1 else name[0]
        COUNTS[f"op: {kind}"] += 1
        return super()._submit(op)


async def run(n: int, db: Path, concurrency: int) -> float:
    store = CountingStore(db)
    async with Maestro.open(
        store, agents=demo_agents(), action_types=demo_actions(), concurrency=concurrency
    ) as m:
        defn = await m.engine.register(demo_workflow())
        COUNTS.clear()
        t0 = time.perf_counter()
        ids = await m.engine.submit_many(defn, demo_tasks(n))
        for i in ids:
            await m.engine.wait(i)
        elapsed = time.perf_counter() - t0
        ok = (await m.verify_audit()).ok
    assert ok
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--by-statement", action="store_true", help="count each statement text")
    args = ap.parse_args()
    global BY_STATEMENT
    BY_STATEMENT = args.by_statement
    with tempfile.TemporaryDirectory() as d:
        elapsed = asyncio.run(run(args.tasks, Path(d) / "p.db", args.concurrency))
    n = args.tasks
    print(f"{n} tasks in {elapsed:.1f} s (counting on)")
    for key, v in sorted(COUNTS.items()):
        print(f"  {key}: {v} ({v / n:.2f} per task)")


if __name__ == "__main__":
    main()
