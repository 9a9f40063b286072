"""Digit runs: cards, phones and digit-only national ids."""

from __future__ import annotations

import re
from typing import Final

from maestro_helix.helix.pii.base import Finding
from maestro_helix.helix.pii.checks import (
    _card_iin_ok,
    _es_dni_valid,
    _fr_nir_valid,
    luhn_valid,
    us_ssn_valid,
)
from maestro_helix.helix.pii.context import (
    _CARD_NEG,
    _CARD_WORDS,
    _NEG,
    _POS,
    _SSN_CTX,
    _context_window,
    _id_context,
    _phone_context,
)
from maestro_helix.helix.pii.ids import _ES_DNI_LETTER, _glued_left
from maestro_helix.helix.pii.national import NATIONAL_IDS

# A stretch of digits and separators; split into runs (digit groups joined by <= 2 separator
# characters) in Python.
_CHUNK: Final = re.compile(r"[0-9][0-9 \u00a0\-./()]{7,}")
_DIGITS: Final = re.compile(r"[0-9]+")
# the head of an IBAN-shaped code ("DE20 5831 ...") right before a run: the run is its tail
_EXTENSION: Final = re.compile(r"(?:[ ]?(?:x|ext\.?|extn\.?|#)[ ]?[0-9]{1,6})(?![A-Za-z0-9])")
_DATE_IN_RUN: Final = re.compile(
    r"(?<![0-9])(?:(?:19|20)[0-9]{2}[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12][0-9]|3[01])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:19|20)[0-9]{2}"
    r"|(?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12][0-9]|3[01])[\-/.](?:19|20)[0-9]{2})(?![0-9])"
)


def _iban_tail(text: str, start: int) -> bool:
    """Whether ``start`` follows the head of an IBAN-shaped code ("DE20 5831 ...")."""
    p = start
    for _ in range(9):
        if p < 5 or text[p - 1] != " ":
            return False
        grp = text[p - 5 : p - 1]
        if not (grp.isascii() and grp.isalnum() and grp.upper() == grp):
            return False
        if grp[:2].isalpha() and grp[2:].isdigit():
            return p == 5 or not text[p - 6].isalnum()
        p -= 5
    return False


def _sep_kind(sep: str) -> str:
    if "(" in sep or ")" in sep:
        return "p"
    if "-" in sep:
        return "-"
    if "." in sep:
        return "."
    if "/" in sep:
        return "/"
    return " " if sep else ""


_CARD_SHAPES: Final = ((4, 6, 5), (4, 6, 4))


def _card_shape_ok(sizes: list[int]) -> bool:
    if len(sizes) == 1:
        return True
    if tuple(sizes) in _CARD_SHAPES:
        return True
    return len(sizes) >= 3 and all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _find_card(text: str, groups: list[tuple[int, int]], seps: list[str]) -> tuple[int, int] | None:
    """A window of the run's digit groups laid out like a card and passing IIN + Luhn."""
    n = len(groups)
    sizes = [b - a for a, b in groups]
    for i in range(n):
        if sizes[i] != 4 and not 13 <= sizes[i] <= 19:
            continue  # a card starts with a block of 4 or is written in one piece
        total = 0
        for j in range(i, n):
            total += sizes[j]
            if total > 19:
                break
            if total < 13:
                continue
            inner = seps[i:j]
            if inner and (len(set(inner)) != 1 or inner[0] not in (" ", "-", "\u00a0")):
                continue
            if not _card_shape_ok(sizes[i : j + 1]):
                continue
            if inner:
                sep = inner[0]
                # not a slice of a longer block of 4-digit groups (tracking numbers)
                if i > 0 and seps[i - 1] == sep and sizes[i - 1] == 4 and sizes[i] == 4:
                    continue
                if j < n - 1 and seps[j] == sep and sizes[j + 1] == 4:
                    continue
            digits = "".join(text[a:b] for a, b in groups[i : j + 1])
            if not (_card_iin_ok(digits) and luhn_valid(digits)):
                continue
            start = groups[i][0]
            window = _context_window(text, start, 80)
            has_card_word = _CARD_WORDS.search(window) is not None
            if len(digits) == 13 and not has_card_word:
                continue  # 13 digits is far more often an EAN-13 than an old Visa
            if _CARD_NEG.search(window[-24:]) and not has_card_word:
                continue
            return start, groups[j][1]
    return None


def _card_in_context(text: str, start: int, value: str) -> bool:
    """A valid card number introduced by a card word (beats a colliding digit-only id)."""
    digits = "".join(c for c in value if c.isdigit())
    return (
        len(digits) == len(value.replace(" ", ""))
        and 13 <= len(digits) <= 19
        and _card_iin_ok(digits)
        and luhn_valid(digits)
        and _CARD_WORDS.search(_context_window(text, start, 80)) is not None
    )


def _classify_id(
    text: str, start: int, digits: str, sizes: list[int], kinds: list[str]
) -> str | None:
    """Digit-only national ids spanning the whole candidate. Returns the scheme or None.

    Checksums and ranges are tested before context words: they are cheaper and rarely pass.
    """
    n = len(digits)
    one = len(sizes) == 1
    if n == 9:
        if sizes == [3, 2, 4] and kinds[0] == kinds[1] and kinds[0] in ("-", " "):
            if us_ssn_valid(digits) and _phone_context(text, start) != _NEG:
                return "us_ssn"
            return None
        if one and us_ssn_valid(digits) and _id_context(text, start, _SSN_CTX):
            return "us_ssn"
    elif n == 15:
        nir_shape = one or sizes[:4] == [1, 2, 2, 2] or sizes == [13, 2]
        if nir_shape and _fr_nir_valid(digits) and not _card_in_context(text, start, digits):
            return "fr_nir"
    return _classify_national(text, start, digits, sizes, kinds)


def _classify_national(
    text: str, start: int, digits: str, sizes: list[int], kinds: list[str]
) -> str | None:
    """The schemes of :data:`~maestro_helix.helix.pii.national.NATIONAL_IDS` (rows of data):
    a distinctive written shape on its own, a bare run only after one of its words."""
    n = len(digits)
    shape = (tuple(sizes), tuple(kinds))
    for spec in NATIONAL_IDS:
        if n not in spec.lengths or not spec.valid(digits):
            continue
        if shape in spec.shapes:
            return spec.scheme
        needs_word = len(sizes) == 1 or shape in spec.context_shapes
        if (needs_word or shape[0] in spec.context_sizes) and _id_context(
            text, start, (spec.words, spec.phrases)
        ):
            return spec.scheme
    return None


# "Giesela Jäkel-Dippel, 04126712196": a person's name and a comma right before a bare number
_NAME_COMMA: Final = re.compile(
    r"(?:^|[\s(])(?:[A-ZÀ-ÝĀ-Ž][\w'’.-]*\.?\s+){1,4}[A-ZÀ-ÝĀ-Ž][\w'’-]+(?:\s+[A-Z][\w.]*\.)?,\s*$"
)


def _after_a_name(text: str, start: int, digits: str) -> bool:
    """A bare number in a national phone layout (trunk 0, or an Italian mobile 3xx) right after
    a person's name and a comma: a contact line, not an id."""
    n = len(digits)
    trunk = digits[0] == "0" and digits[1] != "0" and 9 <= n <= 11
    if not (trunk or (digits[0] == "3" and n == 10)):
        return False
    return _NAME_COMMA.search(text[max(0, start - 60) : start]) is not None


def _phone_ok(
    text: str,
    start: int,
    raw: str,
    digits: str,
    sizes: list[int],
    kinds: list[str],
    ctx_cache: dict[int, int],
) -> bool:
    """Whether a candidate (a whole run or a prefix of it) is laid out like a phone number."""
    n = len(digits)
    if raw.count("(") != raw.count(")"):
        return False
    if raw.startswith("+"):
        core = sum(c.isdigit() for c in raw.replace("(0)", ""))
        return 8 <= core <= 15 and digits[0] != "0"
    if n < 8 or n > 15 or _DATE_IN_RUN.search(raw):
        return False
    if "." in kinds and not (all(s == 2 for s in sizes) or sizes == [3, 3, 4]):
        return False  # decimals, versions, IP addresses
    if len(sizes) > 2 and all(s == 4 for s in sizes) and digits[:2] != "00":
        return False  # blocks of four digits: order ids, SKUs, card-like references
    ctx = ctx_cache.get(start)
    if ctx is None:
        ctx = ctx_cache[start] = _phone_context(text, start)
    if ctx == _NEG:
        return False
    formatted = len(sizes) > 1
    if sizes == [3, 2, 4] and ctx != _POS:  # SSN-shaped, never a phone layout
        return False
    if digits.startswith("00") and not digits.startswith("000"):
        return 8 <= n - 2 <= 15 and (formatted or ctx == _POS)
    if not formatted:
        lo = 8 if digits[0] == "0" else 9
        return (ctx == _POS and lo <= n <= 13) or _after_a_name(text, start, digits)
    if ctx == _POS:
        return n <= 13
    if n > 12:
        return False
    first = digits[0]
    # national trunk prefix 0 (UK, DE, FR, IT, NL, JP, IN, ...)
    if first == "0":
        return (
            digits[1] != "0"
            and n >= 9
            and all(s >= 2 for s in sizes)
            and sizes not in ([4, 4, 4], [4, 4, 4, 4])
            and ("/" not in kinds or (kinds.count("/") == 1 and kinds[0] == "/"))
        )
    # North America: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, 1-NXX-NXX-XXXX
    if sizes == [3, 3, 4] or (sizes == [1, 3, 3, 4] and first == "1"):
        off = len(sizes) - 3
        area, exch = digits[off], digits[off + 3]
        k = kinds[off:] if off else kinds
        laid_out = (len(set(k)) == 1 and k[0] in "-. ") or (k[0] == "p" and k[1] in "- ")
        if area in "23456789" and exch in "23456789" and laid_out:
            return True
        return first == "3" and set(kinds) == {" "}  # Italian mobile, 3xx xxx xxxx
    # Brazil: (DD) NNNN-NNNN, DD NNNNN-NNNN; Japan: NN-NNNN-NNNN
    if sizes in ([2, 4, 4], [2, 5, 4]) and kinds[1] == "-" and kinds[0] in (" ", "p", "-"):
        return True
    # India mobile: NNNNN NNNNN
    return n == 10 and first in "6789" and sizes == [5, 5] and set(kinds) <= {" ", "-"}


def _lead(text: str, pos: int) -> int:
    """Move ``pos`` (a digit) left over a leading "(" and "+" ("+44", "(0161)", "+ 1")."""
    if pos > 0 and text[pos - 1] == "(":
        pos -= 1
    if pos > 0 and text[pos - 1] == "+":
        pos -= 1
    elif pos > 1 and text[pos - 2 : pos] == "+ ":
        pos -= 2
    return pos


def _space_cut(seps: list[str]) -> list[int]:
    """Indexes k such that the separator between group k-1 and group k contains a space."""
    return [k for k in range(1, len(seps) + 1) if " " in seps[k - 1] or "\u00a0" in seps[k - 1]]


def _runs(text: str, cs: int, ce: int) -> list[list[tuple[int, int]]]:
    """Digit groups of the chunk ``text[cs:ce]``, split where a separator is > 2 characters;
    only runs with at least 8 digits."""
    runs: list[list[tuple[int, int]]] = []
    run: list[tuple[int, int]] = []
    ndig = 0
    for g in _DIGITS.finditer(text, cs, ce):
        a, b = g.span()
        if run and a - run[-1][1] > 2:
            if ndig >= 8:
                runs.append(run)
            run, ndig = [], 0
        run.append((a, b))
        ndig += b - a
    if ndig >= 8:
        runs.append(run)
    return runs


def _scan_runs(text: str, out: list[Finding], want_cards: bool) -> None:
    for chunk in _CHUNK.finditer(text):
        for run in _runs(text, chunk.start(), chunk.end()):
            if (
                len(run) == 3
                and run[-1][1] - run[0][0] == 10
                and _DATE_IN_RUN.match(text, run[0][0])
            ):
                continue  # a bare date ("2024-03-15", "15.03.2024")
            _scan_run(text, run, out, want_cards)


def _scan_run(
    text: str, groups: list[tuple[int, int]], out: list[Finding], want_cards: bool
) -> None:
    seps = [text[groups[k][1] : groups[k + 1][0]] for k in range(len(groups) - 1)]
    # glued to a word on the left ("INV-2024-...", "A1234..."): keep what follows a space
    if _glued_left(text, _lead(text, groups[0][0])):
        cuts = _space_cut(seps)
        if not cuts:
            return
        groups, seps = groups[cuts[0] :], seps[cuts[0] :]
    # glued on the right: a Spanish DNI ("12345678Z"), an identifier, or an amount ("...,89")
    end = groups[-1][1]
    nxt = text[end : end + 2]
    ext = _EXTENSION.match(text, end) if nxt[:1] in ("x", " ", "e", "#") else None
    glued = nxt[:1].isascii() and nxt[:1].isalnum() and ext is None
    last = groups[-1]
    m = _ES_DNI_LETTER.match(text, end) if last[1] - last[0] == 8 else None
    if m and _es_dni_valid(text[last[0] : m.end()]) and not _glued_left(text, last[0]):
        out.append(Finding("national_id", last[0], m.end(), "es_dni"))
        glued = True
    if glued or (len(nxt) == 2 and nxt[0] in ",." and nxt[1].isdigit()):
        cuts = _space_cut(seps)
        if not cuts:
            return
        groups, seps = groups[: cuts[-1]], seps[: cuts[-1] - 1]
        ext = None
    gd = [text[a:b] for a, b in groups]
    sizes = [len(g) for g in gd]
    total = sum(sizes)
    if total < 8:
        return
    n = len(groups)
    # leading "(" / "+" and a trailing ")"
    start, end = _lead(text, groups[0][0]), groups[-1][1]
    head = text[start:end]
    if text[end : end + 1] == ")" and head.count("(") > head.count(")"):
        end += 1
    if _glued_left(text, start) or _iban_tail(text, start):
        return  # glued, or the tail of an IBAN-shaped code ("DE20 5831 1913 ...")
    kinds = [_sep_kind(x) for x in seps]
    ctx_cache: dict[int, int] = {}

    # the whole run first, then shorter pieces cut at a space: prefixes ("0161 496 0066
    # 2024") and suffixes after a short stray head ("14:30 0161 ..." gives "30 0161 ...")
    cuts = _space_cut(seps)
    pieces = [(0, n)]
    if cuts:
        # only pieces short enough to be a phone or an id (<= 19 digits): bounded work
        prefix_digits = 0
        cut_set = set(cuts)
        prefixes: list[tuple[int, int]] = []
        for k in range(1, n):
            prefix_digits += sizes[k - 1]
            if prefix_digits > 19:
                break
            if k in cut_set:
                prefixes.append((0, k))
        pieces += reversed(prefixes)
        pieces += [(k, n) for k in cuts[:2] if k <= 2 and all(s <= 2 for s in sizes[:k])]
    for i, j in pieces:
        digits = "".join(gd[i:j])
        scheme = _classify_id(text, groups[i][0], digits, sizes[i:j], kinds[i : j - 1])
        if scheme is not None:
            out.append(Finding("national_id", groups[i][0], groups[j - 1][1], scheme))
            return
        if i == 0 and j == n and want_cards and total >= 13:
            card = _find_card(text, groups, seps)
            if card is not None:
                out.append(Finding("card", card[0], card[1]))
                return
        p_start = start if i == 0 else groups[i][0]
        p_end = end if j == n else groups[j - 1][1]
        raw = text[p_start:p_end]
        if _phone_ok(text, p_start, raw, digits, sizes[i:j], kinds[i : j - 1], ctx_cache):
            stop = ext.end() if j == n and ext is not None else p_end
            out.append(Finding("phone", p_start, stop))
            return
