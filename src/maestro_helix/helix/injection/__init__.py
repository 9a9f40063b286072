"""Offline prompt-injection detection, in three layers (no model download, no network).

1. **Normalisation** (:mod:`.normalise`): NFKC, zero-width and control characters, homoglyphs,
   letter spacing and leetspeak are undone; base64, hex, URL-encoded, rot13 and Unicode-tag
   payloads are decoded and scanned too.
2. **Structure** (:mod:`.rules`): overrides, system-prompt extraction, personas, smuggled role
   tags, fake conversation turns, instructions addressed to the model inside documents, goal
   hijacking.
3. **A learned model** (:mod:`.model`): logistic regression on hashed word and letter n-grams,
   word classes (:mod:`.lexicon`), word clusters (from WordLlama's static embeddings) and
   structural features (which rules fired, role-labelled lines, template tokens),
   coefficients shipped as JSON. With the model on, it makes the decision: a rule hit is strong
   evidence, not a verdict, so ordinary text that shares an attack's words is not flagged on
   the rule alone; a rule match that is only a quotation inside talk about attacks (a ticket,
   a log line, security advice: :mod:`.mention`) is left to the model, which reads the talk
   with the quotation masked. Payloads hidden by an encoding (base64, hex, URL, tags, rot13)
   that a rule or the model flags are reported whatever the outer text scores.

:func:`detect` runs all three on one text and reports what fired; :func:`find_injection_markers`
is the list-of-categories view :class:`~maestro_helix.helix.risk.RiskAssessor` uses.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from maestro_helix.helix.criteria import implausible_word
from maestro_helix.helix.injection.mention import mention_view
from maestro_helix.helix.injection.model import load_model, structure_features
from maestro_helix.helix.injection.normalise import decoded_views, normalise
from maestro_helix.helix.injection.rules import rule_hits, rule_matches

__all__ = ["Detection", "decoded_views", "detect", "find_injection_markers", "normalise"]

_MAX_CHARS = 20_000  # longer texts are scanned in full by the rules, by the model up to this


@dataclass(frozen=True, slots=True)
class Detection:
    """What the detector found in one text.

    Attributes:
        markers: one category per rule match (``"override"``, ``"encoded_persona"``, ...),
            plus ``"learned"`` when the model's probability reached its threshold and
            ``"invisible_text"`` for Unicode tag characters.
        probability: the learned model's P(injection) for the most suspicious window.
    """

    markers: tuple[str, ...]
    probability: float

    @property
    def flagged(self) -> bool:
        """True when any layer fired."""
        return bool(self.markers)


_LATIN_WORDS = re.compile(r"[a-z]{3,}")


def _maybe_rot13(low: str) -> bool:
    """Three or more words unlike English among any eight in a row (or the word "rot13")."""
    if "rot13" in low or "rot-13" in low or "rot 13" in low:
        return True
    flags = [implausible_word(w) for w in _LATIN_WORDS.findall(low)]
    run = 0
    for i, bad in enumerate(flags):
        run += bad
        if i >= 8:
            run -= flags[i - 8]
        if run >= 3:
            return True
    return False


_MEMO_CHARS: Final = 4_096  # texts up to this long are remembered ...
_MEMO_SIZE: Final = 8_192  # ... this many of them (at most ~32 MiB of keys), least recent out


def detect(text: str, *, use_model: bool = True) -> Detection:
    """Scan one text with all three layers.

    A pure function of its arguments, so the result for a text seen recently is reused: a run's
    input is scanned at every step and retry, and data values ("confidence: 0.8") recur from
    step to step. Texts longer than :data:`_MEMO_CHARS` are scanned every time.

    Args:
        text: any text (an input, an output, a tool-call argument, a retrieved document).
        use_model: run the learned layer (the rules always run).
    """
    if not text or not text.strip():
        return Detection((), 0.0)
    if len(text) <= _MEMO_CHARS:
        return _remembered(text, use_model)
    return _detect(text, use_model)


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _remembered(text: str, use_model: bool) -> Detection:
    return _detect(text, use_model)


def _detect(text: str, use_model: bool) -> Detection:
    low = normalise(text)
    matches = list(rule_matches(low))
    hits = [c for c, _, _ in matches]
    encoded: list[str] = []  # payloads hidden by an encoding: flagged on their own
    for encoding, payload in decoded_views(text):
        if encoding == "tags":
            encoded.append("invisible_text")
        if encoding == "rot13":
            # Only structure is rescanned (rot13 of ordinary text is noise to the model), and
            # only when the text has a stretch of words unlike English, or says "rot13".
            if _maybe_rot13(low):
                encoded.extend(f"encoded_{c}" for c in rule_hits(normalise(payload)))
            continue
        inner = normalise(payload)
        found = list(rule_hits(inner))
        if use_model and not found:
            model = load_model()
            if model.probability(inner, structure_features(inner, ())) >= model.threshold:
                found = ["learned"]
        encoded.extend(f"encoded_{c}" for c in found)
    if not use_model:  # the rules alone decide
        return Detection((*hits, *encoded), 0.0)
    # The rules are features of the model, not verdicts: a rule hit in ordinary text needs the
    # words' evidence too (see model.structure_features).
    model = load_model()
    # An attack phrase only quoted inside talk about it (a ticket, a log line, advice) is a
    # mention, not an order: the model reads the talk with the quotations masked, and decides
    # at its own threshold (the model is trained on whole texts; a masked view is the talk).
    view = mention_view(low, matches)
    if view is None:
        p = model.probability(low[:_MAX_CHARS], structure_features(low, hits))
    else:  # the rules matched only inside the masked quotations: none is left as a feature
        p = model.probability(view[:_MAX_CHARS], structure_features(view, ()))
    if hits and view is None and p >= model.rule_threshold:  # the words do not contradict it
        markers = [*hits, *encoded]
    elif p >= model.threshold:
        markers = [*encoded, "learned"]
    else:
        markers = encoded
    return Detection(tuple(markers), p)


def find_injection_markers(text: str) -> list[str]:
    """Categories of the injection markers in a text (one entry per occurrence); [] if clean."""
    return list(detect(text).markers)
