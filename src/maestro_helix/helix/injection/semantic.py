"""A sentence-level semantic feature of the injection model: mean-pooled static word embeddings.

Hashed n-grams know only the words training saw; this layer reads what a window *means*. Each
word has a static embedding (the mean of its tokens' vectors in WordLlama's ``l2_supercat_256``
table, the ``wordllama`` wheel on PyPI, MIT licence); a window's meaning is the mean of its
words' embeddings, and a small hidden layer (``relu(W·mean + b)``, :data:`Semantic.hidden`
units) turns it into features the logistic regression weighs beside the n-grams.

Because the mean is linear, ``W·mean(v) = mean(W·v)``: the shipped data holds each word's
*projected* vector ``W·v`` (``hidden`` numbers, int8 with one scale per unit), not the 256-dim
embedding, so a window costs ``hidden`` additions per word and one ReLU per unit in pure Python.
The data (``data/injection_semantic.json``: the words, the int8 table in base64, the scales and
the bias) is written by ``bench/tools/train_injection.py --wordllama``; no pickle, no numpy.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from importlib import resources
from typing import Final

__all__ = ["FORMAT", "Semantic", "load_semantic"]

FORMAT: Final = "maestro-injection-semantic/1"


class Semantic:
    """Projected word vectors and the hidden layer's bias (see the module docstring)."""

    __slots__ = ("_blob", "_cache", "_index", "bias", "hidden", "scale")

    def __init__(
        self, words: Sequence[str], blob: bytes, scale: Sequence[float], bias: Sequence[float]
    ) -> None:
        self.hidden = len(bias)
        if len(scale) != self.hidden or len(blob) != len(words) * self.hidden:
            raise ValueError("injection_semantic.json: table, scale and bias sizes disagree")
        self.bias = tuple(float(b) for b in bias)
        self.scale = tuple(float(s) for s in scale)
        self._index = {w: i for i, w in enumerate(words)}
        self._blob = blob
        self._cache: dict[str, tuple[float, ...] | None] = {}

    def vector(self, word: str) -> tuple[float, ...] | None:
        """The projected vector of a (lower-case) word, or None when the table lacks it."""
        cache = self._cache
        if word in cache:
            return cache[word]
        i = self._index.get(word)
        out: tuple[float, ...] | None = None
        if i is not None:
            h = self.hidden
            raw = self._blob[i * h : (i + 1) * h]
            signed = (b - 256 if b > 127 else b for b in raw)
            out = tuple(v * s for v, s in zip(signed, self.scale, strict=True))
        if len(cache) > 100_000:
            cache.clear()
        cache[word] = out
        return out

    def activations(self, vectors: Sequence[tuple[float, ...] | None]) -> list[float]:
        """``relu(bias + mean of the known vectors)``: the hidden units of one window."""
        known = [v for v in vectors if v is not None]
        if not known:
            return [b if b > 0.0 else 0.0 for b in self.bias]
        inv = 1.0 / len(known)
        columns = zip(*known, strict=True)
        sums = (b + sum(col) * inv for b, col in zip(self.bias, columns, strict=True))
        return [x if x > 0.0 else 0.0 for x in sums]


def encode_table(rows: Sequence[Sequence[int]]) -> str:
    """The int8 rows (each ``hidden`` long, values -127..127) as base64 (training writes it)."""
    return base64.b64encode(bytes((v + 256) % 256 for row in rows for v in row)).decode("ascii")


@functools.cache
def load_semantic() -> Semantic | None:
    """The shipped semantic table (``helix/data/injection_semantic.json``), or None if absent."""
    raw = resources.files("maestro_helix.helix").joinpath("data/injection_semantic.json")
    if not raw.is_file():
        return None
    data = json.loads(raw.read_text("utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError("helix/data/injection_semantic.json: unknown 'format'")
    return Semantic(
        [str(w) for w in data["words"]],
        base64.b64decode(data["table"]),
        [float(s) for s in data["scale"]],
        [float(b) for b in data["bias"]],
    )
