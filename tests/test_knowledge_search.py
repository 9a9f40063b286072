"""The knowledge base's BM25 search: exact (the same top k as scoring every insight), however
it prunes, and an index built from an earlier one scores as a fresh one does."""

from __future__ import annotations

import math
import random
from collections import Counter

from maestro_helix.core.knowledge import Insight
from maestro_helix.helix.knowledge import _STOP, _WORD, BM25Index, tokens

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


def _search_as_before(
    idx: BM25Index, query: str, k: int, cap: str | None
) -> list[tuple[str, float]]:
    """The search before its answers and word weights were kept (the same sums, in the same
    order): the kept ones must give these scores bit for bit."""
    n = len(idx.items)
    words = [w for w in set(tokens(query)) if w in idx._postings]
    if not words or k <= 0 or n == 0:
        return []
    k1 = idx.k1
    c1 = k1 * (1.0 - idx.b)
    c2 = k1 * idx.b / ((idx._total / n) or 1.0)
    gain, most = {}, {}
    for w in words:
        d = idx._df[w]
        gain[w] = math.log(1.0 + (n - d + 0.5) / (d + 0.5)) * (k1 + 1.0)
        f = idx._maxf[w]
        most[w] = gain[w] * f / (f + c1 + c2 * idx._minlen[w])
    terms = sorted(words, key=lambda w: (-most[w], w))
    left = [0.0] * (len(terms) + 1)
    for j in range(len(terms) - 1, -1, -1):
        left[j] = left[j + 1] + most[terms[j]]
    totals: dict[int, float] = {}
    j = 0
    while j < len(terms):
        if len(totals) >= k and sorted(totals.values(), reverse=True)[k - 1] > left[j]:
            break
        w = terms[j]
        for i in idx._postings[w]:
            c = idx.items[i].capability
            if cap is None or c is None or c == cap:
                f = idx._tf[i][w]
                totals[i] = totals.get(i, 0.0) + gain[w] * f / (f + c1 + c2 * idx._len[i])
        j += 1
    for w in terms[j:]:
        for i in totals:
            more = idx._tf[i].get(w)
            if more:
                totals[i] += gain[w] * more / (more + c1 + c2 * idx._len[i])
    best = sorted((-s, i) for i, s in totals.items() if s > 0)[:k]
    return [(idx.items[i].item_id, -neg) for neg, i in best]


def test_kept_answers_and_word_weights_score_bit_for_bit_as_computing_them_anew() -> None:
    """Each version keeps its answers and word weights; a grown index forgets them (the
    weights change with every insight added): every answer equals the search done afresh,
    asked once, again, and after the index grew."""
    rng = random.Random(5)
    items = _corpus(rng, 260)
    queries = [" ".join(rng.choices(VOCAB, k=rng.randint(1, 12))) for _ in range(40)]
    asks = [(q, rng.randint(1, 5), rng.choice(["research", "analysis", None])) for q in queries]
    idx = BM25Index(items[:120])
    for _ in range(2):
        for q, k, cap in asks:
            got = [(i.item_id, s) for i, s in idx.search(q, k, cap)]
            assert got == _search_as_before(idx, q, k, cap), (q, k, cap)
    grown = BM25Index(items, previous=idx)
    for q, k, cap in asks:
        got = [(i.item_id, s) for i, s in grown.search(q, k, cap)]
        assert got == _search_as_before(grown, q, k, cap), (q, k, cap)


def test_a_kept_answer_is_not_changed_by_what_a_caller_does_with_it() -> None:
    idx = BM25Index(_corpus(random.Random(6), 50))
    first = idx.search("costs teams w1 w2", 3)
    first.clear()
    assert idx.search("costs teams w1 w2", 3) == idx._search(
        frozenset(w for w in tokens("costs teams w1 w2") if w in idx._postings), 3, None
    )


def test_tokens_of_ascii_text_are_the_words_the_unicode_pattern_finds() -> None:
    rng = random.Random(7)
    alphabet = "aZxQ_90 -'.\t\n"  # ASCII only: letters, digits, _ and separators
    for _ in range(3000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        want = [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOP]
        assert tokens(text) == want, text
    assert tokens("Ärger über das Öl: ÉTÉ") == ["ärger", "über", "das", "öl", "été"]
