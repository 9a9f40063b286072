"""Generators of valid EU national ids and of secrets' hard negatives, for tests and bench/.

Every value is computed here from random digits (check digits and dates made valid), never
taken from a real person. The hard negatives are the high-entropy strings that are *not*
secrets: git SHAs, UUIDs, content hashes, base64 data, test fixtures and request ids.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import random
import uuid
from collections.abc import Callable

_HETU = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def _date(r: random.Random, lo: int = 1940, hi: int = 2015) -> tuple[int, int, int]:
    y = r.randint(lo, hi)
    m = r.randint(1, 12)
    return y, m, r.randint(1, calendar.monthrange(y, m)[1])


def _w(d: str, weights: str) -> int:
    return sum(int(a) * int(b) for a, b in zip(d, weights, strict=False))


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        v = int(c) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def pesel(r: random.Random) -> str:
    y, m, d = _date(r, 1940, 2020)
    mm = m + (20 if y >= 2000 else 0)
    body = f"{y % 100:02d}{mm:02d}{d:02d}{r.randint(0, 9999):04d}"
    return body + str((10 - _w(body, "1379137913") % 10) % 10)


def personnummer(r: random.Random, long: bool = False) -> str:
    y, m, d = _date(r)
    body = f"{y % 100:02d}{m:02d}{d:02d}{r.randint(0, 999):03d}"
    ten = body + _luhn_digit(body)
    if long:
        return f"{y // 100}{ten[:6]}-{ten[6:]}" if r.random() < 0.5 else f"{y // 100}{ten}"
    return f"{ten[:6]}-{ten[6:]}"


def cpr(r: random.Random) -> str:
    y, m, d = _date(r)
    return f"{d:02d}{m:02d}{y % 100:02d}-{r.randint(0, 9999):04d}"


def be_nrn(r: random.Random) -> str:
    while True:
        y, m, d = _date(r, 1940, 2015)
        body = f"{y % 100:02d}{m:02d}{d:02d}{r.randint(1, 998):03d}"
        num = int(("2" if y >= 2000 else "") + body)
        cc = 97 - num % 97
        if y < 2000 and 97 - int("2" + body) % 97 == cc:
            continue
        return f"{body[:2]}.{body[2:4]}.{body[4:6]}-{body[6:9]}.{cc:02d}"


def cnp(r: random.Random) -> str:
    y, m, d = _date(r, 1940, 2015)
    s = r.choice("12") if y < 2000 else r.choice("56")
    body = f"{s}{y % 100:02d}{m:02d}{d:02d}{r.randint(1, 46):02d}{r.randint(1, 999):03d}"
    c = _w(body, "279146358279") % 11
    return body + str(1 if c == 10 else c)


def rodne_cislo(r: random.Random) -> str:
    while True:
        y, m, d = _date(r, 1954, 1999)
        mm = m + (50 if r.random() < 0.5 else 0)
        head = f"{y % 100:02d}{mm:02d}{d:02d}"
        tail = r.randint(0, 999)
        for c in range(10):
            n = int(f"{head}{tail:03d}{c}")
            if n % 11 == 0:
                return f"{head}/{tail:03d}{c}"


def pt_nif(r: random.Random) -> str:
    body = r.choice("1235") + "".join(r.choice("0123456789") for _ in range(7))
    c = 11 - _w(body, "98765432") % 11
    return body + str(0 if c >= 10 else c)


def at_svnr(r: random.Random) -> str:
    while True:
        y, m, d = _date(r)
        serial = f"{r.randint(100, 999)}"
        date = f"{d:02d}{m:02d}{y % 100:02d}"
        c = _w(serial + date, "379584216") % 11
        if c != 10:
            return f"{serial}{c}{date}"


def hetu(r: random.Random) -> str:
    y, m, d = _date(r, 1940, 2015)
    sign = "-" if y < 2000 else "A"
    serial = r.randint(2, 899)
    head = f"{d:02d}{m:02d}{y % 100:02d}"
    return f"{head}{sign}{serial:03d}{_HETU[int(f'{head}{serial:03d}') % 31]}"


def amka(r: random.Random) -> str:
    y, m, d = _date(r)
    body = f"{d:02d}{m:02d}{y % 100:02d}{r.randint(0, 999):04d}"
    return body + _luhn_digit(body)


def taj(r: random.Random) -> str:
    body = f"{r.randint(0, 99_999_999):08d}"
    return body + str(_w(body, "37373737") % 10)


def egn(r: random.Random) -> str:
    y, m, d = _date(r, 1940, 2020)
    mm = m + (40 if y >= 2000 else 0)
    body = f"{y % 100:02d}{mm:02d}{d:02d}{r.randint(0, 999):03d}"
    c = sum(int(a) * w for a, w in zip(body, (2, 4, 8, 5, 10, 9, 7, 3, 6), strict=True)) % 11
    return body + str(0 if c == 10 else c)


def oib(r: random.Random) -> str:
    body = f"{r.randint(0, 9_999_999_999):010d}"
    a = 10
    for c in body:
        a = (int(c) + a) % 10 or 10
        a = a * 2 % 11
    c = 11 - a
    return body + str(0 if c == 10 else c)


def ee_lt_code(r: random.Random) -> str:
    while True:
        y, m, d = _date(r, 1940, 2015)
        g = (3 if y < 2000 else 5) + r.randint(0, 1)
        body = f"{g}{y % 100:02d}{m:02d}{d:02d}{r.randint(0, 999):03d}"
        c = _w(body, "1234567891") % 11
        if c == 10:
            c = _w(body, "3456789123") % 11
            c = 0 if c == 10 else c
        return body + str(c)


# (scheme, maker, templates: each has one {v})
EU_IDS: tuple[tuple[str, Callable[[random.Random], str], tuple[str, ...]], ...] = (
    ("pl_pesel", pesel, ("PESEL: {v}", "Numer PESEL {v}, adres w załączniku.",
                         "Her PESEL is {v}.", "nr PESEL {v}")),
    ("se_personnummer", personnummer, ("Personnummer: {v}", "Mitt personnummer är {v}.",
                                       "Kunden ({v}) ringde igår.", "pnr {v}")),
    ("dk_cpr", cpr, ("CPR-nr.: {v}", "Mit CPR-nummer er {v}.", "cpr {v}")),
    ("be_nrn", be_nrn, ("Rijksregisternummer: {v}", "Numéro national {v}", "NN {v}",
                        "Klant {v} heeft gebeld.")),
    ("ro_cnp", cnp, ("CNP: {v}", "CNP-ul meu este {v}.", "cod numeric personal {v}")),
    ("cz_rodne_cislo", rodne_cislo, ("Rodné číslo: {v}", "RČ {v}", "pacient {v}, Brno")),
    ("pt_nif", pt_nif, ("NIF: {v}", "Número de contribuinte {v}.", "NIF {v} na fatura")),
    ("at_svnr", at_svnr, ("SVNR: {v}", "Sozialversicherungsnummer {v}", "SV-Nummer: {v}")),
    ("fi_hetu", hetu, ("Henkilötunnus: {v}", "hetu {v}", "Asiakas {v} soitti.")),
    ("gr_amka", amka, ("ΑΜΚΑ: {v}", "AMKA {v}", "Ο ΑΜΚΑ μου είναι {v}.")),
    ("hu_taj", taj, ("TAJ szám: {v}", "TAJ: {v}", "A tajszámom {v}.")),
    ("bg_egn", egn, ("ЕГН: {v}", "ЕГН {v}, адрес в София.", "EGN {v}")),
    ("hr_oib", oib, ("OIB: {v}", "Moj OIB je {v}.", "osobni identifikacijski broj {v}")),
    ("ee_isikukood", ee_lt_code, ("Isikukood: {v}", "isikukood {v}")),
    ("lt_asmens_kodas", ee_lt_code, ("Asmens kodas: {v}", "asmens kodas {v}")),
)  # fmt: skip

# Numbers of the same lengths where no id belongs: they must stay quiet.
ID_NEGATIVES: tuple[str, ...] = (
    "Order {n11} shipped on Monday.", "Invoice {n10} is due in 30 days.",
    "Tracking number {n13}.", "Ticket {n9} was closed.", "Batch {n12} passed QA.",
    "Reference {n11}, please quote it in any reply.", "Serial no. {n10}",
    "The count rose to {n9} visits.", "Build {n10} deployed.", "Account 00{n9}",
)  # fmt: skip


def id_negative(r: random.Random) -> str:
    def num(k: int) -> str:
        return str(r.randint(1, 9)) + "".join(r.choice("0123456789") for _ in range(k - 1))

    return r.choice(ID_NEGATIVES).format(
        n9=num(9), n10=num(10), n11=num(11), n12=num(12), n13=num(13)
    )


def secret_hard_negative(r: random.Random) -> str:
    """A high-entropy string that is not a credential, in a realistic line."""
    raw = r.randbytes(32)
    sha1 = hashlib.sha1(raw).hexdigest()
    sha256 = hashlib.sha256(raw).hexdigest()
    md5 = hashlib.md5(raw).hexdigest()
    b64 = base64.b64encode(r.randbytes(r.randint(24, 90))).decode()
    u = str(uuid.UUID(bytes=r.randbytes(16), version=4))
    lines = (
        f"commit {sha1}", f"Merge {sha1[:7]} into main", f"git checkout {sha1[:12]}",
        f"sha256: {sha256}", f"md5sum {md5}  report.pdf", f'"integrity": "sha384-{b64}"',
        f"request-id: {u}", f"user_id={u}", f"ETag: \"{md5}\"",
        f"data:image/png;base64,{b64}", f"fixture_hash = '{sha256}'",
        f"test_token_fixture = \"{md5}\"  # not a secret, a fixture",
        f"object id {sha1} in pack", f"trace_id={sha256[:32]} span_id={md5[:16]}",
        f"checksum={sha256}", f"nonce: {b64[:24]}", f"Correlation-ID: {u}",
        f"docker pull app@sha256:{sha256}", f"salt = \"{md5}\"",
    )  # fmt: skip
    return r.choice(lines)
