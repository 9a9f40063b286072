"""The ``length`` and ``format`` criteria of the QSR: pure functions of the output text."""

from __future__ import annotations

import re

import orjson

from maestro_helix.core.scores import clamp01

__all__ = ["format_check", "json_format", "length_check"]

_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d+[.)])[ \t]+\S", re.MULTILINE)
_MD_BLOCK = re.compile(r"^[ \t]{0,3}(?:#{1,6}[ \t]+\S|(?:[-*+•]|\d+[.)])[ \t]+\S)", re.MULTILINE)
# Every branch starts with a literal "*" or "_" so the regex engine skips ahead to those
# characters instead of trying each position; bounded spans keep a line of stray "*" linear.
_MD_EMPHASIS = re.compile(
    r"\*\*[^\s*][^*\n]{0,300}?\*\*"
    r"|__[^\s_][^_\n]{0,300}?__"
    r"|\*[^\s*](?:[^*\n]{0,300}?[^\s*])?\*"
    r"|_(?<!\w_)[^\s_](?:[^_\n]{0,300}?[^\s_])?_(?!\w)"
)


def length_check(text: str, lo: int | None, hi: int | None) -> tuple[float, str, str]:
    """(score, detail, suggestion) of the text's length against the bounds."""
    n = len(text.strip())
    if lo is not None and n < lo:
        return (
            n / lo,
            f"{n} characters, below the minimum of {lo}",
            (f"Expand to at least {lo} characters (now {n})"),
        )
    if hi is not None and n > hi:
        # Soft: 10% over the limit costs 0.1, twice the limit scores 0.
        return (
            clamp01(1.0 - (n - hi) / hi),
            f"{n} characters, above the maximum of {hi}",
            (f"Shorten to at most {hi} characters (now {n})"),
        )
    bounds = f"{lo if lo is not None else 0}..{hi if hi is not None else '∞'}"
    return 1.0, f"{n} characters, within {bounds}", ""


def format_check(raw_text: str, text: str, has_data: bool, fmt: str) -> tuple[float, str, str]:
    """(score, detail, suggestion) of the output against the declared format."""
    if fmt == "json":
        body = raw_text.strip()
        if not body and has_data:
            return 1.0, "structured data returned", ""
        detail, fix = json_format(body)
        return (0.0 if fix else 1.0), detail, fix
    if fmt == "bullets":
        n = len(_BULLET.findall(text))
        if n < 2:
            return (
                0.0,
                f"{n} bullet line(s), need at least 2",
                ("Format the answer as a bulleted list: at least 2 lines starting with '- '"),
            )
        return 1.0, f"{n} bullet line(s)", ""
    # markdown
    if _MD_BLOCK.search(text) or (("*" in text or "_" in text) and _MD_EMPHASIS.search(text)):
        return 1.0, "has Markdown structure", ""
    return (
        0.0,
        "no Markdown heading, list or emphasis",
        ("Use Markdown: add a heading, a list or emphasis"),
    )


def json_format(body: str) -> tuple[str, str]:
    """(detail, suggestion) for text that must be a JSON object or array."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if body.startswith("```"):
            reason = "the JSON is wrapped in a Markdown code fence; return the bare JSON"
        else:
            reason = f"{e.msg} at line {e.lineno} column {e.colno}"
        return f"not valid JSON: {reason}", f"Return valid JSON: {reason}"
    if isinstance(value, dict | list):
        return f"valid JSON {'object' if isinstance(value, dict) else 'array'}", ""
    reason = f"got a JSON {type(value).__name__}, expected an object or array"
    return f"not a JSON object or array: {reason}", f"Return valid JSON: {reason}"
