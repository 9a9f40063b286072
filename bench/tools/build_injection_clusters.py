"""Build the word clusters of the injection model from WordLlama's static token embeddings.

The learned layer reads, beside each word, the id of its cluster (words of similar meaning share
one), so evidence learned from "disregard" carries over to a synonym the training set never used.
The clusters come from an outside source rather than from this repo's author: the 256-dimension
token embeddings that ship inside the ``wordllama`` wheel on PyPI (``l2_supercat_256``, MIT
licence, Copyright (c) 2024 Lee Miller). Each English word of the Llama tokenizer's vocabulary,
and each word of the training corpora, is embedded as the mean of its tokens (a greedy longest-
match split, close to the tokenizer's own for whole words), the vectors are normalised and
grouped with k-means. Only the word → cluster map ships (helix/data/injection_clusters.json);
neither the embeddings nor wordllama is needed at run time.

Usage::

    pip download --no-deps wordllama==0.4.0.post1 -d /tmp/wl && unzip -q /tmp/wl/*.whl -d /tmp/wlpkg
    python bench/tools/build_injection_clusters.py --wordllama /tmp/wlpkg/wordllama
"""

from __future__ import annotations

import argparse
import json
import re
import struct
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "maestro_helix" / "helix" / "data" / "injection_clusters.json"
CORPORA = (
    ROOT / "bench" / "data" / "injection_set.jsonl",
    ROOT / "bench" / "data" / "injection_compose.jsonl",
)
_ALPHA = re.compile(r"[a-z]{2,24}")


def _embeddings(root: Path) -> tuple[dict[str, int], np.ndarray]:
    cfg = json.loads((root / "tokenizers" / "l2_supercat_tokenizer_config.json").read_text())
    with (root / "weights" / "l2_supercat_256.safetensors").open("rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))["embedding.weight"]
        raw = f.read()
    start, end = header["data_offsets"]
    table = np.frombuffer(raw[start:end], dtype=np.float16).reshape(header["shape"])
    return cfg["model"]["vocab"], table.astype(np.float32)


def _pieces(word: str, vocab: dict[str, int]) -> list[int] | None:
    """Greedy longest-match split of ``word`` into vocabulary tokens (the first with ``▁``)."""
    out, i, first = [], 0, True
    while i < len(word):
        for j in range(len(word), i, -1):
            tok = ("▁" if first else "") + word[i:j]
            if tok in vocab:
                out.append(vocab[tok])
                i, first = j, False
                break
        else:
            return None
    return out


def embed_words(
    words: set[str], vocab: dict[str, int], table: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """The words that split into at most four tokens, with the normalised mean of their tokens'
    vectors (one row each, in sorted word order)."""
    names, vectors = [], []
    for w in sorted(words):
        ids = _pieces(w, vocab)
        if not ids or len(ids) > 4:
            continue
        v = table[ids].mean(axis=0)
        norm = float(np.linalg.norm(v))
        if norm > 0:
            names.append(w)
            vectors.append(v / norm)
    return names, np.stack(vectors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordllama", type=Path, required=True, help="the unpacked wordllama package")
    ap.add_argument("--k", type=int, default=384, help="number of clusters")
    args = ap.parse_args()
    vocab, table = _embeddings(args.wordllama)
    words: set[str] = set()
    for tok in vocab:
        if tok.startswith("▁") and _ALPHA.fullmatch(tok[1:].lower()):
            words.add(tok[1:].lower())
    for path in CORPORA:
        for line in path.read_text(encoding="utf-8").splitlines():
            words.update(_ALPHA.findall(json.loads(line)["text"].lower()))
    names, x = embed_words(words, vocab, table)
    km = KMeans(n_clusters=args.k, n_init=2, random_state=0, max_iter=100).fit(x)
    clusters = {w: int(c) for w, c in zip(names, km.labels_, strict=True)}
    OUT.write_text(
        json.dumps(
            {
                "format": "maestro-injection-clusters/1",
                "source": f"k-means (k={args.k}) of WordLlama l2_supercat_256 token embeddings "
                "(wordllama 0.4.0.post1 on PyPI, MIT licence, Copyright (c) 2024 Lee Miller)",
                "clusters": clusters,
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        + "\n"
    )
    size = OUT.stat().st_size / 1024
    print(f"{len(clusters)} words in {args.k} clusters; wrote {OUT} ({size:.0f} KiB)")
    for probe in ("ignore", "disregard", "rules", "guidance", "reveal", "pretend", "instead"):
        c = clusters.get(probe)
        print(probe, c, sorted(w for w, k in clusters.items() if k == c)[:25])


if __name__ == "__main__":
    main()
