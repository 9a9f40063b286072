"""Verifying a big audit log in parallel: segments at power-of-two boundaries, then one combine.

The log is cut into segments of ``2^j`` entries (the last may be shorter). Each segment is a
perfect subtree of the RFC 6962 tree, so a worker can check it alone: the chain inside it, its
leaf hashes, its own root and, for every trusted checkpoint size that falls inside it, the root of
its prefix up to that size. :func:`combine_segments` then joins the segments in order — the first
entry of each must follow and link to the last of the one before — and computes every
checkpoint's tree head from the roots of the whole segments before it (a compact range over
"super-leaves") and the worker's partial root: O(segments + checkpoints) work after the workers.

The result is the same :class:`~maestro_helix.governance.auditlog.LogReport`
:func:`~maestro_helix.governance.auditlog.verify_log` gives for the same rows (tests hold both to
that), with the same first bad entry or checkpoint.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from maestro_helix.core.ports import AuditPort
from maestro_helix.governance.audit import GENESIS_HASH, CanonicalRow, ChainReport, ChainWalker
from maestro_helix.governance.auditlog import Anchor, LogReport, _Walk, verify_log
from maestro_helix.governance.merkle import EMPTY_ROOT, CompactRange

__all__ = ["Segment", "combine_segments", "scan_segment", "segment_length", "verify_store"]


def segment_length(n: int, parts: int) -> int:
    """The smallest power of two that cuts ``n`` entries into at most ``parts`` segments."""
    target = max(1, -(-n // max(1, parts)))
    return 1 << (target - 1).bit_length()


@dataclass(frozen=True, slots=True)
class Segment:
    """What a worker found in the entries ``start + 1 .. start + length`` (seqs).

    Attributes:
        start: leaves before the segment (a multiple of ``length``).
        length: the segment's size when whole (a power of two).
        first_seq: seq of its first row (None: no rows).
        first_prev: that row's prev_hash.
        checked: rows read, including a failing one.
        count: good rows (their leaves are in the tree).
        last: (seq, hash) of the last good row.
        root: MTH of the good rows' leaves.
        partial: for each checkpoint size in the segment that was reached, MTH of the leaves
            ``start .. size``.
        failure: the first broken link inside the segment (the first row's seq and link are
            checked by the combine).
    """

    start: int
    length: int
    first_seq: int | None
    first_prev: str | None
    checked: int
    count: int
    last: tuple[int, str] | None
    root: bytes
    partial: dict[int, bytes]
    failure: ChainReport | None


def scan_segment(
    rows: Iterable[CanonicalRow], start: int, length: int, sizes: Sequence[int]
) -> Segment:
    """Check one segment's rows (seqs ``start + 1 ..``) and hash its subtree."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return Segment(start, length, None, None, 0, 0, None, EMPTY_ROOT, {}, None)
    walker = ChainWalker()
    walker.expected_seq, walker.prev = first[0], first[1]  # the combine checks the join
    tree = CompactRange()
    wanted = {s - start for s in sizes if start < s <= start + length}
    partial: dict[int, bytes] = {}
    failure = None
    step, sha256 = walker.step_row, hashlib.sha256
    for row in itertools.chain((first,), it):
        failure = step(row)
        if failure is not None:
            break
        tree.append(sha256(b"\x00" + row[3]).digest())
        if tree.size in wanted:
            partial[start + tree.size] = tree.root()
    return Segment(
        start,
        length,
        first[0],
        first[1],
        walker.checked,
        tree.size,
        walker.last,
        tree.root(),
        partial,
        failure,
    )


class _Joined(_Walk):
    """The combine's state: ``tree`` holds whole segments' roots (super-leaves), ``inner`` the
    root of the open segment's leaves so far, ``leaves`` how many leaves in all."""

    inner: bytes | None = None
    leaves: int = 0

    def size(self) -> int:
        return self.leaves

    def root(self) -> bytes:
        return self.tree.root_with(self.inner)

    def anchors_within(self, seg: Segment, base: int) -> LogReport | None:
        """Check the anchors whose size falls in the segment's good rows (``base``: rows
        checked before the segment)."""
        end = seg.start + seg.count
        while seg.start < self.next_size() <= end:
            size = self.next_size()
            self.inner, self.leaves = seg.partial[size], size
            self.chain.checked = base + size - seg.start
            bad = self.check_anchor(self.anchors[self.next_anchor])
            if bad is not None:
                return bad
        return None

    def join(self, seg: Segment) -> LogReport | None:
        """Take one segment, in order: its join, its checkpoints, its failure."""
        chain = self.chain
        assert seg.first_seq is not None and seg.first_prev is not None
        if seg.first_seq != chain.expected_seq:
            why = (
                f"entry {seg.first_seq} follows entry {chain.expected_seq - 1}: entries are missing"
            )
            chain.checked += 1
            return self.chain_failure(ChainReport(False, chain.checked, seg.first_seq, why))
        if seg.first_prev != chain.prev:
            s = seg.first_seq
            why = f"entry {s} does not link to entry {s - 1} (prev_hash differs)"
            chain.checked += 1
            return self.chain_failure(ChainReport(False, chain.checked, s, why))
        base = chain.checked
        bad = self.anchors_within(seg, base)
        if bad is not None:
            return bad
        chain.checked = base + seg.checked
        self.inner = seg.root if seg.count else None  # no leaves: nothing to fold in
        self.leaves = seg.start + seg.count
        if seg.failure is not None:
            return self.chain_failure(seg.failure)
        if seg.last is not None:
            chain.last = seg.last
            chain.prev, chain.expected_seq = seg.last[1], seg.last[0] + 1
        if seg.count == seg.length:  # whole: a super-leaf of the tree
            self.tree.append(seg.root)
            self.inner = None
        return None


def combine_segments(
    segments: Sequence[Segment],
    head: tuple[int, str] | None,
    anchors: Sequence[Anchor] = (),
    *,
    allow_empty: bool = False,
) -> LogReport:
    """Join the segments (in order) into the report :func:`verify_log` would give."""
    walk = _Joined(sorted(anchors, key=lambda a: a.checkpoint.size))
    walk.chain.prev = GENESIS_HASH
    bad = walk.check_anchors()  # checkpoints of the empty tree
    if bad is not None:
        return bad
    for seg in segments:
        if seg.first_seq is None:
            continue
        bad = walk.join(seg)
        if bad is not None:
            return bad
    return walk.finish(head, allow_empty)


async def verify_store(
    store: AuditPort, anchors: Sequence[Anchor] = (), *, allow_empty: bool = False, parts: int = 0
) -> LogReport:
    """Verify the log in ``store``: in ``parts`` processes when the store can and the log is big
    (default: one per CPU, at most 8), else in one pass."""
    parts = parts or min(os.cpu_count() or 1, 8)
    split = await store.audit_segments([a.checkpoint.size for a in anchors], parts)
    if split is None:
        return await store.scan_audit(
            lambda rows, head: verify_log(rows, head, anchors, allow_empty=allow_empty)
        )
    segments, head = split
    return combine_segments(segments, head, anchors, allow_empty=allow_empty)
