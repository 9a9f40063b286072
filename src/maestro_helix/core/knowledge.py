"""The knowledge base's values (CSIL): insights as stored, their versions. Plain data.

An insight is text already redacted of personal data and secrets, with its provenance (run,
step, agent, QSR). Items are immutable; a version is the set of items in it at that point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Insight", "InsightDraft", "KnowledgeVersion"]


@dataclass(frozen=True, slots=True)
class InsightDraft:
    """What the learning service pushes: redacted text, its capability and provenance."""

    text: str
    capability: str | None
    provenance: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Insight:
    item_id: str
    capability: str | None
    text: str
    provenance: Mapping[str, Any]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "capability": self.capability,
            "text": self.text,
            "provenance": dict(self.provenance),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class KnowledgeVersion:
    version: int
    created_at: str
    op: str  # push | rollback
    note: str
    items: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "op": self.op,
            "note": self.note,
            "items": self.items,
        }
