"""The tamper-evident audit chain.

Every entry is hash-chained to the one before it: ``hash = SHA-256(canonical(entry))`` over all
fields but ``hash``, where the canonical encoding is JSON with sorted keys, no spaces, UTF-8, and
``prev_hash`` is part of the hashed body. Changing any field, deleting an entry, or swapping two
entries breaks a link that :func:`verify_chain` finds and names. The chain head (last seq and
hash) is also kept apart from the entries, so cutting entries off the end is caught too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "AUDIT_FIELDS",
    "GENESIS_HASH",
    "AuditDraft",
    "ChainReport",
    "canonical_bytes",
    "entry_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64

AUDIT_FIELDS = (
    "seq",
    "entry_id",
    "ts",
    "kind",
    "run_id",
    "step_id",
    "step_index",
    "attempt",
    "workflow",
    "workflow_version",
    "agent_id",
    "qsr_score",
    "mri_score",
    "gate_decision",
    "gil_decision",
    "human_operator_id",
    "evaluator_versions",
    "details",
    "prev_hash",
)
"""Every field that goes into an entry's hash (all columns except ``hash`` itself)."""


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An audit entry before the store gives it its place (seq) in the chain."""

    entry_id: str
    ts: str
    kind: str
    run_id: str | None = None
    step_id: str | None = None
    step_index: int | None = None
    attempt: int | None = None
    workflow: str | None = None
    workflow_version: int | None = None
    agent_id: str | None = None
    qsr_score: float | None = None
    mri_score: float | None = None
    gate_decision: str | None = None
    gil_decision: str | None = None
    human_operator_id: str = ""
    evaluator_versions: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "ts": self.ts,
            "kind": self.kind,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "step_index": self.step_index,
            "attempt": self.attempt,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "agent_id": self.agent_id,
            "qsr_score": self.qsr_score,
            "mri_score": self.mri_score,
            "gate_decision": self.gate_decision,
            "gil_decision": self.gil_decision,
            "human_operator_id": self.human_operator_id,
            "evaluator_versions": dict(self.evaluator_versions),
            "details": dict(self.details),
        }


def canonical_bytes(entry: Mapping[str, Any]) -> bytes:
    """The canonical encoding of the hashed fields of ``entry``."""
    body = {k: entry.get(k) for k in AUDIT_FIELDS}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify_chain` found.

    Attributes:
        ok: True when every link holds.
        checked: entries read.
        first_bad_seq: seq of the first entry that breaks the chain (None when ok).
        reason: why it is bad.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(
    entries: Iterable[Mapping[str, Any]], head: tuple[int, str] | None = None
) -> ChainReport:
    """Check every link of the chain, in seq order, and the recorded head.

    Args:
        entries: audit rows sorted by seq, each with every field of AUDIT_FIELDS plus ``hash``.
        head: the (seq, hash) the store recorded as the newest entry, if it keeps one.
    """
    prev = GENESIS_HASH
    expected_seq = 1
    n = 0
    last: tuple[int, str] | None = None
    for e in entries:
        n += 1
        seq = int(e["seq"])
        if seq != expected_seq:
            return ChainReport(
                False, n, seq, f"entry {seq} follows entry {expected_seq - 1}: entries are missing"
            )
        if e["prev_hash"] != prev:
            return ChainReport(
                False, n, seq, f"entry {seq} does not link to entry {seq - 1} (prev_hash differs)"
            )
        h = entry_hash(e)
        if h != e["hash"]:
            return ChainReport(
                False, n, seq, f"entry {seq} was altered: its content does not match its hash"
            )
        prev = h
        expected_seq += 1
        last = (seq, h)
    if head is not None and head != (last or (0, GENESIS_HASH)):
        have = last[0] if last else 0
        if have < head[0]:
            return ChainReport(
                False,
                n,
                have + 1,
                f"the chain ends at entry {have} but entry {head[0]} was written",
            )
        return ChainReport(False, n, head[0], f"the chain head does not match entry {head[0]}")
    return ChainReport(True, n)
