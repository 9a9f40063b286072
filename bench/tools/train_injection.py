"""Train the learned layer of the injection detector; write its coefficients as JSON.

Training rows: the ``train`` splits of bench/data/injection_set.jsonl (make_injection_set.py)
and bench/data/injection_compose.jsonl (injection_compose.py). Validation rows: their ``test``
and ``val`` splits, whose phrasings are the other half of every list. The features are the ones
the detector uses at run time: :func:`~maestro_helix.helix.injection.model.text_buckets` of the
normalised text plus its :func:`~maestro_helix.helix.injection.model.structure_features` (the
rule categories that fired, role lines, template tokens). An L2-regularised logistic regression
(scikit-learn, needed here only, never at run time) is fitted on ``train``, first on whole texts
and then, as the run-time model scores a text by its highest window, on windows: each attack's
most suspicious window and each benign text's few most suspicious ones (multiple-instance
learning, ``--rounds``), so a carrier's words are not learned as evidence; the threshold is the
lowest score that keeps the false-positive rate at or below ``--max-fpr`` on the validation
rows' benign texts, scored by the run-time model (pruned, max over windows). The held-out
evaluation split (bench/data/injection_heldout.jsonl) is never read.

Usage::

    pip install scikit-learn==1.9.1
    python bench/data/injection_compose.py && python bench/tools/train_injection.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from maestro_helix.helix.injection.model import (
    BUCKETS,
    FORMAT,
    LearnedModel,
    structure_buckets,
    structure_features,
    text_buckets,
    window_buckets,
)
from maestro_helix.helix.injection.normalise import normalise
from maestro_helix.helix.injection.rules import rule_hits

ROOT = Path(__file__).resolve().parents[2]
DATA = (
    ROOT / "bench" / "data" / "injection_set.jsonl",
    ROOT / "bench" / "data" / "injection_compose.jsonl",
)
OUT = ROOT / "src" / "maestro_helix" / "helix" / "data" / "injection_model.json"


def prepared(text: str) -> tuple[str, list[str]]:
    """The normalised text and its structure features, as :func:`detect` computes them."""
    low = normalise(text)
    return low, structure_features(low, list(rule_hits(low)))


def matrix(feature_sets: list[set[int]]) -> csr_matrix:
    rows, cols = [], []
    for i, f in enumerate(feature_sets):
        rows.extend([i] * len(f))
        cols.extend(sorted(f))
    data = np.ones(len(rows), dtype=np.float32)
    return csr_matrix((data, (rows, cols)), shape=(len(feature_sets), BUCKETS))


def _fit(x: csr_matrix, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    clf = LogisticRegression(C=c, max_iter=4000, class_weight="balanced")
    clf.fit(x, y)
    return clf.coef_[0], float(clf.intercept_[0])


def window_examples(
    items: list[tuple[str, list[str]]], labels: list[int], coef: np.ndarray, negatives: int
) -> tuple[list[set[int]], list[int]]:
    """Multiple-instance examples: the run-time model scores the highest window of a text, so an
    attack teaches through its most suspicious window (not its carrier's words) and a benign
    text through its ``negatives`` most suspicious windows."""
    out: list[set[int]] = []
    ys: list[int] = []
    for (low, structure), label in zip(items, labels, strict=True):
        extra = structure_buckets(structure)
        wins = [w | extra for w in window_buckets(low)]
        wins.sort(key=lambda w: -sum(coef[b] for b in w))
        for w in wins[: 1 if label else negatives]:
            out.append(w)
            ys.append(label)
    return out, ys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=0.5, help="inverse regularisation strength")
    ap.add_argument("--max-fpr", type=float, default=0.01, help="on the validation benign rows")
    ap.add_argument("--prune", type=float, default=0.02, help="drop |weight| below this")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of window (MIL) training")
    ap.add_argument("--negatives", type=int, default=3, help="windows per benign text")
    ap.add_argument(
        "--rule-threshold",
        type=float,
        default=0.25,
        help="a text a rule flags is reported when the model gives it at least this",
    )
    args = ap.parse_args()
    rows = [json.loads(x) for path in DATA for x in path.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] in ("test", "val")]
    items = [prepared(r["text"]) for r in train]
    labels = [r["label"] for r in train]
    # first on whole texts, then (--rounds times) on each text's most suspicious windows
    coef, bias = _fit(
        matrix([text_buckets(low) | structure_buckets(st) for low, st in items]),
        np.array(labels),
        args.c,
    )
    for _ in range(args.rounds):
        sets, ys = window_examples(items, labels, coef, args.negatives)
        coef, bias = _fit(matrix(sets), np.array(ys), args.c)
    keep = {int(i): round(float(coef[i]), 4) for i in np.nonzero(np.abs(coef) >= args.prune)[0]}
    model = LearnedModel(keep, bias, 0.5, "candidate")
    scored = [(model.probability(*prepared(r["text"])), r["label"]) for r in val]
    benign = sorted((p for p, lab in scored if lab == 0), reverse=True)
    k = int(args.max_fpr * len(benign))
    threshold = max(0.5, benign[k] + 1e-6) if benign else 0.5
    attacks = [p for p, lab in scored if lab == 1]
    recall = sum(p >= threshold for p in attacks) / len(attacks)
    fpr = sum(p >= threshold for p in benign) / len(benign)
    OUT.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "version": "inj-lr-3",
                "buckets": BUCKETS,
                "bias": round(bias, 4),
                "threshold": round(threshold, 4),
                "rule_threshold": args.rule_threshold,
                "trained_on": "bench/data/injection_set.jsonl + injection_compose.jsonl "
                f"split=train ({len(train)} rows), C={args.c}, prune={args.prune}; threshold at "
                f"{args.max_fpr:.1%} FPR on split=test/val ({len(val)} rows)",
                "weights": {str(k): v for k, v in sorted(keep.items())},
            },
            separators=(",", ":"),
        )
        + "\n"
    )
    print(f"{len(keep)} weights kept; threshold {threshold:.3f} (val: recall {recall:.3f}, "
          f"FPR {fpr:.3%} of {len(benign)})")  # fmt: skip
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
