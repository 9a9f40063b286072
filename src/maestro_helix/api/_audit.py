"""The verifiable audit log over HTTP: entries, signed checkpoints, inclusion and consistency
proofs (RFC 9162 §2.1). ``GET /audit/checkpoint`` is the newest checkpoint as the plain-text
signed note a witness fetches and keeps.

Reading is for every operator; signing a checkpoint now needs an operator and a server started
with the log's key (``MAESTRO_KEYS``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from maestro_helix.api._auth import AnyRole, OperatorRole, System
from maestro_helix.api._errors import ApiError
from maestro_helix.api._ops import ErrorBody
from maestro_helix.core.errors import AuditLogError
from maestro_helix.governance.auditlog import (
    LogTree,
    consistency_body,
    entry_leaf,
    inclusion_body,
)
from maestro_helix.store.base import AuditFilter, CheckpointRecord

__all__ = ["audit_router"]

_INT63 = 2**63 - 1
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_WORDS = {
    401: "no API token, or an unknown or disabled one",
    403: "the caller's role is below the one this needs",
    404: "no such entry, no signed checkpoint yet, or a tree size or entry beyond the log",
    409: "the log contradicts its checkpoint, its chain is broken, or no signing key here",
    422: "a bad path or query parameter (e.g. an old tree size above the new one)",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": _WORDS[s]} for s in sorted({401, *statuses})}


def _json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The errors of a route whose success is not JSON: FastAPI would file a ``model`` under the
    route's own media type, but the error body is JSON like everywhere else."""
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {s: {"description": _WORDS[s], "content": body} for s in sorted({401, *statuses})}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class AuditEntry(_Out):
    model_config = ConfigDict(frozen=True, extra="allow")
    seq: int
    kind: str
    ts: str
    hash: str = Field(description="SHA-256 of the entry's canonical bytes (the hash chain)")
    leaf_hash: str = Field(description="RFC 6962 leaf hash: SHA-256(0x00 || canonical bytes)")


class AuditEntries(_Out):
    entries: list[AuditEntry]
    next_after: int | None = Field(description="pass as ?after_seq= for the next page")


class CheckpointOut(_Out):
    tree_size: int
    root_hash: str = Field(description="hex RFC 6962 tree head of entries 1..tree_size")
    ts: str
    origin: str
    key_id: str = Field(description="hex signed-note key id of the signing key")
    note: str = Field(description="the signed note (C2SP tlog-checkpoint + signed-note)")


class CheckpointList(_Out):
    checkpoints: list[CheckpointOut]


class InclusionProof(_Out):
    seq: int
    leaf_index: int = Field(description="seq - 1")
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str] = Field(description="hex hashes, leaf to root (RFC 9162 §2.1.3)")
    checkpoint: str = Field(description="the signed checkpoint the proof is against")


class ConsistencyProof(_Out):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str] = Field(description="hex hashes (RFC 9162 §2.1.4); empty for 0 or equal")


def _out(c: CheckpointRecord) -> CheckpointOut:
    return CheckpointOut(
        tree_size=c.tree_size,
        root_hash=c.root_hash,
        ts=c.ts,
        origin=c.origin,
        key_id=c.key_id,
        note=c.note,
    )


def _conflict(e: AuditLogError) -> ApiError:
    return ApiError(409, "audit_log_inconsistent", str(e))


def audit_router() -> APIRouter:
    """The routes under ``/audit`` (``/audit/verify`` lives with the other operations)."""
    r = APIRouter()
    tree_cache = LogTree()

    async def latest(system: Any) -> CheckpointRecord:
        stored = await system.store.list_checkpoints()
        if not stored:
            raise ApiError(404, "no_checkpoint", "no signed checkpoint yet")
        last: CheckpointRecord = stored[-1]
        return last

    async def tree(system: Any) -> Any:
        try:
            return await tree_cache.refresh(system.store)
        except AuditLogError as e:
            raise _conflict(e) from None

    @r.get("/audit/entries", tags=["audit"], responses=_errors(422))
    async def list_entries(
        system: System,
        _: AnyRole,
        run_id: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
        operator: Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)] = None,
        kind: Annotated[str | None, Query(max_length=32, pattern=_PRINTABLE)] = None,
        after_seq: Annotated[int, Query(ge=0, le=_INT63)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> AuditEntries:
        """Audit entries, oldest first, filtered by run, operator (who decided) and kind."""
        f = AuditFilter(
            run_id=run_id, operator=operator, kind=kind, after_seq=after_seq, limit=limit
        )
        rows = await system.store.find_audit(f)
        return AuditEntries(
            entries=[AuditEntry(**e, leaf_hash=entry_leaf(e).hex()) for e in rows],
            next_after=rows[-1]["seq"] if len(rows) == limit else None,
        )

    @r.get("/audit/entries/{seq}", tags=["audit"], responses=_errors(404, 422))
    async def get_entry(
        seq: Annotated[int, Path(ge=1, le=_INT63)], system: System, _: AnyRole
    ) -> AuditEntry:
        """One audit entry, complete, with its chain hash and Merkle leaf hash."""
        rows = await system.store.find_audit(AuditFilter(seq=seq, limit=1))
        if not rows:
            raise ApiError(404, "entry_not_found", f"no audit entry with seq {seq}")
        return AuditEntry(**rows[0], leaf_hash=entry_leaf(rows[0]).hex())

    @r.get("/audit/checkpoints", tags=["audit"], responses=_errors())
    async def list_checkpoints(system: System, _: AnyRole) -> CheckpointList:
        """Every signed checkpoint stored, smallest tree first."""
        return CheckpointList(checkpoints=[_out(c) for c in await system.store.list_checkpoints()])

    @r.get(
        "/audit/checkpoint",
        tags=["audit"],
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {}}, "description": "the newest signed note"},
            **_json_errors(404),
        },
    )
    async def latest_checkpoint(system: System, _: AnyRole) -> PlainTextResponse:
        """The newest checkpoint as its signed note (text), for witnesses to fetch and keep."""
        return PlainTextResponse((await latest(system)).note)

    @r.post("/audit/checkpoints", tags=["audit"], responses=_errors(403, 409))
    async def make_checkpoint(system: System, _: OperatorRole) -> CheckpointOut:
        """Sign the log's tree head now (the server must hold the log's key)."""
        if system.checkpointer is None:
            raise ApiError(409, "no_signing_key", "this server was started without the log's key")
        try:
            await system.checkpointer.checkpoint()
        except AuditLogError as e:
            raise _conflict(e) from None
        return _out(await latest(system))

    @r.get("/audit/proof/inclusion", tags=["audit"], responses=_errors(404, 409, 422))
    async def inclusion(
        system: System,
        _: AnyRole,
        seq: Annotated[int, Query(ge=1, le=_INT63, description="the entry")],
    ) -> InclusionProof:
        """Proof that entry ``seq`` is in the tree of the newest signed checkpoint (404 when
        the entry is not in that tree: not written yet, or after the checkpoint)."""
        cp = await latest(system)
        if seq > cp.tree_size:
            raise ApiError(
                404,
                "not_in_checkpoint",
                f"entry {seq} is not in the newest checkpoint's tree (size {cp.tree_size})",
            )
        t = await tree(system)
        try:
            return InclusionProof(**inclusion_body(t, seq, cp))
        except AuditLogError as e:
            raise _conflict(e) from None

    @r.get("/audit/proof/consistency", tags=["audit"], responses=_errors(404, 409, 422))
    async def consistency(
        system: System,
        _: AnyRole,
        old: Annotated[int, Query(ge=0, le=_INT63, description="older tree size")],
        new: Annotated[
            int, Query(ge=0, le=_INT63, description="newer tree size (at least ``old``)")
        ],
    ) -> ConsistencyProof:
        """Proof that the tree of size ``new`` only appended to the tree of size ``old``: 404
        when the log has fewer than ``new`` entries, 422 when ``old`` is above ``new``."""
        if old > new:
            raise ApiError(422, "invalid_request", f"old ({old}) must not be above new ({new})")
        t = await tree(system)
        if new > t.size:
            raise ApiError(
                404, "tree_size_not_found", f"the log has {t.size} entries: no tree of size {new}"
            )
        try:
            return ConsistencyProof(**consistency_body(t, old, new))
        except AuditLogError as e:
            raise _conflict(e) from None

    return r
