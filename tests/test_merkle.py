"""The audit log's Merkle tree: RFC 6962 vectors, an independent reference, property tests of the
proofs and their verifiers, and the signed-note checkpoint format."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_helix.core.errors import AuditLogError, ConfigError
from maestro_helix.governance.audit import AUDIT_FIELDS
from maestro_helix.governance.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    init_keys,
    load_signer,
    parse_checkpoint,
)
from maestro_helix.governance.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    root_of,
    split_point,
    verify_consistency,
    verify_inclusion,
)

# -- RFC 6962 test vectors (the Certificate Transparency reference data) ------------------------

CT_DATA = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_LEAVES = [leaf_hash(d) for d in CT_DATA]


def test_empty_tree_and_leaf_and_node_domains() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0] == hashlib.sha256(b"").hexdigest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert MerkleTree().root() == EMPTY_ROOT == CompactRange().root()


@pytest.mark.parametrize("n", range(9))
def test_roots_match_rfc6962_vectors(n: int) -> None:
    tree = MerkleTree(CT_LEAVES)
    assert tree.root(n).hex() == CT_ROOTS[n]
    assert root_of(CT_LEAVES[:n]).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_inclusion_proofs_match_rfc6962_vectors(index: int, size: int) -> None:
    proof = MerkleTree(CT_LEAVES).inclusion_proof(index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[(index, size)]
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(CT_LEAVES[index], index, size, proof, root)


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_match_rfc6962_vectors(old: int, new: int) -> None:
    proof = MerkleTree(CT_LEAVES).consistency_proof(old, new)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[(old, new)]
    roots = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, *roots, proof)


def test_the_split_is_the_largest_power_of_two_below_n() -> None:
    assert [split_point(n) for n in (2, 3, 4, 5, 8, 9, 1000)] == [1, 2, 2, 4, 4, 8, 512]
    with pytest.raises(AuditLogError):
        split_point(1)


# -- an independent reference: the RFC's recursive definitions, written out literally -----------


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # already leaf hashes
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}/{i}".encode()) for i in range(n)]


def test_every_proof_of_every_small_tree_agrees_with_the_reference() -> None:
    d = leaves(40)
    tree = MerkleTree(d)
    for n in range(1, 41):
        assert tree.root(n) == ref_mth(d[:n])
        for i in range(n):
            assert tree.inclusion_proof(i, n) == ref_path(i, d[:n])
        for m in range(1, n):
            assert tree.consistency_proof(m, n) == ref_subproof(m, d[:n], True)


@settings(max_examples=150, deadline=None, database=None)
@given(st.integers(1, 700), st.data())
def test_inclusion_proofs_verify_and_mutations_fail(n: int, data: st.DataObject) -> None:
    d = leaves(n, salt=n)
    tree = MerkleTree(d)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(i, n)
    root = tree.root(n)
    assert proof == ref_path(i, d) and root == ref_mth(d)
    assert verify_inclusion(d[i], i, n, proof, root)
    other = data.draw(st.integers(0, n - 1).filter(lambda j: d[j] != d[i]) if n > 1 else st.just(i))
    if other != i:
        assert not verify_inclusion(d[other], i, n, proof, root), "another leaf"
        assert not verify_inclusion(d[i], other, n, proof, root), "another index"
    assert not verify_inclusion(d[i], i, i, proof, root), "index beyond the tree"
    assert not verify_inclusion(d[i], i, 2 * n, proof, root), "a tree twice as big"
    assert not verify_inclusion(d[i], i, n, [*proof, EMPTY_ROOT], root), "extended"
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        flipped = [*proof]
        flipped[k] = bytes([flipped[k][0] ^ 1]) + flipped[k][1:]
        assert not verify_inclusion(d[i], i, n, flipped, root), "flipped"
        assert not verify_inclusion(d[i], i, n, proof[:-1], root), "truncated"


@settings(max_examples=150, deadline=None, database=None)
@given(st.integers(1, 700), st.data())
def test_consistency_proofs_verify_and_mutations_fail(n: int, data: st.DataObject) -> None:
    d = leaves(n, salt=n)
    tree = MerkleTree(d)
    m = data.draw(st.integers(0, n))
    proof = tree.consistency_proof(m, n)
    old, new = tree.root(m), tree.root(n)
    assert proof == ([] if m in (0, n) else ref_subproof(m, d, True))
    assert verify_consistency(m, n, old, new, proof)
    if 0 < m < n:
        k = data.draw(st.integers(0, len(proof) - 1))
        flipped = [*proof]
        flipped[k] = bytes([flipped[k][0] ^ 1]) + flipped[k][1:]
        assert not verify_consistency(m, n, old, new, flipped), "flipped"
        assert not verify_consistency(m, n, old, new, proof[:-1]), "truncated"
        assert not verify_consistency(m, n, old, new, [*proof, EMPTY_ROOT]), "extended"
        assert not verify_consistency(m, n, new, new, proof), "another old root"
        forked = MerkleTree([*d[: m - 1], leaf_hash(b"forged"), *d[m:]])
        assert not verify_consistency(m, n, forked.root(m), new, proof), "rewritten prefix"
    assert not verify_consistency(n, m, new, old, proof) or m == n, "sizes swapped"


@given(st.integers(0, 3000))
@settings(max_examples=40, deadline=None, database=None)
def test_compact_range_root_equals_the_full_tree(n: int) -> None:
    d = leaves(n)
    cr = CompactRange()
    cr.extend(d)
    assert cr.size == n and cr.root() == MerkleTree(d).root()
    assert len(cr._nodes) == bin(n).count("1"), "one node per set bit: O(log n) state"


def test_out_of_range_requests_are_refused() -> None:
    tree = MerkleTree(leaves(5))
    for bad in (lambda: tree.inclusion_proof(5, 5), lambda: tree.root(6)):
        with pytest.raises(AuditLogError):
            bad()
    with pytest.raises(AuditLogError, match="smaller tree to a bigger"):
        tree.consistency_proof(4, 3)
    assert not verify_inclusion(b"short", 0, 1, [], EMPTY_ROOT)
    assert not verify_consistency(4, 4, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


# -- signed checkpoints --------------------------------------------------------------------------


def signer(name: str = "example.org/log") -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.generate())


CP = Checkpoint("example.org/log", 3, CT_LEAVES[0], "2026-12-01T09:00:00.000000Z")


def test_a_checkpoint_note_has_the_signed_note_layout() -> None:
    s = signer()
    note = s.sign(CP).note
    body, sig_line = note.split("\n\n")
    assert body + "\n" == (
        f"example.org/log\n3\n{base64.b64encode(CT_LEAVES[0]).decode()}\n"
        "time 2026-12-01T09:00:00.000000Z\n"
    )
    assert sig_line.startswith("\u2014 example.org/log ")
    raw = base64.b64decode(sig_line.split(" ")[2])
    # key id as the spec computes it, independently of the module
    want = hashlib.sha256(b"example.org/log\n\x01" + s.public_key).digest()[:4]
    assert raw[:4] == want and len(raw) == 68
    assert (
        s.vkey()
        == f"example.org/log+{want.hex()}+" + base64.b64encode(b"\x01" + s.public_key).decode()
    )
    assert parse_checkpoint(body + "\n") == CP


def test_a_note_verifies_with_its_key_and_its_vkey() -> None:
    for _ in range(20):  # base64 keys with '+' and '/' in them too
        s = signer()
        opened = NoteVerifier.from_vkey(s.vkey()).open(s.sign(CP).note)
        assert opened.checkpoint == CP


def test_a_note_signed_by_another_key_is_refused() -> None:
    mallory = signer()
    with pytest.raises(AuditLogError, match="another key"):
        signer().verifier().open(mallory.sign(CP).note)


def test_a_changed_body_fails_the_signature() -> None:
    s = signer()
    note = s.sign(CP).note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(AuditLogError, match="does not verify"):
        s.verifier().open(note)


@pytest.mark.parametrize(
    "note",
    ["", "no blank line\n", "a\n\nnot a signature\n", "a\n\n\u2014 example.org/log !!!\n"],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(AuditLogError):
        signer().verifier().open(note)


def test_key_files_are_private_and_never_overwritten(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = init_keys(tmp_path / "keys", "example.org/log")
    key = tmp_path / "keys" / "audit-log.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert load_signer(tmp_path / "keys").public_key == s.public_key
    with pytest.raises(ConfigError, match="exists already"):
        init_keys(tmp_path / "keys")
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="too open"):
        load_signer(tmp_path / "keys")


# -- the parallel verification gives the sequential one's report ---------------------------------


def _entries(n: int) -> list[dict[str, object]]:
    from maestro_helix.governance.audit import GENESIS_HASH, entry_hash

    out: list[dict[str, object]] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        e: dict[str, object] = {f: None for f in AUDIT_FIELDS}
        e.update(seq=i, entry_id=f"e{i}", kind="step.decision", details={"n": i}, prev_hash=prev)
        e["evaluator_versions"] = {}
        e["hash"] = prev = entry_hash(e)
        out.append(e)
    return out


def _tamper(entries: list[dict[str, object]], how: str, i: int) -> None:
    from maestro_helix.governance.audit import GENESIS_HASH, entry_hash

    if how == "flip":
        entries[i]["kind"] = "step.decisioN"
    elif how == "delete":
        del entries[i]
    elif how == "swap" and i + 1 < len(entries):  # two entries trade places (their seqs)
        entries[i]["seq"], entries[i + 1]["seq"] = entries[i + 1]["seq"], entries[i]["seq"]
        entries.sort(key=lambda e: int(e["seq"]))  # type: ignore[call-overload]
    elif how == "truncate":
        del entries[i:]
    elif how == "rehash":
        entries[i]["details"] = {"n": -1}
        prev = entries[i - 1]["hash"] if i else GENESIS_HASH
        for e in entries[i:]:
            e["prev_hash"] = prev
            e["hash"] = prev = entry_hash(e)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(0, 70),
    st.sampled_from(["none", "flip", "delete", "swap", "truncate", "rehash"]),
    st.data(),
)
def test_segments_combine_to_the_sequential_report(n: int, how: str, data: st.DataObject) -> None:
    from maestro_helix.governance.audit import canonical_row
    from maestro_helix.governance.auditlog import Anchor, verify_log
    from maestro_helix.governance.auditscan import combine_segments, scan_segment

    original = _entries(n)
    tree = MerkleTree(leaf_hash(canonical_row(e)[3]) for e in original)
    sizes = data.draw(st.lists(st.integers(0, n), max_size=4, unique=True))
    anchors = [Anchor(f"cp{s}", Checkpoint("o", s, tree.root(s), "t")) for s in sizes]
    head = (n, str(original[-1]["hash"])) if original else None
    entries = [dict(e) for e in original]
    if n and how != "none":
        _tamper(entries, how, data.draw(st.integers(0, n - 1)))
    if how == "truncate" and data.draw(st.booleans()):  # the forger moves the head back too
        head = (int(entries[-1]["seq"]), str(entries[-1]["hash"])) if entries else None  # type: ignore[call-overload]
    rows = [canonical_row(e) for e in entries]
    want = verify_log(rows, head, anchors, allow_empty=True)
    length = data.draw(st.sampled_from([1, 2, 4, 8, 16, 128]))
    top = max([0, *(r[0] for r in rows)])
    segments = [
        scan_segment([r for r in rows if s < r[0] <= s + length], s, length, sizes)
        for s in range(0, top, length)
    ]
    assert combine_segments(segments, head, anchors, allow_empty=True) == want
