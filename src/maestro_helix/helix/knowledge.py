"""Cross-agent learning (CSIL), the pure part: insights from high-QSR outputs, redacted and
verified with the project's own detectors (:mod:`maestro_helix.helix.pii`), and retrieval by
BM25 over the current version's items.

Redaction is verified: the redacted text is scanned again, and an insight in which anything is
still found is refused (:class:`RedactionUnverified`), never stored. The store checks once more
on write. Retrieval is read-only: agents get frozen :class:`~maestro_helix.core.knowledge.Insight`
values in their context; only the learning service pushes.
"""

from __future__ import annotations

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

    Args:
        items: the version's insights.
        k1, b: the usual BM25 parameters.
    """

    def __init__(self, items: Sequence[Insight], k1: float = 1.5, b: float = 0.75) -> None:
        self.items = tuple(items)
        self.k1, self.b = k1, b
        self._tf = [Counter(tokens(i.text)) for i in self.items]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(self.items)
        self._idf = {w: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}

    def search(
        self, query: str, k: int, capability: str | None = None
    ) -> list[tuple[Insight, float]]:
        """The ``k`` best-scoring insights (score > 0), for ``capability`` when given."""
        q = set(tokens(query))
        if not q or k <= 0:
            return []
        scored: list[tuple[float, int]] = []
        for i, (item, tf) in enumerate(zip(self.items, self._tf, strict=True)):
            if capability is not None and item.capability not in (capability, None):
                continue
            s = 0.0
            norm = self.k1 * (1.0 - self.b + self.b * self._len[i] / (self._avg or 1.0))
            for w in q & tf.keys():
                f = tf[w]
                s += self._idf[w] * f * (self.k1 + 1.0) / (f + norm)
            if s > 0:
                scored.append((s, i))
        scored.sort(key=lambda x: (-x[0], x[1]))
        return [(self.items[i], s) for s, i in scored[:k]]
