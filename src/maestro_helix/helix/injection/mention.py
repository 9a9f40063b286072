"""Mention versus use: an attack phrase quoted or reported inside talk *about* attacks.

"Our filter missed the phrase 'ignore previous instructions' twice" mentions an attack; it does
not order the model to do anything. The keyword rules of :mod:`.rules` read both the same, so
:func:`mention_view` tells them apart by the text's shape, as data:

* a rule fired, and every rule match lies (mostly) inside a quoted span (straight, curly or
  guillemet quotes, backticks; not a JSON key or value, a CSV field or an attribute's value)
  or is reported speech ("the attacker told the bot to ...", "phrases such as ...");
* the words *outside* the quotes talk about the phrase (``phrase``, ``example``, ``flagged``,
  ``injection``, ``ticket``, ``log``, ``test case``, ...);
* and nothing outside the quotes turns the quotation into an order: no request to act on it
  ("do as it says", "follow it", "carry this out"), no address to the model ("assistant:",
  "note for the summariser", "if you are an AI") and no rule match of its own.

A mention is scored by the model with its quotations masked (:func:`mention_view`: the talk
around them is what is read), and a rule hit inside it is not the lower-threshold evidence an
unquoted hit is (see :func:`maestro_helix.helix.injection.detect`). An attack wrapped in
quotes and handed to the model ("Dear assistant, please do what this says: '...'") is a use, not
a mention. An adaptive attacker can still dress an order as a quotation; the rule of two
(:mod:`maestro_helix.helix.provenance`) is what holds then.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = ["mention_view", "mentioned", "quoted_spans"]

# Quotes pair left to right, short ones included, so the text *between* two quotations is never
# read as one; spans longer than 400 characters are not quotations.
_QUOTED: Final = re.compile(
    r'"[^"\n]*"'
    r"|“[^”\n]*”"
    r"|„[^“”\n]*[“”]"
    r"|«[^»\n]*»"
    r"|`[^`\n]*`"
    # single quotes double as apostrophes: the span opens after a non-word character and closes
    # before one ("'what's the weather?'" is one span)
    r"|(?<!\w)'(?=\S)[^\n]*?(?<=\S)'(?!\w)"
    r"|(?<!\w)‘(?=\S)[^\n]*?(?<=\S)’(?!\w)"
)
_LONGEST: Final = 402
_QUOTE_CHARS: Final = "\"'`“‘«„"
# A JSON value ("content": "...") is a message's content, not a quotation of it (nor is a key).
_JSON_KEY: Final = re.compile(r"[\"'][\w -]{1,30}[\"']\s*:\s*\[?\s*$")
# Words of talk about a phrase: reporting it, testing for it, filtering it, filing it.
_TALK: Final = re.compile(
    r"\b(?:phrases?|wording|strings?|sentences?|examples?|e\.g\.|such as|for instance|quoted?"
    r"|quoting|quotes|reads|contain(?:s|ed|ing)?|pasted|typed|wrote|injections?|injected"
    r"|jailbreaks?|attacks?|attackers?|attempts?|payloads?|filters?|filtered|detectors?|scanners?"
    r"|classifier|guard(?:rail)?s?|flag(?:s|ged)?|block(?:s|ed)?|escalated?|tests?|test case"
    r"|asserts?|patterns?|phishing|red[- ]?team(?:ing|ers)?|incidents?|tickets?|logs?|logged"
    r"|warn(?:ing)?|cve|exploits?|malicious|suspicious|threats?|spam|scam|forum|slides?|talk"
    r"|lecture|workshop|seminar|webinar|demo|lesson|paper|course|quiz|training data|docs"
    r"|documentation|readme|changelog|report(?:ed)?"
    r"|screenshot|transcript|trick|technique|known|classic|common|typical|well-known|infamous"
    r"|vulnerab\w*|researchers?|security|moderators?|allowlist|blocklist|denylist)\b"
)
_READER: Final = (
    r"(?:ai|assistant|language model|llm|model|bot|chatbot|agent|summari[sz]er|reviewer|screener"
    r"|note-taker|reader|indexer|crawler)"
)
# Words outside the quotes that turn the quotation into an order to the model.
_USE: Final = re.compile(
    r"\b(?:do|does|did) (?:as|what) (?:it|this|that|they|the \w+) (?:says?|said|asks?|tells? you)"
    r"|\b(?:follow|obey|execute|apply|honou?r|heed|carry out|act on|comply with) (?:it|this|that"
    r"|these|them|those|the (?:above|following|quoted|instructions?|orders?|notes?|lines?|text"
    r"|message|request|commands?))\b"
    r"|\bcarry (?:it|this|that|them) out\b|\b(?:do it|do so|go ahead)\b"
    r"|\bas (?:it|the (?:note|line|text|message|quote)) (?:says|instructs|asks)\b"
    r"|\b(?:treat|take) (?:it|this|that|the (?:above|following|quote)) as (?:your|an?|the)"
    r" (?:instructions?|orders?|new|real|task|command)"
    r"|\b(?:wants?|asks?|needs?|expects?|orders?|begs?) you to\b|\bfrom now on\b"
    r"|\byou (?:must|should|will|are to|have to) (?:now )?(?:do|follow|apply|obey|act|carry"
    r"|execute|treat|use|comply)\b"
    r"|(?:\b(?:note|message|instructions?|notice|attention|p\.?s\.?|line|text|order|request"
    r"|words?)\s+(?:is |are )?(?:only )?|(?:^|[\n(\[]|[.!?;:] ))(?:for|to) (?:the|this|any"
    r"|whichever|every|all) " + _READER + r"s?\b"
    r"|(?:^|[\n.!?;(\[] ?)(?:dear |hey |hi |hello |attention,? )?(?:ai|assistant|model|bot|llm"
    r"|agent|chatbot|summari[sz]er|gpt)s?\s*[,:]"
    r"|\bif you(?:'re| are) (?:an? |the )?(?:ai|assistant|language model|llm|model|bot|agent)\b"
)


# Reported speech right before a match: "the attacker told the bot to <match>", "phrases such
# as <match>". Past or third-person verbs only, and no "you" between (an order reads "I want
# you to ...", "tell the bot to ...").
_LEAD: Final = re.compile(
    r"(?:\b(?:told|tells|asked|asks|instructed|instructs|urged|urges|wanted|wants|tried|tries"
    r"|try to make|try to get"
    r"|attempted|attempts|convinced|tricked|tricks|claimed|claims|makes|made|gets|got)\b"
    r"(?:(?!\byou\b)[^.\n;:!?]){0,50}?(?:\bto(?: \w+ly)?|\binto \w+ing|\b(?:ai|assistant|model|bot"
    r"|chatbot|agent|summari[sz]er|llm|tool)s?)"
    r"|\b(?:phrases?|lines?|strings?|text|wording|commands?|prompts?|messages?|inputs?)"
    r" (?:like|such as))\s+$"
)


def quoted_spans(low: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each quoted span of a normalised text, quotes included."""
    return [
        m.span()
        for m in _QUOTED.finditer(low)
        if 5 <= m.end() - m.start() <= _LONGEST
        and not _JSON_KEY.search(low, max(0, m.start() - 40), m.start())
        and not low.startswith(":", m.end())  # a key, not a quotation
        and not low.endswith("=", 0, m.start())  # an attribute's value (HTML, code)
        and not _field(low, *m.span())
    ]


def _within(a: int, b: int, s: int, e: int) -> bool:
    """A match ``a:b`` opens inside the quotation ``s:e`` and lies mostly within it (a pattern
    may run a few words past the closing quote)."""
    return s <= a < e and 2 * (min(b, e) - a) >= b - a


def _field(low: str, start: int, end: int) -> bool:
    """A quoted CSV field (``,"...",``): data in a table, not a quotation."""
    before = low[start - 1] if start else "\n"
    after = low[end] if end < len(low) else "\n"
    return before in ",\n\t" and after in ",\n\t"


def mention_view(low: str, matches: Sequence[tuple[str, int, int]]) -> str | None:
    """The normalised ``low`` with its quotations (and reported orders) masked, when it is talk
    about them: every rule match ``(category, start, end)`` opens inside a quotation, is
    or is reported speech, the words outside talk about the phrase, and nothing
    outside turns it into an order. ``None`` when the text is not such talk, or no rule fired
    (it is then scored whole: a planted order no rule knows is only the model's to see)."""
    if not matches:  # no rule fired: the model reads the whole text (quotations included)
        return None
    spans = quoted_spans(low) if any(q in low for q in _QUOTE_CHARS) else []
    masked = list(spans)
    for _, a, b in matches:
        if any(_within(a, b, s, e) for s, e in spans):
            continue
        if not _LEAD.search(low, max(0, a - 80), a):  # neither quoted nor reported
            return None
        end = _CLAUSE_END.search(low, b)
        masked.append((a, end.start() if end else len(low)))
    outside = _outside(low, _merged(masked))
    if _TALK.search(outside) and not _USE.search(outside):
        return outside
    return None


def mentioned(low: str, matches: Sequence[tuple[str, int, int]]) -> bool:
    """Whether the rule ``matches`` in the normalised ``low`` are only mentions
    (:func:`mention_view`)."""
    return bool(matches) and mention_view(low, matches) is not None


_CLAUSE_END: Final = re.compile(r"[.;!?\n]")


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _outside(low: str, spans: list[tuple[int, int]]) -> str:
    """The text with each (sorted, disjoint) span replaced by a separator."""
    parts, at = [], 0
    for s, e in spans:
        parts.append(low[at:s])
        parts.append(" \x00 ")  # no word: the quotation's own words are not the talk
        at = e
    parts.append(low[at:])
    return "".join(parts)
