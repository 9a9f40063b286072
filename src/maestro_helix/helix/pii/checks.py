"""Checksums and validators of card numbers, IBANs and national id numbers."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


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
