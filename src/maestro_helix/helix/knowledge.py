"""Cross-agent learning (CSIL), the pure part: insights from high-QSR outputs, redacted and
verified with the project's own detectors (:mod:`maestro_helix.helix.pii`), and retrieval by
BM25 over the current version's items.

Redaction is verified: the redacted text is scanned again, and an insight in which anything is
still found is refused (:class:`RedactionUnverified`), never stored. The store checks once more
on write. Retrieval is read-only: agents get frozen :class:`~maestro_helix.core.knowledge.Insight`
values in their context; only the learning service pushes.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from maestro_helix.core.errors import MaestroError
from maestro_helix.core.knowledge import Insight, InsightDraft
from maestro_helix.helix.pii import redact, scan

__all__ = [
    "BM25Index",
    "KnowledgeConfig",
    "RedactionUnverified",
    "draft_insight",
    "redact_verified",
]


class KnowledgeConfig(BaseModel):
    """The ``knowledge`` section of ``helix_quality_gates.json``.

    Attributes:
        enabled: learn from passing outputs and give agents what was learnt.
        min_qsr: an output must score at least this to become an insight.
        max_chars: an insight's length (the text is cut after redaction).
        retrieve: how many insights an agent gets per step (0: none).
        refresh_s: how often a process looks for a newer version to read from (0: every step).
        push_every_s: insights wait at most this long to be pushed together as one version
            (a run that completes pushes what is waiting at once); 0: each insight is pushed
            as its own version when its step commits.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    min_qsr: float = Field(default=0.85, ge=0.7, le=1.0)
    max_chars: int = Field(default=800, ge=80, le=8000)
    retrieve: int = Field(default=3, ge=0, le=20)
    refresh_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    push_every_s: float = Field(default=1.0, ge=0.0, le=60.0)


class RedactionUnverified(MaestroError):
    """After redaction the detectors still find something: the insight is refused."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        super().__init__(
            f"redaction could not be verified (still found: {', '.join(kinds)}): not stored"
        )


Redactor = Callable[[str], str]


def redact_verified(text: str, redactor: Redactor = redact) -> tuple[str, int]:
    """(redacted text, findings replaced); raises :class:`RedactionUnverified` when a scan of
    the result still finds personal data or secrets."""
    found = len(scan(text))
    out = redactor(text)
    left = scan(out)
    if left:
        raise RedactionUnverified(sorted({f.kind for f in left}))
    return out, found


def draft_insight(
    *,
    task: str,
    output_text: str,
    capability: str | None,
    provenance: Mapping[str, Any],
    max_chars: int,
    redactor: Redactor = redact,
) -> InsightDraft:
    """An insight from one high-QSR output: the task and the answer, redacted, verified, cut.

    The cut happens after redaction and the result is verified again (a cut can never reveal,
    but the check is cheap and the rule is "nothing unverified is stored")."""
    body = f"Task: {task.strip()}\nAnswer: {output_text.strip()}" if task else output_text.strip()
    red, n = redact_verified(body, redactor)
    if len(red) > max_chars:
        red = red[: max_chars - 1].rstrip() + "…"
        red, _ = redact_verified(red, redactor)
    return InsightDraft(
        text=red,
        capability=capability,
        provenance={**provenance, "redactions": n, "redactor": "helix.pii"},
    )


# -- retrieval ------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "you",
        "your",
        "our",
        "its",
        "his",
        "her",
        "their",
        "they",
        "them",
        "what",
        "which",
        "who",
        "how",
        "why",
        "when",
        "where",
        "into",
        "onto",
        "about",
        "over",
        "under",
        "than",
        "then",
        "also",
        "can",
        "will",
        "would",
        "should",
        "could",
        "may",
        "might",
        "been",
        "being",
        "any",
        "all",
        "each",
        "per",
        "task",
        "answer",
    ]
)


def tokens(text: str) -> list[str]:
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOP]


class BM25Index:
    """Okapi BM25 over a fixed set of insights (built once per knowledge version).

    Searching is exact and touches little: an inverted index gives each query word's
    insights, words are taken by their largest possible contribution, and once no insight
    unseen so far could still reach the ``k``-th best score, the remaining words only complete
    the scores of those already found (a query about one topic reads that topic's insights,
    not the whole base).

    Args:
        items: the version's insights.
        k1, b: the usual BM25 parameters.
        previous: the index of an earlier version: the word counts of insights it holds are
            reused (a new version mostly adds a few insights to the last one).
    """

    def __init__(
        self,
        items: Sequence[Insight],
        k1: float = 1.5,
        b: float = 0.75,
        previous: BM25Index | None = None,
    ) -> None:
        self.items = tuple(items)
        self.k1, self.b = k1, b
        known = previous._counts if previous is not None else {}
        self._counts: dict[str, Counter[str]] = {}
        for item in self.items:
            tf = known.get(item.item_id)
            self._counts[item.item_id] = tf if tf is not None else Counter(tokens(item.text))
        self._tf = [self._counts[i.item_id] for i in self.items]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(self.items)
        self._idf = {w: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
        avg = self._avg or 1.0
        self._norm = [k1 * (1.0 - b + b * ln / avg) for ln in self._len]
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._max: dict[str, float] = {}
        for i, tf in enumerate(self._tf):
            for w, f in tf.items():
                weight = self._weight(w, f, i)
                self._postings.setdefault(w, []).append((i, weight))
                if weight > self._max.get(w, 0.0):
                    self._max[w] = weight

    def _weight(self, w: str, f: int, i: int) -> float:
        return self._idf[w] * f * (self.k1 + 1.0) / (f + self._norm[i])

    def search(
        self, query: str, k: int, capability: str | None = None
    ) -> list[tuple[Insight, float]]:
        """The ``k`` best-scoring insights (score > 0), for ``capability`` when given."""
        terms = sorted((w for w in set(tokens(query)) if w in self._postings), key=self._order)
        if not terms or k <= 0:
            return []
        left = [0.0] * (len(terms) + 1)  # left[j]: the most the words from j on can add
        for j in range(len(terms) - 1, -1, -1):
            left[j] = left[j + 1] + self._max[terms[j]]
        items = self.items
        wanted: dict[int, bool] = {}

        def fits(i: int) -> bool:
            ok = wanted.get(i)
            if ok is None:
                ok = wanted[i] = capability is None or items[i].capability in (capability, None)
            return ok

        totals: dict[int, float] = {}
        j = 0
        while j < len(terms):
            if len(totals) >= k and heapq.nlargest(k, totals.values())[-1] > left[j]:
                break  # no insight unseen so far can reach the k best
            for i, weight in self._postings[terms[j]]:
                if fits(i):
                    totals[i] = totals.get(i, 0.0) + weight
            j += 1
        for w in terms[j:]:  # complete the scores of those found
            for i in totals:
                f = self._tf[i].get(w)
                if f:
                    totals[i] += self._weight(w, f, i)
        best = heapq.nsmallest(k, ((-s, i) for i, s in totals.items() if s > 0))
        return [(items[i], -neg) for neg, i in best]

    def _order(self, w: str) -> tuple[float, str]:
        return (-self._max[w], w)
