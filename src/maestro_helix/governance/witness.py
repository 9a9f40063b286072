"""A witness: keeps the log's checkpoints in a folder and only ever accepts an append-only future.

Without any access to the database, a witness fetches the log's newest signed checkpoint and a
consistency proof from the last checkpoint it trusts to that one (``GET /audit/checkpoint``,
``GET /audit/proof/consistency``), checks the signature with the log's public key and the proof
(RFC 9162 §2.1.4.2), and only then stores the new checkpoint beside the old ones. A log that
rewrote or dropped anything the witness saw cannot produce that proof: the update is refused,
named, and nothing is stored. The folder is the one ``maestro audit verify --against`` reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from maestro_helix.core.errors import AuditLogError
from maestro_helix.governance.checkpoint import NoteVerifier, SignedCheckpoint
from maestro_helix.governance.merkle import verify_consistency

__all__ = ["WitnessResult", "accept_checkpoint", "witness_update"]

CHECKPOINT_SUFFIX = ".checkpoint"
LATEST_FILE = "checkpoint"

Fetch = Callable[[str], Awaitable[bytes]]
"""Get a path of the log's API (``/audit/checkpoint``, ...) and return the body; raise on error."""


@dataclass(frozen=True, slots=True)
class WitnessResult:
    """What one update did: the checkpoint trusted before (None: first contact) and now."""

    before: SignedCheckpoint | None
    now: SignedCheckpoint
    stored: bool


def accept_checkpoint(
    trusted: SignedCheckpoint | None,
    note: str,
    proof: Sequence[bytes],
    verifier: NoteVerifier,
) -> SignedCheckpoint:
    """The new checkpoint, once its signature verifies and it extends ``trusted``.

    Raises:
        AuditLogError: a bad signature, a smaller tree, or a proof that does not show the new
            tree is the old one with entries appended.
    """
    new = verifier.open(note)
    if trusted is None:
        return new
    old, cp = trusted.checkpoint, new.checkpoint
    if cp.size < old.size:
        raise AuditLogError(
            f"the log now signs {cp.size} entries but {old.size} were witnessed: it shrank"
        )
    if not verify_consistency(old.size, cp.size, old.root, cp.root, proof):
        raise AuditLogError(
            f"tree {cp.size} (root {cp.root.hex()}) is not an append-only extension of the "
            f"witnessed tree {old.size} (root {old.root.hex()}): the log was rewritten"
        )
    return new


def latest_trusted(folder: Path, verifier: NoteVerifier) -> SignedCheckpoint | None:
    """The biggest checkpoint in ``folder`` that verifies (every file must)."""
    best: SignedCheckpoint | None = None
    for f in sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}")):
        try:
            cp = verifier.open(f.read_text(encoding="utf-8"))
        except (AuditLogError, OSError, UnicodeDecodeError) as e:
            raise AuditLogError(f"{f}: {e}") from None
        if best is None or cp.checkpoint.size > best.checkpoint.size:
            best = cp
    return best


async def witness_update(folder: Path, fetch: Fetch, verifier: NoteVerifier) -> WitnessResult:
    """Fetch the newest checkpoint and the proof from what ``folder`` trusts; store it if good."""
    folder.mkdir(parents=True, exist_ok=True)
    trusted = latest_trusted(folder, verifier)
    note = (await fetch("/audit/checkpoint")).decode("utf-8")
    size = verifier.open(note).checkpoint.size
    proof: list[bytes] = []
    if trusted is not None and size > trusted.checkpoint.size:
        query = f"/audit/proof/consistency?old={trusted.checkpoint.size}&new={size}"
        body = orjson.loads(await fetch(query))
        proof = [bytes.fromhex(h) for h in body["proof"]]
    new = accept_checkpoint(trusted, note, proof, verifier)
    path = folder / f"{new.checkpoint.size:012d}{CHECKPOINT_SUFFIX}"
    stored = not path.exists()
    if path.exists() and path.read_text(encoding="utf-8") != new.note:
        same = verifier.open(path.read_text(encoding="utf-8"))
        if same.checkpoint.root != new.checkpoint.root:
            raise AuditLogError(f"{path} signs another root for the same tree size: a fork")
    if stored:
        _write(path, new.note)
        _write(folder / LATEST_FILE, new.note)
    return WitnessResult(trusted, new, stored)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
