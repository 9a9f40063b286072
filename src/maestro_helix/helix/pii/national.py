"""Digit-only national id numbers, as data: one row per scheme (EU states and others).

Each :class:`NationalId` names its length in digits, its check (check digits and an embedded
birth date wherever the scheme has them), the written shapes that are distinctive enough to be
reported on their own (Swedish ``YYMMDD-NNNC``, Czech ``YYMMDD/NNNN``, Belgian
``YY.MM.DD-NNN.CC``), and the words that introduce it. A bare digit run of the right length is
only reported when one of those words stands before it (``"PESEL: 44051401359"``), because a
checksum alone passes one random number in ten to a hundred.

The Finnish henkilötunnus carries a letter (century sign and check character) and is matched by
its own pattern, :data:`FI_HETU`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from maestro_helix.helix.pii.checks import (
    _br_cpf_valid,
    _de_steuer_id_valid,
    _in_aadhaar_valid,
    _nl_bsn_valid,
)

__all__ = ["FI_HETU", "NATIONAL_IDS", "NationalId", "fi_hetu_valid"]


def _date_ok(yy: int, mm: int, dd: int, century: int) -> bool:
    year = century + yy
    return 1 <= mm <= 12 and 1 <= dd <= calendar.monthrange(year, mm)[1]


def _weighted(d: str, weights: str) -> int:
    return sum((ord(c) - 48) * (ord(w) - 48) for c, w in zip(d, weights, strict=False))


def _pl_pesel(d: str) -> bool:
    """PESEL: weights 1379137913, check digit, birth date with the century in the month."""
    if (10 - _weighted(d[:10], "1379137913") % 10) % 10 != ord(d[10]) - 48:
        return False
    yy, mm, dd = int(d[:2]), int(d[2:4]), int(d[4:6])
    century = {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 1800}[mm // 20]
    return _date_ok(yy, mm % 20, dd, century)


def _luhn(d: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(d)):
        v = (ord(c) - 48) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def _se_personnummer(d: str) -> bool:
    """Personnummer: YYMMDDNNNC or YYYYMMDDNNNC, Luhn on the last ten digits; a coordination
    number adds 60 to the day."""
    ten = d[-10:]
    yy, mm, dd = int(ten[:2]), int(ten[2:4]), int(ten[4:6])
    dd = dd - 60 if dd > 60 else dd
    century = int(d[:2]) * 100 if len(d) == 12 else 2000
    return _luhn(ten) and _date_ok(yy, mm, dd, century)


def _dk_cpr(d: str) -> bool:
    """CPR: DDMMYY-SSSS (no check digit since 2007): the date must exist."""
    return _date_ok(int(d[4:6]), int(d[2:4]), int(d[:2]), 2000)


def _be_nrn(d: str) -> bool:
    """Rijksregisternummer: YYMMDD NNN CC, CC = 97 - (number mod 97), with a leading 2 from
    2000; bis numbers add 20 or 40 to the month, unknown dates use month 00."""
    check = int(d[9:])
    if 97 - int(d[:9]) % 97 != check and 97 - int("2" + d[:9]) % 97 != check:
        return False
    mm = int(d[2:4]) % 20
    return mm <= 12 and int(d[4:6]) <= 31


def _ro_cnp(d: str) -> bool:
    """CNP: S YYMMDD JJ NNN C, weights 279146358279, check = sum mod 11 (10 becomes 1)."""
    if d[0] == "0":
        return False
    check = _weighted(d[:12], "279146358279") % 11
    if (1 if check == 10 else check) != ord(d[12]) - 48:
        return False
    century = {"1": 1900, "2": 1900, "3": 1800, "4": 1800, "5": 2000, "6": 2000}.get(d[0], 1900)
    return _date_ok(int(d[1:3]), int(d[3:5]), int(d[5:7]), century)


def _cz_rodne_cislo(d: str) -> bool:
    """Rodné číslo (CZ/SK, since 1954): YYMMDD/NNNC divisible by 11; women add 50 to the
    month, and 20 more when a day's numbers ran out."""
    n = int(d)
    if n % 11 != 0 and not (int(d[:9]) % 11 == 10 and d[9] == "0"):
        return False
    mm = int(d[2:4])
    mm = mm - 50 if mm > 50 else mm
    mm = mm - 20 if mm > 20 else mm
    return _date_ok(int(d[:2]), mm, int(d[4:6]), 1900)


def _pt_nif(d: str) -> bool:
    """NIF: 9 digits, mod-11 check digit (10 and 11 become 0)."""
    if d[0] not in "1235689":
        return False
    check = 11 - _weighted(d[:8], "98765432") % 11
    return (0 if check >= 10 else check) == ord(d[8]) - 48


def _at_svnr(d: str) -> bool:
    """Sozialversicherungsnummer: NNNC DDMMYY, C = weighted sum mod 11 (never 10)."""
    check = _weighted(d[:3] + d[4:], "379584216") % 11
    if check == 10 or check != ord(d[3]) - 48:
        return False
    return _date_ok(int(d[8:10]), int(d[6:8]), int(d[4:6]), 1900)


def _gr_amka(d: str) -> bool:
    """AMKA (Greece): DDMMYY + four digits, Luhn over all eleven."""
    if not _luhn(d):
        return False
    dd, mm, yy = int(d[:2]), int(d[2:4]), int(d[4:6])
    return 1 <= mm <= 12 and 1 <= dd <= calendar.monthrange(2000 + yy, mm)[1]


def _hu_taj(d: str) -> bool:
    """TAJ szám (Hungary): weights 3 and 7 alternating over eight digits, sum mod 10."""
    return _weighted(d[:8], "37373737") % 10 == ord(d[8]) - 48


def _bg_egn(d: str) -> bool:
    """ЕГН (Bulgaria): YYMMDD (month +20 for the 1800s, +40 from 2000), serial, check digit
    with weights 2 4 8 5 10 9 7 3 6 mod 11 (10 becomes 0)."""
    weights = (2, 4, 8, 5, 10, 9, 7, 3, 6)
    check = sum((ord(c) - 48) * w for c, w in zip(d[:9], weights, strict=True)) % 11
    if (0 if check == 10 else check) != ord(d[9]) - 48:
        return False
    mm = int(d[2:4])
    century = 1800 if 21 <= mm <= 32 else 2000 if 41 <= mm <= 52 else 1900
    return _date_ok(int(d[:2]), mm % 20, int(d[4:6]), century)


def _hr_oib(d: str) -> bool:
    """OIB (Croatia): ISO 7064 MOD 11,10 over the first ten digits."""
    a = 10
    for c in d[:10]:
        a = (a + ord(c) - 48) % 10 or 10
        a = a * 2 % 11
    check = 11 - a
    return (0 if check == 10 else check) == ord(d[10]) - 48


def _ee_lt_personal_code(d: str) -> bool:
    """Isikukood (Estonia) and asmens kodas (Lithuania): G YYMMDD SSS C, G 1-6 the century
    and sex; C by weights 1234567891 mod 11, or 3456789123 when that gives 10 (then 0)."""
    if d[0] not in "123456":
        return False
    check = _weighted(d[:10], "1234567891") % 11
    if check == 10:
        check = _weighted(d[:10], "3456789123") % 11
        check = 0 if check == 10 else check
    if check != ord(d[10]) - 48:
        return False
    century = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}[d[0]]
    return _date_ok(int(d[1:3]), int(d[3:5]), int(d[5:7]), century)


def _si_emso(d: str) -> bool:
    """EMŠO (Slovenia): DDMMYYY RR BBB K; K = 11 - (weights 765432765432 mod 11), 11 becomes 0
    and 10 is never issued; YYY is the year less 1000 (from 800) or less 2000 (below 800)."""
    rest = _weighted(d[:12], "765432765432") % 11
    check = 0 if rest == 0 else 11 - rest
    if check == 10 or check != ord(d[12]) - 48:
        return False
    yyy = int(d[4:7])
    year = 1000 + yyy if yyy >= 800 else 2000 + yyy
    return _date_ok(year % 100, int(d[2:4]), int(d[:2]), year - year % 100)


def _lv_personas_kods(d: str) -> bool:
    """Personas kods (Latvia, issued before 2017): DDMMYY C NNNN, C the century (0 for the
    1800s, 1 the 1900s, 2 the 2000s); the last digit is (1101 - weights 1637910584 2) mod 11."""
    if d[6] not in "012":
        return False
    weights = (1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = (1101 - sum((ord(c) - 48) * w for c, w in zip(d[:10], weights, strict=True))) % 11
    if check != ord(d[10]) - 48:
        return False
    return _date_ok(int(d[4:6]), int(d[2:4]), int(d[:2]), 1800 + 100 * (ord(d[6]) - 48))


_VERHOEFF_D: Final = (
    "0123456789", "1234067895", "2340178956", "3401289567", "4012395678",
    "5987604321", "6598710432", "7659821043", "8765932104", "9876543210",
)  # fmt: skip
_VERHOEFF_P: Final = (
    "0123456789", "1576283094", "5803796142", "8916043527",
    "9453126870", "4286573901", "2793806415", "7046913258",
)  # fmt: skip
_VERHOEFF_INV: Final = "0432156789"


def _verhoeff_digit(body: str) -> int:
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = ord(_VERHOEFF_D[c][ord(_VERHOEFF_P[(i + 1) % 8][ord(ch) - 48]) - 48]) - 48
    return ord(_VERHOEFF_INV[c]) - 48


def _luhn_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = (ord(ch) - 48) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return (10 - total % 10) % 10


def _lu_matricule(d: str) -> bool:
    """Matricule (Luxembourg, since 2014): YYYYMMDD XXX, then a Luhn and a Verhoeff check
    digit, both over the first eleven digits."""
    if _luhn_digit(d[:11]) != ord(d[11]) - 48 or _verhoeff_digit(d[:11]) != ord(d[12]) - 48:
        return False
    year = int(d[:4])
    century = year - year % 100
    return 1850 <= year <= 2100 and _date_ok(year % 100, int(d[4:6]), int(d[6:8]), century)


Shape = tuple[tuple[int, ...], tuple[str, ...]]
"""(digit group sizes, separator kinds) of a written form."""


@dataclass(frozen=True, slots=True)
class NationalId:
    """One national id scheme (see the module docstring)."""

    scheme: str
    lengths: tuple[int, ...]
    valid: Callable[[str], bool]
    words: frozenset[str]
    phrases: tuple[str, ...] = ()
    shapes: tuple[Shape, ...] = ()
    context_shapes: tuple[Shape, ...] = ()
    """Written forms reported only after one of the words (a bare run always needs them)."""
    context_sizes: tuple[tuple[int, ...], ...] = ()
    """Digit groupings, whatever their separators, reported only after one of the words."""


NATIONAL_IDS: Final[tuple[NationalId, ...]] = (
    # the digit-only schemes that were code before (``digits._classify_id`` keeps the two with
    # rules of their own: the US SSN and the French NIR)
    NationalId(
        "nl_bsn",
        (9,),
        _nl_bsn_valid,
        frozenset({"bsn", "sofinummer"}),
        ("burgerservice", "citizen service"),
        context_sizes=((4, 2, 3), (3, 3, 3)),
    ),
    NationalId(
        "de_steuer_id",
        (11,),
        _de_steuer_id_valid,
        frozenset({"idnr", "tin", "steuerid"}),
        ("steuer", "identifikationsnummer", "tax id", "tax identification"),
        context_sizes=((2, 3, 3, 3),),
    ),
    NationalId(
        "br_cpf",
        (11,),
        _br_cpf_valid,
        frozenset({"cpf"}),
        shapes=(((3, 3, 3, 2), (".", ".", "-")),),
    ),
    NationalId(
        "in_aadhaar",
        (12,),
        _in_aadhaar_valid,
        frozenset({"aadhaar", "aadhar", "uidai", "uid"}),
        ("आधार",),
        context_sizes=((4, 4, 4),),
    ),
    NationalId("pl_pesel", (11,), _pl_pesel, frozenset({"pesel"}), ("numer pesel", "nr pesel")),
    NationalId(
        "se_personnummer",
        (10, 12),
        _se_personnummer,
        frozenset({"personnummer", "personnr", "pnr", "personnumret", "samordningsnummer"}),
        ("personal identity number", "person number", "personal number"),
        (((6, 4), ("-",)), ((8, 4), ("-",))),
    ),
    NationalId(
        "dk_cpr",
        (10,),
        _dk_cpr,
        frozenset({"cpr", "cprnr", "personnummer"}),
        ("cpr-nr", "cpr-nummer", "cpr nummer", "cpr number"),
        context_shapes=(((6, 4), ("-",)),),
    ),
    NationalId(
        "be_nrn",
        (11,),
        _be_nrn,
        frozenset({"rijksregisternummer", "insz", "niss", "rrn", "nn"}),
        ("numéro national", "numero national", "national number", "registre national"),
        (((2, 2, 2, 3, 2), (".", ".", "-", ".")), ((6, 3, 2), ("-", "."))),
    ),
    NationalId(
        "ro_cnp",
        (13,),
        _ro_cnp,
        frozenset({"cnp"}),
        ("cod numeric personal", "personal numeric code"),
    ),
    NationalId(
        "cz_rodne_cislo",
        (10,),
        _cz_rodne_cislo,
        frozenset({"rč", "rodné", "rodne"}),
        ("rodné číslo", "rodne cislo", "rodné čislo", "birth number"),
        (((6, 4), ("/",)),),
    ),
    NationalId(
        "pt_nif",
        (9,),
        _pt_nif,
        frozenset({"nif", "contribuinte", "nipc"}),
        ("número de contribuinte", "numero de contribuinte", "tax number"),
    ),
    NationalId(
        "at_svnr",
        (10,),
        _at_svnr,
        frozenset({"svnr", "sozialversicherungsnummer", "versicherungsnummer", "svn"}),
        ("sozialversicherungs", "social security number", "e-card", "sv-nummer", "sv nummer"),
    ),
    NationalId(
        "gr_amka",
        (11,),
        _gr_amka,
        frozenset({"amka", "αμκα"}),
        ("αριθμός μητρώου κοινωνικής ασφάλισης", "social security registration number"),
    ),
    NationalId(
        "hu_taj",
        (9,),
        _hu_taj,
        frozenset({"taj", "tajszám", "tajszáma", "tajszámom"}),
        ("taj szám", "taj-szám", "társadalombiztosítási azonosító", "social insurance number"),
        context_sizes=((3, 3, 3),),
    ),
    NationalId(
        "bg_egn",
        (10,),
        _bg_egn,
        frozenset({"егн", "egn"}),
        ("единен граждански номер", "unified civil number"),
    ),
    NationalId(
        "hr_oib",
        (11,),
        _hr_oib,
        frozenset({"oib"}),
        ("osobni identifikacijski broj", "personal identification number"),
    ),
    NationalId(
        "ee_isikukood",
        (11,),
        _ee_lt_personal_code,
        frozenset({"isikukood", "isikukoodiga", "isikukoodi"}),
        ("personal identification code", "personal code"),
    ),
    NationalId(
        "lt_asmens_kodas",
        (11,),
        _ee_lt_personal_code,
        frozenset({"ak"}),
        ("asmens kodas", "asmens kodą", "asmens kodo"),
    ),
    NationalId(
        "si_emso",
        (13,),
        _si_emso,
        frozenset({"emšo", "emso"}),
        (
            "enotna matična številka občana",
            "enotna maticna stevilka obcana",
            "unique master citizen number",
        ),
    ),
    NationalId(
        "lv_personas_kods",
        (11,),
        _lv_personas_kods,
        frozenset({"p.k.", "pk"}),
        ("personas kods", "personas kodu", "personas koda", "personal code"),
        context_shapes=(((6, 5), ("-",)),),
    ),
    NationalId(
        "lu_matricule",
        (13,),
        _lu_matricule,
        frozenset({"matricule", "cns"}),
        (
            "numéro d'identification",
            "numero d'identification",
            "numéro de matricule",
            "identifikationsnummer",
            "national identification number",
        ),
        context_sizes=((4, 4, 3, 2), (8, 3, 2)),
    ),
)
"""The digit-only schemes, tried in this order after the older ones in ``digits``."""

_HETU_CHECK: Final = "0123456789ABCDEFHJKLMNPRSTUVWXY"
FI_HETU: Final = re.compile(r"(?<![0-9A-Za-z])[0-3][0-9][01][0-9]{3}[-+A-FU-Y][0-9]{3}[0-9A-Y]"
                            r"(?![0-9A-Za-z])")  # fmt: skip
"""The Finnish henkilötunnus: DDMMYY, a century sign, a serial and a check character."""


def fi_hetu_valid(s: str) -> bool:
    """Henkilötunnus check: the character at ``int(DDMMYY + NNN) mod 31``, a real date."""
    dd, mm, yy = int(s[:2]), int(s[2:4]), int(s[4:6])
    century = 1800 if s[6] == "+" else 1900 if s[6] in "-UVWXY" else 2000
    return _HETU_CHECK[int(s[:6] + s[7:10]) % 31] == s[10] and _date_ok(yy, mm, dd, century)
