"""Start-up and demo wall time: what a user waits for.

    python bench/bench_startup.py                 # prints a Markdown section
    python bench/bench_startup.py --out FILE.md   # and writes it

Each command runs ``--runs`` times in a fresh process (after one warm-up run, so the file cache is
warm); the table gives the minimum and the median wall time. ``maestro demo`` runs once in a
temporary folder, and its own report (runs, summary, whole process) is set beside the wall
time measured from outside.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c 'import maestro_helix'": [sys.executable, "-c", "import maestro_helix"],
    "maestro --help": [str(BIN / "maestro"), "--help"],
    "maestro --version": [str(BIN / "maestro"), "--version"],
    "maestro runs list --help": [str(BIN / "maestro"), "runs", "list", "--help"],
}


def wall(argv: list[str], cwd: str | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=True)
    return time.perf_counter() - t0, done.stdout


def startup(runs: int) -> list[tuple[str, float, float]]:
    rows = []
    for label, argv in COMMANDS.items():
        wall(argv)  # warm-up
        times = [wall(argv)[0] for _ in range(runs)]
        rows.append((label, min(times), statistics.median(times)))
    return rows


def demo(tasks: int) -> tuple[float, dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="maestro-bench-") as tmp:
        env_cols = {**os.environ, "COLUMNS": "120"}
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "maestro"), "demo", "--tasks", str(tasks), "--db", f"{tmp}/d.db"],
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env_cols,
            check=True,
        )
        outside = time.perf_counter() - t0
    said = {}
    for label in ("wall time (runs)", "summary queries", "wall time (whole process)"):
        m = re.search(rf"{re.escape(label)}\s*│\s*([\d.]+ s)", done.stdout)
        said[label] = m.group(1) if m else "?"
    return outside, said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = startup(args.runs)
    outside, said = demo(args.tasks)
    load = os.getloadavg()[0]
    lines = [
        f"## start-up and demo wall time: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; load average at start {load:.1f}",
        f"- command: `python bench/bench_startup.py --runs {args.runs} --tasks {args.tasks}`",
        "",
        "| command | min | median | target |",
        "|---|---|---|---|",
        *(f"| `{label}` | {lo:.3f} s | {med:.3f} s | ≤ 0.5 s |" for label, lo, med in rows),
        "",
        f"`maestro demo --tasks {args.tasks}`: {outside:.2f} s measured from outside; the demo "
        f"reports runs {said['wall time (runs)']}, summary {said['summary queries']}, whole "
        f"process {said['wall time (whole process)']}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
