"""Does leasing slow the embedded pipeline? And what does a second engine process on the same
SQLite file add? Measured side by side in one run; figures appended to bench/RESULTS.md.

- before/after: the same probe (bench/_throughput_probe.py) against the code before leases
  (a git worktree of BEFORE) and the working tree, alternated A B A B … so both see the same
  machine load; the median of each.
- one vs two processes: one process with N runs against two processes with N/2 runs each on one
  SQLite file, started together; throughput = all runs / wall time until both finished.

Run:  python bench/bench_leases.py --tasks 4000 --rounds 3
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).parent
ROOT = HERE.parent
PROBE = HERE / "_throughput_probe.py"
BEFORE = "9855f9d"  # main before "One engine, many processes"
LEASES_ONLY = "4f716be"  # leases, claims and attempts in, before the scoring/governance merges


def _tree_at(tmp: Path, rev: str) -> Path:
    wt = tmp / rev
    subprocess.run(["git", "worktree", "add", "--detach", str(wt), rev], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    return wt


def _probe(src: Path, n: int, db: str | None = None) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    args = [sys.executable, str(PROBE), str(n)] + ([db] if db else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    return float(got["tasks"]) / float(got["seconds"]) * 60


def _two_processes(src: Path, n: int, tmp: Path) -> float:
    db = str(tmp / f"two-{time.monotonic_ns()}.db")
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(PROBE), str(n // 2), db],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.communicate()
        assert p.returncode == 0
    return n / (time.perf_counter() - t0) * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    before = _tree_at(tmp, BEFORE)
    leased = _tree_at(tmp, LEASES_ONLY)
    try:
        a, lo, b, one, two = [], [], [], [], []
        for _ in range(args.rounds):
            a.append(_probe(before / "src", args.tasks))
            lo.append(_probe(leased / "src", args.tasks))
            b.append(_probe(ROOT / "src", args.tasks))
            one.append(_probe(ROOT / "src", args.tasks, str(tmp / f"one-{len(one)}.db")))
            two.append(_two_processes(ROOT / "src", args.tasks, tmp))
    finally:
        for wt in (before, leased):
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT,
                           capture_output=True)  # fmt: skip
    med = statistics.median
    lines = [
        "",
        f"## Leases: before/after and one vs two engine processes ({dt.date.today()})",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; shared with other sessions (noisy: read ratios).",
        f"Command: `python bench/bench_leases.py --tasks {args.tasks} --rounds {args.rounds}`"
        " (3-step demo workflow, full pipeline, SQLite with fsync, 256 runs in flight).",
        "",
        "| measurement | tasks/min (median) | rounds |",
        "|---|---|---|",
        f"| before leases ({BEFORE}), one process | {med(a):,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in a)} |",
        f"| leases only ({LEASES_ONLY}), one process | {med(lo):,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in lo)} |",
        f"| this tree (leases + everything merged since), one process | {med(b):,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in b)} |",
        f"| with leases, one process, {args.tasks} runs | {med(one):,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in one)} |",
        f"| with leases, two processes on one file, {args.tasks // 2} runs each | "
        f"{med(two):,.0f} | {', '.join(f'{x:,.0f}' for x in two)} |",
        "",
        f"Leasing alone (leases only / before): **{med(lo) / med(a):.2f}×**. This tree / "
        f"before: **{med(b) / med(a):.2f}×** (includes the scoring and governance work merged "
        "since). Two processes / one: "
        f"**{med(two) / med(one):.2f}×**.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with args.out.open("a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
