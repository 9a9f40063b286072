"""What the personal-data and secret detectors report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data or one secret found in a text.

    Attributes:
        kind: what was found, e.g. ``"email"``, ``"card"``, ``"national_id"`` or
            ``"secret.aws_access_key"`` (see the module docstring for the full list).
        start: offset of the first character in the scanned text.
        end: offset one past the last character (``text[start:end]`` is the value).
        scheme: a finer label where one exists, e.g. ``"us_ssn"`` for a ``national_id``;
            empty otherwise.
    """

    kind: str
    start: int
    end: int
    scheme: str = ""

    @property
    def is_secret(self) -> bool:
        """True for the ``secret.*`` kinds."""
        return self.kind.startswith("secret.")


def placeholder(kind: str) -> str:
    """The token :func:`redact` puts in place of a finding of this kind.

    Args:
        kind: a finding kind, e.g. ``"email"`` or ``"secret.jwt"``.

    Returns:
        ``"[EMAIL]"``, ``"[SECRET.JWT]"``, ...
    """
    return f"[{kind.upper()}]"
