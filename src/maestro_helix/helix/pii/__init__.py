"""Detectors of personal data and secrets in text, and redaction.

Everything here is pure and fast: a handful of precompiled regexes find *candidates*, cheap
pre-checks skip whole detectors when the text cannot contain a match (no ``@`` means no email,
fewer than 13 digits means no card, ...), and every candidate is then *validated* in Python
(Luhn and issuer prefix for cards, mod-97 for IBANs, check letters / check digits for national
ids, JSON header for JWTs, entropy for generic secrets). Bare digit strings that carry no
structure of their own (a 10-digit phone number, a Dutch BSN, an Aadhaar number) are only
reported when a context word is next to them ("tel", "BSN", ...), so order ids, invoice numbers,
timestamps and tracking numbers stay quiet.

Kinds reported (:attr:`Finding.kind`):

* personal data: ``email``, ``phone``, ``card``, ``iban``, ``national_id`` (with
  :attr:`Finding.scheme` saying which one: ``us_ssn``, ``uk_nino``, ``es_dni``, ``es_nie``,
  ``fr_nir``, ``it_cf``, ``nl_bsn``, ``br_cpf``, ``in_aadhaar``, ``de_steuer_id``, and from
  :mod:`.national` ``pl_pesel``, ``se_personnummer``, ``dk_cpr``, ``be_nrn``, ``ro_cnp``,
  ``cz_rodne_cislo``, ``pt_nif``, ``at_svnr``, ``gr_amka``, ``hu_taj``, ``bg_egn``, ``hr_oib``,
  ``ee_isikukood``, ``lt_asmens_kodas``, ``si_emso``, ``lv_personas_kods``, ``lu_matricule``,
  ``fi_hetu``);
* secrets: ``secret.aws_access_key``, ``secret.github_token``, ``secret.openai_key``,
  ``secret.anthropic_key``, ``secret.slack_token``, ``secret.slack_webhook``,
  ``secret.stripe_key``, ``secret.google_api_key``, ``secret.gitlab_token``, ``secret.npm_token``,
  ``secret.huggingface_token``, ``secret.sendgrid_key``, ``secret.jwt``, ``secret.private_key``,
  ``secret.password_in_url``, ``secret.generic_api_key``.

Nothing here does I/O or keeps state; a :class:`Finding` holds offsets, never the value itself.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from maestro_helix.helix.pii.base import Finding, placeholder
from maestro_helix.helix.pii.checks import _fr_nir_valid, iban_valid, luhn_valid, us_ssn_valid
from maestro_helix.helix.pii.digits import _scan_runs
from maestro_helix.helix.pii.ids import _FR_NIR, _scan_emails, _scan_upper_ids
from maestro_helix.helix.pii.national import FI_HETU, NATIONAL_IDS, fi_hetu_valid
from maestro_helix.helix.pii.secrets import _scan_secrets

__all__ = [
    "NATIONAL_ID_SCHEMES",
    "PII_KINDS",
    "SECRET_KINDS",
    "Finding",
    "iban_valid",
    "luhn_valid",
    "placeholder",
    "redact",
    "replaced",
    "scan",
    "us_ssn_valid",
]

PII_KINDS: Final[tuple[str, ...]] = ("email", "phone", "card", "iban", "national_id")
"""Kinds of personal data :func:`scan` reports."""

SECRET_KINDS: Final[tuple[str, ...]] = (
    "secret.aws_access_key",
    "secret.github_token",
    "secret.openai_key",
    "secret.anthropic_key",
    "secret.slack_token",
    "secret.slack_webhook",
    "secret.stripe_key",
    "secret.google_api_key",
    "secret.gitlab_token",
    "secret.npm_token",
    "secret.huggingface_token",
    "secret.sendgrid_key",
    "secret.jwt",
    "secret.private_key",
    "secret.password_in_url",
    "secret.generic_api_key",
)
"""Kinds of secrets :func:`scan` reports."""

NATIONAL_ID_SCHEMES: Final[tuple[str, ...]] = (
    "us_ssn",
    "uk_nino",
    "es_dni",
    "es_nie",
    "fr_nir",
    "it_cf",
    "nl_bsn",
    "br_cpf",
    "in_aadhaar",
    "de_steuer_id",
    *(spec.scheme for spec in NATIONAL_IDS),
    "fi_hetu",
)
"""Values of :attr:`Finding.scheme` for ``national_id`` findings."""


_PRIORITY: Final[Mapping[str, int]] = MappingProxyType(
    {"iban": 1, "national_id": 2, "card": 3, "email": 4, "phone": 5}
)


def _resolve(found: list[Finding]) -> list[Finding]:
    if len(found) <= 1:
        return found
    ranked = sorted(
        found,
        key=lambda f: (
            0 if f.is_secret and f.kind != "secret.generic_api_key" else _PRIORITY.get(f.kind, 1),
            f.start - f.end,
            f.start,
        ),
    )
    starts: list[int] = []  # kept spans, sorted and disjoint
    ends: list[int] = []
    kept: list[Finding] = []
    for f in ranked:
        k = bisect.bisect_right(starts, f.start)
        if k > 0 and ends[k - 1] > f.start:
            continue  # overlaps the kept span starting before it
        if k < len(starts) and starts[k] < f.end:
            continue  # overlaps the kept span starting after it
        starts.insert(k, f.start)
        ends.insert(k, f.end)
        kept.append(f)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept


def _count_digits(text: str) -> int:
    return sum(text.count(d) for d in "0123456789")


def scan(text: str) -> list[Finding]:
    """Find personal data and secrets in a text.

    Never raises on any string. Findings do not overlap; when two detectors claim the same
    characters, secrets win over IBANs, national ids, cards, emails and phones, in that order.

    Args:
        text: any text, in any language.

    Returns:
        The findings, sorted by start offset.
    """
    if not text:
        return []
    found: list[Finding] = []
    _scan_secrets(text, found)
    if "@" in text:
        _scan_emails(text, found)
    ndig = _count_digits(text)
    if ndig >= 6:
        _scan_upper_ids(text, found)
    if ndig >= 8:
        _scan_runs(text, found, want_cards=ndig >= 13)
    if ndig >= 9 and ("-" in text or "+" in text or "A" in text):
        for m in FI_HETU.finditer(text):
            if fi_hetu_valid(m.group()):
                found.append(Finding("national_id", m.start(), m.end(), "fi_hetu"))
    if ndig >= 13 and ("2A" in text or "2B" in text or "2a" in text or "2b" in text):
        for m in _FR_NIR.finditer(text):
            if _fr_nir_valid(m.group()):
                found.append(Finding("national_id", m.start(), m.end(), "fr_nir"))
    return _resolve(found)


def redact(text: str) -> str:
    """Replace every finding of :func:`scan` with its placeholder (``[EMAIL]``, ``[CARD]``...).

    Args:
        text: any text.

    Returns:
        The text with personal data and secrets replaced; everything else is kept as is.
    """
    return replaced(text, scan(text))


def replaced(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with ``findings`` (from :func:`scan` of this text) replaced by placeholders:
    :func:`redact` for a caller that has scanned the text already."""
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(placeholder(f.kind))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)
