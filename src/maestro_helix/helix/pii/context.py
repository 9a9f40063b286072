"""Context words of the digit detectors: what stands before a number says what it is.

A phone number, a Dutch BSN or an Aadhaar number is a bare digit run; only a word before it
("tel", "BSN", "आधार") tells them from an order id. Windows are cut at the start of the sentence
and lower-cased; words are compared as whole tokens (exact or by stem), CJK and Devanagari words
as substrings.
"""

from __future__ import annotations

import re
from typing import Final

_DIGIT3: Final = re.compile(r"[0-9](?:[^0-9\n]{0,3}[0-9]){2}")  # three digits, maybe spaced
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
