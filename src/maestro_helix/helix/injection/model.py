"""The learned layer of the injection detector: logistic regression on hashed n-grams.

Features of a (normalised) text are its words, word pairs and the letter 4-grams of each word of
four letters or more (with its boundaries: ``<ign``, ``nore>``, so unseen inflections and
compounds share evidence), the word classes of :mod:`.lexicon` (a small thesaurus: *dismiss*,
*rules*, *reveal*, *hidden*, ...) with the class pairs words form and the classes a window holds
together (so "void the framework" shares evidence with "ignore the rules"), each hashed with
CRC-32 into :data:`BUCKETS` buckets and counted once; plus *structural* features of the whole
text (:func:`structure_features`): which rule categories of :mod:`.rules` fired and whether a
line opens with a role label. The model weighs the rules instead of obeying them, so a rule hit
in ordinary text ("staff must not bypass the safety policy") needs evidence from the words too.
The coefficients are data:
``data/injection_model.json`` (bucket -> weight, plus the bias and the threshold chosen on a
validation split), written by ``bench/tools/train_injection.py``. Inference is a sum of
dictionary look-ups in pure Python; no pickle is ever loaded.

A long text is scored window by window (:data:`WINDOW` words, half-overlapping) and its score
is the highest window's plus the structural features, so one planted sentence in a long
document is not averaged away.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

from maestro_helix.helix.injection.lexicon import CLASSES, classes_of
from maestro_helix.helix.injection.semantic import Semantic, load_semantic

__all__ = [
    "BUCKETS",
    "FORMAT",
    "FORMAT_SEMANTIC",
    "WINDOW",
    "LearnedModel",
    "load_clusters",
    "load_model",
    "structure_buckets",
    "structure_features",
    "text_buckets",
    "window_buckets",
    "window_semantic",
    "windows",
]

BUCKETS: Final = 1 << 18
FORMAT: Final = "maestro-injection-lr/4"
FORMAT_SEMANTIC: Final = "maestro-injection-lr/5"  # /4 plus weights of the .semantic layer
_READS: Final = (FORMAT, FORMAT_SEMANTIC)
WINDOW: Final = 20
_MASK: Final = BUCKETS - 1
_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[<>\[\]|#:{}]+")


def windows(text: str) -> Iterator[list[str]]:
    """The word windows of a normalised text (one window when it is short)."""
    words = _WORD.findall(text)
    for start, end in _spans(len(words)):
        yield words[start:end]


def _spans(n: int) -> list[tuple[int, int]]:
    if n <= WINDOW:
        return [(0, n)]
    step = WINDOW // 2
    return [(s, s + WINDOW) for s in range(0, n - step, step)]


def _word_features(w: str) -> tuple[int, ...]:
    crc = zlib.crc32
    own = [crc(w.encode()) & _MASK]
    if len(w) >= 4 and w.isalpha():
        # words also by their letter 4-grams with boundaries: inflections, compounds, typos
        b = f"<{w}>"
        own.extend(crc(f"#{b[i : i + 4]}".encode()) & _MASK for i in range(len(b) - 3))
    own.extend(crc(f"~{c}".encode()) & _MASK for c in classes_of(w))
    cluster = load_clusters().get(w)
    if cluster is not None:
        own.append(crc(f"^{cluster}".encode()) & _MASK)
    return tuple(own)


@functools.cache
def load_clusters() -> dict[str, int]:
    """Word → cluster id (``data/injection_clusters.json``: k-means of WordLlama's static token
    embeddings, built by ``bench/tools/build_injection_clusters.py``), loaded once."""
    raw = resources.files("maestro_helix.helix").joinpath("data/injection_clusters.json")
    data = json.loads(raw.read_text("utf-8"))
    if data.get("format") != "maestro-injection-clusters/1":
        raise ValueError("helix/data/injection_clusters.json: unknown 'format'")
    return {str(k): int(v) for k, v in data["clusters"].items()}


@functools.lru_cache(maxsize=65_536)
def _class_pairs(prev: str, w: str) -> tuple[int, ...]:
    """Buckets of the class bigrams a word ends (``~dismiss>rules``)."""
    crc = zlib.crc32
    return tuple(crc(f"~{a}>{b}".encode()) & _MASK for a in classes_of(prev) for b in classes_of(w))


_ORDER: Final = {name: i for i, name in enumerate(CLASSES)}


@functools.lru_cache(maxsize=4_096)
def _together(a: str, b: str) -> int:
    """The bucket of two classes occurring in one window (unordered)."""
    return zlib.crc32(f"~{a}&{b}".encode()) & _MASK


def _window(
    per_word: Sequence[tuple[int, ...]], classes: Sequence[tuple[str, ...]], start: int, end: int
) -> set[int]:
    """The buckets of the words ``start:end``: theirs, plus every pair of classes present."""
    buckets: set[int] = set()
    present: set[str] = set()
    for f in per_word[start:end]:
        buckets.update(f)
    for c in classes[start:end]:
        present.update(c)
    if len(present) > 1:
        ordered = sorted(present, key=_ORDER.__getitem__)
        buckets.update(_together(a, b) for a, b in itertools.combinations(ordered, 2))
    return buckets


_ROLE_LINE: Final = re.compile(
    r"(?:^|\n)[ \t>*#\[(<|-]*(?:system|assistant|user|human|ai|developer|admin|operator|model"
    r"|bot|instruction|inst|sys|im_start)[\w ]{0,12}?[\])>|]*(?::|\n|>)",
)
_TEMPLATE: Final = ("<|", "|>", "[inst]", "<<sys>>", "</system", "<system", "im_start", "###")


def structure_features(low: str, rule_categories: Sequence[str]) -> list[str]:
    """Named whole-text features of a normalised text: ``rule:<category>`` for each rule
    category that fired, ``shape:role_line`` when a line opens with a role label and
    ``shape:template`` for chat-template tokens."""
    out = [f"rule:{c}" for c in dict.fromkeys(rule_categories)]
    if _ROLE_LINE.search(low):
        out.append("shape:role_line")
    if any(t in low for t in _TEMPLATE):
        out.append("shape:template")
    return out


def structure_buckets(names: Sequence[str]) -> set[int]:
    """The buckets of :func:`structure_features`' names."""
    return {zlib.crc32(f"@{n}".encode()) & _MASK for n in names}


def text_buckets(text: str) -> set[int]:
    """All feature buckets of a normalised text (what training sees of one example)."""
    words = _WORD.findall(text)
    return _window(_position_features(words), [classes_of(w) for w in words], 0, len(words))


def window_buckets(text: str) -> list[set[int]]:
    """The feature buckets of each word window of a normalised text (what the model scores;
    training reads them to learn from the window an attack sits in)."""
    words = _WORD.findall(text)
    per_word = _position_features(words)
    classes = [classes_of(w) for w in words]
    return [_window(per_word, classes, a, b) for a, b in _spans(len(words))] or [set()]


def window_semantic(text: str, semantic: Semantic) -> list[list[float]]:
    """The semantic hidden units of each word window of a normalised text (aligned with
    :func:`window_buckets`; training reads them)."""
    words = _WORD.findall(text)
    vecs = [semantic.vector(w) for w in words]
    return [semantic.activations(vecs[a:b]) for a, b in _spans(len(words))] or [
        semantic.activations([])
    ]


_MEMO: dict[str, tuple[int, ...]] = {}
_MEMO_MAX: Final = 50_000


def _position_features(words: Sequence[str]) -> list[tuple[int, ...]]:
    """Per word: its own buckets and the bucket of the pair it ends (words memoised)."""
    crc = zlib.crc32
    memo = _MEMO
    if len(memo) > _MEMO_MAX:
        memo.clear()
    out: list[tuple[int, ...]] = []
    prev = "^"
    for w in words:
        own = memo.get(w)
        if own is None:
            own = memo[w] = _word_features(w)
        out.append((*own, crc(f"{prev} {w}".encode()) & _MASK, *_class_pairs(prev, w)))
        prev = w
    return out


@dataclass(frozen=True, slots=True)
class LearnedModel:
    """Coefficients of the learned layer (see the module docstring)."""

    weights: dict[int, float]
    bias: float
    threshold: float
    version: str
    rule_threshold: float = 0.25  # a text a rule flags needs only this much from the model
    semantic: tuple[float, ...] = ()  # weights of the semantic hidden units (.semantic)

    def probability(self, text: str, structure: Sequence[str] = ()) -> float:
        """P(injection) of the highest-scoring window of the normalised ``text``, with the
        whole-text ``structure`` features (:func:`structure_features`) added to every window.

        Windows of :data:`WINDOW` words are scored end to end first; the half-shifted windows
        (which catch an attack split by a window boundary) are scored only next to a window
        within :data:`_MARGIN` of the threshold, which halves the work on long clean texts
        and cannot lower the result below the threshold.
        """
        words = _WORD.findall(text)
        if not words:
            return 0.0
        get = self.weights.get
        per_word = _position_features(words)
        classes = [classes_of(w) for w in words]
        base = self.bias + sum(get(b, 0.0) for b in structure_buckets(structure))
        sem = load_semantic() if self.semantic else None
        vecs = [sem.vector(w) for w in words] if sem is not None else []
        weights = self.semantic

        def z(start: int) -> float:
            buckets = _window(per_word, classes, start, start + WINDOW)
            out = base + sum(get(b, 0.0) for b in buckets)
            if sem is not None:
                h = sem.activations(vecs[start : start + WINDOW])
                out += sum(a * x for a, x in zip(weights, h, strict=True))
            return out

        n = len(words)
        if n <= WINDOW:
            best = z(0)
        else:
            half = WINDOW // 2
            starts = list(range(0, n - half, WINDOW))
            if starts[-1] + WINDOW < n:  # the last words get a window of their own
                starts.append(n - WINDOW)
            full = {s: z(s) for s in starts}
            best = max(full.values())
            near = _logit(self.threshold) - _MARGIN
            for s, v in full.items():
                if v >= near:
                    for shifted in (s - half, s + half):
                        if 0 <= shifted < n - half and shifted not in full:
                            best = max(best, z(shifted))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, best))))


_MARGIN: Final = (
    4.0  # logits: a window this close to the threshold gets its shifted neighbours scored
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


@functools.cache
def load_model() -> LearnedModel:
    """The shipped model (``helix/data/injection_model.json``), loaded once."""
    raw = resources.files("maestro_helix.helix").joinpath("data/injection_model.json")
    data = json.loads(raw.read_text("utf-8"))
    if data.get("format") not in _READS or data.get("buckets") != BUCKETS:
        raise ValueError(
            "helix/data/injection_model.json: field 'format'/'buckets' does not match this "
            f"detector (want {FORMAT} with {BUCKETS} buckets)"
        )
    semantic = tuple(float(a) for a in data.get("semantic", ()))
    table = load_semantic() if semantic else None
    if semantic and (table is None or table.hidden != len(semantic)):
        raise ValueError(
            "helix/data/injection_model.json: 'semantic' weights need helix/data/"
            f"injection_semantic.json with {len(semantic)} hidden units"
        )
    return LearnedModel(
        weights={int(k): float(v) for k, v in data["weights"].items()},
        bias=float(data["bias"]),
        threshold=float(data["threshold"]),
        version=str(data["version"]),
        rule_threshold=float(data.get("rule_threshold", data["threshold"])),
        semantic=semantic,
    )
