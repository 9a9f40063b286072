"""PredictiveRiskManager, the training half: read the recorded step history, fit the model with
scikit-learn (the ``train`` extra), export it as JSON trees, measure it on a time-ordered held-out
split, and compare stored predictions with outcomes.

The history is the ``step.prediction`` audit entries the pre-execution link writes for every
attempt: the attempt's features (numbers and names only, see :mod:`maestro_helix.helix.predict`)
and its outcome, the gate's own decision. The label is 1 when the gate did not pass the attempt
(retry, fail or escalate). Nothing else is read: no input, no output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maestro_helix.core.errors import MaestroError
from maestro_helix.core.extras import require
from maestro_helix.core.ports import Store
from maestro_helix.core.records import AuditFilter
from maestro_helix.helix.predict import (
    CATEGORICAL,
    MODEL_FORMAT,
    NUMERIC,
    PREDICTION_KIND,
    RiskModel,
    brier_score,
    calibration,
    model_digest,
    roc_auc,
)

__all__ = [
    "PREDICTION_KIND",
    "Example",
    "TrainSettings",
    "build_model",
    "evaluate",
    "export_gbt",
    "load_examples",
    "train_and_store",
]


@dataclass(frozen=True, slots=True)
class Example:
    """One recorded attempt: its features, whether the gate passed it, what was predicted."""

    seq: int
    ts: str
    features: Mapping[str, Any]
    label: int
    predicted: float | None
    model_version: int | None


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """How to fit: trees, depth, learning rate, held-out share (the newest), seed."""

    trees: int = 100
    depth: int = 3
    learning_rate: float = 0.1
    holdout: float = 0.25
    min_examples: int = 50
    seed: int = 0


def example_from_entry(e: Mapping[str, Any]) -> Example | None:
    d = e.get("details") or {}
    outcome, features = d.get("outcome"), d.get("features")
    if not isinstance(features, Mapping) or not isinstance(outcome, str):
        return None
    p = d.get("p")
    mv = d.get("model_version")
    return Example(
        int(e["seq"]),
        str(e["ts"]),
        features,
        int(outcome != "pass"),
        float(p) if isinstance(p, int | float) else None,
        int(mv) if isinstance(mv, int) else None,
    )


async def load_examples(store: Store, *, after_seq: int = 0, page: int = 5000) -> list[Example]:
    """Every recorded attempt after ``after_seq``, oldest first."""
    out: list[Example] = []
    while True:
        rows = await store.find_audit(
            AuditFilter(kind=PREDICTION_KIND, after_seq=after_seq, limit=page)
        )
        for r in rows:
            ex = example_from_entry(r)
            if ex is not None:
                out.append(ex)
        if len(rows) < page:
            return out
        after_seq = int(rows[-1]["seq"])


def _vocab(examples: Sequence[Example]) -> dict[str, list[str]]:
    return {
        name: sorted({str(x.features.get(name) or "") for x in examples} - {""})
        for name in CATEGORICAL
    }


_STUMP = {"feature": [0], "threshold": [0.0], "left": [-1], "right": [-1], "value": [0.0]}


def _encoder(vocab: Mapping[str, list[str]]) -> RiskModel:
    """The run-time model's own encoding (a one-leaf model over the vocabulary), so training
    and prediction vectorise features the same way."""
    doc = {
        "format": MODEL_FORMAT,
        "numeric": list(NUMERIC),
        "categorical": dict(vocab),
        "init": 0.0,
        "learning_rate": 1.0,
        "trees": [_STUMP],
    }
    return RiskModel(doc, verify=False)


def metrics_of(labels: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    auc, brier = roc_auc(labels, scores), brier_score(labels, scores)
    return {
        "n": len(labels),
        "positives": int(sum(labels)),
        "base_rate": round(sum(labels) / len(labels), 4) if labels else None,
        "roc_auc": round(auc, 4) if auc is not None else None,
        "brier": round(brier, 4) if brier is not None else None,
        "calibration": calibration(labels, scores),
    }


def export_gbt(clf: Any) -> dict[str, Any]:
    """A fitted binary ``GradientBoostingClassifier`` (log-loss) as JSON-ready trees: the prior's
    log-odds (``init``) and, per tree, its node arrays (a leaf has ``left == -1``)."""
    prior = float(clf.init_.class_prior_[1])
    trees = []
    for est in clf.estimators_[:, 0]:
        tr = est.tree_
        trees.append(
            {
                "feature": [int(v) for v in tr.feature],
                "threshold": [float(v) for v in tr.threshold],
                "left": [int(v) for v in tr.children_left],
                "right": [int(v) for v in tr.children_right],
                "value": [float(v) for v in tr.value[:, 0, 0]],
            }
        )
    return {"init": math.log(prior / (1.0 - prior)), "trees": trees}


def build_model(
    examples: Sequence[Example], settings: TrainSettings | None = None
) -> dict[str, Any]:
    """Fit on the oldest ``1 - holdout`` of ``examples`` (in seq order) and measure on the
    newest ``holdout``. Returns the model document without version and hash.

    Raises:
        MaestroError: too few examples, or one class only in the training part.
    """
    s = settings or TrainSettings()
    ensemble = require("sklearn.ensemble", extra="train", feature="maestro risk train")
    ordered = sorted(examples, key=lambda x: x.seq)
    if len(ordered) < s.min_examples:
        raise MaestroError(
            f"risk train: {len(ordered)} recorded attempts, at least {s.min_examples} needed "
            "(run workflows first: every attempt is recorded)"
        )
    cut = max(1, min(len(ordered) - 1, round(len(ordered) * (1.0 - s.holdout))))
    train, test = ordered[:cut], ordered[cut:]
    y = [x.label for x in train]
    if len(set(y)) < 2:
        raise MaestroError(
            "risk train: the training history has one outcome only "
            f"({'all failed' if y[0] else 'all passed'}): nothing to learn"
        )
    vocab = _vocab(train)
    enc = _encoder(vocab)
    clf = ensemble.GradientBoostingClassifier(
        n_estimators=s.trees,
        max_depth=s.depth,
        learning_rate=s.learning_rate,
        subsample=0.8,
        random_state=s.seed,
    )
    clf.fit([enc.vector(x.features) for x in train], y)
    exported = export_gbt(clf)
    doc: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "numeric": list(NUMERIC),
        "categorical": vocab,
        "init": exported["init"],
        "learning_rate": s.learning_rate,
        "trees": exported["trees"],
        "trained_on": {
            "examples": len(train),
            "first_seq": train[0].seq,
            "last_seq": train[-1].seq,
            "held_out_from_seq": test[0].seq if test else None,
        },
        "settings": {
            "trees": s.trees,
            "depth": s.depth,
            "learning_rate": s.learning_rate,
            "holdout": s.holdout,
            "seed": s.seed,
        },
    }
    model = RiskModel(doc, verify=False)
    doc["metrics"] = {
        "held_out": metrics_of([x.label for x in test], [model.predict(x.features) for x in test]),
        "train": metrics_of(y, [model.predict(x.features) for x in train]),
    }
    return doc


def finish(doc: Mapping[str, Any], version: int, created_at: str) -> dict[str, Any]:
    """The stored document: ``doc`` with its version, time and integrity hash."""
    out = {**doc, "version": version, "created_at": created_at}
    out["sha256"] = model_digest(out)
    return out


async def train_and_store(
    store: Store,
    *,
    ts: str,
    by: str | None = None,
    activate: bool = True,
    settings: TrainSettings | None = None,
) -> Any:
    """Train on the store's history and store the model as the next version."""
    doc = build_model(await load_examples(store), settings)
    return await store.save_risk_model(
        lambda version: finish(doc, version, ts), ts=ts, by=by, activate=activate
    )


def evaluate(model: RiskModel, examples: Sequence[Example]) -> dict[str, Any]:
    """The model re-scored on ``examples``, and — where they were recorded — the predictions
    made at run time, each against the outcomes."""
    labels = [x.label for x in examples]
    out: dict[str, Any] = {
        "model_version": model.version,
        "rescored": metrics_of(labels, [model.predict(x.features) for x in examples]),
    }
    live = [x for x in examples if x.predicted is not None]
    if live:
        out["as_predicted"] = metrics_of(
            [x.label for x in live], [float(x.predicted or 0.0) for x in live]
        )
    return out
