"""PredictiveRiskManager, the run-time half: a step's features, the model that turns them into
the chance of a gate failure or escalation, and the metrics that compare predictions with
outcomes. Pure Python, no I/O and no scikit-learn (training lives in ``ops/risk_model.py``).

Features are numbers and identifiers only — workflow, step, capability and agent names, the
attempt, the input's size and shape, *counts* from the project's own detectors (personal data,
secrets, prompt injection), the agent's recent record and the time — never the input's text, so
neither the model nor its training data can hold personal data.

A model is a JSON document (never pickle): gradient-boosted regression trees over the feature
vector (format ``maestro-risk-gbt/1``), with its vocabulary for the categorical features. Its
SHA-256 over the canonical JSON is its integrity hash; a document whose hash does not match is
refused.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from maestro_helix.core.audit import AuditKind
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.route import TrackRecord

__all__ = [
    "CATEGORICAL",
    "HELD_BY_PREDICTION",
    "MODEL_FORMAT",
    "NUMERIC",
    "PREDICTION_KIND",
    "AgentHistory",
    "InputSignals",
    "Mitigation",
    "ModelError",
    "RiskModel",
    "StepFeatures",
    "brier_score",
    "calibration",
    "input_signals",
    "model_digest",
    "roc_auc",
]

MODEL_FORMAT = "maestro-risk-gbt/1"

PREDICTION_KIND = AuditKind.STEP_PREDICTION
"""The audit entry kind of a recorded attempt (features, prediction, mitigation, outcome)."""

HELD_BY_PREDICTION = "held for approval by the risk predictor"
"""How the reason of a result the gate passed but the predictor held for people begins: the
router's track record counts such an attempt as the agent's success (it did nothing wrong)."""

NUMERIC: tuple[str, ...] = (
    "attempt",
    "input_chars",
    "input_fields",
    "input_items",
    "input_depth",
    "input_numbers",
    "pii_count",
    "secret_count",
    "injection_markers",
    "injection_prob",
    "agent_pass_rate",
    "agent_qsr",
    "agent_mri",
    "agent_n",
    "hour",
    "weekday",
)
"""The numeric features, in the order of the model's vector."""

CATEGORICAL: tuple[str, ...] = ("workflow", "step", "capability", "agent")
"""Categorical features: one-hot over the vocabulary seen in training (unseen: all zero)."""


class Mitigation(enum.StrEnum):
    """What the pre-execution link did about a prediction; each only tightens."""

    PROCEED = "proceed"
    ROUTE = "route"  # risky candidates excluded, another agent runs the step
    TIGHTEN = "tighten"  # the step's gate raised (higher QSR bar, lower MRI bar)
    APPROVAL = "approval"  # the step's result waits for people before anything uses it


class ModelError(MaestroError):
    """A model document that is malformed or whose integrity hash does not match."""


@dataclass(frozen=True, slots=True)
class InputSignals:
    """The input's size and shape and the detectors' counts: numbers only."""

    chars: int = 0
    fields: int = 0
    items: int = 0
    depth: int = 0
    numbers: int = 0
    pii_count: int = 0
    secret_count: int = 0
    injection_markers: int = 0
    injection_prob: float = 0.0


def _shape(value: Any, depth: int, acc: list[int]) -> None:
    # acc: chars, fields, items, max depth, numbers
    acc[3] = max(acc[3], depth)
    if isinstance(value, str):
        acc[0] += len(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if v is None or k == "feedback":
                continue
            acc[1] += 1
            _shape(v, depth + 1, acc)
    elif isinstance(value, list | tuple):
        acc[2] += len(value)
        for v in value:
            _shape(v, depth + 1, acc)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        acc[4] += 1


_MEMO_CHARS = 4_096  # texts up to this long have their counts remembered ...
_MEMO_SIZE = 4_096  # ... this many of them, least recent out


def _counts(text: str) -> tuple[int, int, int, float]:
    """(personal data, secrets, injection markers, injection probability) found in ``text``."""
    from maestro_helix.helix import injection, pii  # heavy: not at import (the CLI's --help)

    if not text:
        return 0, 0, 0, 0.0
    found = pii.scan(text)
    secrets = sum(1 for f in found if f.kind.startswith("secret."))
    det = injection.detect(text)
    return len(found) - secrets, secrets, len(det.markers), round(det.probability, 4)


_detector_counts = functools.lru_cache(maxsize=_MEMO_SIZE)(_counts)
""":func:`_counts`, remembered: a retry, and every candidate of a step, reuse the scan."""


def input_signals(payload: Mapping[str, Any], text: str) -> InputSignals:
    """Size and shape of ``payload`` and detector counts on its ``text`` (the text itself is
    scanned here and forgotten: only the counts leave, and a recent text's counts are
    remembered in memory, keyed by the text, never stored)."""
    acc = [0, 0, 0, 0, 0]
    _shape(payload, 0, acc)
    pii_n, secret_n, markers, prob = (
        _detector_counts(text) if len(text) <= _MEMO_CHARS else _counts(text)
    )
    return InputSignals(
        chars=acc[0],
        fields=acc[1],
        items=acc[2],
        depth=acc[3],
        numbers=acc[4],
        pii_count=pii_n,
        secret_count=secret_n,
        injection_markers=markers,
        injection_prob=prob,
    )


@dataclass(frozen=True, slots=True)
class AgentHistory:
    """An agent's recent record on one capability (from the shared track record)."""

    pass_rate: float = -1.0  # -1: no history yet
    qsr: float = -1.0
    mri: float = -1.0
    n: int = 0

    @classmethod
    def of(cls, rec: TrackRecord, now: float, last: int = 50) -> AgentHistory:
        """From the router's stored record (``agent_track``, folded in every step commit):
        decayed pass rate and mean QSR and MRI, decayed to ``now``; ``n`` the attempts counted,
        capped at ``last`` (the feature's range when it was read from the last attempts)."""
        r = rec.at(now)
        if r.n <= 0 or rec.total <= 0:
            return cls()
        return cls(
            pass_rate=round(r.passed / r.n, 4),
            qsr=round(r.qsr_sum / r.n, 4),
            mri=round(r.mri_sum / r.n, 4),
            n=min(int(rec.total), last),
        )


@dataclass(frozen=True, slots=True)
class StepFeatures:
    """Everything the model sees about one step attempt on one candidate agent."""

    workflow: str
    step: str
    capability: str
    agent: str
    attempt: int
    signals: InputSignals = field(default_factory=InputSignals)
    history: AgentHistory = field(default_factory=AgentHistory)
    hour: int = 0
    weekday: int = 0

    @classmethod
    def at(
        cls,
        when: datetime,
        *,
        workflow: str,
        step: str,
        capability: str,
        agent: str,
        attempt: int,
        signals: InputSignals,
        history: AgentHistory,
    ) -> StepFeatures:
        return cls(
            workflow, step, capability, agent, attempt, signals, history, when.hour, when.weekday()
        )

    def to_dict(self) -> dict[str, Any]:
        """Flat: the categorical names and every numeric feature (what the audit entry holds
        and training reads back)."""
        s, h = self.signals, self.history
        return {
            "workflow": self.workflow,
            "step": self.step,
            "capability": self.capability,
            "agent": self.agent,
            "attempt": self.attempt,
            "input_chars": s.chars,
            "input_fields": s.fields,
            "input_items": s.items,
            "input_depth": s.depth,
            "input_numbers": s.numbers,
            "pii_count": s.pii_count,
            "secret_count": s.secret_count,
            "injection_markers": s.injection_markers,
            "injection_prob": s.injection_prob,
            "agent_pass_rate": h.pass_rate,
            "agent_qsr": h.qsr,
            "agent_mri": h.mri,
            "agent_n": h.n,
            "hour": self.hour,
            "weekday": self.weekday,
        }


def model_digest(doc: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys) of a model document without its
    ``sha256`` field."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class _Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]


def _tree(raw: Mapping[str, Any], width: int, where: str) -> _Tree:
    try:
        t = _Tree(
            tuple(int(x) for x in raw["feature"]),
            tuple(float(x) for x in raw["threshold"]),
            tuple(int(x) for x in raw["left"]),
            tuple(int(x) for x in raw["right"]),
            tuple(float(x) for x in raw["value"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{where}: {type(e).__name__}: {e}") from None
    n = len(t.value)
    if not n or any(len(a) != n for a in (t.feature, t.threshold, t.left, t.right)):
        raise ModelError(f"{where}: node arrays of different lengths")
    for i in range(n):
        if t.left[i] >= 0 and not (
            i < t.left[i] < n and i < t.right[i] < n and 0 <= t.feature[i] < width
        ):
            raise ModelError(f"{where}: node {i} points outside the tree or the feature vector")
    return t


class RiskModel:
    """A loaded model: ``predict(features)`` gives P(gate failure or escalation).

    Args:
        doc: the model document (see the module docstring).
        verify: check the document's ``sha256`` (always, except in training itself).

    Raises:
        ModelError: malformed document or hash mismatch (naming the field).
    """

    def __init__(self, doc: Mapping[str, Any], *, verify: bool = True) -> None:
        if doc.get("format") != MODEL_FORMAT:
            raise ModelError(f"format: expected {MODEL_FORMAT!r}, got {doc.get('format')!r}")
        if verify and doc.get("sha256") != model_digest(doc):
            raise ModelError("sha256: the document does not match its integrity hash")
        self.doc = doc
        self.version = int(doc.get("version") or 0)
        numeric = list(doc.get("numeric") or ())
        if numeric != list(NUMERIC):
            raise ModelError("numeric: the model's features are not this version's")
        vocab = doc.get("categorical") or {}
        self._slots: list[dict[str, int]] = []
        width = len(NUMERIC)
        for name in CATEGORICAL:
            values = vocab.get(name)
            if not isinstance(values, list):
                raise ModelError(f"categorical.{name}: a list of values is required")
            self._slots.append({str(v): width + i for i, v in enumerate(values)})
            width += len(values)
        self.width = width
        self._zeros = [0.0] * (width - len(NUMERIC))
        try:
            self.init = float(doc["init"])
            self.rate = float(doc["learning_rate"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"init/learning_rate: {e}") from None
        trees = doc.get("trees")
        if not isinstance(trees, list) or not trees:
            raise ModelError("trees: a non-empty list is required")
        checked = [_tree(t, width, f"trees[{i}]") for i, t in enumerate(trees)]
        # one tuple per node: the walk does two index operations per level, no attribute lookups
        self._nodes = tuple(
            tuple(zip(t.feature, t.threshold, t.left, t.right, t.value, strict=True))
            for t in checked
        )

    def vector(self, f: Mapping[str, Any]) -> list[float]:
        """The dense feature vector of one flat feature dict (``StepFeatures.to_dict``)."""
        x = [float(f.get(n) or 0.0) for n in NUMERIC]
        x += self._zeros
        for name, slots in zip(CATEGORICAL, self._slots, strict=True):
            at = slots.get(str(f.get(name) or ""))
            if at is not None:
                x[at] = 1.0
        return x

    def raw(self, x: Sequence[float]) -> float:
        total = 0.0
        for nodes in self._nodes:
            n = nodes[0]
            while n[2] >= 0:  # (feature, threshold, left, right, value); a leaf has left -1
                n = nodes[n[2]] if x[n[0]] <= n[1] else nodes[n[3]]
            total += n[4]
        return self.init + self.rate * total

    def predict(self, f: StepFeatures | Mapping[str, Any]) -> float:
        flat = f.to_dict() if isinstance(f, StepFeatures) else f
        z = self.raw(self.vector(flat))
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.doc.get("sha256"),
            "trees": len(self._nodes),
            "metrics": self.doc.get("metrics", {}),
        }


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann–Whitney, ties counted half); None with one class."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2.0 + 1.0  # average 1-based rank of the tie group
        rank_sum += mid * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def brier_score(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    if not labels:
        return None
    return sum((p - y) ** 2 for y, p in zip(labels, scores, strict=True)) / len(labels)


def calibration(
    labels: Sequence[int], scores: Sequence[float], bins: int = 5
) -> list[dict[str, Any]]:
    """Predicted vs observed rate per equal-width bin of the prediction (empty bins left out)."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(scores) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            out.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": len(idx),
                    "predicted": round(sum(scores[i] for i in idx) / len(idx), 4),
                    "observed": round(sum(labels[i] for i in idx) / len(idx), 4),
                }
            )
    return out
