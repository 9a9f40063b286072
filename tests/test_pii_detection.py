"""Detectors of personal data and secrets (maestro_helix.helix.pii).

The headline tests run the detectors over a labelled corpus (tests/pii_corpus.py): recall on
planted items in ten locales and the false-positive rate on hard negatives. The rest pin the
validators (Luhn, mod-97, SSN ranges, check letters / digits), the secret formats, redaction and
robustness on arbitrary input.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_helix.helix.pii import (
    NATIONAL_ID_SCHEMES,
    PII_KINDS,
    Finding,
    iban_valid,
    luhn_valid,
    placeholder,
    redact,
    scan,
    us_ssn_valid,
)
from maestro_helix.helix.pii import SECRET_KINDS as DETECTED_SECRET_KINDS
from pii_corpus import (
    SECRET_KINDS,
    Sample,
    build_corpus,
    make_aadhaar,
    make_nino,
    make_secret,
    make_steuer_id,
)
from pii_corpus_eu import EU_IDS, id_negative, secret_hard_negative

MIN_RECALL = 0.97
MAX_FP_RATE = 0.02


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Sample], list[Sample]]:
    return build_corpus()


def _family(f: Finding) -> str:
    return "secret" if f.is_secret else f.kind


def _hit(sample: Sample, findings: Iterable[Finding]) -> bool:
    return any(
        _family(f) == sample.family and f.start < sample.end and f.end > sample.start
        for f in findings
    )


def _kinds(text: str) -> list[str]:
    return [f.kind for f in scan(text)]


def _values(text: str) -> list[str]:
    return [text[f.start : f.end] for f in scan(text)]


# ---------------------------------------------------------------------------------------------
# The labelled corpus
# ---------------------------------------------------------------------------------------------


def test_corpus_is_large_and_deterministic(corpus: tuple[list[Sample], list[Sample]]) -> None:
    positives, negatives = corpus
    assert len(positives) >= 1500
    assert len(negatives) >= 1500
    families = Counter(s.family for s in positives)
    assert set(families) == {"email", "phone", "card", "iban", "national_id", "secret"}
    assert all(s.value and s.text[s.start : s.end] == s.value for s in positives)
    again = build_corpus()
    assert [s.text for s in again[0][:50]] == [s.text for s in positives[:50]]
    assert [s.text for s in again[1][:50]] == [s.text for s in negatives[:50]]


def test_recall_on_planted_items(corpus: tuple[list[Sample], list[Sample]]) -> None:
    positives, _ = corpus
    total: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    misses: list[str] = []
    for s in positives:
        total[s.label] += 1
        if _hit(s, scan(s.text)):
            hits[s.label] += 1
        elif len(misses) < 15:
            misses.append(f"{s.label}: {s.value!r} in {s.text[:120]!r}")
    recall = sum(hits.values()) / len(positives)
    per_kind = "\n".join(f"  {k:28s} {hits[k]:4d}/{total[k]:4d}" for k in sorted(total))
    assert recall >= MIN_RECALL, (
        f"recall {recall:.4f} < {MIN_RECALL}\n{per_kind}\nmisses:\n" + "\n".join(misses)
    )
    by_family: Counter[str] = Counter()
    fam_hits: Counter[str] = Counter()
    for s in positives:
        assert s.family is not None
        by_family[s.family] += 1
        fam_hits[s.family] += _hit(s, scan(s.text))
    weak = {f: fam_hits[f] / by_family[f] for f in by_family if fam_hits[f] / by_family[f] < 0.9}
    assert not weak, f"a kind family fell below 0.9 recall: {weak}\n{per_kind}"


def test_false_positive_rate_on_hard_negatives(corpus: tuple[list[Sample], list[Sample]]) -> None:
    _, negatives = corpus
    total: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    examples: list[str] = []
    for s in negatives:
        total[s.label] += 1
        found = scan(s.text)
        if found:
            flagged[s.label] += 1
            if len(examples) < 15:
                shown = [(f.kind, s.text[f.start : f.end]) for f in found]
                examples.append(f"{s.label}: {shown} in {s.text[:120]!r}")
    rate = sum(flagged.values()) / len(negatives)
    per_kind = "\n".join(f"  {k:24s} {flagged[k]:4d}/{total[k]:4d}" for k in sorted(total))
    assert rate <= MAX_FP_RATE, (
        f"FP rate {rate:.4f} > {MAX_FP_RATE}\n{per_kind}\nexamples:\n" + "\n".join(examples)
    )


def test_no_spurious_findings_around_planted_items(
    corpus: tuple[list[Sample], list[Sample]],
) -> None:
    """The business filler around each planted item stays quiet too."""
    positives, _ = corpus
    spurious = [
        s for s in positives if any(not (f.start < s.end and f.end > s.start) for f in scan(s.text))
    ]
    assert len(spurious) / len(positives) <= MAX_FP_RATE, [s.text[:100] for s in spurious[:10]]


def test_redact_removes_every_detected_planted_value(
    corpus: tuple[list[Sample], list[Sample]],
) -> None:
    positives, _ = corpus
    for s in positives:
        if not _hit(s, scan(s.text)):
            continue  # a recall miss, counted by test_recall_on_planted_items
        red = redact(s.text)
        assert s.value not in red, (s.label, s.value, red)
        assert "[" in red


# ---------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
        "2223003122003222",
    ],
)
def test_luhn_valid_card_numbers_pass_and_are_found(number: str) -> None:
    assert luhn_valid(number)
    text = f"Please charge card {number} today."
    assert _kinds(text) == ["card"]
    assert _values(text) == [number]


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1112", "5555555555554445", "378282246310006", "1234567812345678"]
)
def test_luhn_invalid_numbers_fail_and_are_not_cards(number: str) -> None:
    assert not luhn_valid(number)
    assert "card" not in _kinds(f"Please charge card {number} today.")


def test_luhn_valid_number_with_implausible_issuer_is_not_a_card() -> None:
    assert luhn_valid("9999999999999995")
    assert scan("Reference 9999 9999 9999 9995 noted.") == []


def test_luhn_needs_two_digits() -> None:
    assert not luhn_valid("")
    assert not luhn_valid("0")


VALID_IBANS = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "BE68539007547034",
    "CH9300762011623852957",
    "NO9386011117947",
    "BR1800360305000010009795493C1",
]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_checksum_valid_with_and_without_spaces(iban: str) -> None:
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    assert iban_valid(iban)
    assert iban_valid(spaced)
    for form in (iban, spaced):
        text = f"Pay into {form} by Friday."
        assert _kinds(text) == ["iban"]
        assert _values(text) == [form]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_with_one_digit_changed_fails(iban: str) -> None:
    for i, c in enumerate(iban):
        if i < 2 or not c.isdigit():
            continue
        broken = iban[:i] + str((int(c) + 1) % 10) + iban[i + 1 :]
        assert not iban_valid(broken), broken
        assert "iban" not in _kinds(f"Pay into {broken} by Friday.")


def test_iban_wrong_length_or_country_fails() -> None:
    assert not iban_valid("DE8937040044053201300")  # one character short
    assert not iban_valid("XX89370400440532013000")  # no such country
    assert not iban_valid("")


@pytest.mark.parametrize(
    "ssn",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999", "123-00-4567", "123-45-0000"],
)
def test_ssn_invalid_ranges_are_rejected(ssn: str) -> None:
    assert not us_ssn_valid(ssn)
    assert scan(f"My SSN is {ssn}.") == []


@pytest.mark.parametrize("ssn", ["536-22-1234", "078-05-1120", "001-01-0001", "899-99-9999"])
def test_ssn_valid_ranges_are_found(ssn: str) -> None:
    assert us_ssn_valid(ssn)
    found = scan(f"My SSN is {ssn}.")
    assert [(f.kind, f.scheme) for f in found] == [("national_id", "us_ssn")]


def test_ssn_without_dashes_needs_a_context_word() -> None:
    assert [f.scheme for f in scan("SSN: 536221234")] == ["us_ssn"]
    assert scan("We shipped 536221234 units.") == []


# ---------------------------------------------------------------------------------------------
# National ids
# ---------------------------------------------------------------------------------------------


def _schemes(text: str) -> list[str]:
    return [f.scheme for f in scan(text) if f.kind == "national_id"]


def test_uk_nino_prefix_and_suffix_rules() -> None:
    assert _schemes("NI number AB 12 34 56 C") == ["uk_nino"]
    assert _schemes("NI number AB123456C") == ["uk_nino"]
    for bad in ("ZZ 12 34 56 C", "GB123456A", "AB123456E", "DA123456A", "AO123456B"):
        assert _schemes(f"NI number {bad}") == [], bad
    r = random.Random(7)
    for _ in range(50):
        assert _schemes(f"NI: {make_nino(r)}") == ["uk_nino"]


def test_es_dni_and_nie_check_letter() -> None:
    assert _schemes("DNI 12345678Z") == ["es_dni"]
    assert _schemes("DNI 12345678-Z") == ["es_dni"]
    assert _schemes("NIE X1234567L") == ["es_nie"]
    assert _schemes("DNI 12345678A") == []
    assert _schemes("NIE X1234567A") == []


def test_fr_nir_key() -> None:
    assert _schemes("NIR 1 85 05 78 006 084 36") == []  # wrong key
    fk = Faker("fr_FR")
    fk.seed_instance(3)
    for _ in range(30):
        nir = fk.ssn()
        assert _schemes(f"Numéro de sécurité sociale : {nir}") == ["fr_nir"], nir
        broken = nir[:-1] + str((int(nir[-1]) + 1) % 10)
        assert _schemes(f"Numéro de sécurité sociale : {broken}") == []
    assert _schemes("NIR 2 69 05 2A 004 012 67") == []  # Corsican department, wrong key


def test_it_codice_fiscale_check_character() -> None:
    fk = Faker("it_IT")
    fk.seed_instance(3)
    for _ in range(30):
        cf = fk.ssn()
        assert _schemes(f"C.F. {cf}") == ["it_cf"], cf
        wrong = cf[:-1] + ("A" if cf[-1] != "A" else "B")
        assert _schemes(f"C.F. {wrong}") == []


def test_nl_bsn_eleven_proof_with_context_only() -> None:
    assert _schemes("Mijn BSN is 111222333.") == ["nl_bsn"]
    assert _schemes("Mijn BSN is 111222334.") == []  # fails the 11-proof
    assert scan("We produced 111222333 bottles last year.") == []  # no context word


def test_br_cpf_check_digits() -> None:
    fk = Faker("pt_BR")
    fk.seed_instance(3)
    for _ in range(20):
        cpf = fk.cpf()
        assert _schemes(f"CPF {cpf}") == ["br_cpf"]
        assert _schemes(f"CPF {cpf[:-1]}{(int(cpf[-1]) + 1) % 10}") == []
        bare = cpf.replace(".", "").replace("-", "")
        assert _schemes(f"Meu CPF é {bare}") == ["br_cpf"]
        assert scan(f"Pedido entregue, total de {bare} itens") == []


def test_in_aadhaar_verhoeff_with_context_only() -> None:
    r = random.Random(11)
    for _ in range(20):
        number = make_aadhaar(r)
        assert _schemes(f"Aadhaar: {number}") == ["in_aadhaar"]
        digits = number.replace(" ", "")
        broken = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        assert _schemes(f"Aadhaar: {broken}") == []
        assert scan(f"Batch of {digits} screws") == []


def test_de_steuer_id_check_digit_with_context_only() -> None:
    r = random.Random(5)
    for _ in range(20):
        number = make_steuer_id(r)
        assert _schemes(f"Steuer-ID: {number}") == ["de_steuer_id"]
        digits = number.replace(" ", "")
        broken = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        assert _schemes(f"Steuer-ID: {broken}") == []


def test_national_id_schemes_are_documented() -> None:
    assert set(NATIONAL_ID_SCHEMES) == {
        "us_ssn", "uk_nino", "es_dni", "es_nie", "fr_nir", "it_cf", "nl_bsn", "br_cpf",
        "in_aadhaar", "de_steuer_id", "pl_pesel", "se_personnummer", "dk_cpr", "be_nrn",
        "ro_cnp", "cz_rodne_cislo", "pt_nif", "at_svnr", "fi_hetu", "gr_amka", "hu_taj",
        "bg_egn", "hr_oib", "ee_isikukood", "lt_asmens_kodas", "si_emso", "lv_personas_kods",
        "lu_matricule",
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Emails and phones
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "j.o'hara@example.ie", "x+tag@sub.example.co.uk", "josé@correo.es"],
)
def test_emails_are_found(email: str) -> None:
    found = scan(f"Write to {email} please.")
    assert [f.kind for f in found] == ["email"]


@pytest.mark.parametrize(
    "text",
    [
        "icon@2x.png and logo@3x.png",
        "git clone git@github.com:acme/api.git",
        "@mention the team, see @dataclass",
        "pip install pkg@1.2.3",
        "user@localhost is not routable",
    ],
)
def test_email_lookalikes_are_ignored(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    "text, value",
    [
        ("Call +1 (415) 555-0132 tomorrow", "+1 (415) 555-0132"),
        ("Call me at 415.555.0132 ext. 22", "415.555.0132 ext. 22"),
        ("Mobile: 07700 900123", "07700 900123"),
        ("Tel: +44(0)115 4960914", "+44(0)115 4960914"),
        ("Rufen Sie an: 030 12345678", "030 12345678"),
        ("Tel. 030/12345678", "030/12345678"),
        ("Appelez le 06 12 34 56 78 ce soir", "06 12 34 56 78"),
        ("Llámame al 612 34 56 78", "612 34 56 78"),
        ("Chiamami al +39 0925141776", "+39 0925141776"),
        ("Bel 06-12345678", "06-12345678"),
        ("Ligue (11) 91234-5678", "(11) 91234-5678"),
        ("電話番号は080-9141-7776です。", "080-9141-7776"),
        ("WhatsApp: +91 98765 43210", "+91 98765 43210"),
        ("Call me on 9876543210", "9876543210"),
        ("printed 2024-03-15 14:30, call 0161 496 0066", "0161 496 0066"),
    ],
)
def test_phone_numbers_in_many_locales(text: str, value: str) -> None:
    assert _values(text) == [value]
    assert _kinds(text) == ["phone"]


@pytest.mark.parametrize(
    "text",
    [
        "Order #4829-1183-2290 shipped on 2024-03-15 at 14:30.",
        "Order 113-4567890-1234567 was delivered.",
        "The meeting is on 15.03.2024 10:30, room 1204.",
        "Timestamp 2024-03-15T14:30:00.123+01:00",
        "ts=1710513000 and event at 1710513000123 ms",
        "Version 10.0.19045.2965, build 122.0.6261.112",
        "IP 192.168.100.254:8080",
        "Total: 1.234.567,89 EUR, or $1,234,567.89",
        "Population 622 133 141.",
        "Le stock compte 12 345 678 unités.",
        "Tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00",
        "Invoice INV-2024-00123 and invoice No. 2024-000123",
        "SKU 4401-2213-0918, Art.-Nr. 0857 9985 30, ISBN 978-3-16-148410-0",
        "Customer ID 100234987 opened ticket #482911",
        "Sort code 20-00-00, account 55779911",
        "Ship to ZIP 94105-1234.",
        "Role arn:aws:iam::123456789012:role/Deploy",
        "Coordinates 52.520008, 13.404954",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "Scanned barcode 4006381333931 at till 4",
        "Your verification code is 482913",
    ],
)
def test_business_numbers_are_not_personal_data(text: str) -> None:
    assert scan(text) == []


def test_a_number_after_the_phone_word_but_behind_another_number_is_not_a_phone() -> None:
    text = "Call me on 0161 496 0066. Delivery ts=1710513000, parcel 9400123456789012345678."
    assert _values(text) == ["0161 496 0066"]


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SECRET_KINDS)
def test_secrets_in_their_real_formats(kind: str) -> None:
    r = random.Random(kind)
    fk = Faker()
    fk.seed_instance(1)
    for _ in range(20):
        if kind == "secret.generic_api_key":
            value = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
            text = f'config: API_KEY="{value}"'
        else:
            value = make_secret(r, fk, kind)
            text = f"Found in the logs: {value} (rotate it)"
        found = scan(text)
        assert [f.kind for f in found] == [kind], (text, found)
        assert text[found[0].start : found[0].end] == value


@pytest.mark.parametrize(
    "text, kind",
    [
        ("key sk-ant-api03-" + "aB3dE5fG7hJ9kL1mN3pQ" * 5, "secret.anthropic_key"),
        ("glpat-" + "xY7zQ2wE9rT4yU1iO6pA", "secret.gitlab_token"),
        ("NPM_TOKEN=npm_" + "aB3dE5fG7hJ9kL1mN3pQrS5tU7vW9xY1zA3b", "secret.npm_token"),
        ("hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH", "secret.huggingface_token"),
        ("SG." + "aB3dE5fG7hJ9kL1mN3pQrS" + "." + "x" * 19 + "Y7zQ2wE9rT4yU1iO6pA3sD5f",
         "secret.sendgrid_key"),
        ("https://hooks.slack.com/services/T0123ABCD/B0123ABCD/aBcDeFgHiJkLmNoPqRsTuVwX",
         "secret.slack_webhook"),
        ("postgres://admin:S3cr3tP4ss@db.internal:5432/app", "secret.password_in_url"),
        ("password: Tr0ub4dor&3xyz!", "secret.generic_api_key"),
        ("Authorization: Bearer aB3dE5fG7hJ9kL1mN3pQ77xx", "secret.generic_api_key"),
    ],
)  # fmt: skip
def test_other_secret_formats(text: str, kind: str) -> None:
    assert _kinds(text) == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "md5 d41d8cd98f00b204e9800998ecf8427e",
        "request id 123e4567-e89b-12d3-a456-426614174000",
        "Set api_key = os.environ['API_KEY'] before running.",
        "token=YOUR_TOKEN_HERE",
        "password: ********",
        "password=hunter2",
        "AWS docs use AKIAIOSFODNN7EXAMPLE as the sample key.",
        "Publishable key pk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "Charge ch_3MqLiJLkdIwHu7ix0snN0B15 succeeded.",
        "We use a risk-free sk-learn pipeline; max_tokens: 4096.",
        "Rotate the ghp_ tokens every 90 days.",
        "postgres://user:password@localhost:5432/db",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf",
    ],
)
def test_secret_lookalikes_are_ignored(text: str) -> None:
    assert scan(text) == []


def test_jwt_needs_a_json_header_with_alg() -> None:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    payload = b64({"sub": "42"})
    good = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{payload}.c2lnbmF0dXJlX2J5dGVz"
    no_alg = f"{b64({'typ': 'JWT'})}.{payload}.c2lnbmF0dXJlX2J5dGVz"
    assert _kinds(f"Bearer {good}") == ["secret.jwt"]
    assert "secret.jwt" not in _kinds(f"Bearer {no_alg}")


def test_pem_private_key_block_is_one_finding_covering_begin_to_end() -> None:
    body = base64.b64encode(bytes(range(256)) * 2).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----"
    text = f"Deploy key:\n{block}\nthanks"
    found = scan(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [("secret.private_key", block)]
    truncated = f"key: -----BEGIN OPENSSH PRIVATE KEY-----\n{lines}"
    assert _kinds(truncated) == ["secret.private_key"]
    assert "PRIVATE KEY" not in redact(truncated).split("[", 1)[1]


def test_a_specific_secret_wins_over_the_generic_rule() -> None:
    r = random.Random(1)
    key = make_secret(r, Faker(), "secret.aws_access_key")
    assert _kinds(f"AWS_ACCESS_KEY_ID={key}") == ["secret.aws_access_key"]


# ---------------------------------------------------------------------------------------------
# Redaction and the Finding type
# ---------------------------------------------------------------------------------------------


def test_redact_replaces_each_kind_with_its_placeholder() -> None:
    r = random.Random(3)
    jwt = make_secret(r, Faker(), "secret.jwt")
    text = (
        "Hi, I'm Jane (jane.doe@example.com, +44 20 7946 0958). Card 4111 1111 1111 1111, "
        f"IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234, token {jwt}. "
        "Order #4829-1183-2290 ships 2024-03-15."
    )
    red = redact(text)
    for value in (
        "jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00", "536-22-1234", jwt,
    ):  # fmt: skip
        assert value not in red
    for token in ("[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[NATIONAL_ID]", "[SECRET.JWT]"):
        assert token in red
    assert "Order #4829-1183-2290 ships 2024-03-15." in red
    assert redact(red) == red


def test_redact_leaves_clean_text_untouched() -> None:
    text = "Order #4829-1183-2290 shipped on 2024-03-15; invoice INV-2024-00123, total $129.99."
    assert redact(text) == text
    assert redact("") == ""


def test_placeholder_and_finding_shape() -> None:
    assert placeholder("email") == "[EMAIL]"
    assert placeholder("secret.aws_access_key") == "[SECRET.AWS_ACCESS_KEY]"
    f = Finding("email", 3, 10)
    assert not f.is_secret and f.scheme == ""
    assert Finding("secret.jwt", 0, 5).is_secret
    with pytest.raises(AttributeError):
        f.kind = "phone"  # type: ignore[misc]
    assert set(PII_KINDS) == {"email", "phone", "card", "iban", "national_id"}
    assert all(k.startswith("secret.") for k in DETECTED_SECRET_KINDS)


# ---------------------------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------------------------


def _check_well_formed(text: str) -> None:
    found = scan(text)
    last_end = 0
    for f in found:
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= last_end  # sorted, no overlaps
        last_end = f.end
        assert f.kind in PII_KINDS or f.kind in DETECTED_SECRET_KINDS
    redact(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_scan_never_raises_on_arbitrary_text(text: str) -> None:
    _check_well_formed(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789 -./()+xX@:=#AKIZghp_eyJskSG\n", max_size=300))
def test_scan_never_raises_on_number_heavy_text(text: str) -> None:
    _check_well_formed(text)


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 20000,
        "(0" * 20000,
        "a@" * 10000,
        "api_key=" * 2000,
        "-----BEGIN PRIVATE KEY-----\n" * 500,
        "4111 " * 20000,
        "\U000e0041" * 5000,
        "\u0664\u0661\u0661\u0661 " * 4 + "\u0660",  # Arabic-Indic digits are not ASCII
    ],
)
def test_pathological_inputs_complete(text: str) -> None:
    _check_well_formed(text)


# ---------------------------------------------------------------------------------------------
# EU national ids (helix/pii/national.py) and secrets' hard negatives
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "make", "templates"), EU_IDS, ids=[e[0] for e in EU_IDS])
def test_eu_national_ids_are_found_with_their_scheme(
    scheme: str, make: Callable[[random.Random], str], templates: tuple[str, ...]
) -> None:
    r = random.Random(scheme)
    hits = 0
    for i in range(60):
        v = make(r)
        text = templates[i % len(templates)].format(v=v)
        found = [f for f in scan(text) if f.kind == "national_id"]
        hits += any(text[f.start : f.end] == v for f in found)
    # a Danish CPR that also passes the Swedish Luhn check is reported as a personnummer
    assert hits >= (54 if scheme == "dk_cpr" else 59), (scheme, hits)


@pytest.mark.parametrize(
    "text",
    [
        "PESEL: 44051401358",  # wrong check digit
        "Order 44051401359 shipped on Monday.",  # valid PESEL, no context word
        "Invoice 8112189876 is due.",  # valid personnummer digits, bare and no context
        "CNP: 1800101221145",  # wrong check digit
        "NIF: 123456780",  # wrong check digit
        "henkilötunnus 131052-308U",  # wrong check character
        "rodné číslo 736028/5164",  # not divisible by 11
    ],
)
def test_eu_national_id_lookalikes_stay_quiet(text: str) -> None:
    assert [f for f in scan(text) if f.kind == "national_id"] == [], text


def test_eu_id_shapes_need_no_context_word() -> None:
    assert [f.scheme for f in scan("Kunden 811218-9876 ringde.")] == ["se_personnummer"]
    assert [f.scheme for f in scan("Klant 85.07.30-033.28 belde.")] == ["be_nrn"]
    assert [f.scheme for f in scan("pacient 736028/5163, Brno")] == ["cz_rodne_cislo"]


def test_same_length_business_numbers_stay_quiet() -> None:
    r = random.Random(7)
    noisy = [t for t in (id_negative(r) for _ in range(500)) if scan(t)]
    assert noisy == []


def test_secrets_hard_negatives_stay_quiet() -> None:
    r = random.Random(11)
    noisy = []
    for _ in range(1000):
        t = secret_hard_negative(r)
        if any(f.is_secret for f in scan(t)):
            noisy.append(t)
    assert noisy == []


def test_a_real_looking_token_still_counts_outside_a_fixture_name() -> None:
    text = 'api_token = "Zx81kQ02mB7tLp5VwR9nC3dE"'
    assert [f.kind for f in scan(text)] == ["secret.generic_api_key"]
    assert scan('mock_api_token = "Zx81kQ02mB7tLp5VwR9nC3dE"') == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Giesela Jäkel-Dippel, 04126712196", True),
        ("Dott. Imelda Manacorda, 3351558911", True),
        ("Invoice Number, 0534908482", False),
        ("Tracking Number, 0534908482", False),
        ("Batch Code, 0534908482", False),
        ("Mario Rossi, 1534908482", False),  # no trunk prefix: an id as likely as a phone
    ],
)
def test_a_bare_number_after_a_name_and_comma_is_a_phone(text: str, found: bool) -> None:
    assert ("phone" in _kinds(text)) is found


@pytest.mark.parametrize(
    ("scheme", "label"),
    [
        ("gr_amka", "AMKA"),
        ("hu_taj", "TAJ szám"),
        ("bg_egn", "ЕГН"),
        ("hr_oib", "OIB"),
        ("ee_isikukood", "isikukood"),
        ("lt_asmens_kodas", "asmens kodas"),
    ],
)
def test_larger_eu_states_ids_need_their_check_digit_and_their_word(
    scheme: str, label: str
) -> None:
    make = next(m for s, m, _ in EU_IDS if s == scheme)
    r = random.Random(f"broken-{scheme}")
    for _ in range(30):
        v = make(r)
        assert _schemes(f"{label}: {v}") == [scheme], v
        broken = v[:-1] + str((int(v[-1]) + 1) % 10)
        assert _schemes(f"{label}: {broken}") == [], broken
        assert scan(f"Order {v} shipped on Monday.") == [], v


@pytest.mark.parametrize(
    ("text", "scheme"),
    [  # example numbers published with the schemes' descriptions (not our generators')
        ("isikukood 37605030299", "ee_isikukood"),
        ("asmens kodas 33309240064", "lt_asmens_kodas"),
        ("OIB: 69435151530", "hr_oib"),
        ("OIB 94577403194", "hr_oib"),
        ("ЕГН 7523169263", "bg_egn"),
        ("ЕГН: 8032056031", "bg_egn"),
        ("TAJ szám: 111 111 110", "hu_taj"),
    ],
)
def test_published_example_ids_are_found(text: str, scheme: str) -> None:
    assert _schemes(text) == [scheme]
