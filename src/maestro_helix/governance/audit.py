"""The audit chain's encoding and verification live in :mod:`maestro_helix.core.audit` (pure
code every room may use); this name is kept for existing imports."""

from maestro_helix.core.audit import (
    AUDIT_FIELDS,
    GENESIS_HASH,
    AuditDraft,
    CanonicalRow,
    ChainReport,
    ChainWalker,
    canonical_bytes,
    canonical_of_values,
    canonical_row,
    entry_hash,
    verify_chain,
)

__all__ = [
    "AUDIT_FIELDS",
    "GENESIS_HASH",
    "AuditDraft",
    "CanonicalRow",
    "ChainReport",
    "ChainWalker",
    "canonical_bytes",
    "canonical_of_values",
    "canonical_row",
    "entry_hash",
    "verify_chain",
]
