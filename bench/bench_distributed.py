"""Production-path benchmarks, side by side in one run; figures go to bench/RESULTS.md.

(a) tasks/min of the gated three-step workflow on PostgreSQL + NATS JetStream with one and with
    two `maestro worker` processes (same tasks, same machine);
(b) 10,000 tasks in flight at once in one engine on PostgreSQL, with its peak memory.

Needs PostgreSQL (MAESTRO_BENCH_PG, default the local `test` database) and NATS
(MAESTRO_BENCH_NATS, default nats://127.0.0.1:4222).
Run:  python bench/bench_distributed.py --tasks 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import git_rev, machine

from maestro_helix import Maestro
from maestro_helix.agents.demo import demo_actions, demo_agents, demo_tasks, demo_workflow
from maestro_helix.bus.workqueue import JetStreamWorkQueue
from maestro_helix.store.base import RunStatus
from maestro_helix.store.postgres import PostgresStore

PG = os.environ.get("MAESTRO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
NATS = os.environ.get("MAESTRO_BENCH_NATS", "nats://127.0.0.1:4222")


def _schema() -> str:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    return name


def _drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _url(schema: str) -> str:
    return f"{PG}?options=-csearch_path%3D{schema}"


async def _prepare(schema: str) -> None:
    async with PostgresStore(PG, connect_args={"options": f"-c search_path={schema}"}):
        pass


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _pids_named(name: str) -> list[int]:
    """Processes whose command is ``name`` (read from /proc; nothing is signalled)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == name:
                    out.append(int(d.name))
    return out


def _service_cpu() -> dict[str, dict[int, float]]:
    """CPU so far of the shared services' processes: the PostgreSQL server's (one backend per
    connection) and the NATS server's."""
    return {
        "postgres": {p: _cpu_s(p) for p in _pids_named("postgres")},
        "nats": {p: _cpu_s(p) for p in _pids_named("nats-server")},
    }


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots by processes alive at the second (new ones in full)."""
    return sum(v - before.get(p, 0.0) for p, v in after.items())


async def distributed(n: int, workers: int) -> dict[str, Any]:
    schema = _schema()
    ns = f"b{uuid.uuid4().hex[:8]}"
    await _prepare(schema)
    env = dict(os.environ, MAESTRO_NAMESPACE=ns)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "maestro_helix.cli.main",
                "worker",
                "--db",
                _url(schema),
                "--bus",
                NATS,
                "--concurrency",
                "64",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        await asyncio.sleep(3)
        store = PostgresStore(PG, connect_args={"options": f"-c search_path={schema}"})
        async with (
            JetStreamWorkQueue(NATS, namespace=ns) as q,
            Maestro.open(
                store, agents=demo_agents(), action_types=demo_actions(), dispatcher=q, resume=False
            ) as m,
        ):
            defn = await m.engine.register(demo_workflow())
            services0 = _service_cpu()
            workers0 = [_cpu_s(p.pid) for p in procs]
            me0 = time.process_time()
            t0 = time.perf_counter()
            ids = await m.engine.submit_many(defn, demo_tasks(n))
            while True:
                page = await m.store.list_runs(status=RunStatus.RUNNING, limit=1)
                pending = await m.store.list_runs(status=RunStatus.PENDING, limit=1)
                if page.total == 0 and pending.total == 0:
                    break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - t0
            services1 = _service_cpu()
            worker_cpu = sum(_cpu_s(p.pid) - c for p, c in zip(procs, workers0, strict=True))
            submit_cpu = time.process_time() - me0
            report = await m.verify_audit()
        rss = [_peak_rss_kib(p.pid) for p in procs]
        assert report.ok and len(ids) == n, (report, len(ids))
        return {
            "workers": workers,
            "tasks": n,
            "elapsed_s": elapsed,
            "tasks_per_min": n / elapsed * 60,
            "peak_rss_mib": max(rss) / 1024,
            # CPU milliseconds per task, by component (the service times behind the scaling)
            "ms_per_task": {
                "workers": worker_cpu / n * 1e3,
                "postgres": _spent(services0["postgres"], services1["postgres"]) / n * 1e3,
                "nats": _spent(services0["nats"], services1["nats"]) / n * 1e3,
                "submitter": submit_cpu / n * 1e3,
            },
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        _drop(schema)
        import nats

        nc = await nats.connect(NATS)
        for stream in (f"MAESTRO_WORK_{ns}", f"REFLEXIVE_{ns}"):  # the workers' streams
            with contextlib.suppress(Exception):  # cleanup only
                await nc.jetstream().delete_stream(stream)
        await nc.close()


async def in_flight(n: int) -> dict[str, Any]:
    schema = _schema()
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        store = PostgresStore(PG, connect_args={"options": f"-c search_path={schema}"})
        async with Maestro.open(
            store, agents=demo_agents(), action_types=demo_actions(), concurrency=n
        ) as m:
            defn = await m.engine.register(demo_workflow())
            t0 = time.perf_counter()
            ids = await m.engine.submit_many(defn, demo_tasks(n))
            for i in ids:
                await m.engine.wait(i)
            elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "tasks": n,
            "elapsed_s": elapsed,
            "tasks_per_min": n / elapsed * 60,
            "peak_rss_mib": peak / 1024,
            "rss_before_mib": before / 1024,
        }
    finally:
        _drop(schema)


def _service_rows(one: dict[str, Any], two: dict[str, Any]) -> list[str]:
    """CPU per task by component, and what it gives as a ceiling on more cores (every
    component is CPU-bound here: on k cores the pipeline cannot exceed k / total CPU per task)."""
    rows = []
    for r in (one, two):
        ms = r["ms_per_task"]
        total = sum(ms.values())
        parts = ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
        ceiling = ", ".join(f"{k} cores ≈ {k * 60_000 / total:,.0f}" for k in (2, 8, 32))
        rows.append(
            f"| CPU per task, {r['workers']} worker(s): {parts} ms | **{total:.2f} ms** "
            f"(CPU-bound ceiling: {ceiling} tasks/min) | — |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = ap.parse_args()
    one = asyncio.run(distributed(args.tasks, 1))
    print(f"1 worker: {one['tasks_per_min']:,.0f} tasks/min {one['ms_per_task']}", flush=True)
    two = asyncio.run(distributed(args.tasks, 2))
    print(f"2 workers: {two['tasks_per_min']:,.0f} tasks/min {two['ms_per_task']}", flush=True)
    fl = asyncio.run(in_flight(args.in_flight))
    print(f"{fl['tasks']} in flight: peak {fl['peak_rss_mib']:.0f} MiB", flush=True)
    lines = [
        f"## distributed: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (commit {git_rev()})",
        "",
        f"- machine: {machine()}; PostgreSQL and NATS on the same machine",
        f"- command: `python bench/bench_distributed.py --tasks {args.tasks} "
        f"--in-flight {args.in_flight}`",
        "",
        "| measurement | figure | target |",
        "|---|---|---|",
        f"| PostgreSQL + JetStream, 1 worker, {one['tasks']} tasks | "
        f"**{one['tasks_per_min']:,.0f} tasks/min** (worker peak {one['peak_rss_mib']:.0f} MiB)"
        " | ≥ 30,000 |",
        f"| PostgreSQL + JetStream, 2 workers, {two['tasks']} tasks | "
        f"**{two['tasks_per_min']:,.0f} tasks/min** (worker peak {two['peak_rss_mib']:.0f} MiB)"
        " | — |",
        f"| ratio 2 workers / 1 worker | **{two['tasks_per_min'] / one['tasks_per_min']:.2f}×** "
        "| ≥ 1.6× |",
        *_service_rows(one, two),
        f"| {fl['tasks']} tasks in flight at once, one engine on PostgreSQL | "
        f"peak RSS **{fl['peak_rss_mib']:.0f} MiB** ({fl['tasks_per_min']:,.0f} tasks/min) "
        "| < 1 GiB |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    existing = args.out.read_text() if args.out.exists() else "# Benchmark results\n"
    args.out.write_text(existing.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
