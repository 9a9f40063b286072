"""Verification of a running system's audit log (``GET /audit/verify``)."""

from __future__ import annotations

from maestro_helix.app import Maestro
from maestro_helix.governance.auditlog import Anchor, LogReport, open_notes
from maestro_helix.governance.auditscan import verify_store


async def verify_system_log(system: Maestro, *, allow_empty: bool = False) -> LogReport:
    """Chain, head and Merkle tree; the stored checkpoints too when this system holds the key."""
    anchors: list[Anchor] = []
    if system.checkpointer is not None:
        stored = await system.store.list_checkpoints()
        notes = [(f"stored checkpoint {c.tree_size}", c.note) for c in stored]
        anchors, bad = open_notes(notes, system.checkpointer.signer.verifier())
        if bad is not None:
            return bad
    return await verify_store(system.store, anchors, allow_empty=allow_empty)
