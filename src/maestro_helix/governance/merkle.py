"""The audit log as an append-only Merkle tree (RFC 6962 / RFC 9162 §2.1 hashing and proofs).

Leaves are the audit entries in ``seq`` order: leaf ``i`` (0-based) is entry ``seq = i + 1`` and
its bytes are the entry's canonical encoding (:func:`maestro_helix.governance.audit.
canonical_bytes`). Hashing is domain separated, exactly as in the RFCs:

    leaf hash  = SHA-256(0x00 || leaf bytes)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two smaller than n

:class:`CompactRange` keeps only the roots of the perfect subtrees covering ``[0, n)`` (at most
log2(n) + 1 hashes): an append is O(log n) amortised O(1), and a tree head is O(log n).
:class:`MerkleTree` keeps every perfect subtree's hash (2n hashes, in flat byte arrays), so any
historical root, inclusion proof or consistency proof is O(log² n) hashes. The verifiers follow
RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; they never need the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from maestro_helix.core.errors import AuditLogError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_of",
    "split_point",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    if n < 2:
        raise AuditLogError(f"no split point for a tree of {n} leaves")
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The right edge of a growing tree: the roots of its perfect subtrees, biggest first.

    For ``size = 2^a + 2^b + ...`` (a > b > ...) it holds one hash per set bit; the tree head
    folds them from the right, which is the RFC's recursion unrolled.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (not leaf data)."""
        node = leaf
        n = self.size
        nodes = self._nodes
        while n & 1:  # every trailing one bit of the old size is a subtree that now pairs up
            node = _sha256(b"\x01" + nodes.pop() + node).digest()
            n >>= 1
        nodes.append(node)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for h in leaves:
            self.append(h)

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        return self.root_with(None)

    def root_with(self, right: bytes | None) -> bytes:
        """MTH of these leaves followed by a subtree whose root is ``right``.

        ``right`` must be MTH of ``r`` leaves starting at ``size``, with ``size`` a multiple of
        a power of two >= ``r`` (e.g. a segment of a tree split at power-of-two boundaries).
        """
        nodes = self._nodes if right is None else [*self._nodes, right]
        if not nodes:
            return EMPTY_ROOT
        it = reversed(nodes)
        r = next(it)
        for h in it:
            r = _sha256(b"\x01" + h + r).digest()
        return r


def root_of(leaves: Iterable[bytes]) -> bytes:
    """MTH of a sequence of leaf hashes."""
    cr = CompactRange()
    cr.extend(leaves)
    return cr.root()


class MerkleTree:
    """Every perfect subtree hash of an append-only tree: historical roots and proofs.

    ``levels[k]`` holds, back to back, the hashes of the complete subtrees of ``2^k`` leaves
    starting at multiples of ``2^k`` (level 0 are the leaf hashes).
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.size = 0
        for h in leaves:
            self.append(h)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise AuditLogError(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf)}")
        levels = self._levels
        levels[0] += leaf
        self.size += 1
        n = self.size
        k = 0
        node = leaf
        while n & 1 == 0:  # the subtree just completed at level k pairs with its left sibling
            lvl = levels[k]
            left = bytes(lvl[-2 * HASH_SIZE : -HASH_SIZE])
            node = _sha256(b"\x01" + left + node).digest()
            k += 1
            n >>= 1
            if len(levels) == k:
                levels.append(bytearray())
            levels[k] += node

    def leaf(self, index: int) -> bytes:
        self._check_index(index, self.size)
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _perfect(self, level: int, index: int) -> bytes:
        lvl = self._levels[level]
        return bytes(lvl[index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def hash_range(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi <= size."""
        n = hi - lo
        if n == 1:
            return self._perfect(0, lo)
        if n & (n - 1) == 0 and lo % n == 0:
            return self._perfect(n.bit_length() - 1, lo // n)
        k = split_point(n)
        return node_hash(self.hash_range(lo, lo + k), self.hash_range(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """The tree head at ``size`` leaves (default: all of them)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self.hash_range(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""
        size = self.size if size is None else size
        self._check_size(size)
        self._check_index(index, size)
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.hash_range(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.hash_range(lo, lo + k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]); empty when 0 or equal sizes."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise AuditLogError(
                f"a consistency proof goes from a smaller tree to a bigger one: "
                f"{old_size} -> {new_size}"
            )
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.hash_range(lo, hi)]
        k = split_point(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self.hash_range(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.hash_range(lo, lo + k)]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise AuditLogError(f"tree size {size} is not between 0 and {self.size}")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise AuditLogError(f"leaf index {index} is not in a tree of {size} leaves")


def _ok_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` in ``root``?"""
    if not (_ok_hashes(leaf, root, *proof) and 0 <= index < size):
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree ``new_root`` (``new_size``) an append-only extension of
    ``old_root`` (``old_size``)?

    The two cases the RFC leaves out are decided as the reference implementations do: equal sizes
    need equal roots and an empty proof; any tree extends the empty tree (empty proof).
    """
    if not (_ok_hashes(old_root, new_root, *proof) and 0 <= old_size <= new_size):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    return _consistency_steps(old_size, new_size, old_root, new_root, list(proof))


def _consistency_steps(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> bool:
    if not path:  # step 1
        return False
    if old_size & (old_size - 1) == 0:  # step 2: a power of two is itself a node of the proof
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7
