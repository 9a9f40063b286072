"""A deterministic labelled corpus for the PII and secret detectors (``maestro_helix.helix.pii``).

``build_corpus(seed)`` returns ``(positives, negatives)``:

* positives: realistic sentences in ten locales with exactly one planted item (an email, a phone
  number, a payment card, an IBAN, a national id or a secret in its real format), surrounded by
  ordinary business text full of numbers; each sample knows the planted span.
* negatives: hard negatives only: sentences full of things that look like personal data but are
  not (order ids, dates and times, ISO timestamps, tracking numbers, invoice numbers, 16-digit
  numbers that fail Luhn, IBAN-shaped strings with a wrong checksum, SSN-shaped numbers in
  invalid ranges, versions, amounts, product codes, UUIDs, git SHAs, hex hashes, ...).

Personal data comes from seeded Faker instances; secrets are random tokens built with the right
prefixes, lengths and alphabets. Nothing here uses the detectors.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker

__all__ = [
    "LOCALES",
    "SECRET_KINDS",
    "Sample",
    "build_corpus",
    "make_aadhaar",
    "make_nino",
    "make_secret",
    "make_steuer_id",
]

LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP", "en_IN",
)  # fmt: skip

_LANG = {
    "en_US": "en", "en_GB": "en", "en_IN": "en", "de_DE": "de", "fr_FR": "fr", "es_ES": "es",
    "it_IT": "it", "nl_NL": "nl", "pt_BR": "pt", "ja_JP": "ja",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled text.

    Attributes:
        text: the sentence(s).
        family: ``email``, ``phone``, ``card``, ``iban``, ``national_id`` or ``secret`` for a
            positive; None for a negative.
        label: finer label for reporting, e.g. ``phone/de_DE``, ``national_id/us_ssn``,
            ``secret.jwt``, ``neg/order_id``.
        start: offset of the planted value (positives only).
        end: end offset of the planted value (positives only).
    """

    text: str
    family: str | None
    label: str
    start: int = 0
    end: int = 0

    @property
    def value(self) -> str:
        """The planted value ("" for negatives)."""
        return self.text[self.start : self.end]


# ---------------------------------------------------------------------------------------------
# Templates ({v} is the planted value)
# ---------------------------------------------------------------------------------------------

_EMAIL_T = {
    "en": [
        "Please send the signed contract to {v} before Friday.",
        "You can reach our account manager at {v}.",
        "Customer wrote from {v} about the late delivery.",
        "Reply-To: {v}",
        "cc {v} on the follow-up, thanks",
        "Contact: {v}",
    ],
    "de": ["Bitte schicken Sie die Unterlagen an {v}.", "Kontakt per E-Mail: {v}"],
    "fr": ["Merci d'écrire à {v} pour toute question.", "Adresse e-mail : {v}"],
    "es": ["Escríbanos a {v} para cualquier duda.", "Correo: {v}"],
    "it": ["Scrivete a {v} per informazioni.", "Email: {v}"],
    "nl": ["Mail de factuur naar {v}.", "E-mailadres: {v}"],
    "pt": ["Envie o comprovante para {v}.", "E-mail: {v}"],
    "ja": ["ご連絡は{v}までお願いします。", "メールアドレス\uff1a{v}"],
}

_PHONE_T = {
    "en": [
        "Call me at {v} if anything changes.",
        "You can reach Sarah on {v} after 5pm.",
        "Tel: {v}",
        "Mobile: {v}",
        "My new number is {v}.",
        "Please phone the front desk on {v} to confirm the booking.",
        "Contact: {v}",
        "Text {v} with the code when you arrive.",
        "For urgent issues ring {v}.",
        "{name}, {v}",
    ],
    "de": [
        "Rufen Sie mich unter {v} an.",
        "Telefon: {v}",
        "Erreichbar unter {v}",
        "Handy {v}",
        "Tel.: {v}",
        "{name}, {v}",
    ],
    "fr": [
        "Appelez-moi au {v}.",
        "Tél. : {v}",
        "Mon numéro : {v}",
        "Vous pouvez me joindre au {v}.",
        "Portable {v}",
        "{name}, {v}",
    ],
    "es": ["Llámame al {v}.", "Teléfono: {v}", "Móvil: {v}", "Mi número es {v}.", "{name}, {v}"],
    "it": ["Chiamami al {v}.", "Tel. {v}", "Cellulare: {v}", "Il mio numero è {v}.", "{name}, {v}"],
    "nl": ["Bel me op {v}.", "Telefoon: {v}", "Mobiel: {v}", "Mijn nummer is {v}.", "{name}, {v}"],
    "pt": [
        "Ligue para {v}.",
        "Telefone: {v}",
        "Celular: {v}",
        "WhatsApp {v}",
        "Meu número é {v}.",
        "{name}, {v}",
    ],
    "ja": ["電話番号は{v}です。", "携帯\uff1a{v}", "連絡先 {v}", "TEL {v}", "{name} {v}"],
}

_CARD_T = {
    "en": [
        "Please charge my card {v} for the renewal.",
        "Card number: {v}",
        "Visa/Mastercard: {v}",
        "I paid with the credit card ending... actually the full number is {v}.",
        "Use card {v}, expiry 09/27, for the deposit.",
        "payment details {v} exp 11/26",
    ],
    "de": ["Bitte belasten Sie meine Karte {v}.", "Kreditkarte: {v}"],
    "fr": ["Voici ma carte bancaire : {v}.", "Numéro de carte {v}"],
    "es": ["Cargue a mi tarjeta {v}, por favor.", "Tarjeta de crédito: {v}"],
    "it": ["Addebitate sulla carta {v}.", "Carta di credito: {v}"],
    "nl": ["Mijn creditcard is {v}.", "Kaartnummer: {v}"],
    "pt": ["Pode cobrar no cartão {v}.", "Cartão de crédito: {v}"],
    "ja": ["カード番号は{v}です。", "クレジットカード\uff1a{v}"],
}

_IBAN_T = {
    "en": [
        "Please transfer the refund to {v}.",
        "IBAN: {v}",
        "Our bank details have changed, new account {v}.",
        "Pay into {v} quoting the invoice number.",
    ],
    "de": ["Bitte überweisen Sie an {v}.", "IBAN {v}, BIC COBADEFFXXX"],
    "fr": ["Merci de virer le montant sur {v}.", "RIB / IBAN : {v}"],
    "es": ["Haga la transferencia a {v}.", "IBAN: {v}"],
    "it": ["Effettuare il bonifico su {v}.", "IBAN: {v}"],
    "nl": ["Maak het bedrag over naar {v}.", "Rekeningnummer (IBAN): {v}"],
    "pt": ["Depositar na conta {v}.", "IBAN: {v}"],
    "ja": ["振込先\uff1a{v}", "IBAN {v} にお振込みください。"],
}

_ID_T = {
    "us_ssn": [
        "My SSN is {v}.",
        "Social Security Number: {v}",
        "Applicant {name}, SSN {v}, DOB 04/12/1986.",
        "Please verify {v} for the background check.",
    ],
    "uk_nino": [
        "My National Insurance number is {v}.",
        "NI number: {v}",
        "Employee {name} ({v}) starts on Monday.",
    ],
    "es_dni": ["Mi DNI es {v}.", "NIF: {v}", "Titular: {name}, documento {v}."],
    "es_nie": ["Mi NIE es {v}.", "NIE: {v}"],
    "fr_nir": [
        "Mon numéro de sécurité sociale est {v}.",
        "NIR : {v}",
        "Assuré {name}, n° {v}",
    ],
    "it_cf": ["Il mio codice fiscale è {v}.", "C.F.: {v}", "Intestatario {name}, {v}."],
    "nl_bsn": ["Mijn BSN is {v}.", "Burgerservicenummer: {v}", "BSN {v}"],
    "br_cpf": ["Meu CPF é {v}.", "CPF: {v}", "Cliente {name}, CPF {v}."],
    "in_aadhaar": ["My Aadhaar number is {v}.", "Aadhaar: {v}", "UIDAI no. {v}"],
    "de_steuer_id": ["Meine Steuer-ID lautet {v}.", "Steueridentifikationsnummer: {v}"],
}

_SECRET_T = [
    "Here is the key you asked for: {v}",
    "config:\n  credentials:\n    value: {v}\n",
    "Use {v} to authenticate against the API.",
    "I found this in the logs: {v} - please rotate it.",
    "```\n{v}\n```",
    "The deploy script has {v} hard-coded.",
]
_SECRET_T_BY_KIND = {
    "secret.aws_access_key": ["export AWS_ACCESS_KEY_ID={v}", "aws_access_key_id = {v}"],
    "secret.github_token": ["GITHUB_TOKEN={v}", "git clone https://{v}@github.com/acme/api.git"],
    "secret.openai_key": ['OPENAI_API_KEY="{v}"', "client = OpenAI(api_key='{v}')"],
    "secret.slack_token": ["SLACK_BOT_TOKEN={v}", "Authorization: Bearer {v}"],
    "secret.stripe_key": ["Stripe.api_key = '{v}'", "STRIPE_SECRET={v}"],
    "secret.google_api_key": ["https://maps.googleapis.com/maps/api/geocode/json?key={v}"],
    "secret.jwt": ["Authorization: Bearer {v}", "Cookie: session={v}; Path=/"],
    "secret.private_key": ["Deploy key:\n{v}\n", "ssh key attached:\n\n{v}"],
}

# ---------------------------------------------------------------------------------------------
# Benign business text (used as hard negatives and as filler around positives)
# ---------------------------------------------------------------------------------------------

_AMOUNT_FMT: dict[str, Callable[[random.Random], str]] = {
    "en": lambda r: f"${r.randint(1, 99999):,}.{r.randint(0, 99):02d}",
    "de": lambda r: f"{r.randint(1, 99999):,}".replace(",", ".") + f",{r.randint(0, 99):02d} €",
    "fr": lambda r: (
        f"{r.randint(1, 99999):,}".replace(",", "\u202f") + f",{r.randint(0, 99):02d} €"
    ),
    "es": lambda r: f"{r.randint(1, 99999):,}".replace(",", ".") + f",{r.randint(0, 99):02d} €",
    "it": lambda r: f"€ {r.randint(1, 99999):,}".replace(",", ".") + f",{r.randint(0, 99):02d}",
    "nl": lambda r: f"€ {r.randint(1, 99999):,}".replace(",", ".") + f",{r.randint(0, 99):02d}",
    "pt": lambda r: f"R$ {r.randint(1, 99999):,}".replace(",", ".") + f",{r.randint(0, 99):02d}",
    "ja": lambda r: f"¥{r.randint(100, 9999999):,}",
}

_DATE_FMT = {
    "en": ["%m/%d/%Y", "%d/%m/%Y", "%B %d, %Y", "%Y-%m-%d", "%d %b %Y"],
    "de": ["%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d"],
    "fr": ["%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d"],
    "es": ["%d/%m/%Y", "%d-%m-%Y"],
    "it": ["%d/%m/%Y", "%d.%m.%Y"],
    "nl": ["%d-%m-%Y", "%d/%m/%Y"],
    "pt": ["%d/%m/%Y", "%d.%m.%Y"],
    "ja": ["%Y年%m月%d日", "%Y/%m/%d"],
}


# fixed bounds: Faker's relative dates ("-5y") would make the corpus depend on today
_DATE_MIN = dt.date(2019, 1, 1)
_DATE_MAX = dt.date(2027, 12, 31)
_DATETIME_MIN = dt.datetime(1975, 1, 1)
_DATETIME_MAX = dt.datetime(2030, 1, 1)


def _digits(r: random.Random, n: int, first: str = "0123456789") -> str:
    return r.choice(first) + "".join(r.choice(string.digits) for _ in range(n - 1))


def _pick(r: random.Random, makers: list[Callable[[], str]]) -> str:
    """Call one of the makers, chosen at random."""
    return r.choice(makers)()


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _group(s: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i : i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return sep.join(x for x in out if x)


class _Gen:
    """Random helpers over one Faker instance and one random.Random."""

    def __init__(self, fk: Faker, r: random.Random, locale: str) -> None:
        self.fk = fk
        self.r = r
        self.locale = locale
        self.lang = _LANG[locale]
        self._gb: Faker | None = None
        if locale == "en_IN":
            self._gb = Faker("en_GB")
            self._gb.seed_instance(r.randint(0, 2**31))

    # --- benign fragments -------------------------------------------------------------------

    def date(self) -> str:
        d = self.fk.date_between(start_date=_DATE_MIN, end_date=_DATE_MAX)
        return d.strftime(self.r.choice(_DATE_FMT[self.lang]))

    def datetime(self) -> dt.datetime:
        return self.fk.date_time_between(start_date=_DATETIME_MIN, end_date=_DATETIME_MAX)

    def time(self) -> str:
        return (
            self.r.choice(["%H:%M", "%H:%M:%S", "%I:%M %p", "%Hh%M"])
            .replace("%H", f"{self.r.randint(0, 23):02d}")
            .replace("%M", f"{self.r.randint(0, 59):02d}")
            .replace("%S", f"{self.r.randint(0, 59):02d}")
            .replace("%I", f"{self.r.randint(1, 12)}")
            .replace("%p", self.r.choice(["AM", "PM"]))
        )

    def amount(self) -> str:
        return _AMOUNT_FMT[self.lang](self.r)

    def order_id(self) -> str:
        r = self.r
        return _pick(
            r,
            [
                lambda: f"#{_digits(r, 4, '123456789')}-{_digits(r, 4)}-{_digits(r, 4)}",
                lambda: f"{_digits(r, 3, '1234')}-{_digits(r, 7)}-{_digits(r, 7)}",
                lambda: f"ORD-{r.randint(2019, 2026)}-{r.randint(0, 999999):06d}",
                lambda: f"#{r.randint(100000, 99999999)}",
                lambda: f"A{_digits(r, 9)}",
                lambda: f"{_digits(r, 10, '123456789')}",
                lambda: f"SO-{_digits(r, 5)}/{r.randint(2019, 2026)}",
            ],
        )

    def tracking(self) -> str:
        r = self.r
        return _pick(
            r,
            [
                lambda: (
                    "1Z"
                    + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(6))
                    + _digits(r, 10)
                ),
                lambda: _group("9400" + _digits(r, 18), [4, 4, 4, 4, 4, 2], " "),
                lambda: "9400" + _digits(r, 18),
                lambda: _digits(r, 12, "1234567"),
                lambda: "JD" + _digits(r, 18),
                lambda: (
                    f"{''.join(r.choice(string.ascii_uppercase) for _ in range(2))}"
                    f"{_digits(r, 9)}GB"
                ),
            ],
        )

    def invoice(self) -> str:
        r = self.r
        y = r.randint(2019, 2026)
        return r.choice(
            [
                f"INV-{y}-{r.randint(1, 99999):05d}",
                f"{y}/{r.randint(1, 999999):06d}",
                f"F{y}-{r.randint(1, 9999):04d}",
                f"RE-{r.randint(100000, 999999)}",
                f"{r.randint(1000, 9999)}-{y}",
            ]
        )

    def version(self) -> str:
        r = self.r
        return r.choice(
            [
                f"v{r.randint(0, 20)}.{r.randint(0, 40)}.{r.randint(0, 200)}",
                f"{r.randint(1, 12)}.{r.randint(0, 9)}.{r.randint(0, 30)}",
                f"10.0.{r.randint(10000, 29999)}.{r.randint(100, 9999)}",
                f"{r.randint(90, 130)}.0.{r.randint(1000, 9999)}.{r.randint(10, 250)}",
                f"{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 9)}-rc.{r.randint(1, 9)}",
            ]
        )

    def product_code(self) -> str:
        r = self.r
        return r.choice(
            [
                f"SKU {_digits(r, 4)}-{_digits(r, 4)}-{_digits(r, 4)}",
                f"Part no. 0{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}",
                f"Art.-Nr. 0{_digits(r, 3)} {_digits(r, 4)} {_digits(r, 2)}",
                f"model KX-TG{_digits(r, 4)}",
                f"EAN {self.fk.ean13()}",
                f"item #{_digits(r, 3, '23456789')}-{_digits(r, 3)}-{_digits(r, 4)}",
                f"ref. 0{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 4)}",
                f"Serial number: {_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 4)}",
                f"ISBN 978-{r.randint(0, 9)}-{_digits(r, 2)}-{_digits(r, 6)}-{r.randint(0, 9)}",
            ]
        )

    def hexish(self) -> str:
        r = self.r
        return _pick(
            r,
            [
                lambda: f"commit {self.fk.sha1()}",
                lambda: f"sha256: {self.fk.sha256()}",
                lambda: f"md5 {self.fk.md5()}",
                lambda: f"request id {self.fk.uuid4()}",
                lambda: f"trace_id={self.fk.uuid4().replace('-', '')}",
                lambda: f"checksum {self.fk.sha256()[:40]}",
                lambda: f"build {self.fk.sha1()[:7]}",
                lambda: (
                    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAA"
                    "DUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
                ),
            ],
        )

    def fragment(self) -> tuple[str, str]:
        """(category, sentence) of ordinary business text with look-alike numbers."""
        r = self.r
        fk = self.fk
        kinds: list[tuple[str, Callable[[], str]]] = [
            ("order_id", lambda: f"Order {self.order_id()} shipped on {self.date()}."),
            ("order_id", lambda: f"Your order number {self.order_id()} has been received."),
            ("date", lambda: f"The meeting moved to {self.date()} at {self.time()}."),
            ("date", lambda: f"Delivered {self.date()} {self.time()}, signed by reception."),
            ("timestamp", lambda: f"[{self.datetime().isoformat()}Z] job finished in 42 s"),
            (
                "timestamp",
                lambda: (
                    f"created_at={self.datetime().strftime('%Y-%m-%dT%H:%M:%S')}."
                    f"{r.randint(0, 999):03d}+0{r.randint(0, 9)}:00"
                ),
            ),
            ("timestamp", lambda: f"ts={r.randint(1500000000, 1800000000)}"),
            ("tracking", lambda: f"Tracking number {self.tracking()} (carrier update)."),
            ("tracking", lambda: f"Your parcel {self.tracking()} is out for delivery."),
            ("invoice", lambda: f"Invoice {self.invoice()} for {self.amount()} is due."),
            ("invoice", lambda: f"Rechnung Nr. {self.invoice()} vom {self.date()}"),
            ("amount", lambda: f"Total: {self.amount()} (VAT {r.randint(5, 25)}%)."),
            ("amount", lambda: f"We refunded {self.amount()} and {self.amount()}."),
            ("amount", lambda: f"Revenue grew from {self.amount()} to {self.amount()}."),
            ("version", lambda: f"Upgraded the agent to {self.version()} yesterday."),
            ("version", lambda: f"Running on {self.version()}; previous {self.version()}."),
            ("product_code", lambda: f"Replacement {self.product_code()} is back in stock."),
            ("product_code", lambda: f"Please reorder {self.product_code()} (qty 12)."),
            ("hex", lambda: f"See {self.hexish()} for details."),
            ("ip", lambda: f"Requests from {fk.ipv4()}:{r.randint(1024, 65535)} were blocked."),
            ("misc", lambda: f"Room {r.randint(100, 2400)}, floor {r.randint(1, 30)}."),
            (
                "misc",
                lambda: (
                    f"Statement period {self.date()} - {self.date()}, "
                    f"{r.randint(2, 400)} transactions."
                ),
            ),
            ("misc", lambda: f"Ticket #{r.randint(10000, 999999)} was escalated to tier 2."),
            ("misc", lambda: f"Resolution {r.randint(640, 3840)}x{r.randint(480, 2160)} px."),
            ("misc", lambda: f"{fk.company()} in {fk.city()} ordered {r.randint(2, 500)} units."),
            ("misc", lambda: f"Customer ID {r.randint(10000000, 999999999)} opened a case."),
            ("misc", lambda: f"Flight LH{r.randint(100, 2999)} departs at {self.time()}."),
            ("misc", lambda: f"Coordinates {fk.latitude()}, {fk.longitude()}."),
            (
                "misc",
                lambda: (
                    f"Sort code {_group(_digits(r, 6), [2, 2, 2], '-')}, account {_digits(r, 8)}."
                ),
            ),
            ("misc", lambda: f"Ship to ZIP {_digits(r, 5, '123456789')}-{_digits(r, 4)}."),
            ("misc", lambda: f"See pages {r.randint(100, 999)}-{r.randint(1000, 1999)}."),
            ("misc", lambda: f"Population {_group(_digits(r, 9, '123456789'), [3, 3, 3], ' ')}."),
            (
                "misc",
                lambda: (
                    f"Le stock compte {r.randint(10, 99)} {_digits(r, 3)} {_digits(r, 3)} unités."
                ),
            ),
            (
                "misc",
                lambda: (
                    f"Call duration {r.randint(0, 2):02d}:{r.randint(0, 59):02d}:"
                    f"{r.randint(0, 59):02d}, {r.randint(1, 40)} calls today."
                ),
            ),
            ("misc", lambda: f"Role arn:aws:iam::{_digits(r, 12)}:role/Deploy was assumed."),
            (
                "misc",
                lambda: (
                    "Charge ch_"
                    + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(24))
                    + " succeeded."
                ),
            ),
            (
                "misc",
                lambda: (
                    "Publishable key pk_live_"
                    + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(24))
                    + "."
                ),
            ),
            ("misc", lambda: f"Card ending {_digits(r, 4)} (4111 **** **** {_digits(r, 4)})."),
            ("misc", lambda: f"Event at {r.randint(1600000000000, 1800000000000)} ms."),
            ("misc", lambda: f"Scanned barcode {self.fk.ean13()} at till {r.randint(1, 9)}."),
            (
                "misc",
                lambda: (
                    f"{self.date()}, {self.time()} Uhr: Lieferung {r.randint(1, 9)}/"
                    f"{r.randint(1, 9)} angekommen."
                ),
            ),
            (
                "misc",
                lambda: (
                    f"Measured {r.randint(1, 999)}.{_digits(r, 6)} mm on sensor {r.randint(1, 64)}."
                ),
            ),
        ]
        cat, make = r.choice(kinds)
        return cat, make()

    # --- hard negatives that mimic one PII kind ---------------------------------------------

    def luhn_failing_card(self) -> str:
        r = self.r
        prefix = r.choice(["4", "51", "55", "2221", "37", "6011", "35"])
        n = 15 if prefix == "37" else 16
        body = prefix + _digits(r, n - len(prefix) - 1)
        good = _luhn_check_digit(body)
        bad = str((int(good) + r.randint(1, 9)) % 10)
        num = body + bad
        style = r.randint(0, 2)
        if style == 0:
            return num
        sep = " " if style == 1 else "-"
        return _group(num, [4, 6, 5] if n == 15 else [4, 4, 4, 4], sep)

    def bad_iban(self) -> str:
        iban = self.fk.iban()
        digits_at = [i for i, c in enumerate(iban) if c.isdigit() and i >= 4]
        i = self.r.choice(digits_at)
        iban = iban[:i] + str((int(iban[i]) + self.r.randint(1, 9)) % 10) + iban[i + 1 :]
        if self.r.random() < 0.5:
            iban = " ".join(iban[k : k + 4] for k in range(0, len(iban), 4))
        return iban

    def invalid_ssn(self) -> str:
        r = self.r
        area = f"{r.randint(1, 899):03d}".replace("666", "667")
        group = f"{r.randint(1, 99):02d}"
        serial = f"{r.randint(1, 9999):04d}"
        which = r.randint(0, 2)
        if which == 0:
            area = r.choice(["000", "666", f"9{r.randint(0, 99):02d}"])
        elif which == 1:
            group = "00"
        else:
            serial = "0000"
        return f"{area}-{group}-{serial}"

    def negative(self) -> tuple[str, str]:
        """(category, text) of one hard negative."""
        r = self.r
        special: list[tuple[str, Callable[[], str]]] = [
            ("luhn_fail", lambda: f"Reference {self.luhn_failing_card()} was voided."),
            ("luhn_fail", lambda: f"Gift card {self.luhn_failing_card()} has no balance left."),
            ("luhn_fail", lambda: f"Batch {self.luhn_failing_card()} processed."),
            ("bad_iban", lambda: f"The IBAN {self.bad_iban()} was rejected by the bank."),
            ("bad_iban", lambda: f"Account: {self.bad_iban()}"),
            ("invalid_ssn", lambda: f"Form field value {self.invalid_ssn()} failed validation."),
            (
                "invalid_nino",
                lambda: f"Test record NI {self.fk.bothify('ZZ ## ## ## T')} (dummy).",
            ),
            (
                "secret_lookalike",
                lambda: r.choice(
                    [
                        "Set api_key = os.environ['API_KEY'] before running.",
                        "token=YOUR_TOKEN_HERE",
                        "password: ********",
                        "We use a risk-free sk-learn pipeline for scoring.",
                        "The AKIA prefix marks long-term AWS keys; never paste them here.",
                        "Rotate the ghp_ tokens every 90 days.",
                        f"secret rotation scheduled for {self.date()}",
                        "max_tokens: 4096, temperature: 0.2",
                        "Bearer tokens expire after 3600 seconds.",
                    ]
                ),
            ),
        ]
        if r.random() < 0.35:
            cat, make = r.choice(special)
            text = make()
            if r.random() < 0.5:
                text = f"{self.fragment()[1]} {text}"
            return cat, text
        parts = [self.fragment() for _ in range(r.randint(1, 3))]
        return parts[0][0], " ".join(p[1] for p in parts)

    # --- positives --------------------------------------------------------------------------

    def phone(self) -> str:
        return self.fk.phone_number()

    def card(self) -> str:
        while True:
            num = self.fk.credit_card_number()
            if len(num) >= 13:
                break
        style = self.r.randint(0, 2)
        if style == 0:
            return num
        sep = " " if style == 1 else "-"
        sizes = [4, 6, 5] if len(num) == 15 and num[:2] in ("34", "37") else [4, 4, 4, 4, 4]
        return _group(num, sizes, sep)

    def iban(self) -> str:
        if self.locale == "en_IN":
            # India has no IBAN; Faker's en_IN iban() is a 21-character "GB" string, which is
            # not a valid IBAN (GB IBANs have 22). Use a British one instead.
            iban = self._gb.iban() if self._gb else self.fk.iban()
        else:
            iban = self.fk.iban()
        if self.r.random() < 0.5:
            iban = " ".join(iban[k : k + 4] for k in range(0, len(iban), 4))
        return iban


# ---------------------------------------------------------------------------------------------
# National ids (per locale)
# ---------------------------------------------------------------------------------------------


def make_nino(r: random.Random) -> str:
    """A UK National Insurance number with an allocatable prefix and an A-D suffix.

    Faker's en_GB ``ssn()`` only produces the reserved "ZZ ... T" test numbers.

    Args:
        r: the source of randomness.

    Returns:
        e.g. ``"AB 12 34 56 C"`` or ``"AB123456C"``.
    """
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = r.choice(first) + r.choice(second)
        if p not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            break
    d = _digits(r, 6)
    s = r.choice("ABCD")
    if r.random() < 0.5:
        return f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}"
    return f"{p}{d}{s}"


_VD = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VP = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip
_VINV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def make_aadhaar(r: random.Random) -> str:
    """An Aadhaar number (12 digits, first 2-9) with a Verhoeff check digit.

    Faker's en_IN ``aadhaar_id()`` uses a Luhn check digit, which real numbers do not.

    Args:
        r: the source of randomness.

    Returns:
        e.g. ``"2345 6789 0124"`` or the same without spaces.
    """
    body = _digits(r, 11, "23456789")
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _VD[c][_VP[(i + 1) % 8][int(ch)]]
    num = body + str(_VINV[c])
    return _group(num, [4, 4, 4], " ") if r.random() < 0.6 else num


def make_steuer_id(r: random.Random) -> str:
    """A German tax id (Steuer-ID): 11 digits, one digit repeated, ISO 7064 check digit.

    Args:
        r: the source of randomness.

    Returns:
        e.g. ``"65929970489"`` or ``"65 929 970 489"``.
    """
    while True:
        pool = list("0123456789")
        r.shuffle(pool)
        dup = r.choice(pool[:9])
        first10 = [*pool[:9], dup]
        r.shuffle(first10)
        if first10[0] != "0":
            break
    product = 10
    for ch in first10:
        s = (int(ch) + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    num = "".join(first10) + str(0 if check == 10 else check)
    return _group(num, [2, 3, 3, 3], " ") if r.random() < 0.4 else num


def _national_ids(g: _Gen) -> list[tuple[str, str]]:
    """(scheme, value) pairs the locale can produce."""
    fk, r = g.fk, g.r
    loc = g.locale
    if loc == "en_US":
        v = fk.ssn()
        style = r.random()
        if style < 0.15:
            v = v.replace("-", " ")
        return [("us_ssn", v)]
    if loc == "en_GB":
        return [("uk_nino", make_nino(r))]
    if loc == "es_ES":
        return [("es_dni", fk.nif()), ("es_nie", fk.nie())]
    if loc == "fr_FR":
        v = fk.ssn()
        if r.random() < 0.4:
            v = " ".join([v[0], v[1:3], v[3:5], v[5:7], v[7:10], v[10:13], v[13:]])
        return [("fr_nir", v)]
    if loc == "it_IT":
        return [("it_cf", fk.ssn())]
    if loc == "nl_NL":
        return [("nl_bsn", fk.ssn())]
    if loc == "pt_BR":
        return [("br_cpf", fk.cpf() if r.random() < 0.6 else fk.ssn())]
    if loc == "en_IN":
        return [("in_aadhaar", make_aadhaar(r))]
    if loc == "de_DE":
        return [("de_steuer_id", make_steuer_id(r))]
    return []


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"


def _rand(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_secret(r: random.Random, fk: Faker, kind: str) -> str:
    """A random secret in its real format (prefix, length, alphabet).

    Args:
        r: the source of randomness.
        fk: a Faker instance (for names inside JWT payloads).
        kind: one of :data:`SECRET_KINDS` except ``secret.generic_api_key``.

    Returns:
        The secret, e.g. ``"AKIA..."``, a JWT or a whole PEM block.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "secret.aws_access_key":
        return r.choice(["AKIA", "ASIA"]) + _rand(r, string.ascii_uppercase + "234567", 16)
    if kind == "secret.github_token":
        if r.random() < 0.3:
            return "github_pat_" + _rand(r, _ALNUM, 22) + "_" + _rand(r, _ALNUM, 59)
        return r.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + _rand(r, _ALNUM, 36)
    if kind == "secret.openai_key":
        if r.random() < 0.5:
            return "sk-" + _rand(r, _ALNUM, 20) + "T3BlbkFJ" + _rand(r, _ALNUM, 20)
        return "sk-proj-" + _rand(r, _B64URL, 74) + "T3BlbkFJ" + _rand(r, _B64URL, 74)
    if kind == "secret.slack_token":
        if r.random() < 0.5:
            return f"xoxb-{_digits(r, 11)}-{_digits(r, 13)}-{_rand(r, _ALNUM, 24)}"
        return f"xoxp-{_digits(r, 11)}-{_digits(r, 11)}-{_digits(r, 13)}-" + _rand(
            r, "0123456789abcdef", 32
        )
    if kind == "secret.stripe_key":
        return r.choice(["sk_live_", "rk_live_", "sk_test_"]) + _rand(r, _ALNUM, r.randint(24, 99))
    if kind == "secret.google_api_key":
        return "AIza" + _rand(r, _B64URL, 35)
    if kind == "secret.jwt":
        header = {"alg": r.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        payload = {
            "sub": str(r.randint(1, 10**9)),
            "name": fk.name(),
            "iat": r.randint(1500000000, 1800000000),
            "role": r.choice(["admin", "user", "service"]),
        }
        sig = bytes(r.getrandbits(8) for _ in range(32 if header["alg"] == "HS256" else 256))
        return ".".join(
            [
                _b64url(json.dumps(header, separators=(",", ":")).encode()),
                _b64url(json.dumps(payload, separators=(",", ":")).encode()),
                _b64url(sig),
            ]
        )
    if kind == "secret.private_key":
        label = r.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
        body = base64.b64encode(bytes(r.getrandbits(8) for _ in range(r.randint(120, 900))))
        text = body.decode()
        lines = [text[i : i + 64] for i in range(0, len(text), 64)]
        return (
            f"-----BEGIN {label}PRIVATE KEY-----\n"
            + "\n".join(lines)
            + (f"\n-----END {label}PRIVATE KEY-----")
        )
    raise ValueError(kind)


_GENERIC_STYLES = [
    "api_key={v}",
    'API_KEY="{v}"',
    '"apiKey": "{v}"',
    "client_secret: {v}",
    "SECRET_KEY = '{v}'",
    "X-API-Key: {v}",
    "auth_token={v}",
    "export PAYMENTS_ACCESS_TOKEN={v}",
]


def _generic(r: random.Random) -> tuple[str, str]:
    """(template with {v}, value) for a generic key assignment."""
    value = _pick(
        r,
        [
            lambda: _rand(r, _ALNUM, 32),
            lambda: _rand(r, "0123456789abcdef", 32),
            lambda: _rand(r, "0123456789abcdef", 64),
            lambda: base64.b64encode(bytes(r.getrandbits(8) for _ in range(30))).decode(),
            lambda: _rand(r, _ALNUM, 40),
        ],
    )
    return r.choice(_GENERIC_STYLES), value


SECRET_KINDS: tuple[str, ...] = (
    "secret.aws_access_key",
    "secret.github_token",
    "secret.openai_key",
    "secret.slack_token",
    "secret.stripe_key",
    "secret.google_api_key",
    "secret.jwt",
    "secret.private_key",
    "secret.generic_api_key",
)
"""The secret kinds the corpus plants (in their real formats)."""

# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------


def _plant(
    g: _Gen, family: str, label: str, template: str, value: str, filler: bool = True
) -> Sample:
    name = g.fk.name()
    template = template.replace("{name}", name)
    i = template.index("{v}")
    body = template[:i] + value + template[i + 3 :]
    start = i
    if filler:
        roll = g.r.random()
        if roll < 0.35:
            pre = g.fragment()[1] + " "
            body = pre + body
            start += len(pre)
        if 0.2 < roll < 0.6:
            body = body + " " + g.fragment()[1]
    return Sample(body, family, label, start, start + len(value))


def build_corpus(seed: int = 20240601) -> tuple[list[Sample], list[Sample]]:
    """Build the labelled corpus deterministically.

    Args:
        seed: the only source of randomness.

    Returns:
        ``(positives, negatives)``.
    """
    positives: list[Sample] = []
    negatives: list[Sample] = []
    for li, locale in enumerate(LOCALES):
        fk = Faker(locale)
        fk.seed_instance(seed + li)
        r = random.Random(seed * 31 + li)
        g = _Gen(fk, r, locale)
        lang = g.lang
        for _ in range(14):
            positives.append(
                _plant(g, "email", f"email/{locale}", r.choice(_EMAIL_T[lang]), fk.email())
            )
        for _ in range(40):
            positives.append(
                _plant(g, "phone", f"phone/{locale}", r.choice(_PHONE_T[lang]), g.phone())
            )
        for _ in range(16):
            positives.append(_plant(g, "card", f"card/{locale}", r.choice(_CARD_T[lang]), g.card()))
        for _ in range(12):
            positives.append(_plant(g, "iban", f"iban/{locale}", r.choice(_IBAN_T[lang]), g.iban()))
        for _ in range(24):
            for scheme, value in _national_ids(g):
                positives.append(
                    _plant(g, "national_id", f"national_id/{scheme}", r.choice(_ID_T[scheme]),
                           value)
                )  # fmt: skip
        for _ in range(160):
            cat, text = g.negative()
            negatives.append(Sample(text, None, f"neg/{cat}"))

    r = random.Random(seed)
    fk = Faker("en_US")
    fk.seed_instance(seed)
    g = _Gen(fk, r, "en_US")
    for kind in SECRET_KINDS:
        for _ in range(60):
            if kind == "secret.generic_api_key":
                template, value = _generic(r)
                positives.append(_plant(g, "secret", kind, template, value, filler=False))
                continue
            value = make_secret(r, fk, kind)
            template = r.choice(_SECRET_T + _SECRET_T_BY_KIND.get(kind, []))
            positives.append(_plant(g, "secret", kind, template, value))
    return positives, negatives
