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
  ``fr_nir``, ``it_cf``, ``nl_bsn``, ``br_cpf``, ``in_aadhaar``, ``de_steuer_id``);
* secrets: ``secret.aws_access_key``, ``secret.github_token``, ``secret.openai_key``,
  ``secret.anthropic_key``, ``secret.slack_token``, ``secret.slack_webhook``,
  ``secret.stripe_key``, ``secret.google_api_key``, ``secret.gitlab_token``, ``secret.npm_token``,
  ``secret.huggingface_token``, ``secret.sendgrid_key``, ``secret.jwt``, ``secret.private_key``,
  ``secret.password_in_url``, ``secret.generic_api_key``.

Nothing here does I/O or keeps state; a :class:`Finding` holds offsets, never the value itself.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "NATIONAL_ID_SCHEMES",
    "PII_KINDS",
    "SECRET_KINDS",
    "Finding",
    "iban_valid",
    "luhn_valid",
    "placeholder",
    "redact",
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
)
"""Values of :attr:`Finding.scheme` for ``national_id`` findings."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data or one secret found in a text.

    Attributes:
        kind: what was found, e.g. ``"email"``, ``"card"``, ``"national_id"`` or
            ``"secret.aws_access_key"`` (see the module docstring for the full list).
        start: offset of the first character in the scanned text.
        end: offset one past the last character (``text[start:end]`` is the value).
        scheme: a finer label where one exists, e.g. ``"us_ssn"`` for a ``national_id``;
            empty otherwise.
    """

    kind: str
    start: int
    end: int
    scheme: str = ""

    @property
    def is_secret(self) -> bool:
        """True for the ``secret.*`` kinds."""
        return self.kind.startswith("secret.")


def placeholder(kind: str) -> str:
    """The token :func:`redact` puts in place of a finding of this kind.

    Args:
        kind: a finding kind, e.g. ``"email"`` or ``"secret.jwt"``.

    Returns:
        ``"[EMAIL]"``, ``"[SECRET.JWT]"``, ...
    """
    return f"[{kind.upper()}]"


# --------------------------------------------------------------------------------------------
# Checksums and validators
# --------------------------------------------------------------------------------------------


def luhn_valid(number: str) -> bool:
    """Luhn (mod 10) check of a digit string; separators other than digits are ignored.

    Args:
        number: e.g. ``"4111 1111 1111 1111"``.

    Returns:
        True when the string has at least two digits and passes the check.
    """
    digits = [ord(c) - 48 for c in number if "0" <= c <= "9"]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_IBAN_LENGTHS: Final[Mapping[str, int]] = MappingProxyType({
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
})  # fmt: skip


def _mod97(s: str) -> int:
    rem = 0
    for c in s:  # digits shift by one decimal place, letters (A=10 .. Z=35) by two
        rem = (rem * 10 + ord(c) - 48) % 97 if c <= "9" else (rem * 100 + ord(c) - 55) % 97
    return rem


def iban_valid(iban: str) -> bool:
    """ISO 13616 check of an IBAN: known country, its exact length, and mod-97 == 1.

    Args:
        iban: with or without spaces, e.g. ``"DE89 3704 0044 0532 0130 00"``.

    Returns:
        True when the IBAN is well formed and its check digits are right.
    """
    s = iban.replace(" ", "").upper()
    if len(s) < 15 or not s.isascii() or not s.isalnum():
        return False
    if _IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    return _mod97(s[4:] + s[:4]) == 1


def us_ssn_valid(ssn: str) -> bool:
    """Whether a US Social Security Number is in an issuable range.

    Rejects area 000, 666 and 900-999, group 00 and serial 0000.

    Args:
        ssn: nine digits, with or without dashes or spaces.

    Returns:
        True for a structurally valid SSN.
    """
    d = "".join(c for c in ssn if "0" <= c <= "9")
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def _es_dni_valid(s: str) -> bool:
    s = s.replace("-", "").replace(" ", "")
    body, letter = s[:-1], s[-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and _DNI_LETTERS[int(body) % 23] == letter


def _nl_bsn_valid(d: str) -> bool:
    if len(d) != 9 or d == "000000000":
        return False
    total = sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1), strict=True)) - int(d[8])
    return total % 11 == 0


def _br_cpf_valid(d: str) -> bool:
    if len(d) != 11 or d == d[0] * 11:
        return False
    n = [int(c) for c in d]
    d1 = sum(n[i] * (10 - i) for i in range(9)) * 10 % 11 % 10
    d2 = sum(n[i] * (11 - i) for i in range(10)) * 10 % 11 % 10
    return n[9] == d1 and n[10] == d2


def _fr_nir_valid(s: str) -> bool:
    s = s.replace(" ", "").replace(".", "").upper()
    if len(s) != 15 or s[0] not in "123478":
        return False
    month = s[3:5]
    if not month.isdigit() or not (1 <= int(month) <= 12 or 20 <= int(month) <= 99):
        return False
    body = s[:13]
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit() or not s[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(s[13:])


_CF_ODD: Final[Mapping[str, int]] = MappingProxyType({
    "0": 1, "1": 0, "2": 5, "3": 7, "4": 9, "5": 13, "6": 15, "7": 17, "8": 19, "9": 21,
    "A": 1, "B": 0, "C": 5, "D": 7, "E": 9, "F": 13, "G": 15, "H": 17, "I": 19, "J": 21,
    "K": 2, "L": 4, "M": 18, "N": 20, "O": 11, "P": 3, "Q": 6, "R": 8, "S": 12, "T": 14,
    "U": 16, "V": 10, "W": 22, "X": 25, "Y": 24, "Z": 23,
})  # fmt: skip


def _it_cf_valid(s: str) -> bool:
    total = 0
    for i, c in enumerate(s[:15]):
        if i % 2 == 0:
            total += _CF_ODD[c]
        else:
            total += ord(c) - 48 if c.isdigit() else ord(c) - 65
    return chr(65 + total % 26) == s[15]


_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def _verhoeff_valid(d: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def _in_aadhaar_valid(d: str) -> bool:
    return len(d) == 12 and d[0] not in "01" and _verhoeff_valid(d)


def _de_steuer_id_valid(d: str) -> bool:
    if len(d) != 11 or d[0] == "0":
        return False
    counts = Counter(d[:10])
    repeated = [n for n in counts.values() if n > 1]
    if len(repeated) != 1 or repeated[0] not in (2, 3):
        return False
    product = 10
    for ch in d[:10]:
        s = (ord(ch) - 48 + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == ord(d[10]) - 48


def _card_iin_ok(d: str) -> bool:
    """Whether the number starts with an issuer prefix that issues cards of this length."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 in (1800, 2131):
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925 or p2 == 62:
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p2 == 35:  # JCB is 3528-3589; the rest of 35xx is unassigned but generators use it
        return 16 <= n <= 19
    if 2200 <= p4 <= 2204:
        return 16 <= n <= 19
    if p2 == 50 or 56 <= p2 <= 69:
        return 13 <= n <= 19
    if p2 in (81, 82) or p3 in (508, 353, 356):
        return n == 16
    return False


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS: Final = (
    "example", "your_", "your-", "yourkey", "yourtoken", "xxxxx", "changeme", "placeholder",
    "redacted", "dummy", "sample", "insert", "replace", "_here", "-here", "fake", "test1234",
    "abcdef123", "123456789", "****", "....", "<", ">",
)  # fmt: skip


def _looks_placeholder(v: str) -> bool:
    low = v.lower()
    return any(w in low for w in _PLACEHOLDER_WORDS)


def _mixed_token(v: str, min_entropy: float = 3.0) -> bool:
    """A random-looking token: letters and digits, not a placeholder, enough entropy."""
    has_digit = any(c.isdigit() for c in v)
    has_alpha = any(c.isalpha() for c in v)
    return has_digit and has_alpha and not _looks_placeholder(v) and _entropy(v) >= min_entropy


def _random_body(v: str, min_entropy: float = 3.0) -> bool:
    """After a distinctive prefix: random-looking (mixed case or digits), not a placeholder."""
    kinds = any(c.isdigit() for c in v) + any(c.islower() for c in v) + any(c.isupper() for c in v)
    return kinds >= 2 and not _looks_placeholder(v) and _entropy(v) >= min_entropy


def _jwt_ok(v: str) -> bool:
    head = v.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        obj = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(obj, dict) and "alg" in obj


_SecretCheck = Callable[[str], bool]

_B = r"(?<![A-Za-z0-9_\-])"  # not glued to a longer token on the left
_E = r"(?![A-Za-z0-9_\-])"  # ... nor on the right

# (kind, prefixes of the token, pattern, validator); each is tried on the long tokens
# (``_LONG_TOKEN``) that start with one of its prefixes
_SECRET_DETECTORS: Final[tuple[tuple[str, tuple[str, ...], re.Pattern[str], _SecretCheck], ...]] = (
    (
        "secret.aws_access_key",
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"),
        re.compile(
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)"
            r"[A-Z0-9]{16}(?![A-Za-z0-9])"
        ),
        lambda v: "EXAMPLE" not in v,
    ),
    (
        "secret.github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(_B + r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{50,250})" + _E),
        lambda v: _random_body(v, 3.5),
    ),
    (
        "secret.anthropic_key",
        ("sk-ant-",),
        re.compile(_B + r"sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_\-]{32,250}" + _E),
        lambda v: _mixed_token(v, 3.5),
    ),
    (
        "secret.openai_key",
        ("sk-",),
        re.compile(
            _B
            + r"sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9](?:[A-Za-z0-9_\-]){19,250}"
            + _E
        ),
        lambda v: _mixed_token(v, 3.5),
    ),
    (
        "secret.slack_token",
        ("xox",),
        re.compile(_B + r"xox[abposre]-[A-Za-z0-9\-]{10,250}" + _E),
        lambda v: sum(c.isdigit() for c in v) >= 4,
    ),
    (
        "secret.stripe_key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        re.compile(_B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}" + _E),
        lambda v: _random_body(v[8:], 3.0),
    ),
    (
        "secret.google_api_key",
        ("AIza",),
        re.compile(_B + r"AIza[0-9A-Za-z_\-]{35}" + _E),
        lambda v: _random_body(v[4:], 3.0),
    ),
    (
        "secret.gitlab_token",
        ("glpat-",),
        re.compile(_B + r"glpat-[A-Za-z0-9_\-]{20,80}" + _E),
        lambda v: _random_body(v[6:], 3.0),
    ),
    (
        "secret.npm_token",
        ("npm_",),
        re.compile(_B + r"npm_[A-Za-z0-9]{36}" + _E),
        lambda v: _random_body(v[4:], 3.0),
    ),
    (
        "secret.huggingface_token",
        ("hf_",),
        re.compile(_B + r"hf_[A-Za-z0-9]{30,60}" + _E),
        lambda v: _random_body(v[3:], 3.0),
    ),
    (
        "secret.jwt",
        ("eyJ",),
        re.compile(
            r"(?<![A-Za-z0-9_\-.])eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*"
            r"(?![A-Za-z0-9_\-])"
        ),
        _jwt_ok,
    ),
)

_URL_PASSWORD: Final = re.compile(
    r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@\"'<>]{1,64}:"
    r"(?P<v>[^\s/@\"'<>]{1,128})@[A-Za-z0-9\[]"
)
_URL_PASSWORD_PLACEHOLDERS: Final = ("password", "passwd", "pass", "pwd", "secret", "***", "$", "{")

_PEM_BEGIN: Final = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = re.compile(r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY: Final = re.compile(
    r"(?:(?:\s|\\n|\\r)*(?:[A-Za-z0-9+/=]{4,}|[A-Za-z\-]+: [^\n]{0,200}))*"
)
_PEM_MAX_SPAN: Final = 64_000

_GENERIC_KEYWORD: Final = re.compile(
    r"(?:api[_\- ]?key|apikey|api[_\-]?secret|client[_\-]?secret|secret|access[_\-]?key"
    r"|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|bearer|token|passwd|password"
    r"|passphrase|pwd|credentials?|signing[_\-]?key|encryption[_\-]?key|private[_\-]?key)"
)
_GENERIC_KEYWORD_HINTS: Final = (
    "key", "secret", "token", "pass", "pwd", "bearer", "credential",
)  # fmt: skip
_GENERIC_ASSIGN: Final = re.compile(
    r"[A-Za-z0-9_.\-]{0,32}[\"']?\]?[ \t]{0,4}(?::=|=>|:|=)[ \t]{0,4}(?:[\"'`]|b[\"'])?"
    r"(?P<v>[A-Za-z0-9_\-+/=.~!@#$%^&*?]{8,256})"
)
_GENERIC_BEARER: Final = re.compile(r"[ \t]{1,4}(?P<v>[A-Za-z0-9_\-+/=.~]{16,512})")
_PASSWORD_KEYS: Final = ("pass", "pwd")


_LONG_TOKEN: Final = re.compile(r"[A-Za-z0-9_\-]{20,}")
_SLACK_WEBHOOK: Final = re.compile(
    r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/\-]{20,200}"
)
_SENDGRID: Final = re.compile(r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])")


def _scan_secrets(text: str, out: list[Finding]) -> None:
    # prefixed tokens: one pass for long tokens, then the detector whose prefix matches
    for t in _LONG_TOKEN.finditer(text):
        s, e = t.span()
        tok = t.group()
        for kind, prefixes, pattern, check in _SECRET_DETECTORS:
            if not tok.startswith(prefixes):
                continue
            m = pattern.match(text, s) if kind == "secret.jwt" else pattern.fullmatch(text, s, e)
            if m is not None and check(m.group()):
                out.append(Finding(kind, m.start(), m.end()))
                break
        else:
            if s >= 3 and text[s - 3 : s] == "SG." and (m := _SENDGRID.match(text, s - 3)):
                out.append(Finding("secret.sendgrid_key", m.start(), m.end()))
    if "hooks.slack.com" in text:
        for m in _SLACK_WEBHOOK.finditer(text):
            out.append(Finding("secret.slack_webhook", m.start(), m.end()))
    if "PRIVATE KEY" in text:
        ends = [m.end() for m in _PEM_END.finditer(text)]
        for m in _PEM_BEGIN.finditer(text):
            k = bisect.bisect_left(ends, m.end())
            if k < len(ends) and ends[k] - m.end() <= _PEM_MAX_SPAN:
                end = ends[k]
            else:
                body = _PEM_BODY.match(text, m.end())
                end = body.end() if body else m.end()
            out.append(Finding("secret.private_key", m.start(), end))
    if "://" in text and "@" in text:
        for m in _URL_PASSWORD.finditer(text):
            v = m.group("v")
            low_v = v.lower()
            if v.isdigit() or any(p in low_v for p in _URL_PASSWORD_PLACEHOLDERS):
                continue  # "user:8080@" is a port; "user:password@" is documentation
            if _looks_placeholder(v):
                continue
            out.append(Finding("secret.password_in_url", m.start("v"), m.end("v")))
    low = text.lower()
    if any(h in low for h in _GENERIC_KEYWORD_HINTS):
        if len(low) != len(text):  # a few characters change length when lower-cased
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        _scan_generic_secrets(text, low, out)


def _scan_generic_secrets(text: str, low: str, out: list[Finding]) -> None:
    # key names are found in the lower-cased text (a case-insensitive regex is ~20x slower);
    # offsets carry over because lower() kept the length
    for km in _GENERIC_KEYWORD.finditer(low):
        key = km.group()
        if key == "bearer":
            vm = _GENERIC_BEARER.match(text, km.end())
        else:
            vm = _GENERIC_ASSIGN.match(text, km.end())
        if vm is None:
            continue
        v = vm.group("v")
        start = vm.start("v")
        stripped = v.rstrip(".,;:)'\"`")
        if not stripped:
            continue
        is_password = any(p in key for p in _PASSWORD_KEYS)
        if is_password:
            classes = (
                any(c.islower() for c in stripped)
                + any(c.isupper() for c in stripped)
                + any(c.isdigit() for c in stripped)
                + any(not c.isalnum() for c in stripped)
            )
            ok = (
                len(stripped) >= 10
                and classes >= 3
                and not _looks_placeholder(stripped)
                and _entropy(stripped) >= 2.8
            )
        elif any(c.isdigit() for c in stripped):
            ok = len(stripped) >= 16 and _mixed_token(stripped, 3.0)
        else:
            # no digit: only a long, case-mixed random string (not a camelCase identifier)
            upper = sum(c.isupper() for c in stripped) / len(stripped)
            ok = (
                len(stripped) >= 20
                and 0.25 <= upper <= 0.75
                and not _looks_placeholder(stripped)
                and _entropy(stripped) >= 4.0
            )
        if ok:
            out.append(Finding("secret.generic_api_key", start, start + len(stripped)))


# --------------------------------------------------------------------------------------------
# Emails, IBANs and letter-shaped national ids
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Digit runs: cards, phones and digit-only national ids
# --------------------------------------------------------------------------------------------

# A stretch of digits and separators; split into runs (digit groups joined by <= 2 separator
# characters) in Python.
_CHUNK: Final = re.compile(r"[0-9][0-9 \u00a0\-./()]{7,}")
_DIGITS: Final = re.compile(r"[0-9]+")
_DIGIT3: Final = re.compile(r"[0-9](?:[^0-9\n]{0,3}[0-9]){2}")  # three digits, maybe spaced
# the head of an IBAN-shaped code ("DE20 5831 ...") right before a run: the run is its tail
_EXTENSION: Final = re.compile(r"(?:[ ]?(?:x|ext\.?|extn\.?|#)[ ]?[0-9]{1,6})(?![A-Za-z0-9])")
_DATE_IN_RUN: Final = re.compile(
    r"(?<![0-9])(?:(?:19|20)[0-9]{2}[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12][0-9]|3[01])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:19|20)[0-9]{2}"
    r"|(?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12][0-9]|3[01])[\-/.](?:19|20)[0-9]{2})(?![0-9])"
)

# Context words. Windows are lower-cased and cut at the start of the sentence; words are
# compared as whole tokens (exact or by stem), CJK / Devanagari words as substrings.
_TOKEN: Final = re.compile(r"[^\W\d_]+|[0-9]+|[#@=]")
_PHONE_EXACT: Final = frozenset(
    [
        "tel",
        "tél",
        "fon",
        "fax",
        "sms",
        "dial",
        "ring",
        "bel",
        "ruf",
        "rufen",
        "reach",
        "handy",
        "cell",
        "whatsapp",
        "wa",
        "mob",
    ]
)
_PHONE_STEMS: Final = (
    "phone", "teleph", "telef", "teléf", "téléph", "call", "mobil", "móvil", "movil", "cellul",
    "cellphone", "whatsapp", "hotline", "anruf", "rufnummer", "erreichbar", "portable", "appel",
    "joindre", "llam", "llám", "chiam", "bellen", "ligue", "ligar", "celular", "contact",
    "contat", "kontakt",
)  # fmt: skip
_PHONE_SUBSTR: Final = ("電話", "携帯", "連絡", "फ़ोन", "फोन", "मोबाइल", "संपर्क")
_PHONE_WEAK: Final = frozenset(
    [
        "number",
        "numéro",
        "número",
        "numero",
        "nummer",
        "no",
        "nr",
        "n",
        "nº",
        "text",
        "ring",
        "番号",
    ]
)
_FILLERS: Final = frozenset(
    [
        "is",
        "es",
        "est",
        "ist",
        "è",
        "é",
        "o",
        "now",
        "at",
        "on",
        "au",
        "al",
        "op",
        "unter",
        "para",
        "me",
        "us",
    ]
)
_NEG_EXACT: Final = frozenset(
    [
        "order",
        "orders",
        "invoice",
        "inv",
        "sku",
        "item",
        "part",
        "ref",
        "reference",
        "tracking",
        "shipment",
        "parcel",
        "account",
        "acct",
        "serial",
        "model",
        "batch",
        "lot",
        "ticket",
        "case",
        "po",
        "id",
        "article",
        "art",
        "product",
        "code",
        "policy",
        "contract",
        "customer",
        "client",
        "member",
        "voucher",
        "coupon",
        "gift",
        "ean",
        "gtin",
        "upc",
        "isbn",
        "imei",
        "barcode",
        "zip",
        "postal",
        "postcode",
        "plz",
        "cep",
        "commande",
        "facture",
        "pedido",
        "factura",
        "ordine",
        "fattura",
        "bestelling",
        "factuur",
        "klant",
    ]
)
_NEG_STEMS: Final = (
    "bestell", "rechnung", "kunden", "artikel", "auftrag", "sendung", "referen", "serien",
    "注文", "請求", "伝票", "追跡",
)  # fmt: skip
_LABEL_SUFFIX: Final = frozenset(
    [
        "no",
        "nr",
        "number",
        "num",
        "nummer",
        "numéro",
        "número",
        "numero",
        "code",
        "id",
        "n",
        "nº",
        "#",
        "番号",
    ]
)
_CARD_WORDS: Final = re.compile(
    r"card|visa|master|amex|maestro|discover|diners|jcb|karte|carte|tarjeta|carta|kaart"
    r"|cartão|cartao|カード|कार्ड|\bcc\b|\bpan\b"
)
_CARD_NEG: Final = re.compile(
    r"(?:ean|gtin|upc|isbn|imei|barcode|tracking|order|invoice|serial|\bref|reference|#)"
    r"\s*(?:no\.?|nr\.?|number|#|:)?\s*[:#]?\s*$"
)

# (whole-token words, substrings) that introduce each digit-only national id
_SSN_CTX: Final = (frozenset({"ssn", "ss", "ssa"}), ("social security", "soc. sec", "soc sec"))
_BSN_CTX: Final = (frozenset({"bsn", "sofinummer"}), ("burgerservice", "citizen service"))
_AADHAAR_CTX: Final = (frozenset({"aadhaar", "aadhar", "uidai", "uid"}), ("आधार",))
_CPF_CTX: Final = (frozenset({"cpf"}), ())
_STEUER_CTX: Final = (
    frozenset({"idnr", "tin", "steuerid"}),
    ("steuer", "identifikationsnummer", "tax id", "tax identification"),
)

_SENTENCE_BREAK: Final = re.compile(r"[.!?]\s+(?=[A-Z\u00c0-\u00dd])|[\u3002\uff01\uff1f\n]")

_POS, _NEG, _NONE = 1, -1, 0


def _context_window(text: str, start: int, width: int) -> str:
    """The lower-cased text before ``start`` within the same sentence, at most ``width`` chars."""
    window = text[max(0, start - width) : start]
    cut = 0
    for b in _SENTENCE_BREAK.finditer(window):
        cut = b.end()
    return window[cut:].lower()


def _is_phone_word(tok: str) -> bool:
    return tok in _PHONE_EXACT or tok.startswith(_PHONE_STEMS)


def _is_neg_word(tok: str) -> bool:
    return tok in _NEG_EXACT or tok.startswith(_NEG_STEMS)


def _fresh(window: str, pos: int) -> bool:
    """No other number or email address stands between ``pos`` and the end of the window."""
    return _DIGIT3.search(window, pos) is None and "@" not in window[pos:]


def _phone_context(text: str, start: int) -> int:
    """POS when a phone word precedes (same sentence), NEG when a non-phone label is adjacent."""
    before = text[max(0, start - 3) : start]
    if "=" in before or before.endswith("::"):
        key = _TOKEN.findall(text[max(0, start - 24) : start].lower())
        words = [t for t in key if t != "="]
        return _POS if words and _is_phone_word(words[-1]) else _NEG
    window = _context_window(text, start, 90)
    toks = _TOKEN.findall(window)
    # a label right before the number: "Order #", "SKU", "Rechnung Nr."
    k = len(toks) - 1
    while k >= 0 and toks[k] in _LABEL_SUFFIX:
        k -= 1
    if k >= 0 and k >= len(toks) - 3 and _is_neg_word(toks[k]):
        return _NEG
    # a phone word earlier in the sentence, with no other number in between
    digits = 0
    for tok in reversed(toks):
        if tok.isdigit():
            digits += len(tok)
            if digits >= 3:
                break
        elif tok == "@":
            break
        elif _is_phone_word(tok):
            return _POS
    if not window.isascii():
        for w in _PHONE_SUBSTR:
            i = window.rfind(w)
            if i >= 0 and _fresh(window, i):
                return _POS
    # "number:", "my number is", "text"
    k = len(toks) - 1
    while k >= 0 and toks[k] in _FILLERS:
        k -= 1
    if k >= 0 and toks[k] in _PHONE_WEAK:
        return _POS
    return _NONE


def _id_context(text: str, start: int, ctx: tuple[frozenset[str], tuple[str, ...]]) -> bool:
    """A word introducing this kind of id occurs before ``start`` with no other number between."""
    window = _context_window(text, start, 60)
    words, phrases = ctx
    for w in phrases:
        i = window.rfind(w)
        if i >= 0 and _fresh(window, i):
            return True
    digits = 0
    for tok in reversed(_TOKEN.findall(window)):
        if tok.isdigit():
            digits += len(tok)
            if digits >= 3:
                return False
        elif tok == "@":
            return False
        elif tok in words:
            return True
    return False


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
        if (one or sizes in ([4, 2, 3], [3, 3, 3])) and _nl_bsn_valid(digits):
            return "nl_bsn" if _id_context(text, start, _BSN_CTX) else None
    elif n == 11:
        if sizes == [3, 3, 3, 2] and kinds == [".", ".", "-"]:
            return "br_cpf" if _br_cpf_valid(digits) else None
        steuer_shape = one or sizes == [2, 3, 3, 3]
        if steuer_shape and _de_steuer_id_valid(digits) and _id_context(text, start, _STEUER_CTX):
            return "de_steuer_id"
        if one and _br_cpf_valid(digits) and _id_context(text, start, _CPF_CTX):
            return "br_cpf"
    elif n == 12:
        if (one or sizes == [4, 4, 4]) and _in_aadhaar_valid(digits):
            return "in_aadhaar" if _id_context(text, start, _AADHAAR_CTX) else None
    elif n == 15:
        nir_shape = one or sizes[:4] == [1, 2, 2, 2] or sizes == [13, 2]
        if nir_shape and _fr_nir_valid(digits) and not _card_in_context(text, start, digits):
            return "fr_nir"
    return None


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
        return ctx == _POS and lo <= n <= 13
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


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

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
    findings = scan(text)
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
