"""How well the QSR tells good answers from bad ones, on the labelled set in bench/data/.

Reports, per split (``dev`` was used to tune the criteria; ``test`` has unseen topics and unseen
failure wordings): ROC AUC good-vs-bad overall and per failure kind, the share of each bad kind
that passes the default gate (QSR >= 0.7) and the share of good answers that fail it; then the
per-step latency of the built-in QSR + MRI over the set.

Usage::

    python bench/bench_quality.py                 # lexical relevance (the default)
    python bench/bench_quality.py --embedding     # the optional embedding scorer (extra)
    python bench/bench_quality.py --show 5        # also print the worst misses per kind
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import QualityScore
from maestro_helix.core.workflow import Expectations
from maestro_helix.helix.base import EvaluationRequest, RiskRequest
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.risk import RiskAssessor
from maestro_helix.helix.text import RelevanceScorer

DATA = Path(__file__).parent / "data" / "quality_set.jsonl"
GATE = 0.7


def auc(pos: list[float], neg: list[float]) -> float:
    """ROC AUC = P(score(good) > score(bad)), ties counted half (Mann-Whitney)."""
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n1, n0 = len(pos), len(neg)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def request(row: dict[str, Any]) -> EvaluationRequest:
    return EvaluationRequest(
        step_id="answer",
        task=row["task"],
        input={},
        input_text=row["input_text"],
        output=AgentOutput(text=row["output"]),
        expect=Expectations(),
    )


def score_rows(ev: QSREvaluator, rows: list[dict[str, Any]]) -> list[QualityScore]:
    out = []
    for r in rows:
        q = ev.evaluate(request(r))
        assert isinstance(q, QualityScore), q
        out.append(q)
    return out


def report(rows: list[dict[str, Any]], scores: list[QualityScore], show: int) -> dict[str, Any]:
    by_kind: dict[str, list[tuple[float, dict[str, Any], QualityScore]]] = defaultdict(list)
    for r, q in zip(rows, scores, strict=True):
        by_kind[r["kind"]].append((q.score, r, q))
    good = [s for s, _, _ in by_kind["good"]]
    bad = [s for k, v in by_kind.items() if k != "good" for s, _, _ in v]
    res: dict[str, Any] = {
        "n": len(rows),
        "auc": auc(good, bad),
        "good_fail": sum(s < GATE for s in good) / len(good),
        "bad_pass": sum(s >= GATE for s in bad) / len(bad),
        "kinds": {},
    }
    for kind, v in sorted(by_kind.items()):
        if kind == "good":
            continue
        ks = [s for s, _, _ in v]
        res["kinds"][kind] = {
            "n": len(ks),
            "auc": auc(good, ks),
            "pass": sum(s >= GATE for s in ks) / len(ks),
        }
    if show:
        for kind, v in sorted(by_kind.items()):
            worst = sorted(v, key=lambda t: t[0], reverse=kind != "good")[:show]
            for s, r, q in worst:
                if (kind == "good") == (s >= GATE):
                    continue
                crit = ", ".join(f"{c.name}={c.score:.2f}" for c in q.criteria)
                print(
                    f"  [{kind}] {s:.2f} {crit}\n     task: {r['task'][:90]}"
                    f"\n     out:  {r['output'][:160]!r}"
                )
    return res


def latency(ev: QSREvaluator, rows: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of QSR + MRI per step: wall clock, CPU time of this thread (what the
    scoring itself costs), and the best of three runs of each step (the cost without the
    cache and frequency effects of other processes on a shared machine)."""
    risk = RiskAssessor()
    wall: list[float] = []
    cpu: list[float] = []
    best: list[float] = []
    for r in rows:
        req = request(r)
        rreq = RiskRequest(
            step_id="answer", input_text=r["input_text"] or r["task"], output=req.output
        )
        runs = []
        for i in range(3):
            t0, c0 = time.perf_counter(), time.thread_time()
            ev.evaluate(req)
            risk.assess(rreq)
            runs.append(time.thread_time() - c0)
            if i == 0:
                wall.append(time.perf_counter() - t0)
        cpu.append(runs[0])
        best.append(min(runs))
    out = {}
    for name, v in (("wall clock", wall), ("CPU time", cpu), ("CPU time, best of 3", best)):
        v.sort()
        out[name] = (statistics.median(v) * 1e3, v[int(0.99 * (len(v) - 1))] * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedding", action="store_true", help="use the embedding relevance extra")
    ap.add_argument("--show", type=int, default=0, help="print this many misses per kind")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="all")
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    relevance: RelevanceScorer | None = None
    if args.embedding:
        from maestro_helix.helix.embedding import EmbeddingRelevance

        relevance = EmbeddingRelevance()
    ev = QSREvaluator(relevance=relevance)
    splits = ("dev", "test") if args.split == "all" else (args.split,)
    for split in splits:
        part = [r for r in rows if r["split"] == split]
        res = report(part, score_rows(ev, part), args.show)
        print(
            f"\n== {split}: {res['n']} rows  AUC {res['auc']:.3f}"
            f"  good failing {res['good_fail']:.1%}"
            f"  bad passing {res['bad_pass']:.1%}"
        )
        print(f"{'kind':<14} {'n':>4} {'AUC':>6} {'passes gate':>12}")
        for kind, k in res["kinds"].items():
            print(f"{kind:<14} {k['n']:>4} {k['auc']:>6.3f} {k['pass']:>12.1%}")
    sample = rows[::8] if args.embedding else rows  # the embedding extra is slow: a sample
    for _ in range(1 if args.embedding else 2):  # warm caches, then measure
        figures = latency(ev, sample)
    for name, (p50, p99) in figures.items():
        print(
            f"QSR + MRI per step over {len(rows)} rows, {name}: p50 {p50:.3f} ms, p99 {p99:.3f} ms"
        )


if __name__ == "__main__":
    main()
