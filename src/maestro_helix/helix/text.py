"""Offline text utilities for the Helix evaluators: tokenisation and lexical relevance.

Everything here is pure CPU work on strings: no I/O, no network, no model weights. The relevance
score is a TF-IDF cosine blended with an IDF-weighted overlap, weighted by a small built-in
background document-frequency table, then mapped through a calibrated logistic curve.

The relevance slot is a :class:`RelevanceScorer` protocol so a semantic scorer (sentence
embeddings, an LLM judge, a cross-encoder) can replace :class:`LexicalRelevance` without editing
the QSR evaluator: implement ``score(query, text) -> float`` returning a *calibrated* 0..1 value
(on-topic answers at or above ~0.8, off-topic ones at or below ~0.3) and pass it as
``QSREvaluator(relevance=...)``. Calibration belongs to the scorer because raw similarities of
different methods live on different scales (a lexical cosine of 0.2 is strong evidence; an
embedding cosine of 0.2 is noise).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

__all__ = [
    "BACKGROUND_IDF",
    "STOPWORDS",
    "LexicalRelevance",
    "RelevanceScorer",
    "Tokenizer",
    "stem",
    "tokenize",
]

# Letters and digits of any script; "_" and punctuation split, so "cash-flow" and "cash_flow"
# both become two tokens.
_WORD = re.compile(r"[^\W_]+")

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves shall may might must
    also us let lets ok okay yes hi hello dear please thanks thank regards etc ie eg via per
"""

STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
"""A small English stopword list: function words that carry no topic."""


def stem(word: str) -> str:
    """Strip common English inflections so surface variants share a term.

    Deliberately light (plurals, -ing, -ed, -ly, a final -e): it must be fast and it only has to
    be consistent, not linguistically right. ``"pricing"``, ``"priced"`` and ``"price"`` all
    become ``"pric"``; ``"refunds"`` and ``"refunded"`` become ``"refund"``.

    Args:
        word: one lowercase token.

    Returns:
        The stemmed token; digits and short words are returned unchanged.
    """
    n = len(word)
    if n <= 3 or not word.isalpha():
        return word
    if word.endswith("s"):
        if word.endswith("ies") and n > 4:
            word = word[:-3] + "y"
        elif word.endswith(("sses", "xes", "ches", "shes", "zzes")):
            word = word[:-2]
        elif not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    elif word.endswith("ied") and n > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and n > 5:
        word = word[:-3]
    elif (word.endswith("ed") and n > 4) or (word.endswith("ly") and n > 5):
        word = word[:-2]
    # The base form of "-e" verbs/nouns loses its "e" too, so "rate"/"rated"/"rating" meet.
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _normalise(word: str, stopwords: frozenset[str], do_stem: bool) -> str:
    """One raw lowercase word to its term, or ``""`` when it carries no topic."""
    if word in stopwords or (len(word) < 2 and not word.isdigit()):
        return ""
    return stem(word) if do_stem else word


def tokenize(
    text: str, *, stopwords: frozenset[str] = STOPWORDS, do_stem: bool = True
) -> list[str]:
    """Split ``text`` into lowercase, stopword-free, stemmed terms (no caching).

    Args:
        text: any text.
        stopwords: words to drop.
        do_stem: apply :func:`stem`.

    Returns:
        The terms in order of appearance.
    """
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        t = _normalise(w, stopwords, do_stem)
        if t:
            out.append(t)
    return out


class Tokenizer:
    """:func:`tokenize` with a bounded per-instance memo of word -> term.

    The memo makes tokenisation of repeated vocabulary a dict lookup per word, which is what
    keeps a 200-word output in tens of microseconds. It only holds the normalisation of single
    words, so its contents never change a result.

    Args:
        stopwords: words to drop.
        do_stem: apply :func:`stem`.
        memo_size: the memo is dropped and rebuilt when it grows past this many words.
    """

    __slots__ = ("_do_stem", "_last", "_memo", "_memo_size", "_stopwords")

    def __init__(
        self,
        *,
        stopwords: frozenset[str] = STOPWORDS,
        do_stem: bool = True,
        memo_size: int = 50_000,
    ) -> None:
        self._stopwords = stopwords
        self._do_stem = do_stem
        self._memo_size = memo_size
        self._memo: dict[str, str] = {}
        self._last: tuple[str, tuple[str, ...]] = ("", ())

    def term(self, word: str) -> str:
        """Normalise one lowercase word; ``""`` when it is dropped."""
        t = self._memo.get(word)
        if t is None:
            t = _normalise(word, self._stopwords, self._do_stem)
            if len(self._memo) >= self._memo_size:
                # Clearing is cheaper than LRU bookkeeping on every word, and the memo refills
                # with the working vocabulary within a few calls.
                self._memo.clear()
            self._memo[word] = t
        return t

    def tokens(self, text: str) -> tuple[str, ...]:
        """Split ``text`` into terms, in order of appearance.

        The last text and its terms are kept, so evaluators that read the same output for
        several criteria tokenise it once.
        """
        last = self._last
        if last[0] is text or last[0] == text:
            return last[1]
        words = _WORD.findall(text.lower())
        # map/filter keep the common all-hits case in C; misses are patched up in Python.
        terms: list[str | None] = list(map(self._memo.get, words))
        if None in terms:
            for i, t in enumerate(terms):
                if t is None:
                    terms[i] = self.term(words[i])
        out = tuple(t for t in terms if t)
        # One tuple assignment: a concurrent reader sees the old pair or the new one, never a mix.
        self._last = (text, out)
        return out

    def words(self, text: str) -> list[str]:
        """Split ``text`` into lowercase, stemmed words *keeping* stopwords.

        Used to match phrases that consist only of stopwords (e.g. a mention ``"IT"``).
        """
        if self._do_stem:
            return [stem(w) for w in _WORD.findall(text.lower())]
        return _WORD.findall(text.lower())


@runtime_checkable
class RelevanceScorer(Protocol):
    """How relevant a text is to a query; the pluggable relevance slot of the QSR evaluator.

    Implementations must return a *calibrated* score in 0..1: on-topic answers at or above ~0.8,
    off-topic ones at or below ~0.3, so the evaluator can use the value as is. They should be
    pure and fast (they run on the gate's hot path); a scorer that raises makes the evaluation
    an ``EvaluationFailure`` (crash), never a low score.
    """

    def score(self, query: str, text: str) -> float:
        """Relevance of ``text`` to ``query`` in 0..1."""
        ...


# Background document frequencies (fraction of general-purpose documents that contain a word).
# Words that appear everywhere (and the verbs of instructions, which a task uses but an answer
# rarely repeats) must weigh little, or an off-topic answer could match on them alone. Unlisted
# words are treated as rare, which is right for the domain terms that decide relevance.
_DF_TIERS: tuple[tuple[float, str], ...] = (
    (
        0.35,
        """
        one two three four five six seven eight nine ten first second third last next new old
        time times make makes made making use uses used using get gets got like well way ways
        good work works worked year years need needs needed many much even back still see seen
        know known take takes taken give gives given go goes going went come comes came say says
        said think look looks find finds found day days part parts people person thing things
        number numbers best better high higher low lower long longer great small large big right
        left place point points case cases able sure however within without across based follow
        following include includes included including provide provides provided information show
        shows showed shown note another every less least put keep kept set sets call called end
        ended start started begin began try tried help helped want wanted mean means meant seem
        seems become became around among always never often sometimes usually already yet since
        whether either neither though although unless upon toward towards against next really
        quite rather almost enough instead especially actually simply just probably perhaps
        thing something anything everything nothing someone anyone everyone lot lots kind kinds
        type types form forms group groups side sides line lines top bottom full half whole
        hand hands home world life state states way name names fact facts idea ideas
        """,
    ),
    (
        0.15,
        """
        write writes written draft summarise summarize summary summaries explain explains
        describe describes list lists answer answers respond responds response responses reply
        replies question questions task tasks create creates generate generates produce produces
        analyse analyze analyses analysis identify identifies outline outlines compare compares
        comparison discuss discusses review reviews short brief briefly concise detailed detail
        details main key important relevant overview paragraph paragraphs sentence sentences word
        words text below above help result results report reports issue issues example examples
        general specific different various several current recent recently today week weeks month
        months date dates team teams company companies business businesses customer customers user
        users service services problem problems data value values change changes changed level
        levels area areas process processes system systems support supports related order orders
        ordered total average overall possible likely available approach approaches cite citing
        cited reference references affect affects affected effect effects cause causes caused
        reason reasons factor factors aspect aspects role roles way ways step steps method methods
        term terms include range topic topics content focus focuses focused mention mentions
        consider considered specific particular major minor common simple clear clearly whether
        able ensure ensures check checks need provide please least most based
        following previous further additional addition current future past present recent
        increase increases increased increasing decrease decreases decreased reduce reduces
        reduced rise rises rose fall falls fell grow grows grew growing improve improves improved
        strong weak positive negative significant significantly higher lower larger smaller
        major minor overall potential potentially possible possibly likely expect expected
        important importance new news latest update updates updated
        """,
    ),
    (
        0.06,
        """
        market markets growth rate rates cost costs price prices plan plans planned risk risks
        impact impacts study studies research evidence source sources product products account
        accounts policy policies management manager model models performance quality standard
        standards request requests period periods quarter quarters quarterly annual annually
        percent percentage million billion revenue sales money payment payments pay paid email
        phone contact experience experiences project projects goal goals strategy strategies
        program programme programs programmes country countries government public private
        industry industries economy economic financial finance social health community local
        national international global employee employees staff member members client clients
        office offices price cost budget share shares investment invest invested investor
        investors growth level sector sectors region regions trend trends survey surveys paper
        papers article articles author authors found finding findings test tests tested
        experiment experiments measure measures measured access application applications
        technology technologies software tool tools feature features design designed version
        """,
    ),
)

_DF_SHORT_NUMBER = 0.2  # "1", "12": counts and list numbers, weak evidence of topic
_DF_UNKNOWN = 0.002  # any unlisted word: treated as a topical term


def _build_idf(tiers: Iterable[tuple[float, str]]) -> dict[str, float]:
    idf: dict[str, float] = {}
    for df, words in tiers:
        for w in words.split():
            t = _normalise(w, STOPWORDS, True)
            if t:
                # The most common tier wins when a word is listed twice (after stemming).
                idf[t] = min(idf.get(t, math.inf), math.log(1.0 / df))
    return idf


BACKGROUND_IDF: Mapping[str, float] = MappingProxyType(_build_idf(_DF_TIERS))
"""IDF of common terms (stemmed) from a built-in background table; unlisted terms are rare."""

_IDF_UNKNOWN = math.log(1.0 / _DF_UNKNOWN)
_IDF_SHORT_NUMBER = math.log(1.0 / _DF_SHORT_NUMBER)


@dataclass(frozen=True, slots=True)
class _Query:
    """A tokenised, weighted query; cached per query string."""

    weights: Mapping[str, float]  # term -> tf-idf weight
    norm: float  # Euclidean norm of ``weights``
    mass: float  # sum of weight * idf (the denominator of recall)


class LexicalRelevance:
    """The default :class:`RelevanceScorer`: TF-IDF cosine plus weighted overlap, calibrated.

    The raw similarity is ``max(cosine, overlap * 0.6)`` where ``cosine`` is between sublinear
    TF-IDF vectors of query and text and ``overlap`` is the share of the query's TF-IDF mass
    that the text contains. Cosine is the main signal; the overlap term rescues long, on-topic
    answers to short questions, whose cosine is diluted by everything else they (rightly) say.
    The raw value is then mapped by a logistic curve with ``midpoint`` and ``steepness`` chosen
    on realistic research, finance and customer-service pairs so that on-topic answers score
    >= 0.8 and off-topic answers <= 0.3.

    Args:
        idf: term -> IDF override of the background table (stemmed terms).
        unknown_idf: IDF of terms missing from the table.
        midpoint: raw similarity mapped to 0.5.
        steepness: slope of the logistic curve (higher = sharper).
        query_cache_size: how many distinct query strings keep their tokenised form (LRU).
        tokenizer: the tokenizer to use; a fresh :class:`Tokenizer` by default.
    """

    def __init__(
        self,
        *,
        idf: Mapping[str, float] | None = None,
        unknown_idf: float = _IDF_UNKNOWN,
        midpoint: float = 0.2,
        steepness: float = 20.0,
        query_cache_size: int = 256,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self._idf: Mapping[str, float] = (
            BACKGROUND_IDF if idf is None else {**BACKGROUND_IDF, **idf}
        )
        self._unknown_idf = unknown_idf
        self.midpoint = midpoint
        self.steepness = steepness
        self.tokenizer = tokenizer or Tokenizer()
        # Per instance, not module level: the cache belongs to the scorer that fills it.
        self._query = functools.lru_cache(maxsize=query_cache_size)(self._build_query)

    def _idf_of(self, term: str) -> float:
        w = self._idf.get(term)
        if w is not None:
            return w
        if term.isdigit() and len(term) <= 2:
            return _IDF_SHORT_NUMBER
        return self._unknown_idf

    def _build_query(self, query: str) -> _Query:
        counts = Counter(self.tokenizer.tokens(query))
        idf_of = self._idf_of
        log = math.log
        weights = {t: idf_of(t) * (1.0 + log(c)) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        mass = sum(w * idf_of(t) for t, w in weights.items())
        return _Query(MappingProxyType(weights), norm, mass)

    def raw(self, query: str, text: str) -> float:
        """Uncalibrated similarity in 0..1 (0 when either side has no content terms).

        ``sqrt(cosine * max(recall, precision))``: the TF-IDF cosine, scaled by how much of
        the query's weighted terms the text covers (recall: a long answer to a short question)
        or how much of the text's weighted terms come from the query (precision: a short summary
        of a long input), whichever is higher. Coverage is weighted by IDF squared so that
        sharing a rare topical term counts far more than sharing "recent" or "study".
        """
        q = self._query(query)
        if q.norm == 0.0:
            return 0.0
        counts = Counter(self.tokenizer.tokens(text))
        if not counts:
            return 0.0
        qw = q.weights
        idf_get = self._idf.get
        unknown = self._unknown_idf
        log = math.log
        dot = norm2 = text_mass = query_covered = text_covered = 0.0
        for t, c in counts.items():
            idf = idf_get(t)
            if idf is None:
                idf = _IDF_SHORT_NUMBER if (len(t) <= 2 and t.isdigit()) else unknown
            w = idf * (1.0 + log(c)) if c > 1 else idf
            norm2 += w * w
            text_mass += w * idf
            wq = qw.get(t)
            if wq is not None:
                dot += wq * w
                query_covered += wq * idf
                text_covered += w * idf
        if dot == 0.0:
            return 0.0
        cosine = dot / (q.norm * math.sqrt(norm2))
        coverage = max(query_covered / q.mass, text_covered / text_mass)
        return min(1.0, math.sqrt(cosine * coverage))

    def calibrate(self, raw: float) -> float:
        """Map a raw similarity to a calibrated 0..1 relevance (0 stays 0, 1 stays ~1)."""
        if raw <= 0.0:
            return 0.0
        lo = 1.0 / (1.0 + math.exp(self.steepness * self.midpoint))
        s = 1.0 / (1.0 + math.exp(-self.steepness * (raw - self.midpoint)))
        # Rescale so the curve starts at exactly 0: no shared term means no relevance.
        return max(0.0, min(1.0, (s - lo) / (1.0 - lo)))

    def score(self, query: str, text: str) -> float:
        """Calibrated relevance of ``text`` to ``query`` in 0..1."""
        return self.calibrate(self.raw(query, text))
