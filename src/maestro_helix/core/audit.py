"""The tamper-evident audit chain.

Every entry is hash-chained to the one before it: ``hash = SHA-256(canonical(entry))`` over all
fields but ``hash``, where the canonical encoding is JSON with sorted keys, no spaces, UTF-8, and
``prev_hash`` is part of the hashed body. Changing any field, deleting an entry, or swapping two
entries breaks a link that :func:`verify_chain` finds and names. The chain head (last seq and
hash) is also kept apart from the entries, so cutting entries off the end is caught too.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "AUDIT_FIELDS",
    "GENESIS_HASH",
    "AuditDraft",
    "AuditKind",
    "CanonicalRow",
    "ChainReport",
    "ChainWalker",
    "canonical_bytes",
    "canonical_of_values",
    "canonical_row",
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


class AuditKind(enum.StrEnum):
    """What an audit entry records. Stored (and hashed) as its value."""

    STEP_DECISION = "step.decision"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECISION = "approval.decision"
    APPROVAL_REFUSED = "approval.refused"
    APPROVAL_WITHDRAWN = "approval.withdrawn"
    APPROVAL_EXPIRED = "approval.expired"
    ACTION_EXECUTED = "action.executed"
    ACTION_REFUSED = "action.refused"
    ACTION_RETRY = "action.retry"
    OPERATOR_ADDED = "operator.added"
    OPERATOR_DISABLED = "operator.disable"
    OPERATOR_ENABLED = "operator.enable"
    OPERATOR_TOKEN_ROTATED = "operator.rotate-token"
    OPERATOR_REMOVED = "operator.remove"
    OPERATOR_REFUSED = "operator.refused"
    POLICY_CHANGED = "policy.changed"
    POLICY_PROPOSED = "policy.proposed"
    POLICY_REFUSED = "policy.refused"
    POLICY_REJECTED = "policy.rejected"
    WORKFLOW_PAUSED = "workflow.paused"
    WORKFLOW_RESUMED = "workflow.resumed"
    WORKFLOW_RESTORED = "workflow.restored"
    WORKFLOW_SIGNOFF = "workflow.signoff"  # rollout (store/stages_sql.py)
    WORKFLOW_PROMOTED = "workflow.promoted"
    CANARY_STARTED = "canary.started"
    CANARY_EVALUATED = "canary.evaluated"
    CANARY_ROLLED_BACK = "canary.rolled_back"
    CANARY_PROMOTED = "canary.promoted"
    CANARY_ABORTED = "canary.aborted"
    RUN_REROUTED = "run.rerouted"  # store/reroute_sql.py: unstarted, its version rolled back
    KNOWLEDGE_ROLLBACK = "knowledge.rollback"
    KNOWLEDGE_PRUNE = "knowledge.prune"
    STEP_PREDICTION = "step.prediction"  # engine/predict_link.py: features, prediction, outcome
    RISK_MODEL_SAVED = "risk.model_saved"
    RISK_MODEL_ACTIVATED = "risk.model_activated"


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An audit entry before the store gives it its place (seq) in the chain."""

    entry_id: str
    ts: str
    kind: AuditKind
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
            "kind": str(self.kind),
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


CanonicalRow = tuple[int, str, str, bytes]
"""One stored entry as verification needs it: (seq, prev_hash, hash, canonical bytes)."""


def canonical_bytes(entry: Mapping[str, Any]) -> bytes:
    """The canonical encoding of the hashed fields of ``entry`` (a missing field is null)."""
    return orjson.dumps({k: entry.get(k) for k in AUDIT_FIELDS}, option=orjson.OPT_SORT_KEYS)


def canonical_of_values(values: Sequence[Any]) -> bytes:
    """:func:`canonical_bytes` of the entry whose fields, in ``AUDIT_FIELDS`` order, are
    ``values`` (JSON fields already decoded): the fast path of reading stored rows."""
    return orjson.dumps(dict(zip(AUDIT_FIELDS, values, strict=True)), option=orjson.OPT_SORT_KEYS)


def canonical_row(entry: Mapping[str, Any]) -> CanonicalRow:
    return (int(entry["seq"]), str(entry["prev_hash"]), str(entry["hash"]), canonical_bytes(entry))


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


class ChainWalker:
    """:func:`verify_chain` one entry at a time, so other checks (the Merkle tree) can share the
    pass and the canonical bytes it computes."""

    __slots__ = ("checked", "expected_seq", "hash_at_head", "head_seq", "last", "prev")

    def __init__(self, head: tuple[int, str] | None = None) -> None:
        self.prev = GENESIS_HASH
        self.expected_seq = 1
        self.checked = 0
        self.last: tuple[int, str] | None = None
        # the recorded head, when known before the walk: the hash of the entry at its seq is
        # kept, so entries appended after the head was read are told from a head that lies
        self.head_seq = head[0] if head is not None else -1
        self.hash_at_head: str | None = None

    def step(self, e: Mapping[str, Any]) -> tuple[bytes, ChainReport | None]:
        """Check one entry (the next in seq order): its canonical bytes, and a failure or None."""
        row = canonical_row(e)
        return row[3], self.step_row(row)

    def step_row(self, row: CanonicalRow) -> ChainReport | None:
        """Check the next entry, given as a canonical row: a failure, or None."""
        self.checked += 1
        seq, prev_hash, stored_hash, body = row
        if seq != self.expected_seq:
            why = f"entry {seq} follows entry {self.expected_seq - 1}: entries are missing"
            return ChainReport(False, self.checked, seq, why)
        if prev_hash != self.prev:
            why = f"entry {seq} does not link to entry {seq - 1} (prev_hash differs)"
            return ChainReport(False, self.checked, seq, why)
        h = hashlib.sha256(body).hexdigest()
        if h != stored_hash:
            why = f"entry {seq} was altered: its content does not match its hash"
            return ChainReport(False, self.checked, seq, why)
        self.prev = h
        self.expected_seq += 1
        self.last = (seq, h)
        if seq == self.head_seq:
            self.hash_at_head = h
        return None

    def finish(self, head: tuple[int, str] | None) -> ChainReport:
        """The verdict once every entry was stepped through, against the recorded head.

        Entries past the head, every one linked and intact, are entries another writer appended
        after the head was read (PostgreSQL reads each statement at its own snapshot): the
        verdict holds when the entry at the head's seq has the head's hash."""
        n, last = self.checked, self.last
        if head is not None and head != (last or (0, GENESIS_HASH)):
            have = last[0] if last else 0
            if have < head[0]:
                why = f"the chain ends at entry {have} but entry {head[0]} was written"
                return ChainReport(False, n, have + 1, why)
            empty_then = head == (0, GENESIS_HASH)  # nothing written when the head was read
            if empty_then or (self.head_seq == head[0] and self.hash_at_head == head[1]):
                return ChainReport(True, n)
            return ChainReport(False, n, head[0], f"the chain head does not match entry {head[0]}")
        return ChainReport(True, n)


def verify_chain(
    entries: Iterable[Mapping[str, Any]], head: tuple[int, str] | None = None
) -> ChainReport:
    """Check every link of the chain, in seq order, and the recorded head.

    Args:
        entries: audit rows sorted by seq, each with every field of AUDIT_FIELDS plus ``hash``.
        head: the (seq, hash) the store recorded as the newest entry, if it keeps one.
    """
    walker = ChainWalker(head)
    for e in entries:
        _, bad = walker.step(e)
        if bad is not None:
            return bad
    return walker.finish(head)
