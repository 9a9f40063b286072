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
from maestro_helix.helix.pii import redact, replaced, scan

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
    findings = scan(text)
    if redactor is redact:  # its own scan would find these again: replace them at once
        if not findings:  # the text is its own redaction, and this scan verified it
            return text, 0
        out = replaced(text, findings)
    else:
        out = redactor(text)
    found = len(findings)
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
    if text.isascii():  # lower-casing ASCII first finds the same words, lower-cased, at once
        return [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP]


_ANSWERS_KEPT = 4096  # a version's remembered answers (cleared when full or when it grows)
_WORDS_KEPT = 16384  # a version's words with their weights (the same)


class BM25Index:
    """Okapi BM25 over the insights of one knowledge version.

    Searching is exact and touches little: an inverted index gives each query word's
    insights, words are taken by the most they can add, and once no insight unseen so far
    could still reach the ``k``-th best score, the remaining words only complete the scores of
    those already found (a query about one topic reads that topic's insights, not the whole
    base). Weights are computed at query time from the counts, so a new version that only adds
    insights extends the last version's index instead of building it again.

    Args:
        items: the version's insights.
        k1, b: the usual BM25 parameters.
        previous: the index of an earlier version, given up to this one: when ``items`` begin
            with its insights (a push adds at the end), it is extended in place; otherwise
            the word counts of the insights it holds are reused.
    """

    def __init__(
        self,
        items: Sequence[Insight],
        k1: float = 1.5,
        b: float = 0.75,
        previous: BM25Index | None = None,
    ) -> None:
        self.k1, self.b = k1, b
        if (
            previous is not None
            and (previous.k1, previous.b) == (k1, b)
            and previous._prefix_of(items)
        ):
            self.__dict__.update(previous.__dict__)  # take its counts over, then add the rest
            previous.__dict__.clear()
            self._add(items[len(self._ids) :], {})
            return
        known = previous._counts if previous is not None else {}
        self.items: list[Insight] = []
        self._ids: list[str] = []
        self._counts: dict[str, Counter[str]] = {}
        self._tf: list[Counter[str]] = []
        self._len: list[int] = []
        self._total = 0
        self._df: Counter[str] = Counter()
        self._postings: dict[str, list[int]] = {}
        self._maxf: dict[str, int] = {}
        self._minlen: dict[str, int] = {}
        self._add(items, known)

    def _prefix_of(self, items: Sequence[Insight]) -> bool:
        ids = getattr(self, "_ids", None)
        if ids is None or len(items) < len(ids):
            return False
        return all(a == b.item_id for a, b in zip(ids, items, strict=False))

    def _add(self, items: Sequence[Insight], known: dict[str, Counter[str]]) -> None:
        self._answers: dict[tuple[frozenset[str], int, str | None], tuple[Any, ...]] = {}
        self._allowed_for: dict[str, list[bool]] = {}
        self._words: dict[tuple[str, str | None], tuple[float, dict[int, float]]] = {}
        for item in items:
            tf = known.get(item.item_id)
            if tf is None:
                tf = Counter(tokens(item.text))
            i = len(self.items)
            n = sum(tf.values())
            self.items.append(item)
            self._ids.append(item.item_id)
            self._counts[item.item_id] = tf
            self._tf.append(tf)
            self._len.append(n)
            self._total += n
            self._df.update(tf.keys())
            for w, f in tf.items():
                self._postings.setdefault(w, []).append(i)
                if f > self._maxf.get(w, 0):
                    self._maxf[w] = f
                if n < self._minlen.get(w, n + 1):
                    self._minlen[w] = n

    def search(
        self, query: str, k: int, capability: str | None = None
    ) -> list[tuple[Insight, float]]:
        """The ``k`` best-scoring insights (score > 0), for ``capability`` when given."""
        words = frozenset(w for w in tokens(query) if w in self._postings)
        if not words or k <= 0 or not self.items:
            return []
        # the result depends only on the query's indexed words: queries recur (a retry, the
        # same topic and angle), so this version's answers are kept until the index grows
        key = (words, k, capability)
        found = self._answers.get(key)
        if found is None:
            if len(self._answers) >= _ANSWERS_KEPT:
                self._answers.clear()
            found = self._answers[key] = tuple(self._search(words, k, capability))
        return list(found)

    def _allowed(self, capability: str | None) -> list[bool] | None:
        """Per insight: may it answer a query for ``capability`` (None: every one may)."""
        if capability is None:
            return None
        allowed = self._allowed_for.get(capability)
        if allowed is None:
            allowed = self._allowed_for[capability] = [
                i.capability is None or i.capability == capability for i in self.items
            ]
        return allowed

    def _word(self, w: str, capability: str | None) -> tuple[float, dict[int, float]]:
        """The most ``w`` can add to an insight's score, and what it adds to each insight that
        holds it (of those ``capability`` allows): fixed until the index grows, and the words
        of a step's task recur in every query of that step."""
        key = (w, capability)
        known = self._words.get(key)
        if known is not None:
            return known
        n = len(self.items)
        k1 = self.k1
        c1 = k1 * (1.0 - self.b)  # a document's length norm: c1 + c2 * its length
        c2 = k1 * self.b / ((self._total / n) or 1.0)
        d = self._df[w]
        g = math.log(1.0 + (n - d + 0.5) / (d + 0.5)) * (k1 + 1.0)  # idf * (k1 + 1)
        f = self._maxf[w]  # the most: its largest count, in its shortest insight
        most = g * f / (f + c1 + c2 * self._minlen[w])
        allowed = self._allowed(capability)
        tfs, lens = self._tf, self._len
        adds: dict[int, float] = {}
        for i in self._postings[w]:
            if allowed is None or allowed[i]:
                f = tfs[i][w]
                adds[i] = g * f / (f + c1 + c2 * lens[i])
        if len(self._words) >= _WORDS_KEPT:
            self._words.clear()
        known = self._words[key] = (most, adds)
        return known

    def _search(
        self, words: frozenset[str], k: int, capability: str | None
    ) -> list[tuple[Insight, float]]:
        weights = {w: self._word(w, capability) for w in words}
        terms = sorted(words, key=lambda w: (-weights[w][0], w))
        left = [0.0] * (len(terms) + 1)  # left[j]: the most the words from j on can add
        for j in range(len(terms) - 1, -1, -1):
            left[j] = left[j + 1] + weights[terms[j]][0]
        totals: dict[int, float] = {}
        j = 0
        while j < len(terms):
            if len(totals) >= k and heapq.nlargest(k, totals.values())[-1] > left[j]:
                break  # no insight unseen so far can reach the k best
            for i, add in weights[terms[j]][1].items():
                totals[i] = totals.get(i, 0.0) + add
            j += 1
        for w in terms[j:]:  # complete the scores of those found, from the shorter side
            adds = weights[w][1]
            if len(adds) < len(totals):
                for i, add in adds.items():
                    if i in totals:
                        totals[i] += add
            else:
                for i in totals:
                    more = adds.get(i)
                    if more is not None:
                        totals[i] += more
        best = heapq.nsmallest(k, ((-s, i) for i, s in totals.items() if s > 0))
        items = self.items
        return [(items[i], -neg) for neg, i in best]
