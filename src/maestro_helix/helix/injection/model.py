"""The learned layer of the injection detector: logistic regression on hashed n-grams.

Features of a (normalised) text are its words, word pairs and the 4-letter pieces of its longer
words, each hashed with CRC-32 into :data:`BUCKETS` buckets and counted once. The coefficients
are data: ``data/injection_model.json`` (bucket -> weight, plus the bias and the threshold
chosen on the training split), written by ``bench/tools/train_injection.py``. Inference is a sum
of dictionary look-ups in pure Python; no pickle is ever loaded.

A long text is scored window by window (:data:`WINDOW` words, half-overlapping) and its score
is the highest window's, so one planted sentence in a long document is not averaged away.
"""

from __future__ import annotations

import functools
import json
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

__all__ = ["BUCKETS", "WINDOW", "LearnedModel", "features", "load_model", "windows"]

BUCKETS: Final = 1 << 18
WINDOW: Final = 40
_MASK: Final = BUCKETS - 1
_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[<>\[\]|#:{}]+")


def windows(text: str) -> Iterator[list[str]]:
    """The word windows of a normalised text (one window when it is short)."""
    words = _WORD.findall(text)
    if len(words) <= WINDOW:
        yield words
        return
    step = WINDOW // 2
    for start in range(0, len(words) - step, step):
        yield words[start : start + WINDOW]


def features(words: Sequence[str]) -> set[int]:
    """The hashed feature buckets of one window of words."""
    crc = zlib.crc32
    out: set[int] = set()
    add = out.add
    prev = "^"
    for w in words:
        add(crc(w.encode()) & _MASK)
        add(crc(f"{prev} {w}".encode()) & _MASK)
        if len(w) >= 5:
            for i in range(len(w) - 3):
                add(crc(f"#{w[i : i + 4]}".encode()) & _MASK)
        prev = w
    return out


@dataclass(frozen=True, slots=True)
class LearnedModel:
    """Coefficients of the learned layer (see the module docstring)."""

    weights: dict[int, float]
    bias: float
    threshold: float
    version: str

    def probability(self, text: str) -> float:
        """P(injection) of the highest-scoring window of the normalised ``text``."""
        get = self.weights.get
        best = -math.inf
        for words in windows(text):
            z = self.bias + sum(get(b, 0.0) for b in features(words))
            best = max(best, z)
        if best == -math.inf:
            return 0.0
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, best))))


@functools.cache
def load_model() -> LearnedModel:
    """The shipped model (``helix/data/injection_model.json``), loaded once."""
    raw = resources.files("maestro_helix.helix").joinpath("data/injection_model.json")
    data = json.loads(raw.read_text("utf-8"))
    if data.get("format") != "maestro-injection-lr/1" or data.get("buckets") != BUCKETS:
        raise ValueError(
            "helix/data/injection_model.json: field 'format'/'buckets' does not match this "
            f"detector (want maestro-injection-lr/1 with {BUCKETS} buckets)"
        )
    return LearnedModel(
        weights={int(k): float(v) for k, v in data["weights"].items()},
        bias=float(data["bias"]),
        threshold=float(data["threshold"]),
        version=str(data["version"]),
    )
