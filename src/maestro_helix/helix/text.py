"""Offline text utilities for the Helix evaluators: tokenisation and lexical relevance.

Everything here is pure CPU work on strings: no I/O, no network, no model weights. The relevance
score is a TF-IDF cosine scaled by IDF-weighted term coverage, with IDF from a small built-in
background document-frequency table, mapped through a calibrated logistic curve.

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
from itertools import repeat
from operator import mul
from types import MappingProxyType
from typing import Protocol, runtime_checkable

__all__ = [
    "BACKGROUND_IDF",
    "STOPWORDS",
    "TEMPLATE_WORDS",
    "LexicalRelevance",
    "RelevanceScorer",
    "Tokenizer",
    "stem",
    "tokenize",
]

# Letters and digits of any script; "_" and punctuation split, so "cash-flow" and "cash_flow"
# both become two tokens.
_WORD = re.compile(r"[^\W_]+")
# ``_WORD.findall(text.lower())`` of an ASCII text in C without the regex engine: letters
# lower-cased, digits kept, every other byte a space, then split on the spaces (on ASCII, a
# character of ``[^\W_]`` is exactly a letter or a digit). About four times as fast.
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256)
)


def _lower_words(text: str) -> list[str]:
    """``_WORD.findall(text.lower())``."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(text.lower())


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

_TEMPLATE_TEXT = """
    explain explains explained explanation describe describes described description purpose
    purposes rule rules main key role roles work works working how overview short brief briefly
    paragraph paragraphs sentence sentences newcomer newcomers beginner beginners matter matters
    cover covers covering provide give write summarise summarize summary concept concepts meaning
    define definition basic basics introduction intro answer question task tell discuss outline
    does mean means feature features advantage advantages disadvantage disadvantages difference
    differences example examples important importance why function functions class classes
    method methods module modules python use used using usage can could would like know few
    words detail detailed details simple simply plain terms aspect aspects idea ideas apply
    applies applying applied following text below passage document article input content
    given provided one two three four five several
"""

TEMPLATE_WORDS: frozenset[str] = frozenset(_TEMPLATE_TEXT.split())
"""Words of the instruction template ("explain the purpose and rules of ..."), not its subject.

They weigh little in relevance and are left out of a task's subject, so "describe the purpose
of X" is judged on X and an answer need not repeat "purpose" to count as relevant.
"""


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
    for w in _lower_words(text):
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

    __slots__ = ("_do_stem", "_memo", "_memo_size", "_recent", "_stopwords")

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
        # The two most recent (text, terms) pairs, newest first.
        self._recent: tuple[tuple[str, tuple[str, ...]], ...] = ()

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

    def tokens(self, text: str, *, remember: bool = True) -> tuple[str, ...]:
        """Split ``text`` into terms, in order of appearance.

        The two most recent texts and their terms are kept, so an evaluator that reads the same
        output and query for several criteria tokenises each once.

        Args:
            text: any text.
            remember: keep this text among the recent ones; pass False for short one-off
                strings so they do not evict the output being evaluated.
        """
        recent = self._recent
        for seen, terms_of_seen in recent:
            if seen is text or seen == text:
                return terms_of_seen
        words = _lower_words(text)
        # map/filter keep the common all-hits case in C; misses are patched up in Python.
        terms: list[str | None] = list(map(self._memo.get, words))
        if None in terms:
            for i, t in enumerate(terms):
                if t is None:
                    terms[i] = self.term(words[i])
        out = tuple(filter(None, terms))  # drops the "" of stopwords, in C
        if remember:
            # One assignment: a concurrent reader sees the old pairs or the new ones, never a mix.
            self._recent = ((text, out), *recent[:1])
        return out

    def words(self, text: str) -> list[str]:
        """Split ``text`` into lowercase, stemmed words *keeping* stopwords.

        Used to match phrases that consist only of stopwords (e.g. a mention ``"IT"``).
        """
        if self._do_stem:
            return [stem(w) for w in _lower_words(text)]
        return _lower_words(text)


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
        literature journal journals trial trials participant participants sample samples dataset
        conclusion conclusions hypothesis outcome outcomes adult adults children student students
        customer message messages ticket tickets support agent agents case
        """,
    ),
)

_TEMPLATE_TERMS = frozenset(tokenize(_TEMPLATE_TEXT))

# The instruction template's words are as common in tasks as the commonest words in text.
_DF_TIERS = (*_DF_TIERS, (0.35, _TEMPLATE_TEXT))

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
# Listed rather than tested per term, so a lookup with a default covers every case.
_NUMBER_IDF: Mapping[str, float] = MappingProxyType(
    {
        **{str(i): _IDF_SHORT_NUMBER for i in range(100)},
        **{f"0{i}": _IDF_SHORT_NUMBER for i in range(10)},
    }
)


@dataclass(frozen=True, slots=True)
class _Query:
    """A tokenised, weighted query; cached per query string. Treat as read-only."""

    weights: dict[str, float]  # term -> tf-idf weight
    idf: dict[str, float]  # term -> idf
    norm: float  # Euclidean norm of ``weights``
    mass: float  # sum of weight * idf (the denominator of recall)
    subject_mass: float  # the same over the terms outside the instruction template


class LexicalRelevance:
    """The default :class:`RelevanceScorer`: calibrated TF-IDF cosine times weighted coverage.

    The raw similarity (:meth:`raw`) is ``sqrt(cosine * coverage)``: ``cosine`` between
    sublinear TF-IDF vectors of query and text, ``coverage`` the larger of recall (the share of
    the query's weighted terms the text contains: a long answer to a short question, whose
    cosine is diluted by everything else it rightly says) and precision (the share of the
    text's weighted terms that come from the query: a short summary of a long input).
    :meth:`calibrate` then maps it through a logistic curve (``midpoint`` 0.22, ``steepness``
    20) fitted on research, finance and customer-service pairs: on-topic answers had raw values
    of 0.37..0.81 (calibrated >= 0.95), off-topic ones 0..0.10 (calibrated <= 0.08), and an
    answer about the right company that ignored the question 0.24 (calibrated ~0.6).

    Args:
        idf: term -> IDF overrides of the background table (keys are stemmed terms).
        unknown_idf: IDF of terms missing from the table (rare, topical terms).
        midpoint: raw similarity mapped to 0.5.
        steepness: slope of the logistic curve (higher = sharper).
        query_cache_size: how many distinct query strings keep their weighted form (LRU).
        tokenizer: the tokenizer to use; a fresh :class:`Tokenizer` by default.
    """

    def __init__(
        self,
        *,
        idf: Mapping[str, float] | None = None,
        unknown_idf: float = _IDF_UNKNOWN,
        midpoint: float = 0.22,
        steepness: float = 20.0,
        query_cache_size: int = 256,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        table = {**_NUMBER_IDF, **BACKGROUND_IDF, **(idf or {})}
        # A plain dict (not the read-only proxy): its C-level get is the inner loop.
        self._idf: dict[str, float] = table
        self._unknown_idf = float(unknown_idf)
        self.midpoint = float(midpoint)
        self.steepness = float(steepness)
        self.tokenizer = tokenizer or Tokenizer()
        # Per instance, not module level: the cache belongs to the scorer that fills it.
        self._query = functools.lru_cache(maxsize=query_cache_size)(self._build_query)

    def _build_query(self, query: str) -> _Query:
        counts = Counter(self.tokenizer.tokens(query))
        # Parallel lists in the terms' order, summed in that order (the same floats as sums over
        # the dicts); a term seen once weighs its idf times 1.0 + log(1) == 1.0, exactly its idf.
        idfs = list(map(self._idf.get, counts, repeat(self._unknown_idf)))
        ws = [
            i if c == 1 else i * (1.0 + math.log(c))
            for i, c in zip(idfs, counts.values(), strict=True)
        ]
        idf = dict(zip(counts, idfs, strict=True))
        weights = dict(zip(counts, ws, strict=True))
        norm = math.sqrt(sum(map(mul, ws, ws)))
        mass = sum(map(mul, ws, idfs))
        subject_mass = sum(
            w * i for t, w, i in zip(counts, ws, idfs, strict=True) if t not in _TEMPLATE_TERMS
        )
        return _Query(weights, idf, norm, mass, subject_mass)

    def raw(self, query: str, text: str) -> float:
        """Uncalibrated similarity in 0..1 (0 when either side has no content terms).

        ``sqrt(cosine * max(recall, precision))``, see the class docstring. Coverage is
        weighted by IDF squared so that sharing a rare topical term counts far more than
        sharing "recent" or "study".
        """
        q = self._query(query)
        if q.norm == 0.0:
            return 0.0
        counts = Counter(self.tokenizer.tokens(text))
        if not counts:
            return 0.0
        shared = counts.keys() & q.weights.keys()
        if not shared:
            return 0.0
        # map/zip/sum over the text's terms stay in C; only shared terms are visited in Python.
        idfs = list(map(self._idf.get, counts, repeat(self._unknown_idf)))
        ws = [
            i if c == 1 else i * (1.0 + math.log(c))
            for i, c in zip(idfs, counts.values(), strict=True)
        ]
        norm2 = sum(map(mul, ws, ws))
        text_mass = sum(map(mul, ws, idfs))
        qw = q.weights
        qidf = q.idf
        dot = query_covered = text_covered = subject_covered = 0.0
        for t in shared:
            c = counts[t]
            idf = qidf[t]
            w = idf if c == 1 else idf * (1.0 + math.log(c))
            wq = qw[t]
            dot += wq * w
            query_covered += wq * idf
            text_covered += w * idf
            if t not in _TEMPLATE_TERMS:
                subject_covered += wq * idf
        cosine = dot / (q.norm * math.sqrt(norm2))
        coverage = max(query_covered / q.mass, text_covered / text_mass)
        sim = math.sqrt(cosine * coverage)
        if q.subject_mass > 0.0:
            # Sharing only the template's words ("purpose", "rules") is not being on topic.
            sim *= min(1.0, 0.3 + 1.4 * subject_covered / q.subject_mass)
        return min(1.0, sim)

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
