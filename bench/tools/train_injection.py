"""Train the learned layer of the injection detector; write its coefficients as JSON.

Reads the ``train`` split of bench/data/injection_set.jsonl (make_injection_set.py builds it),
extracts the same hashed features the detector uses at run time
(:func:`maestro_helix.helix.injection.model.text_buckets` on the normalised text), fits an
L2-regularised logistic regression with scikit-learn, keeps the coefficients that matter and
writes src/maestro_helix/helix/data/injection_model.json. The threshold is the lowest score
that keeps the false-positive rate at or below ``--max-fpr`` on the training split's benign rows
*scored out of fold* (``--folds``-fold cross-validation inside ``train``: a model never scores
the rows it was fitted on, so the threshold is not set on memorised texts); the test split is
never read. scikit-learn is needed here only, never at run time.

Usage::

    pip install scikit-learn==1.9.1
    python bench/tools/train_injection.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from maestro_helix.helix.injection.model import BUCKETS, LearnedModel, text_buckets
from maestro_helix.helix.injection.normalise import normalise

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "injection_set.jsonl"
OUT = ROOT / "src" / "maestro_helix" / "helix" / "data" / "injection_model.json"


def text_features(text: str) -> set[int]:
    return text_buckets(normalise(text))


def matrix(texts: list[str]) -> csr_matrix:
    rows, cols = [], []
    for i, t in enumerate(texts):
        f = sorted(text_features(t))
        rows.extend([i] * len(f))
        cols.extend(f)
    data = np.ones(len(rows), dtype=np.float32)
    return csr_matrix((data, (rows, cols)), shape=(len(texts), BUCKETS))


def _fit(x: csr_matrix, y: np.ndarray, c: float, prune: float) -> tuple[dict[int, float], float]:
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    clf.fit(x, y)
    coef = clf.coef_[0]
    keep = {int(i): round(float(coef[i]), 4) for i in np.nonzero(np.abs(coef) >= prune)[0]}
    return keep, float(clf.intercept_[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=0.5, help="inverse regularisation strength")
    ap.add_argument("--max-fpr", type=float, default=0.01)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="use this threshold instead of the out-of-fold one (say where it was chosen)",
    )
    ap.add_argument("--prune", type=float, default=0.02, help="drop |weight| below this")
    args = ap.parse_args()
    rows = [json.loads(x) for x in DATA.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    x = matrix([r["text"] for r in train])
    y = np.array([r["label"] for r in train])
    clf = _fit(x, y, args.c, args.prune)
    keep, bias = clf
    model = LearnedModel(keep, bias, 0.5, "candidate")

    def prob(text: str) -> float:
        return model.probability(normalise(text))

    # Threshold from out-of-fold scores of the benign train rows (the model as it runs: pruned,
    # max over windows).
    order = np.arange(len(train)) % args.folds
    benign: list[float] = []
    for k in range(args.folds):
        fold_keep, fold_bias = _fit(x[order != k], y[order != k], args.c, args.prune)
        fold = LearnedModel(fold_keep, fold_bias, 0.5, "fold")
        benign += [
            fold.probability(normalise(r["text"]))
            for r, o in zip(train, order, strict=True)
            if o == k and r["label"] == 0
        ]
    benign.sort(reverse=True)
    k = int(args.max_fpr * len(benign))
    threshold = max(0.5, benign[k] + 1e-6) if benign else 0.5
    print(f"out-of-fold threshold at {args.max_fpr:.1%} FPR: {threshold:.3f}")
    chosen = "out-of-fold"
    if args.threshold is not None:
        threshold, chosen = args.threshold, "given (--threshold)"
    attacks = [prob(r["text"]) for r in train if r["label"] == 1]
    recall = sum(p >= threshold for p in attacks) / len(attacks)
    OUT.write_text(
        json.dumps(
            {
                "format": "maestro-injection-lr/1",
                "version": "inj-lr-2",
                "buckets": BUCKETS,
                "bias": round(bias, 4),
                "threshold": round(threshold, 4),
                "trained_on": "bench/data/injection_set.jsonl split=train "
                f"({len(train)} rows), C={args.c}, prune={args.prune}, threshold {chosen}",
                "weights": {str(k): v for k, v in sorted(keep.items())},
            },
            separators=(",", ":"),
        )
        + "\n"
    )
    print(f"{len(keep)} weights kept; threshold {threshold:.3f}; train recall {recall:.3f}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
