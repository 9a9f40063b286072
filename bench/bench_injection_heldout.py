"""Recall and false positives of the injection detector on the held-out, differently-worded split.

Reads bench/data/injection_heldout.jsonl (``injection_heldout.py`` writes it; never used for
training, rules or the threshold). Prints recall per attack family and obfuscation trick, the
false-positive rate per benign family, for the rules alone and for rules + model, and the
latency per text (CPU time, p50/p99, after one warm-up pass; the memo is cleared between).

Usage::

    python bench/bench_injection_heldout.py [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from maestro_helix.helix import injection
from maestro_helix.helix.injection import detect

DATA = Path(__file__).parent / "data" / "injection_heldout.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(x) for x in DATA.read_text(encoding="utf-8").splitlines()]
    for use_model in (False, True):
        hit: dict[str, list[bool]] = defaultdict(list)
        trick: dict[str, list[bool]] = defaultdict(list)
        why: dict[str, int] = defaultdict(int)  # what flagged the benign texts, by decision
        for r in rows:
            found = detect(r["text"], use_model=use_model)
            flagged = found.flagged
            if flagged and not r["label"]:
                why["model alone" if found.markers[-1:] == ("learned",) else "rule (+ model)"] += 1
            hit[("attack:" if r["label"] else "benign:") + r["family"]].append(flagged)
            if r["label"]:
                trick[r["trick"]].append(flagged)
            if args.show_misses and use_model and flagged != bool(r["label"]):
                kind = "MISS" if r["label"] else "FP"
                print(f"  {kind} {r['family']}: {r['text'][:160]!r}")
        att = [f for k, v in hit.items() if k.startswith("attack:") for f in v]
        ben = [f for k, v in hit.items() if k.startswith("benign:") for f in v]
        name = "rules + model" if use_model else "rules only"
        print(f"\n== held-out, {name}: recall {sum(att) / len(att):.3f} ({sum(att)}/{len(att)}), "
              f"FPR {sum(ben) / len(ben):.3%} ({sum(ben)}/{len(ben)})")  # fmt: skip
        for k in sorted(hit):
            v = hit[k]
            print(f"  {k:<32} {sum(v):>4}/{len(v):<4} {sum(v) / len(v):.3f}")
        print("  by trick: " + ", ".join(
            f"{k} {sum(v)}/{len(v)}" for k, v in sorted(trick.items())))  # fmt: skip
        print("  false positives by decision: "
              + ", ".join(f"{k} {v}" for k, v in sorted(why.items())))  # fmt: skip
    texts = [r["text"] for r in rows]
    cpu: list[float] = []
    for _ in range(2):
        injection._remembered.cache_clear()
        cpu = []
        for t in texts:
            c0 = time.thread_time()
            detect(t)
            cpu.append(time.thread_time() - c0)
    cpu.sort()
    p99 = cpu[int(0.99 * (len(cpu) - 1))]
    chars = statistics.median(len(t) for t in texts)
    print(f"\nCPU time per text over {len(texts)} texts (median {chars:.0f} chars): "
          f"p50 {statistics.median(cpu) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
