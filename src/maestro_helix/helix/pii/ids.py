"""Emails, IBANs and the national ids that contain letters."""

from __future__ import annotations

import re
from typing import Final

from maestro_helix.helix.pii.base import Finding
from maestro_helix.helix.pii.checks import _IBAN_LENGTHS, _es_dni_valid, _it_cf_valid, iban_valid

_LATIN: Final = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_EMAIL: Final = re.compile(
    rf"(?<![A-Za-z0-9._%+\-{_LATIN}])[A-Za-z0-9{_LATIN}][A-Za-z0-9._%+\-{_LATIN}]{{0,63}}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)
_EMAIL_ASSET: Final = re.compile(r"@\d+x\.")

# finds where an IBAN ("DE89"), a UK NINO ("AB12", "AB 12"), a Spanish NIE ("X1234567") or an
# Italian codice fiscale ("RSSMRA85") may start; the full patterns are then matched there
_UPPER_FINDER: Final = re.compile(
    r"[A-Z](?:[A-Z] ?[0-9]{2}|[ \-]?[0-9]{7}|[A-Z]{5}[0-9LMNPQRSTUV]{2})"
)
_IBAN: Final = re.compile(r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}")
_NINO: Final = re.compile(
    r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-D](?![A-Za-z0-9])"
)
_ES_NIE: Final = re.compile(r"[XYZ][ \-]?[0-9]{7}[ \-]?[A-HJ-NP-TV-Z](?![A-Za-z0-9])")
_IT_CF: Final = re.compile(
    r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
    r"(?![A-Za-z0-9])"
)
_ES_DNI_LETTER: Final = re.compile(r"[ \-]?[A-HJ-NP-TV-Z](?![A-Za-z0-9])")
# French NIR with a Corsican department (2A / 2B); all-digit NIRs are found with the digit runs
_FR_NIR: Final = re.compile(
    r"(?<![A-Za-z0-9\-.,/])(?<![0-9][ .])[1-478](?:[ .]?[0-9]){4}[ .]?2[ABab]"
    r"(?:[ .]?[0-9]){8}(?![A-Za-z0-9]|[.,\-/][0-9])"
)


def _glued_left(text: str, pos: int) -> bool:
    """Whether the character before ``pos`` continues a word or code."""
    if pos == 0:
        return False
    c = text[pos - 1]
    if c.isascii() and (c.isalnum() or c == "_"):
        return True
    if c in "-./," and pos >= 2:
        d = text[pos - 2]
        return d.isascii() and d.isalnum()
    return False


def _is_local_char(c: str) -> bool:
    return c in _LOCAL_CHARS or (c.isascii() and c.isalnum()) or "\u00c0" <= c <= "\u024f"


_LOCAL_CHARS: Final = frozenset("._%+-")


def _scan_emails(text: str, out: list[Finding]) -> None:
    n = len(text)
    pos = 0
    while True:
        at = text.find("@", pos)
        if at < 0:
            return
        # walk back over the local part (at most 64 characters), then match forwards
        i = at
        while i > pos and at - i < 65 and _is_local_char(text[i - 1]):
            i -= 1
        m = _EMAIL.match(text, i, min(n, at + 260)) if i < at else None
        if m is None or m.end() <= at:
            pos = at + 1
            continue
        v = m.group()
        if not (_EMAIL_ASSET.search(v) or v.lower().startswith("git@")):
            out.append(Finding("email", m.start(), m.end()))
        pos = m.end()


def _iban_at(text: str, pos: int) -> Finding | None:
    m = _IBAN.match(text, pos)
    if m is None:
        return None
    want = _IBAN_LENGTHS.get(m.group()[:2])
    if want is None:
        return None
    compact: list[str] = []
    end = pos
    for i, c in enumerate(m.group()):
        if c != " ":
            compact.append(c)
            if len(compact) == want:
                end = pos + i + 1
                break
    if len(compact) != want:
        return None
    if end < len(text) and text[end].isascii() and text[end].isalnum():
        return None
    return Finding("iban", pos, end) if iban_valid("".join(compact)) else None


def _scan_upper_ids(text: str, out: list[Finding]) -> None:
    """IBANs, UK NINOs, Spanish NIEs and Italian codici fiscali."""
    for f in _UPPER_FINDER.finditer(text):
        pos = f.start()
        if pos > 0 and text[pos - 1].isascii() and text[pos - 1].isalnum():
            continue
        found = _iban_at(text, pos)
        if found is None and (m := _NINO.match(text, pos)) is not None:
            found = Finding("national_id", pos, m.end(), "uk_nino")
        if found is None and (m := _ES_NIE.match(text, pos)) and _es_dni_valid(m.group()):
            found = Finding("national_id", pos, m.end(), "es_nie")
        if found is None and (m := _IT_CF.match(text, pos)) and _it_cf_valid(m.group()):
            found = Finding("national_id", pos, m.end(), "it_cf")
        if found is not None:
            out.append(found)
