"""Recall and false-positive rate of the offline injection detector, and its latency.

Reads bench/data/injection_set.jsonl (make_injection_set.py). The learned layer was trained on
the ``train`` split only (bench/tools/train_injection.py); the ``test`` split has attack and
benign wordings, persona names and carrier documents that training never saw. Reports recall
per attack family and per obfuscation trick, the false-positive rate per benign family, each for
the rules alone and for rules + model, then p50/p99 per text.

Usage::

    python bench/bench_injection.py            # the generated splits, fresh sets 1-11, latency
    python bench/bench_injection.py --set-12   # fresh set 12 alone (measured once per model)
    python bench/bench_injection.py --set-13   # fresh set 13 alone (round 3, measured once)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from maestro_helix.helix.injection import _remembered, detect

DATA = Path(__file__).parent / "data" / "injection_set.jsonl"


def fresh() -> None:
    """The hand-written set written after the detector was frozen (never tuned on)."""
    sys.path.insert(0, str(DATA.parent))
    import injection_fresh as f

    for label, attacks, benign in (
        ("fresh set 1", f.ATTACKS, f.BENIGN),
        ("fresh set 2", f.ATTACKS_2, f.BENIGN_2),
        ("fresh set 3", f.ATTACKS_3, f.BENIGN_3),
        ("fresh set 4", f.ATTACKS_4, f.BENIGN_4),
        ("fresh set 5", f.ATTACKS_5, f.BENIGN_5),
        ("fresh set 6", f.ATTACKS_6, f.BENIGN_6),
        ("fresh set 7", f.ATTACKS_7, f.BENIGN_7),
        ("fresh set 8", f.ATTACKS_8, f.BENIGN_8),
        ("fresh set 9", f.ATTACKS_9, f.BENIGN_9),
        ("fresh set 10", f.ATTACKS_10, f.BENIGN_10),
        ("fresh set 11", f.ATTACKS_11, f.BENIGN_11),
    ):
        fresh_set(label, attacks, benign)


def fresh_set(label: str, attacks: tuple[str, ...], benign: tuple[str, ...]) -> None:
    for use_model in (False, True):
        tp = [a for a in attacks if detect(a, use_model=use_model).flagged]
        fp = [b for b in benign if detect(b, use_model=use_model).flagged]
        name = "rules + model" if use_model else "rules only"
        recall = f"recall {len(tp) / len(attacks):.3f} ({len(tp)}/{len(attacks)})"
        fpr = f"FPR {len(fp) / len(benign):.3%} ({len(fp)}/{len(benign)})"
        print(f"\n== {label} (hand-written), {name}: {recall}, {fpr}")
        if use_model and label in ("fresh set 1", "fresh set 2"):  # 3-5: counts only
            for a in attacks:
                if a not in tp:
                    print(f"  missed: {a[:90]!r}")
            for b in fp:
                print(f"  false positive: {b[:90]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set-12", action="store_true", help="only fresh set 12 (frozen, run once)")
    ap.add_argument("--set-13", action="store_true", help="only fresh set 13 (frozen, run once)")
    args = ap.parse_args()
    if args.set_12 or args.set_13:
        sys.path.insert(0, str(DATA.parent))
        import injection_fresh as f

        if args.set_12:
            fresh_set("fresh set 12", f.ATTACKS_12, f.BENIGN_12)
        if args.set_13:
            fresh_set("fresh set 13", f.ATTACKS_13, f.BENIGN_13)
        return
    rows = [json.loads(x) for x in DATA.read_text(encoding="utf-8").splitlines()]
    for split in ("train", "test"):
        part = [r for r in rows if r["split"] == split]
        for use_model in (False, True):
            hit: dict[str, list[bool]] = defaultdict(list)
            trick: dict[str, list[bool]] = defaultdict(list)
            for r in part:
                flagged = detect(r["text"], use_model=use_model).flagged
                hit[("attack:" if r["label"] else "benign:") + r["family"]].append(flagged)
                if r["label"]:
                    trick[r["trick"]].append(flagged)
            attacks = [f for k, v in hit.items() if k.startswith("attack:") for f in v]
            benign = [f for k, v in hit.items() if k.startswith("benign:") for f in v]
            name = "rules + model" if use_model else "rules only"
            print(f"\n== {split}, {name}: recall {sum(attacks) / len(attacks):.3f} "
                  f"({sum(attacks)}/{len(attacks)}), FPR {sum(benign) / len(benign):.3%} "
                  f"({sum(benign)}/{len(benign)})")  # fmt: skip
            for k in sorted(hit):
                v = hit[k]
                print(f"  {k:<24} {sum(v):>4}/{len(v):<4} {sum(v) / len(v):.3f}")
            print("  by trick: " + ", ".join(
                f"{k} {sum(v)}/{len(v)}" for k, v in sorted(trick.items())))  # fmt: skip
    fresh()
    texts = [r["text"] for r in rows]
    for t in texts[:200]:
        detect(t)
    _remembered.cache_clear()  # the splits above filled the memo: time the scan, not the memo
    wall, cpu = [], []
    for t in texts:
        t0, c0 = time.perf_counter(), time.thread_time()
        detect(t)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    chars = statistics.median(len(t) for t in texts)
    print(f"\nlatency per text over {len(texts)} texts (median {chars:.0f} chars):")
    for name, v in (("wall clock", wall), ("CPU time", cpu)):
        v.sort()
        p99 = v[int(0.99 * (len(v) - 1))]
        print(f"  {name}: p50 {statistics.median(v) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
