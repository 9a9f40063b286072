"""The QSR's topic checks: is the answer about the task's subject, and backed by its sources.

``focus`` catches an answer about something else that names the subject once (it defines another
thing first, or opens without the subject); ``grounding`` scores the output's claims against the
source texts a step declares. Both return a :class:`~maestro_helix.helix.criteria.Check`, or None
when they do not apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from maestro_helix.helix.criteria import TEMPLATE_TERMS, Check, clamp, sentences
from maestro_helix.helix.text import BACKGROUND_IDF, Tokenizer

__all__ = ["check_focus", "check_grounding", "subject_terms"]

_OK: Final = 1.0


# -------------------------------------------------------------------------------------- focus


def subject_terms(task: str, tok: Tokenizer) -> tuple[str, ...]:
    """The task's subject: its content terms without the instruction template's words."""
    terms = tok.tokens(task, remember=False)
    return tuple(dict.fromkeys(t for t in terms if t not in TEMPLATE_TERMS))


_DEFINITION: Final = re.compile(
    r"^(?:the |a |an )?((?:[\w'.()-]+ ){0,5}?[\w'.()-]+) (?:is|are|was|were|refers to|means"
    r"|describes|denotes|happens|occurs)\b",
    re.IGNORECASE,
)
# "json.dumps(): Serialize ...", "The csv.Sniffer class: ..." - a label line defines a code name
_LABEL: Final = re.compile(r"(?:the )?([\w]+(?:[._][\w]+)+(?:\(\))?|\w+\(\))(?: \w+)?:\s", re.I)
_PRONOUNS: Final = frozenset(
    ["it", "this", "that", "these", "those", "they", "he", "she", "there", "here", "which", "what"]
)
_CLAUSE: Final = re.compile(r"[:;]\s+")


_META: Final = frozenset(
    Tokenizer().tokens(
        "interesting fascinating intriguing complex complicated subject topic topics question "
        "questions area field matter worth exploring thinking related similar relevant broad "
        "huge vast deep rich whole many people ask asked asking often wonder start somewhere "
        "else discussing discussion consider idea considered good great popular"
    )
)


def _defined_subject(sentence: str, tok: Tokenizer) -> tuple[tuple[str, ...], bool] | None:
    """What a sentence defines ("X is ...", "Regarding Y: X is ...", "name(): ...") as
    (terms, thin): ``thin`` when the definition says nothing ("X is an interesting topic")."""
    # a label at the start, or right after a lead-in ("Regarding X: json.dumps(): ...")
    for pos in (0, *(m.end() for m in _CLAUSE.finditer(sentence))):
        label = _LABEL.match(sentence, pos)
        if label is not None:
            terms = tuple(tok.tokens(label.group(1), remember=False))
            if terms:
                return terms, False
    for clause in _CLAUSE.split(sentence):
        c = clause.strip()
        m = _DEFINITION.match(c)
        if m is None:
            continue
        head = m.group(1)
        if head.split()[0].lower() in _PRONOUNS:
            return None
        terms = tuple(t for t in tok.tokens(head, remember=False) if t not in TEMPLATE_TERMS)
        if terms:
            rest = tok.tokens(c[m.end() :], remember=False)
            thin = all(t in _META or t in BACKGROUND_IDF or t in TEMPLATE_TERMS for t in rest)
            return terms, thin
    return None


def _other_definition(
    sents: Sequence[str], first: int, subj: set[str], tok: Tokenizer
) -> tuple[int, tuple[str, ...]] | None:
    """The first sentence, up to the subject's first one, that defines something else; or the
    one right after the subject's sentence when that sentence does not define the subject."""
    for i, s in enumerate(sents[: first + 1]):
        d = _defined_subject(s, tok)
        if d is None:
            continue
        if subj.isdisjoint(d[0]):
            return i, d[0]
        if not d[1]:
            return None  # it defines the subject itself: an answer about it
        break
    if first + 1 < len(sents):
        d = _defined_subject(sents[first + 1], tok)
        if d is not None and subj.isdisjoint(d[0]):
            return first + 1, d[0]
    return None


_GREETING: Final = re.compile(
    r"^(?:hello|hi|hey|dear|good (?:morning|afternoon|evening))\b[^.!?]*,$", re.I
)


def _letter_body(sents: list[str]) -> list[str]:
    """A letter's sentences without its salutation ("Hello Sam,") and its sign-off ("Kind
    regards, the support team"): those say nothing about what the answer is about."""
    if sents and _GREETING.match(sents[0].strip()):
        sents = sents[1:]
    if sents and len(sents[-1].split()) <= 6 and sents[-1].rstrip()[-1:] not in ".!?":
        sents = sents[:-1]
    return sents


def check_focus(text: str, subject: Sequence[str], tok: Tokenizer) -> Check | None:
    """An answer about something else that names the subject in passing.

    An answer about X opens on X and, where it defines something first, defines X. When the
    subject's terms appear in at most one sentence of three or more, the answer is judged by
    how it opens: defining another subject first (or right after a passing mention), or not
    naming the subject in its first two sentences, means it is about something else. None when
    the task has no subject or the answer is shorter than three sentences.
    """
    if not subject:
        return None
    subj = set(subject)
    sents = _letter_body(sentences(text))
    if len(sents) < 3:
        return None
    where = [i for i, s in enumerate(sents) if subj.intersection(tok.tokens(s, remember=False))]
    if len(where) >= 2 and len(where) / len(sents) >= 0.34:
        return Check(_OK, f"the subject recurs in {len(where)} of {len(sents)} sentences")
    first = where[0] if where else len(sents)
    other = _other_definition(sents, first, subj, tok)
    if other is not None:
        i, defined = other
        return Check(
            0.35,
            f"defines another subject ({' '.join(defined)[:40]}) in sentence {i + 1}",
            "The answer is about something else: explain the subject the task names.",
        )
    if first >= 2:
        return Check(
            0.5,
            f"the subject first appears in sentence {first + 1} of {len(sents)}"
            if where
            else "the subject never appears",
            "Open with the subject of the task and keep the answer on it.",
        )
    return Check(_OK, f"opens on the subject ({len(where)} of {len(sents)} sentences name it)")


# ---------------------------------------------------------------------------------- grounding

_NUMBER: Final = re.compile(r"\d+(?:[.,]\d+)*")


def check_grounding(text: str, sources: Sequence[str], tok: Tokenizer) -> Check | None:
    """Claims (sentences) of the output supported by the step's declared source texts.

    A sentence is supported when most of its content terms occur in one source sentence and
    every number it states appears in the sources. None when there are no sources.
    """
    src_text = "\n".join(s for s in sources if s.strip())
    if not src_text:
        return None
    src_sents = [set(tok.tokens(s, remember=False)) for s in sentences(src_text)]
    src_all = set().union(*src_sents) if src_sents else set()
    src_numbers = set(_NUMBER.findall(src_text))
    claims = 0
    supported = 0
    for s in sentences(text):
        terms = set(tok.tokens(s, remember=False)) - TEMPLATE_TERMS
        if len(terms) < 3:
            continue
        claims += 1
        nums = set(_NUMBER.findall(s))
        if nums - src_numbers:
            continue
        best = max((len(terms & ss) / len(terms) for ss in src_sents), default=0.0)
        spread = len(terms & src_all) / len(terms)
        if best >= 0.5 or spread >= 0.8:
            supported += 1
    if not claims:
        return None
    share = supported / claims
    detail = f"{supported}/{claims} claim(s) supported by the sources"
    fix = "" if share >= 0.8 else "Only state what the sources support, or cite them."
    return Check(clamp(share), detail, fix)
