"""The QSR's defect criteria: the common ways an answer fails however relevant its words look.

Each function reads the output text (and the task, the input or the sources) and returns a
:class:`Check`: a score in 0..1 (1 = no sign of the defect), a one-line detail and a suggestion
the agent can act on. The evaluator reports every check as its own breakdown entry and lets the
weakest check cap the aggregate (see :mod:`maestro_helix.helix.qsr`), because a refusal or a
repetition loop is a failed step whatever its other criteria say.

==================  =====================================================================
criterion           catches
==================  =====================================================================
``placeholder``     "TODO", "N/A", "[insert answer here]", lorem ipsum, a bare "..."
``refusal``         "I'm sorry, but I can't ...", "As an AI ...", polite non-answers
``truncation``      an answer that stops mid-sentence or leaves a code fence open
``degeneration``    repetition loops, low lexical diversity, gibberish, shuffled word salad
``echo``            the task (or the input) handed back instead of an answer
``focus``           an answer about something else that names the subject once (``topic``)
``grounding``       claims not supported by the step's declared sources (``topic``)
==================  =====================================================================

All pure CPU on strings (regexes, counters, one ``zlib`` call): tens of microseconds per output.
What they cannot see: whether a fluent, on-topic answer is *true* (outside ``grounding``),
paraphrased off-topic text with the subject's words sprinkled through it, and languages other
than English for the stopword-based gibberish and refusal signals (which then stay quiet).
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

from maestro_helix.helix.text import STOPWORDS, TEMPLATE_WORDS, Tokenizer

__all__ = [
    "TEMPLATE_TERMS",
    "Check",
    "check_degeneration",
    "check_echo",
    "check_placeholder",
    "check_refusal",
    "check_truncation",
    "clamp",
    "implausible_word",
    "sentences",
]


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one defect criterion: 1.0 means no sign of the defect."""

    score: float
    detail: str
    suggestion: str = ""


_OK: Final = 1.0
TEMPLATE_TERMS: Final = frozenset(Tokenizer().tokens(" ".join(TEMPLATE_WORDS)))
"""The instruction template's words as terms ("explain", "purpose", "rules", ...)."""
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+")
# ``_WORDS`` on lower-cased ASCII text, where a letter ([^\W\d_]) is [a-z] and a digit [0-9]:
# the same matches, found about twice as fast as through the Unicode categories.
_WORDS_ASCII_LOWER = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+")
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n{2,}|\n(?=[ \t]*(?:[-*•]|\d+[.)])\s)")
# The separators of ``_SENT_SPLIT`` found with the sentence's closing mark included: each
# alternative starts with a literal, so the regex engine skips to those characters instead of
# trying a look-behind at every position. A match that starts on ".", "!" or "?" splits one
# character after its start (where the look-behind's match starts); one on a newline at it.
_SENT_SEP: Final = re.compile(
    r"\.[\"')\]]*\s+|![\"')\]]*\s+|\?[\"')\]]*\s+|\n(?:\n+|(?=[ \t]*(?:[-*•]|\d+[.)])\s))"
)


def _words_lower(low: str) -> list[str]:
    """``_WORDS.findall(low)`` of a lower-cased text."""
    return (_WORDS_ASCII_LOWER if low.isascii() else _WORDS).findall(low)


def _split_sentences(text: str) -> list[str]:
    """``_SENT_SPLIT.split(text)``."""
    out: list[str] = []
    pos = 0
    for m in _SENT_SEP.finditer(text):
        start = m.start()
        if text[start] != "\n":
            start += 1
        out.append(text[pos:start])
        pos = m.end()
    out.append(text[pos:])
    return out


def sentences(text: str) -> list[str]:
    """The sentences (and list items, and paragraphs) of a text."""
    return _sentences(text)


# The last text split and its sentences: refusal, focus and grounding read the same output.
# One assignment replaces it, so a concurrent reader sees an old pair or a new one, never a mix.
_LAST_SPLIT: tuple[str, list[str]] = ("", [])


def _sentences(text: str) -> list[str]:
    global _LAST_SPLIT
    seen, sents = _LAST_SPLIT
    if seen is text or seen == text:
        return list(sents)
    sents = [s.strip() for s in _split_sentences(text) if s.strip()]
    _LAST_SPLIT = (text, sents)
    return list(sents)


def clamp(x: float) -> float:
    """``x`` limited to 0..1."""
    return _clamp(x)


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


# --------------------------------------------------------------------------------- placeholder

_PLACEHOLDER_WHOLE: Final = re.compile(
    r"(?:n/?a|tbd|tba|todo|fixme|none|null|nil|undefined|placeholder|xxx+|test|-+|_+|\.+|…+|\?+"
    r"|\[[a-z _-]{1,40}\]|<[a-z _-]{1,30}>|\{\{?[a-z _-]{1,30}\}?\}"
    r"|(?:your |the |my )?(?:answer|response|output|text|content)(?: goes| will go)?(?: here)?"
    r"|(?:to be|will be) (?:written|added|completed|provided|filled in)(?: later)?"
    r"|coming soon|no answer|no response|not available|nothing to add)[.!]?",
)
_PLACEHOLDER_PART: Final = re.compile(
    r"lorem ipsum|\binsert (?:your |the )?\w+(?: \w+)? here\b|\b(?:answer|text|content) goes here"
    r"|\[(?:insert|add|your|placeholder|todo|tbd)[^\]]{0,40}\]"
)


def check_placeholder(text: str) -> Check | None:
    """A stand-in instead of an answer; None when the text is a real attempt."""
    body = text.strip().lower()
    if len(body) > 400:
        return None
    words = len(body.split())
    if _PLACEHOLDER_WHOLE.fullmatch(body) or (words <= 12 and _PLACEHOLDER_PART.search(body)):
        return Check(
            0.0,
            f"placeholder instead of an answer ({words} word(s))",
            "The output is a placeholder: write the actual answer to the task.",
        )
    return None


# ------------------------------------------------------------------------------------ refusal

_HELP_VERBS: Final = (
    r"(?:help|assist|provide|answer|explain|describe|discuss|comply|do (?:that|this|so)|give"
    r"|share|write|fulfil|fulfill|complete|go into|talk about|elaborate|tell|cover|address"
    r"|respond|support (?:you|that|this)|offer (?:an?|any|more) (?:explanation|answer|detail"
    r"|information|overview))"
)
_REFUSAL: Final = re.compile(
    r"\b(?:i|we)(?:'m| am| are|'re)? (?:so |very |really |truly )?(?:sorry|afraid),? "
    r"(?:but|that|i|we|this|it|not)\b"
    r"|\b(?:i|we) (?:really |simply |just |unfortunately |regrettably )?(?:can ?not|can't|cannot"
    r"|won't|will not|am unable to|'m unable to|am not able to|'m not able to|are unable to"
    r"|are not able to|am not in a position to|'m not in a position to|won't be able to"
    r"|will not be able to|am not allowed to|'m not allowed to|must|have to|need to) "
    r"(?:(?:really |fully |properly |currently )?(?:be able to )?)" + _HELP_VERBS + r"\b"
    r"|\b(?:i|we) (?:must|have to|need to|will have to) (?:politely )?decline\b"
    r"|\b(?:i|we) (?:do not|don't|did not|didn't) (?:really )?(?:know|have (?:enough |any |the )?"
    r"(?:information|access|details|knowledge|data|expertise))\b"
    r"|\b(?:i|we)(?:'d| would) (?:rather|prefer) not\b"
    r"|\bas an ai\b|\bas a language model\b|\bi am (?:just |only )?an? (?:ai|language model)\b"
    r"|\b(?:unfortunately|regrettably|sadly),? (?:i|we|that|this|explaining|answering|it)\b"
    r"|\b(?:beyond|outside|exceeds?) (?:what i can|the scope of (?:what|this|my)|my (?:ability"
    r"|abilities|capabilit|scope|knowledge|expertise|remit))"
    r"|\bnot (?:something|a topic|a subject|a question) (?:that )?(?:i|we) (?:can|am able|could)"
    r"|\bmy knowledge (?:of|on|about) (?:this|that|the topic|the subject)[^.]{0,30}limited"
    r"|\bi (?:apologi[sz]e|regret)\b|\bi'd be (?:happy|glad) to (?:help|assist) with "
    r"(?:something|anything) else"
    r"|\b(?:consult|refer to|speak (?:to|with)|talk to) (?:a |an |the |your |another )?(?:"
    r"(?:qualified |trusted |reliable |official |local )?(?:expert|specialist|professional"
    r"|source|doctor|lawyer|advisor|adviser|documentation|textbook|website|reference))"
)
_FILLER: Final = re.compile(
    r"\b(?:thank you|thanks) for|\bgreat question\b|\bgood question\b|\bi appreciate\b"
    r"|\bhope (?:this|that) helps\b|\blet me know\b|\bhappy to help\b|\bperhaps try\b"
    r"|\bi (?:would )?recommend\b|\bit would be best\b|\byou (?:may|might) want to\b"
    r"|\bplease (?:try|rephrase|ask)\b"
)


# Every refusal pattern contains one of these: a text with none of them skips the check.
_REFUSAL_GATE: Final = (
    "sorry", "afraid", "not", "n't", "unable", "must", "have to", "need to", "decline", " ai",
    "model", "unfortunately", "regrettably", "sadly", "beyond", "outside", "exceed", "apolog",
    "regret", "rather", "prefer", "knowledge", "consult", "refer", "speak", "talk to", "glad",
    "happy",
)  # fmt: skip


def check_refusal(text: str, tok: Tokenizer) -> Check:
    """A refusal or a polite non-answer: apologies and redirections with nothing explained."""
    low = text.lower()
    if not any(map(low.__contains__, _REFUSAL_GATE)):  # substring tests in C
        return Check(_OK, "no refusal")
    sents = _sentences(text)
    refusing = 0
    substance = 0
    for s in sents[:40]:
        low = s.lower()
        if _REFUSAL.search(low):
            refusing += 1
        elif not _FILLER.search(low) and len(tok.tokens(s, remember=False)) >= 5:
            substance += 1
    if not refusing:
        return Check(_OK, "no refusal")
    # A hedge inside a real explanation ("I can't be sure, but ...") keeps most of its score.
    share = substance / max(1, substance + refusing)
    score = _clamp(0.15 + 0.85 * (share - 0.34) / 0.5) if substance >= 2 else 0.1
    detail = f"refusal or non-answer: {refusing} refusing sentence(s), {substance} with content"
    return Check(score, detail, "Do not refuse or deflect: answer the task itself.")


# --------------------------------------------------------------------------------- truncation

_DANGLING: Final = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "by",
        "from",
        "as",
        "at",
        "that",
        "which",
        "who",
        "whose",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "its",
        "their",
        "his",
        "her",
        "our",
        "your",
        "this",
        "these",
        "those",
        "than",
        "then",
        "if",
        "because",
        "while",
        "when",
        "where",
        "into",
        "onto",
        "over",
        "under",
        "between",
        "about",
        "such",
        "very",
        "most",
        "more",
        "also",
        "not",
        "no",
        "nor",
        "so",
    ]
)
_LIST_LINE: Final = re.compile(r"^[ \t]*(?:[-*+•|>#]|\d+[.)]|[A-Za-z][.)]\s)")
_TERMINAL: Final = frozenset(".!?…\"'”’)]}*`:;>|")


_CLOSERS: Final = "\"')]}*`>”’"


def _ends_complete(body: str, last_line: str) -> bool:
    """Ends on sentence punctuation, possibly inside closing quotes or brackets ("...it.")");
    a closing bracket after a plain word ("... f(3.0) and f(3)") is still mid-sentence,
    unless it closes a link or URL."""
    if body[-1] not in _TERMINAL:
        return False
    if body[-1] not in _CLOSERS:
        return True
    inner = body.rstrip(_CLOSERS)
    if not inner or inner[-1] in ".!?…:;":
        return True
    tail = last_line.rsplit(" ", 1)[-1]
    return "://" in tail or len(_WORDS.findall(last_line)) < 4


def _closing_line(body: str) -> bool:
    """The last line stands apart (after a blank line) and what comes before it is finished:
    "Kind regards, the support team" under a letter."""
    head = body.rpartition("\n")[0]
    before = head.rstrip()
    return head.endswith("\n") and bool(before) and before[-1] in ".!?)\"'"


def check_truncation(text: str) -> Check:
    """An answer that stops mid-sentence (or mid code block) instead of finishing."""
    body = text.rstrip()
    if body.count("```") % 2 == 1:
        return Check(0.2, "a code block is left open", "Finish the answer: close the code block.")
    last_line = body.rsplit("\n", 1)[-1].strip()
    if not last_line or _LIST_LINE.match(last_line) or _ends_complete(body, last_line):
        return Check(_OK, "ends on a complete sentence")
    words = _WORDS.findall(last_line.lower())
    if len(words) < 4 and "\n" in body:
        return Check(_OK, "ends on a short line (label, signature or value)")
    if len(words) <= 6 and words[-1] not in _DANGLING and _closing_line(body):
        return Check(_OK, "ends on a closing line after complete sentences (a sign-off)")
    if len(_WORDS.findall(body)) < 4:
        return Check(_OK, "too short to judge")
    last = words[-1] if words else ""
    score = 0.05 if last in _DANGLING or body[-1] in ",-(–—/&+" else 0.2
    return Check(
        score,
        f"ends mid-sentence (last word {last!r})" if last else "ends mid-sentence",
        "The answer stops mid-sentence: finish it with complete sentences.",
    )


# ------------------------------------------------------------------------------- degeneration

_DETERMINERS: Final = frozenset(("the", "a", "an"))
_NOT_AFTER_DET: Final = frozenset(
    [
        "of",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "to",
        "in",
        "on",
        "for",
        "with",
        "by",
        "the",
        "a",
        "an",
        "that",
        "it",
        "as",
        "at",
        "from",
        "be",
    ]
)
_ABBREV: Final = frozenset(("e.g", "i.e", "etc", "vs", "cf", "al", "no", "approx", "fig"))
_BOUNDARY: Final = re.compile(r"([^\W\d_]+)[.!?]\s+([^\W\d_])")  # what _boundaries finds
_SENTENCE_END: Final = re.compile(r"[.!?]\s+([^\W\d_])")
_LATIN_WORD: Final = re.compile(r"[a-z]+")
_IMPLAUSIBLE_BELOW: Final = -3.7  # mean log-probability of a word's letter pairs


@functools.cache
def _letter_model() -> dict[str, float]:
    """Letter-pair log-probabilities of English (bench/tools/make_letter_model.py builds it)."""
    raw = resources.files("maestro_helix.helix").joinpath("data/letters.json").read_text("utf-8")
    table: dict[str, float] = json.loads(raw)
    return table


_WORD_MEMO: dict[str, bool] = {}
_WORD_MEMO_MAX: Final = 50_000


def implausible_word(w: str) -> bool:
    """Whether a lower-case ASCII word's letter pairs are unlike English (memoised)."""
    bad = _WORD_MEMO.get(w)
    if bad is None:
        get = _letter_model().get
        s = f"^{w}$"
        total = 0.0
        for i in range(len(s) - 1):
            total += get(s[i : i + 2], -8.0)
        bad = len(w) > 24 or total / (len(s) - 1) < _IMPLAUSIBLE_BELOW
        if len(_WORD_MEMO) >= _WORD_MEMO_MAX:
            _WORD_MEMO.clear()
        _WORD_MEMO[w] = bad
    return bad


def _implausible_share(text: str) -> tuple[float, int]:
    """(share of ASCII words of 3+ letters whose letter pairs are unlike English, count)."""
    return _implausible_in(text.lower())


# The maximal runs of ASCII letters of 3+ letters: exactly the runs of ``[a-z]+`` that are at
# least 3 long (a shorter run holds no 3 letters in a row), found without a Python filter.
_LATIN_WORD3: Final = re.compile(r"[a-z]{3,}")


def _implausible_in(low: str) -> tuple[float, int]:
    """:func:`_implausible_share` of an already lower-cased text, in one pass per occurrence
    (memo lookups in C; only words never seen before are scored in Python)."""
    words = _LATIN_WORD3.findall(low)
    n = len(words)
    if not n:
        return 0.0, 0
    flags = list(map(_WORD_MEMO.get, words))
    if None in flags:
        for i, f in enumerate(flags):
            if f is None:
                flags[i] = implausible_word(words[i])
    return flags.count(True) / n, n


def _compressed_size(raw: bytes) -> int:
    """Deflate's size of ``raw`` (level 6) with a window just large enough to see all of it:
    the same size as ``zlib.compress(raw, 6)`` for texts up to 32 KiB, at a tenth of the cost on
    the short texts agents write (``zlib.compress`` sets up a 32 KiB window and 128 KiB of hash
    tables every call, and releases the GIL meanwhile, which the store's writer thread takes)."""
    wbits = min(15, max(9, (len(raw) - 1).bit_length()))
    z = zlib.compressobj(6, zlib.DEFLATED, wbits, 4)
    return len(z.compress(raw)) + len(z.flush())


def _repetition(words: Sequence[str], text: str) -> float:
    """0..1: how much of the text repeats itself (word 4-grams and compressibility)."""
    n = len(words)
    if n < 12:
        return 0.0
    distinct = len(set(zip(words, words[1:], words[2:], words[3:], strict=False)))
    total = n - 3
    gram_rep = (total - distinct) / total
    raw = text.encode("utf-8", "replace")
    ratio = _compressed_size(raw) / len(raw) if len(raw) >= 200 else 1.0
    # Prose compresses to ~0.45..0.6 of its size; a loop to far less.
    comp_rep = _clamp((0.42 - ratio) / 0.25)
    return max(gram_rep, comp_rep)


def _boundaries(text: str) -> Iterator[tuple[str, str]]:
    """``(group 1, group 2)`` of every ``_BOUNDARY.finditer(text)`` match, in linear time.

    The pattern, tried at every position, rescans each word letter by letter (quadratic in the
    word's length); here the sentence ends are found first and the word before each is walked
    back to, no further than the end of the previous match, as ``finditer`` would have it.
    A letter of the pattern (``[^\\W\\d_]``) is a character that is alphanumeric and not a
    decimal digit.
    """
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        p = start = m.start()
        while start > pos and text[start - 1].isalnum() and not text[start - 1].isdecimal():
            start -= 1
        if start == p:
            continue
        pos = m.end()
        yield text[start:p], m.group(1)


def _salad(words: Sequence[str], text: str) -> float:
    """0..1: signs of shuffled words: determiners before function words *and* sentences that
    end on one word and start lower-case on the next (either alone occurs in real text)."""
    # the determiners' positions (each followed by a word), found in C: most words are not one
    at = list(itertools.compress(range(len(words) - 1), map(_DETERMINERS.__contains__, words)))
    det = len(at)
    if det < 2:
        return 0.0
    bad_det = sum(1 for i in at if words[i + 1] in _NOT_AFTER_DET)
    det_s = _clamp((bad_det / det - 0.08) / 0.2)
    if det_s == 0.0:
        # sqrt(0 * bound_s) is 0.0 whatever the sentence boundaries say (and 0.0 is also the
        # answer when there are fewer than two): most prose stops here
        return 0.0
    ends = lower_starts = 0
    for word, first in _boundaries(text):
        if word.lower() in _ABBREV:
            continue
        ends += 1
        if first.islower():
            lower_starts += 1
    if ends < 2:
        return 0.0
    bound_s = _clamp((lower_starts / ends - 0.3) / 0.4)
    return math.sqrt(det_s * bound_s)


_UNREADABLE: Final = "The answer is not readable text: write plain, grammatical sentences."


_REPEATS: Final = "The answer repeats itself: say each point once and move on."
_JUMBLED: Final = "The answer's words are jumbled: write grammatical sentences."
_REUSED: Final = "The answer keeps reusing the same few words: vary them and add substance."


def check_degeneration(text: str) -> Check:
    """Repetition loops, gibberish (non-words, no function words) and shuffled word salad."""
    low = text.lower()
    raw_words = _words_lower(low)
    n = len(raw_words)
    if n < 6:
        return Check(_OK, "too short to judge")
    rep = _repetition(raw_words, text)
    # (score, kind, value): the detail of the strongest signal only is written out; ties go to
    # the first, as max() picks it
    signals: list[tuple[float, int, float]] = [(_clamp((rep - 0.25) / 0.3), 0, rep)]
    odd, n_latin = _implausible_in(low)
    if n_latin >= 5:
        signals.append((_clamp((odd - 0.12) / 0.15), 1, odd))
    if n >= 30:
        latin = list(filter(str.isalpha, filter(str.isascii, raw_words)))
        if len(latin) >= 0.8 * n:
            # Longer English-looking text: function words must be there, in a grammatical order
            # (a short telegraphic note may do without them).
            stop_share = sum(map(STOPWORDS.__contains__, latin)) / len(latin)
            signals.append((_clamp((0.12 - stop_share) / 0.08), 2, stop_share))
            signals.append((_salad(raw_words, text), 3, 0.0))
    if n >= 40:
        distinct = len(set(raw_words)) / n
        signals.append((_clamp((0.3 - distinct) / 0.15), 4, distinct))
    worst, kind, value = max(signals, key=_first)
    if worst <= 0.0:
        return Check(_OK, "reads as varied text")
    if kind == 0:
        detail, fix = f"repeats itself ({value:.0%} repeated)", _REPEATS
    elif kind == 1:
        detail, fix = f"{value:.0%} of the words are not English-like", _UNREADABLE
    elif kind == 2:
        detail, fix = f"only {value:.0%} function words: not sentences", _UNREADABLE
    elif kind == 3:
        detail, fix = "words out of grammatical order", _JUMBLED
    else:
        detail, fix = f"low lexical diversity ({value:.0%} distinct words)", _REUSED
    return Check(_clamp(1.0 - worst), detail, fix)


def _first(signal: tuple[float, int, float]) -> float:
    return signal[0]


# --------------------------------------------------------------------------------------- echo


def check_echo(text: str, task: str, input_text: str, tok: Tokenizer) -> Check:
    """The task or the input handed back: the output adds (almost) nothing of its own."""
    terms = tok.tokens(text)
    if not terms:
        return Check(_OK, "no content terms to compare")
    task_terms = set(tok.tokens(task, remember=False)) | TEMPLATE_TERMS
    novel = {t for t in terms if t not in task_terms}
    # Echo of the task: (almost) nothing of its own, and mostly the task's words. A short
    # reply that names the task's subject ("Supplier acme: your payout was sent") is not one.
    from_task = sum(1 for t in terms if t in task_terms) / len(terms)
    if task.strip() and (len(novel) < 2 or (len(novel) < 4 and from_task >= 0.7)):
        score = _clamp(len(novel) / 6)
        return Check(
            score,
            f"restates the task: {len(novel)} content word(s) of its own",
            "The output restates the task: answer it instead of repeating it.",
        )
    if input_text.strip() and len(text) >= 200:
        src = _words_lower(input_text.lower())
        out = _words_lower(text.lower())
        src_grams = set(zip(src, src[1:], src[2:], src[3:], src[4:], strict=False))
        out_grams = list(zip(out, out[1:], out[2:], out[3:], out[4:], strict=False))
        if out_grams and src_grams:
            copied = sum(1 for g in out_grams if g in src_grams) / len(out_grams)
            length = len(out) / max(1, len(src))
            if copied >= 0.85 and length >= 0.7:
                return Check(
                    _clamp((0.95 - copied) * 2 + (1.0 - length)),
                    f"copies the input ({copied:.0%} of its 5-grams, {length:.0%} of its length)",
                    "The output copies the input back: transform it as the task asks.",
                )
    return Check(_OK, f"{len(novel)} content word(s) beyond the task")
