"""Recall and false positives of the personal-data and secret detectors, and their latency.

Three sets, all generated (no real person's data): the labelled multi-locale corpus of
tests/pii_corpus.py (emails, phones, cards, IBANs, national ids, secrets, and hard negatives
such as dates, order numbers and tracking codes); the EU national ids of tests/pii_corpus_eu.py
(PESEL, personnummer, CPR, Belgian NRN, CNP, rodné číslo, NIF, SVNR, henkilötunnus) with numbers
of the same lengths where no id belongs; and secrets' hard negatives (git SHAs, UUIDs, hashes,
base64 data, test fixtures, request ids).

Usage::

    python bench/bench_pii.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from maestro_helix.helix.pii import scan
from pii_corpus import build_corpus
from pii_corpus_eu import EU_IDS, id_negative, secret_hard_negative


def corpus_figures() -> list[str]:
    positives, negatives = build_corpus()
    by: dict[str, list[bool]] = defaultdict(list)
    for s in positives:
        fams = [("secret" if f.is_secret else f.kind, f.start, f.end) for f in scan(s.text)]
        ok = any(k == s.family and a < s.end and b > s.start for k, a, b in fams)
        by["secret" if s.family == "secret" else "personal data"].append(ok)
    fp = [bool(scan(s.text)) for s in negatives]
    out = []
    for k, v in sorted(by.items()):
        out.append(f"  corpus {k}: recall {sum(v) / len(v):.3f} ({sum(v)}/{len(v)})")
    rate = f"{sum(fp) / len(fp):.3%} ({sum(fp)}/{len(fp)})"
    out.append(f"  corpus hard negatives with a finding: {rate}")
    return out


def eu_figures(r: random.Random) -> list[str]:
    out = []
    hits_all = 0
    total = 0
    for scheme, make, templates in EU_IDS:
        hits = 0
        for _ in range(200):
            v = make(r)
            text = r.choice(templates).format(v=v)
            hits += any(f.scheme == scheme and text[f.start : f.end] == v for f in scan(text))
        out.append(f"  {scheme:<16} recall {hits / 200:.3f}")
        hits_all += hits
        total += 200
    neg = [id_negative(r) for _ in range(2000)]
    fp = sum(bool(scan(t)) for t in neg)
    recall = f"recall {hits_all / total:.3f} ({hits_all}/{total})"
    quiet = f"same-length numbers with a finding {fp / len(neg):.3%} ({fp}/{len(neg)})"
    out.insert(0, f"  EU national ids (right scheme): {recall}; {quiet}")
    return out


def secret_negatives(r: random.Random) -> list[str]:
    neg = [secret_hard_negative(r) for _ in range(3000)]
    flagged = [t for t in neg if any(f.is_secret for f in scan(t))]
    out = [f"  secrets' hard negatives with a secret finding: {len(flagged) / len(neg):.3%} "
           f"({len(flagged)}/{len(neg)})"]  # fmt: skip
    out += [f"    e.g. {t[:80]!r}" for t in flagged[:5]]
    return out


def latency() -> str:
    positives, negatives = build_corpus()
    texts = [s.text for s in positives + negatives]
    cpu = []
    for t in texts:
        c0 = time.thread_time()
        scan(t)
        cpu.append(time.thread_time() - c0)
    cpu.sort()
    return (f"  latency (CPU) over {len(texts)} texts: p50 {statistics.median(cpu) * 1e3:.3f} ms, "
            f"p99 {cpu[int(0.99 * (len(cpu) - 1))] * 1e3:.3f} ms")  # fmt: skip


def main() -> None:
    r = random.Random(20261201)
    for line in [*corpus_figures(), *eu_figures(r), *secret_negatives(r), latency()]:
        print(line)


if __name__ == "__main__":
    main()
