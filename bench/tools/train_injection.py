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

With ``--wordllama`` (the unpacked ``wordllama`` wheel, see build_injection_clusters.py) the
model also gets the semantic layer of :mod:`maestro_helix.helix.injection.semantic`: a small
MLP (scikit-learn) is fitted on the mean word embedding of the same windows, its hidden layer's
projection of every word is written to ``helix/data/injection_semantic.json`` (int8), and the
logistic regression is refitted on the n-grams plus the hidden units (more MIL rounds, windows
chosen by the combined score).

Usage::

    pip install scikit-learn==1.9.1
    python bench/data/injection_compose.py && OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 \
        python bench/tools/train_injection.py \
        [--wordllama /tmp/wlpkg/wordllama]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from maestro_helix.helix.injection.model import (
    BUCKETS,
    FORMAT,
    FORMAT_SEMANTIC,
    LearnedModel,
    structure_buckets,
    structure_features,
    text_buckets,
    window_buckets,
    window_semantic,
)
from maestro_helix.helix.injection.normalise import normalise
from maestro_helix.helix.injection.rules import rule_hits
from maestro_helix.helix.injection.semantic import (
    FORMAT as SEM_FORMAT,
)
from maestro_helix.helix.injection.semantic import (
    Semantic,
    encode_table,
    load_semantic,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = (
    ROOT / "bench" / "data" / "injection_set.jsonl",
    ROOT / "bench" / "data" / "injection_compose.jsonl",
)
OUT = ROOT / "src" / "maestro_helix" / "helix" / "data" / "injection_model.json"
SEM_OUT = OUT.with_name("injection_semantic.json")
CLUSTERS = OUT.with_name("injection_clusters.json")
_ALPHA = re.compile(r"[a-z]{2,24}")


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


def word_vectors(root: Path, extra: set[str]) -> tuple[list[str], np.ndarray]:
    """Words (the clusters' vocabulary and ``extra``) and their normalised mean-of-token
    WordLlama embeddings (the same split as build_injection_clusters.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from build_injection_clusters import _embeddings, embed_words

    vocab, table = _embeddings(root)
    words = set(json.loads(CLUSTERS.read_text(encoding="utf-8"))["clusters"]) | extra
    names, vectors = embed_words(words, vocab, table)
    return names, vectors.astype(np.float32)


def chosen_windows(
    items: list[tuple[str, list[str]]],
    labels: list[int],
    score: Scorer,
    negatives: int,
) -> list[tuple[int, int]]:
    """(item, window) pairs: each attack's most suspicious window, each benign text's
    ``negatives`` most suspicious ones (by ``score``)."""
    out = []
    for i, label in enumerate(labels):
        scores = score(i)
        order = sorted(range(len(scores)), key=lambda j: -scores[j])
        out.extend((i, j) for j in order[: 1 if label else negatives])
    return out


class Scorer:
    """Window scores of the training items under (sparse coef, dense weights)."""

    def __init__(self, sparse: list[list[set[int]]], dense: list[list[list[float]]] | None):
        self.sparse, self.dense = sparse, dense
        self.coef = np.zeros(BUCKETS)
        self.dense_w = np.zeros(0)

    def __call__(self, i: int) -> list[float]:
        out = [float(sum(self.coef[b] for b in w)) for w in self.sparse[i]]
        if self.dense is not None and len(self.dense_w):
            dense = self.dense[i]
            out = [o + float(np.dot(self.dense_w, h)) for o, h in zip(out, dense, strict=True)]
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c", type=float, default=0.5, help="inverse regularisation strength")
    ap.add_argument("--max-fpr", type=float, default=0.01, help="on the validation benign rows")
    ap.add_argument("--prune", type=float, default=0.02, help="drop |weight| below this")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of window (MIL) training")
    ap.add_argument("--negatives", type=int, default=3, help="windows per benign text")
    ap.add_argument("--wordllama", type=Path, help="unpacked wordllama package: semantic layer")
    ap.add_argument("--hidden", type=int, default=32, help="semantic hidden units")
    ap.add_argument("--mlp-alpha", type=float, default=1e-3, help="MLP L2 penalty")
    ap.add_argument(
        "--rule-threshold",
        type=float,
        default=0.35,
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
    dense_w: list[float] = []
    if args.wordllama:
        coef, bias, dense_w = semantic_layer(args, rows, items, labels, coef)
    keep = {int(i): round(float(coef[i]), 4) for i in np.nonzero(np.abs(coef) >= args.prune)[0]}
    weights = tuple(round(float(a), 4) for a in dense_w)
    model = LearnedModel(keep, bias, 0.5, "candidate", semantic=weights)
    scored = [(model.probability(*prepared(r["text"])), r["label"]) for r in val]
    benign = sorted((p for p, lab in scored if lab == 0), reverse=True)
    k = int(args.max_fpr * len(benign))
    threshold = max(0.5, benign[k] + 1e-6) if benign else 0.5
    attacks = [p for p, lab in scored if lab == 1]
    recall = sum(p >= threshold for p in attacks) / len(attacks)
    fpr = sum(p >= threshold for p in benign) / len(benign)
    out = {
        "format": FORMAT_SEMANTIC if weights else FORMAT,
        "version": "inj-lr-5" if weights else "inj-lr-4",
        "buckets": BUCKETS,
        "bias": round(bias, 4),
        "threshold": round(threshold, 4),
        "rule_threshold": args.rule_threshold,
        "trained_on": "bench/data/injection_set.jsonl + injection_compose.jsonl "
        f"split=train ({len(train)} rows), C={args.c}, prune={args.prune}; threshold at "
        f"{args.max_fpr:.1%} FPR on split=test/val ({len(val)} rows)",
    }
    if weights:
        out["semantic"] = list(weights)
    out["weights"] = {str(k): v for k, v in sorted(keep.items())}
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"{len(keep)} weights kept; threshold {threshold:.3f} (val: recall {recall:.3f}, "
          f"FPR {fpr:.3%} of {len(benign)})")  # fmt: skip
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


def semantic_layer(
    args: argparse.Namespace,
    rows: list[dict],
    items: list[tuple[str, list[str]]],
    labels: list[int],
    coef: np.ndarray,
) -> tuple[np.ndarray, float, list[float]]:
    """Fit the MLP on mean word embeddings of the windows the n-gram model chose, write its
    projected word table, and refit the logistic regression on n-grams + hidden units."""
    extra: set[str] = set()
    for r in rows:
        extra.update(_ALPHA.findall(r["text"].lower()))
    names, vec = word_vectors(args.wordllama, extra)
    index = {w: i for i, w in enumerate(names)}
    sparse = [[w | structure_buckets(st) for w in window_buckets(low)] for low, st in items]
    scorer = Scorer(sparse, None)
    scorer.coef = coef
    picked = chosen_windows(items, labels, scorer, args.negatives)
    spans = [_spans_of(low) for low, _ in items]
    x = np.zeros((len(picked), vec.shape[1]), dtype=np.float32)
    for row, (i, j) in enumerate(picked):
        a, b, words = spans[i][j]
        ids = [index[w] for w in words[a:b] if w in index]
        if ids:
            x[row] = vec[ids].mean(axis=0)
    y = np.array([labels[i] for i, _ in picked])
    mlp = MLPClassifier(
        hidden_layer_sizes=(args.hidden,), alpha=args.mlp_alpha, max_iter=60,
        early_stopping=True, random_state=0, batch_size=256,
    )  # fmt: skip
    mlp.fit(x, y)
    print(f"MLP on {len(y)} windows: train accuracy {mlp.score(x, y):.3f}")
    proj = vec @ mlp.coefs_[0]  # words × hidden
    scale = np.maximum(np.abs(proj).max(axis=0), 1e-6) / 127.0
    q = np.clip(np.rint(proj / scale), -127, 127).astype(int)
    SEM_OUT.write_text(
        json.dumps(
            {
                "format": SEM_FORMAT,
                "source": "mean of WordLlama l2_supercat_256 token embeddings per word "
                "(wordllama 0.4.0.post1 on PyPI, MIT licence, Copyright (c) 2024 Lee Miller), "
                f"projected by the first layer of an MLP ({args.hidden} ReLU units) trained by "
                "bench/tools/train_injection.py",
                "words": names,
                "scale": [float(f"{s:.6g}") for s in scale],
                "bias": [round(float(b), 5) for b in mlp.intercepts_[0]],
                "table": encode_table(q.tolist()),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        + "\n"
    )
    print(f"wrote {SEM_OUT} ({SEM_OUT.stat().st_size / 1024:.0f} KiB, {len(names)} words)")
    load_semantic.cache_clear()
    sem = load_semantic()
    assert isinstance(sem, Semantic)
    dense = [window_semantic(low, sem) for low, _ in items]
    scorer = Scorer(sparse, dense)
    scorer.coef = coef
    bias = 0.0
    dense_w = np.zeros(args.hidden)
    for _ in range(args.rounds):
        picked = chosen_windows(items, labels, scorer, args.negatives)
        xs = matrix([sparse[i][j] for i, j in picked])
        xd = csr_matrix(np.array([dense[i][j] for i, j in picked], dtype=np.float32))
        ys = np.array([labels[i] for i, _ in picked])
        full, bias = _fit(hstack([xs, xd]).tocsr(), ys, args.c)
        coef, dense_w = full[:BUCKETS], full[BUCKETS:]
        scorer.coef, scorer.dense_w = coef, dense_w
    print("semantic weights:", np.round(dense_w, 2).tolist())
    return coef, bias, [float(a) for a in dense_w]


def _spans_of(low: str) -> list[tuple[int, int, list[str]]]:
    from maestro_helix.helix.injection.model import _WORD, _spans

    words = _WORD.findall(low)
    return [(a, b, words) for a, b in _spans(len(words))] or [(0, 0, words)]


if __name__ == "__main__":
    main()
