"""CPU per task of the embedded pipeline, per thread (event loop, SQLite writer, the rest).

    python bench/bench_cpu.py --tasks 2000
    PYTHONPATH=/path/to/other/src python bench/bench_cpu.py --tasks 2000   # another tree

Runs bench_engine's (a) — the demo's 3-step workflow, full pipeline, SQLite with fsync — and
reads every thread's CPU time from ``/proc/self/task/*/stat`` while it runs (Linux only;
the event loop's CPU from before the run, imports, is left out; the store is opened in the run). CPU
time is steadier than wall time on a shared machine; compare trees in the same sitting,
alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import tempfile
import threading
import time
from pathlib import Path

from bench_engine import run_ours

import maestro_helix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=256)
    args = ap.parse_args()
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[str, tuple[str, float]] = {}
    stop = threading.Event()
    main_before = time.thread_time()  # imports done: only the run is counted

    def sample() -> None:
        while not stop.is_set():
            names = {str(t.native_id): t.name for t in threading.enumerate()}
            for tid in os.listdir("/proc/self/task"):
                try:
                    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                name = names.get(tid) or seen.get(tid, ("other", 0.0))[0]
                group = "event loop" if name == "MainThread" else name.rstrip("0123456789-_")
                if "writer" in name:
                    group = "store writer"
                seen[tid] = (group, (int(fields[11]) + int(fields[12])) / tick)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as d:
        r = asyncio.run(run_ours(args.tasks, Path(d) / "b.db", args.concurrency, "full"))
    stop.set()
    sampler.join()
    by: dict[str, float] = collections.defaultdict(float)
    for group, cpu in seen.values():
        by[group] += cpu
    by["event loop"] -= main_before
    n = args.tasks
    print(f"tree: {Path(maestro_helix.__file__).parent}")
    print(
        f"{n} tasks: {r['tasks_per_min']:,.0f} tasks/min ({r['elapsed_s']:.2f} s), "
        f"{r['cpu_s'] / n * 1000:.2f} ms CPU per task; load average {os.getloadavg()[0]:.1f}"
    )
    for group, cpu in sorted(by.items(), key=lambda kv: -kv[1]):
        if cpu / n * 1000 >= 0.005:
            print(f"  {group}: {cpu / n * 1000:.2f} ms per task")


if __name__ == "__main__":
    main()
