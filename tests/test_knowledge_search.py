"""The knowledge base's BM25 search: exact (the same top k as scoring every insight), however
it prunes, and an index built from an earlier one scores as a fresh one does."""

from __future__ import annotations

import math
import random
from collections import Counter

from maestro_helix.core.knowledge import Insight
from maestro_helix.helix.knowledge import BM25Index, tokens

VOCAB = [f"w{i}" for i in range(60)] + ["costs", "teams", "quarter", "research", "growth"]


def _corpus(rng: random.Random, n: int) -> list[Insight]:
    out = []
    for i in range(n):
        common = rng.sample(VOCAB[60:], 3)
        rare = rng.choices(VOCAB[:60], k=rng.randint(1, 12))
        text = " ".join(common + rare)
        cap = rng.choice(["research", "analysis", None])
        out.append(Insight(f"id{i}", cap, text, {}, "2026-12-01T00:00:00+00:00"))
    return out


def _brute(items: list[Insight], query: str, cap: str | None) -> dict[str, float]:
    """BM25 by the book: every insight's score (> 0)."""
    k1, b = 1.5, 0.75
    tfs = [Counter(tokens(i.text)) for i in items]
    lens = [sum(t.values()) for t in tfs]
    avg = sum(lens) / len(lens)
    df: Counter[str] = Counter()
    for t in tfs:
        df.update(t.keys())
    n = len(items)
    q = set(tokens(query))
    scored = {}
    for i, (item, tf) in enumerate(zip(items, tfs, strict=True)):
        if cap is not None and item.capability not in (cap, None):
            continue
        s = 0.0
        for w in sorted(q & tf.keys()):
            idf = math.log(1.0 + (n - df[w] + 0.5) / (df[w] + 0.5))
            s += idf * tf[w] * (k1 + 1) / (tf[w] + k1 * (1 - b + b * lens[i] / avg))
        if s > 0:
            scored[item.item_id] = s
    return scored


def test_search_finds_exactly_the_top_k_of_scoring_every_insight() -> None:
    rng = random.Random(11)
    for trial in range(60):
        items = _corpus(rng, rng.randint(1, 300))
        idx = BM25Index(items)
        for _ in range(5):
            query = " ".join(rng.choices(VOCAB, k=rng.randint(1, 10)))
            k = rng.randint(1, 6)
            cap = rng.choice(["research", "analysis", None])
            got = [(i.item_id, s) for i, s in idx.search(query, k, cap)]
            every = _brute(items, query, cap)
            best = sorted(every.values(), reverse=True)[:k]
            where = (trial, query, k, cap)
            # the k best scores, each the insight's own (insights whose scores tie within a
            # rounding may stand in either order: sums in another order differ in the last bit)
            assert len(got) == len(best) == len({g[0] for g in got}), where
            for (item_id, s), want in zip(got, best, strict=True):
                assert math.isclose(s, every[item_id], rel_tol=1e-9), where
                assert math.isclose(s, want, rel_tol=1e-9), where


def test_an_index_built_from_the_last_version_scores_as_a_fresh_one() -> None:
    rng = random.Random(3)
    items = _corpus(rng, 200)
    old = BM25Index(items[:150])
    grown = BM25Index(items, previous=old)
    fresh = BM25Index(items)
    for _ in range(30):
        query = " ".join(rng.choices(VOCAB, k=6))
        assert grown.search(query, 3) == fresh.search(query, 3)


def test_an_index_of_a_rolled_back_version_scores_as_a_fresh_one() -> None:
    """A version that is not the last one plus more (a rollback, a prune) is indexed anew,
    reusing only the word counts."""
    rng = random.Random(4)
    items = _corpus(rng, 120)
    kept = items[10:60] + items[80:]
    again = BM25Index(kept, previous=BM25Index(items))
    fresh = BM25Index(kept)
    for _ in range(30):
        query = " ".join(rng.choices(VOCAB, k=5))
        assert again.search(query, 4, "research") == fresh.search(query, 4, "research")
