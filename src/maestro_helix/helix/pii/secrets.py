"""Secret detectors: credentials by their distinctive prefixes and shapes, as data."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections.abc import Callable
from typing import Final

from maestro_helix.helix.pii.base import Finding
from maestro_helix.helix.pii.checks import _entropy

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


def _scan_prefixed(text: str, out: list[Finding]) -> None:
    """Prefixed tokens: one pass for long tokens, then the detector whose prefix matches."""
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


def _scan_pem(text: str, out: list[Finding]) -> None:
    """PEM private keys: BEGIN to its END (or to the end of the base64 body)."""
    ends = [m.end() for m in _PEM_END.finditer(text)]
    for m in _PEM_BEGIN.finditer(text):
        k = bisect.bisect_left(ends, m.end())
        if k < len(ends) and ends[k] - m.end() <= _PEM_MAX_SPAN:
            end = ends[k]
        else:
            body = _PEM_BODY.match(text, m.end())
            end = body.end() if body else m.end()
        out.append(Finding("secret.private_key", m.start(), end))


def _scan_url_passwords(text: str, out: list[Finding]) -> None:
    for m in _URL_PASSWORD.finditer(text):
        v = m.group("v")
        low_v = v.lower()
        if v.isdigit() or any(p in low_v for p in _URL_PASSWORD_PLACEHOLDERS):
            continue  # "user:8080@" is a port; "user:password@" is documentation
        if _looks_placeholder(v):
            continue
        out.append(Finding("secret.password_in_url", m.start("v"), m.end("v")))


def _scan_secrets(text: str, out: list[Finding]) -> None:
    _scan_prefixed(text, out)
    if "hooks.slack.com" in text:
        for m in _SLACK_WEBHOOK.finditer(text):
            out.append(Finding("secret.slack_webhook", m.start(), m.end()))
    if "PRIVATE KEY" in text:
        _scan_pem(text, out)
    if "://" in text and "@" in text:
        _scan_url_passwords(text, out)
    low = text.lower()
    if any(h in low for h in _GENERIC_KEYWORD_HINTS):
        if len(low) != len(text):  # a few characters change length when lower-cased
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        _scan_generic_secrets(text, low, out)


_NOT_SECRET_NAMES: Final = ("fixture", "test", "example", "dummy", "sample", "mock", "fake")
_IDENT_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def _fixture_name(low: str, start: int, end: int) -> bool:
    """Whether the key word sits in a name that says its value is test data
    (``test_token_fixture``, ``mock_api_key``): a hard negative, not a credential."""
    a, b = start, end
    while a > 0 and low[a - 1] in _IDENT_CHARS:
        a -= 1
    while b < len(low) and low[b] in _IDENT_CHARS:
        b += 1
    name = low[a:b]
    return any(w in name for w in _NOT_SECRET_NAMES)


def _scan_generic_secrets(text: str, low: str, out: list[Finding]) -> None:
    # key names are found in the lower-cased text (a case-insensitive regex is ~20x slower);
    # offsets carry over because lower() kept the length
    for km in _GENERIC_KEYWORD.finditer(low):
        key = km.group()
        if key == "bearer":
            vm = _GENERIC_BEARER.match(text, km.end())
        else:
            vm = _GENERIC_ASSIGN.match(text, km.end())
        if vm is None or _fixture_name(low, km.start(), km.end()):
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
