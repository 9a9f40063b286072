"""The verifiable audit log: the hash chain, its Merkle tree and signed checkpoints, checked as one.

:func:`verify_log` reads the entries once, in seq order: each entry's chain link and hash
(``audit.ChainWalker``), then its leaf in the RFC 6962 tree (``merkle.CompactRange``); at every
trusted checkpoint's size the tree head must equal the signed root. What each attack leaves:

- a flipped byte, a deleted or reordered entry: a broken chain link (the entry is named);
- one entry rewritten with every later hash and the head recomputed: the chain is whole, but
  the first checkpoint signed after that entry no longer matches (the checkpoint is named, with
  the range of seqs in which the rewrite lies);
- a truncated tail: fewer entries than a signed checkpoint covers (the first missing seq);
- a checkpoint made with another key: its signature does not verify (the file is named).

:class:`Checkpointer` is what the appending process runs: it follows the log, keeps the tree's
compact range, and signs a checkpoint every N entries or T seconds (and on demand).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from maestro_helix.core.clock import Clock, SystemClock
from maestro_helix.core.errors import AuditLogError, MaestroError
from maestro_helix.core.ports import AuditPort
from maestro_helix.core.records import CheckpointRecord
from maestro_helix.governance.audit import (
    CanonicalRow,
    ChainReport,
    ChainWalker,
    canonical_bytes,
)
from maestro_helix.governance.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    SignedCheckpoint,
)
from maestro_helix.governance.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

log = logging.getLogger(__name__)

__all__ = [
    "Anchor",
    "CheckpointPolicy",
    "Checkpointer",
    "LogReport",
    "LogTree",
    "build_tree",
    "consistency_body",
    "entry_leaf",
    "inclusion_body",
    "open_notes",
    "record_of",
    "verify_log",
]


def entry_leaf(entry: Mapping[str, Any]) -> bytes:
    """The Merkle leaf hash of one audit entry: SHA-256(0x00 || canonical bytes)."""
    return leaf_hash(canonical_bytes(entry))


@dataclass(frozen=True, slots=True)
class Anchor:
    """A checkpoint whose signature verified, and where it came from (a file, the database)."""

    source: str
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class LogReport:
    """What :func:`verify_log` found.

    Attributes:
        ok: every check held.
        checked: entries read.
        tree_size: leaves in the tree that was read (== checked when ok).
        root_hash: hex tree head of the entries read.
        checkpoints: trusted checkpoints compared with the log.
        first_bad_seq: the first entry known bad (None when ok or when only a range is known).
        bad_checkpoint: the source of the first checkpoint the log contradicts (or that does not
            verify).
        reason: what is wrong, in words.
    """

    ok: bool
    checked: int
    tree_size: int = 0
    root_hash: str = EMPTY_ROOT.hex()
    checkpoints: int = 0
    first_bad_seq: int | None = None
    bad_checkpoint: str | None = None
    reason: str = ""


def open_notes(
    notes: Sequence[tuple[str, str]], verifier: NoteVerifier
) -> tuple[list[Anchor], LogReport | None]:
    """Check each (source, note text) against the trusted key; the anchors, or the first bad."""
    anchors: list[Anchor] = []
    for source, text in notes:
        try:
            signed = verifier.open(text)
        except AuditLogError as e:
            return [], LogReport(False, 0, bad_checkpoint=source, reason=f"{source}: {e}")
        anchors.append(Anchor(source, signed.checkpoint))
    anchors.sort(key=lambda a: a.checkpoint.size)
    for a, b in itertools.pairwise(anchors):
        if a.checkpoint.size == b.checkpoint.size and a.checkpoint.root != b.checkpoint.root:
            why = (
                f"{b.source} and {a.source} sign different roots for the same tree size "
                f"{a.checkpoint.size}: the log was forked"
            )
            return [], LogReport(False, 0, bad_checkpoint=b.source, reason=why)
    unique = {a.checkpoint.size: a for a in reversed(anchors)}  # one per size: the first source
    return sorted(unique.values(), key=lambda a: a.checkpoint.size), None


@dataclass
class _Walk:
    """The state of one verification pass (subclassed by the parallel combine)."""

    anchors: Sequence[Anchor]
    chain: ChainWalker = field(default_factory=ChainWalker)
    tree: CompactRange = field(default_factory=CompactRange)
    next_anchor: int = 0
    last_good: int = 0  # biggest checkpointed size that matched

    def size(self) -> int:
        """Leaves in the tree so far."""
        return self.tree.size

    def root(self) -> bytes:
        return self.tree.root()

    def report(self, **kw: Any) -> LogReport:
        return LogReport(
            checked=self.chain.checked,
            tree_size=self.size(),
            root_hash=self.root().hex(),
            checkpoints=self.next_anchor,
            **kw,
        )

    def check_anchors(self) -> LogReport | None:
        """Compare the tree head with every anchor of the current size."""
        while self.next_size() == self.size():
            bad = self.check_anchor(self.anchors[self.next_anchor])
            if bad is not None:
                return bad
        return None

    def check_anchor(self, a: Anchor) -> LogReport | None:
        """Compare the tree head (of the anchor's size) with the anchor."""
        root, size = self.root(), self.size()
        if root != a.checkpoint.root:
            why = (
                f"{a.source} signs tree size {size} with root {a.checkpoint.root.hex()}, but "
                f"entries 1..{size} hash to {root.hex()}: an entry in seq "
                f"{self.last_good + 1}..{size} was rewritten since it was signed"
            )
            return self.report(ok=False, bad_checkpoint=a.source, reason=why)
        self.last_good = size
        self.next_anchor += 1
        return None

    def next_size(self) -> int:
        """The tree size of the next checkpoint to compare with (-1: none left)."""
        i = self.next_anchor
        return self.anchors[i].checkpoint.size if i < len(self.anchors) else -1

    def chain_failure(self, bad: ChainReport) -> LogReport:
        return self.report(ok=False, first_bad_seq=bad.first_bad_seq, reason=bad.reason)

    def finish(self, head: tuple[int, str] | None, allow_empty: bool) -> LogReport:
        if self.next_anchor < len(self.anchors):
            a = self.anchors[-1]
            size, have = a.checkpoint.size, self.size()
            why = (
                f"the log has {have} entries but {a.source} signed {size}: entries "
                f"{have + 1}..{size} were removed"
            )
            return self.report(
                ok=False, first_bad_seq=have + 1, bad_checkpoint=a.source, reason=why
            )
        end = self.chain.finish(head)
        if not end.ok:
            return self.chain_failure(end)
        if self.chain.checked == 0 and not allow_empty:
            why = "the audit log is empty (a mistyped database?); accept that with --allow-empty"
            return self.report(ok=False, reason=why)
        return self.report(ok=True)


def verify_log(
    rows: Iterable[CanonicalRow],
    head: tuple[int, str] | None,
    anchors: Sequence[Anchor] = (),
    *,
    allow_empty: bool = False,
) -> LogReport:
    """Check the chain, the recorded head and the tree against trusted checkpoints, in one pass.

    Args:
        rows: every entry in seq order, as canonical rows (``Store.scan_audit`` gives them;
            ``map(audit.canonical_row, entries)`` makes them from entry mappings).
        head: the (seq, hash) the store recorded as the newest entry.
        anchors: checkpoints whose signatures verified (:func:`open_notes`), any order.
        allow_empty: an empty log passes (otherwise it fails: nothing was verified).
    """
    walk = _Walk(sorted(anchors, key=lambda a: a.checkpoint.size), ChainWalker(head))
    bad = walk.check_anchors()  # checkpoints of the empty tree
    if bad is not None:
        return bad
    step, tree, sha256 = walk.chain.step_row, walk.tree, hashlib.sha256
    due = walk.next_size()
    for row in rows:  # the hot loop of verifying a million entries: kept flat on purpose
        failed = step(row)
        if failed is not None:
            return walk.chain_failure(failed)
        tree.append(sha256(b"\x00" + row[3]).digest())
        if tree.size == due:
            bad = walk.check_anchors()
            if bad is not None:
                return bad
            due = walk.next_size()
    return walk.finish(head, allow_empty)


def build_tree(rows: Iterable[CanonicalRow]) -> MerkleTree:
    """The full tree over canonical rows in seq order (for proofs); the chain is checked too."""
    tree = MerkleTree()
    walker = ChainWalker()
    for row in rows:
        bad = walker.step_row(row)
        if bad is not None:
            raise AuditLogError(
                f"the audit chain is broken at entry {bad.first_bad_seq}: "
                f"{bad.reason}; no proof is given over a broken log"
            )
        tree.append(hashlib.sha256(b"\x00" + row[3]).digest())
    return tree


class LogTree:
    """The log's full tree as far as read, extended on every :meth:`refresh` (serves proofs
    without re-reading the whole log for each one). The chain is checked as it is read."""

    def __init__(self) -> None:
        self.tree = MerkleTree()
        self._chain = ChainWalker()
        self._lock = asyncio.Lock()

    async def refresh(self, store: AuditPort) -> MerkleTree:
        async with self._lock:
            while True:
                rows = await store.audit_rows(after_seq=self.tree.size, limit=5000)
                if not rows:
                    return self.tree
                for row in rows:
                    bad = self._chain.step_row(row)
                    if bad is not None:
                        raise AuditLogError(
                            f"the audit chain is broken at entry {bad.first_bad_seq}: "
                            f"{bad.reason}; no proof is given over a broken log"
                        )
                    self.tree.append(hashlib.sha256(b"\x00" + row[3]).digest())


def inclusion_body(tree: MerkleTree, seq: int, cp: CheckpointRecord) -> dict[str, Any]:
    """The proof of entry ``seq`` against checkpoint ``cp``, checked before it is given."""
    if seq > cp.tree_size:
        raise AuditLogError(
            f"entry {seq} is newer than the latest checkpoint (tree size {cp.tree_size}): "
            "run maestro audit checkpoint"
        )
    if cp.tree_size > tree.size or tree.root(cp.tree_size).hex() != cp.root_hash:
        raise AuditLogError(
            f"the log does not match its checkpoint of size {cp.tree_size}: "
            "run maestro audit verify"
        )
    proof = tree.inclusion_proof(seq - 1, cp.tree_size)
    leaf = tree.leaf(seq - 1)
    if not verify_inclusion(leaf, seq - 1, cp.tree_size, proof, bytes.fromhex(cp.root_hash)):
        raise AuditLogError(f"the inclusion proof of entry {seq} does not verify")  # a bug
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": cp.tree_size,
        "leaf_hash": leaf.hex(),
        "root_hash": cp.root_hash,
        "proof": [h.hex() for h in proof],
        "checkpoint": cp.note,
    }


def consistency_body(tree: MerkleTree, old: int, new: int) -> dict[str, Any]:
    """The proof that the tree of size ``new`` extends the one of size ``old``, checked."""
    if not 0 <= old <= new <= tree.size:
        raise AuditLogError(
            f"sizes must satisfy 0 <= OLD <= NEW <= {tree.size} (the log's size): {old}, {new}"
        )
    proof = tree.consistency_proof(old, new)
    old_root, new_root = tree.root(old), tree.root(new)
    if not verify_consistency(old, new, old_root, new_root, proof):
        raise AuditLogError(f"the consistency proof {old} -> {new} does not verify")  # a bug
    return {
        "old_size": old,
        "new_size": new,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in proof],
    }


def record_of(signed: SignedCheckpoint) -> CheckpointRecord:
    cp = signed.checkpoint
    return CheckpointRecord(
        tree_size=cp.size,
        root_hash=cp.root.hex(),
        ts=cp.time,
        origin=cp.origin,
        key_id=signed.key_id.hex(),
        note=signed.note,
    )


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When the appending process signs a checkpoint: every N new entries or T seconds."""

    every_entries: int = 1000
    every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.every_entries < 1 or self.every_seconds <= 0:
            raise AuditLogError("checkpoints need every_entries >= 1 and every_seconds > 0")


class Checkpointer:
    """Follows the audit log and signs its tree head (the process that appends runs one).

    It never signs a log whose chain is broken or whose tree contradicts the newest checkpoint
    it finds stored: it raises :class:`AuditLogError` (and, run as a task, logs it) instead.

    Args:
        store: the store the entries are in; checkpoints are stored there too.
        signer: the log's key.
        policy: how often.
        clock: time source (for the checkpoint's time and the T-seconds rule).
    """

    def __init__(
        self,
        store: AuditPort,
        signer: NoteSigner,
        policy: CheckpointPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.policy = policy or CheckpointPolicy()
        self.clock = clock or SystemClock()
        self._tree = CompactRange()
        self._chain = ChainWalker()
        self._signed_size = -1  # unknown until the first catch-up
        self._signed_at = 0.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        return self._tree.size

    async def _catch_up(self) -> None:
        first = self._signed_size < 0
        stored = await self.store.list_checkpoints() if first else []
        expect = {c.tree_size: c.root_hash for c in stored if c.origin == self.signer.name}
        while True:
            rows = await self.store.audit_rows(after_seq=self._tree.size, limit=5000)
            if not rows:
                break
            for row in rows:
                self._append(row, expect)
        if first:
            self._signed_size = max((s for s in expect if s <= self._tree.size), default=0)
            self._signed_at = self.clock.monotonic()

    def _append(self, row: CanonicalRow, expect: Mapping[int, str]) -> None:
        bad = self._chain.step_row(row)
        if bad is not None:
            raise AuditLogError(f"not signing: the audit chain is broken: {bad.reason}")
        self._tree.append(hashlib.sha256(b"\x00" + row[3]).digest())
        want = expect.get(self._tree.size)
        if want is not None and want != self._tree.root().hex():
            raise AuditLogError(
                f"not signing: entries 1..{self._tree.size} no longer match the stored "
                "checkpoint of that size (the log was rewritten)"
            )

    async def checkpoint(self) -> CheckpointRecord | None:
        """Sign the current tree head now (None when the log is empty or nothing is new)."""
        async with self._lock:
            await self._catch_up()
            return await self._sign_if_new()

    async def _sign_if_new(self) -> CheckpointRecord | None:
        size = self._tree.size
        if size == 0 or size <= self._signed_size:
            return None
        now = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        signed = self.signer.sign(Checkpoint(self.signer.name, size, self._tree.root(), now))
        record = record_of(signed)
        await self.store.save_checkpoint(record)
        self._signed_size = size
        self._signed_at = self.clock.monotonic()
        return record

    async def maybe_checkpoint(self) -> CheckpointRecord | None:
        """Sign when N entries were added since the last checkpoint or T seconds passed."""
        async with self._lock:
            await self._catch_up()
            grown = self._tree.size - max(self._signed_size, 0)
            waited = self.clock.monotonic() - self._signed_at
            if grown >= self.policy.every_entries or (
                grown > 0 and waited >= self.policy.every_seconds
            ):
                return await self._sign_if_new()
            return None

    async def start(self, poll_s: float = 1.0) -> None:
        """Run :meth:`maybe_checkpoint` in the background every ``poll_s`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(poll_s), name="audit-checkpointer")

    async def _loop(self, poll_s: float) -> None:
        refused = ""
        while True:
            try:
                await self.maybe_checkpoint()
                refused = ""
            except MaestroError as e:  # a refusal, or the store unreachable for now: try again
                if str(e) != refused:  # said once, not every second
                    log.error("audit checkpoint not made", extra={"reason": str(e)})
                refused = str(e)
            await asyncio.sleep(poll_s)

    async def aclose(self) -> None:
        """Stop the background task and sign what was appended since the last checkpoint."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.checkpoint()
        except MaestroError as e:
            log.error("audit checkpoint not made at close", extra={"reason": str(e)})
