"""Normalisation for the injection detector: undo the tricks that hide an attack from patterns.

:func:`normalise` folds a text to one canonical, lower-case form: Unicode NFKC (full-width and
styled letters become plain ones), zero-width and bidi characters removed, control characters
turned into spaces (so ``"\\x00ignore"`` is the word ``ignore``), confusable Cyrillic and Greek
letters mapped to the Latin ones they imitate, letter-spaced words (``"i g n o r e"``) joined and
digits inside words read as the letters they stand for (``"1gn0re"``). :func:`decoded_views`
yields what is hidden *inside* the text: base64, hex, URL-encoded and rot13 payloads and
invisible Unicode tag characters, each decoded so the detector can scan it as well.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator
from typing import Final

__all__ = ["decoded_views", "normalise"]

_DELETE: Final = dict.fromkeys(
    [
        *range(0x200B, 0x2010),  # zero-width space/joiners, LRM/RLM
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2060, 0x2070),  # word joiner, invisible operators, bidi isolates
        0x00AD,  # soft hyphen
        0x034F,  # combining grapheme joiner
        0x180E,  # Mongolian vowel separator
        0xFEFF,  # BOM / zero-width no-break space
        *range(0xFE00, 0xFE10),  # variation selectors
    ]
)
# C0/C1 controls other than tab/newline/CR read as a space: they split words, never join them.
_SPACE: Final = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], " ")
_SPACE.update(dict.fromkeys(range(0x80, 0xA0), " "))

# Letters that look like Latin ones (after NFKC, lower-cased).
_CONFUSABLES: Final = {
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i",
    "ј": "j", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s",
    "т": "t", "у": "y", "х": "x", "ѡ": "w", "ԝ": "w", "ү": "y", "ь": "b", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ѵ": "v", "ʏ": "y", "ɑ": "a", "ℓ": "l",
}  # fmt: skip
_TABLE: Final = str.maketrans({**_DELETE, **_SPACE, **_CONFUSABLES})

_SPACED: Final = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ .\-_*·]){3,}[^\W\d_](?![^\W\d_])")
_LEET_WORD: Final = re.compile(
    r"(?<![\w@$])(?=[a-z0-9@$]*[a-z])(?=[a-z0-9@$]*[0-9@$])[a-z0-9@$]{3,}(?![\w@$])"
)
_LEET: Final = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                              "@": "a", "$": "s"})  # fmt: skip
_RUNS: Final = re.compile(r"[ \t\u00a0]{2,}")


def _unspace(m: re.Match[str]) -> str:
    return re.sub(r"[ .\-_*·]", "", m.group())


def _unleet(m: re.Match[str]) -> str:
    return m.group().translate(_LEET)


def normalise(text: str) -> str:
    """The canonical lower-case form the injection patterns read (see the module docstring)."""
    t = unicodedata.normalize("NFKC", text)
    if not t.isascii():
        t = t.translate(_TABLE)
    else:
        t = t.translate(_SPACE) if not t.isprintable() else t
    t = t.lower()
    if " " in t and _SPACED.search(t):
        t = _SPACED.sub(_unspace, t)
    if any(c in t for c in "013457@$"):
        t = _LEET_WORD.sub(_unleet, t)
    return _RUNS.sub(" ", t)


_B64: Final = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,8192}={0,2}")
_HEX: Final = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{24,8192}|(?:[0-9A-Fa-f]{2}[ :]){11,4096}[0-9A-Fa-f]{2})"
    r"(?![0-9A-Za-z])"
)
_PCT: Final = re.compile(r"(?:%[0-9A-Fa-f]{2}){6,}")
_PCT_ONE: Final = re.compile(r"%[0-9A-Fa-f]{2}")
_TAGS: Final = re.compile("[\U000e0000-\U000e007f]{4,}")
_MAX_BLOBS: Final = 16


def _readable(raw: bytes) -> str | None:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not s or sum(c.isalpha() or c == " " for c in s) < 0.7 * len(s):
        return None
    return s


def _b64_views(text: str) -> Iterator[str]:
    for n, m in enumerate(_B64.finditer(text)):
        if n >= _MAX_BLOBS:
            return
        blob = m.group().replace("-", "+").replace("_", "/")
        if blob.isalpha() and (blob.islower() or blob.isupper()):
            continue  # one long word, not a payload
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        s = _readable(raw)
        if s is not None:
            yield s


def decoded_views(text: str) -> Iterator[tuple[str, str]]:
    """``(encoding, decoded text)`` for every payload hidden in ``text``.

    Encodings: ``base64``, ``hex``, ``url``, ``tags`` (invisible Unicode tag characters) and
    ``rot13`` (the whole text, when it has letters). Only payloads that decode to readable text
    are yielded.
    """
    if len(text) >= 16:
        for s in _b64_views(text):
            yield "base64", s
        for n, m in enumerate(_HEX.finditer(text)):
            if n >= _MAX_BLOBS:
                break
            digits = re.sub(r"[ :]", "", m.group())
            if len(digits) % 2 == 0:
                h = _readable(bytes.fromhex(digits))
                if h is not None:
                    yield "hex", h
        if "%" in text:
            runs = 0
            for m in _PCT.finditer(text):
                s = urllib.parse.unquote(m.group())
                if s.isprintable():
                    runs += 1
                    yield "url", s
            if not runs and len(_PCT_ONE.findall(text)) >= 4:  # words joined by %20 (a query)
                s = urllib.parse.unquote_plus(text)
                if s.isprintable():
                    yield "url", s
    if not text.isascii():
        for m in _TAGS.finditer(text):
            yield "tags", "".join(chr(ord(c) - 0xE0000) for c in m.group())
    yield "rot13", codecs.encode(text, "rot13")
