"""Rules in the words people say: "refunds above 500 USD need two people"."""

from __future__ import annotations

__all__ = ["amount_text", "people", "tier_words"]

_NUMBERS = ("no one", "one person", "two people", "three people", "four people", "five people")


def people(n: int) -> str:
    """``2`` → ``two people``."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else f"{n} people"


def amount_text(x: float) -> str:
    """``500.0`` → ``500``; ``899.5`` → ``899.50``; thousands separated."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def tier_words(noun: str, lo: float | None, hi: float | None, currency: str | None, n: int) -> str:
    """The tier ``(lo, hi]`` of ``noun`` in words."""
    cur = f" {currency}" if currency else ""
    if lo is None and hi is None:
        span = ""
    elif lo is None:
        span = f" up to {amount_text(hi or 0)}{cur}"
    elif hi is None:
        span = f" above {amount_text(lo)}{cur}"
    else:
        span = f" above {amount_text(lo)} up to {amount_text(hi)}{cur}"
    if n == 0:
        return f"{noun}{span} run automatically"
    return f"{noun}{span} need {people(n)}"
