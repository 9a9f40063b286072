"""National ids of more EU states (helix/pii/national.py): Slovenia's EMŠO, Latvia's personas
kods and Luxembourg's matricule, valid and with a wrong check digit.

Every value is computed here from random digits (check digits and dates made valid), never taken
from a real person.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable

import pytest

from maestro_helix.helix.pii import scan


def _date(r: random.Random, lo: int, hi: int) -> tuple[int, int, int]:
    y = r.randint(lo, hi)
    m = r.randint(1, 12)
    return y, m, r.randint(1, calendar.monthrange(y, m)[1])


def emso(r: random.Random) -> str:
    while True:
        y, m, d = _date(r, 1930, 2020)
        body = f"{d:02d}{m:02d}{y % 1000:03d}{r.randint(50, 59)}{r.randint(0, 999):03d}"
        rest = sum(int(c) * w for c, w in zip(body, (7, 6, 5, 4, 3, 2) * 2, strict=True)) % 11
        check = 0 if rest == 0 else 11 - rest
        if check != 10:
            return body + str(check)


def personas_kods(r: random.Random) -> str:
    while True:
        y, m, d = _date(r, 1930, 2016)
        body = f"{d:02d}{m:02d}{y % 100:02d}{(y - 1800) // 100}{r.randint(0, 999):03d}"
        weights = (1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        check = (1101 - sum(int(c) * w for c, w in zip(body, weights, strict=True))) % 11
        if check != 10:
            return f"{body[:6]}-{body[6:]}{check}"


_D = ("0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
      "5987604321", "6598710432", "7659821043", "8765932104", "9876543210")  # fmt: skip
_P = ("0123456789", "1576283094", "5803796142", "8916043527",
      "9453126870", "4286573901", "2793806415", "7046913258")  # fmt: skip


def _verhoeff(body: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = int(_D[c][int(_P[(i + 1) % 8][int(ch)])])
    return "0432156789"[c]


def _luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def matricule(r: random.Random) -> str:
    y, m, d = _date(r, 1930, 2020)
    body = f"{y:04d}{m:02d}{d:02d}{r.randint(0, 999):03d}"
    return body + _luhn(body) + _verhoeff(body)


def test_verhoeff_reference_value() -> None:
    assert _verhoeff("236") == "3"  # the textbook example: 2363 is valid
    from maestro_helix.helix.pii.national import _verhoeff_digit

    assert _verhoeff_digit("236") == 3 and _verhoeff_digit("12345") == 1


CASES: list[tuple[str, Callable[[random.Random], str], tuple[str, ...]]] = [
    ("si_emso", emso, ("EMŠO: {v}", "Moja EMŠO je {v}.", "enotna matična številka občana {v}")),
    ("lv_personas_kods", personas_kods, ("Personas kods: {v}", "personas kods {v}, Rīga")),
    ("lu_matricule", matricule, ("Matricule: {v}", "numéro d'identification {v}", "CNS {v}")),
]


def _national(text: str) -> list[tuple[str | None, str]]:
    return [(f.scheme, text[f.start : f.end]) for f in scan(text) if f.kind == "national_id"]


@pytest.mark.parametrize(("scheme", "make", "templates"), CASES, ids=[c[0] for c in CASES])
def test_valid_ids_are_found_with_their_scheme(
    scheme: str, make: Callable[[random.Random], str], templates: tuple[str, ...]
) -> None:
    r = random.Random(scheme)
    for i in range(60):
        v = make(r)
        text = templates[i % len(templates)].format(v=v)
        assert (scheme, v) in _national(text), text


def _broken(v: str) -> str:
    return v[:-1] + str((int(v[-1]) + 1) % 10)


@pytest.mark.parametrize(("scheme", "make", "templates"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_check_digit_is_not_an_id(
    scheme: str, make: Callable[[random.Random], str], templates: tuple[str, ...]
) -> None:
    r = random.Random(scheme + "x")
    for i in range(60):
        text = templates[i % len(templates)].format(v=_broken(make(r)))
        assert scheme not in {s for s, _ in _national(text)}, text


def test_luxembourg_needs_both_check_digits() -> None:
    v = matricule(random.Random(3))
    luhn_only = v[:12] + str((int(v[12]) + 3) % 10)
    assert _national(f"Matricule: {luhn_only}") == []
    verhoeff_only = v[:11] + str((int(v[11]) + 5) % 10) + v[12]
    assert _national(f"Matricule: {verhoeff_only}") == []


@pytest.mark.parametrize(
    "text",
    [
        "Order 2303985505006 shipped on Monday.",  # 13 digits, no context word
        "Personas kods: 320101-12345",  # a date-free (post-2017) code is not checked here
        "EMŠO: 3102985505006",  # 31 February
        "Matricule: 1899130112345",  # month 13
    ],
)
def test_lookalikes_stay_quiet(text: str) -> None:
    assert _national(text) == [], text
