"""Verifying the audit log while other processes append to it (the production path: workers
keep writing while an operator, or a benchmark's end check, verifies).

PostgreSQL reads at READ COMMITTED: each statement of the verifying transaction sees what was
committed when it started. The head is read first and the entries after it, so entries another
process appends in between are seen past the head: that is not tampering, and the verdict is
the chain as of the head that was read.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from conftest import make_store
from maestro_helix.core.audit import GENESIS_HASH, AuditDraft, AuditKind, entry_hash, verify_chain


def _drafts(n: int) -> list[AuditDraft]:
    return [
        AuditDraft(str(uuid.uuid4()), "2026-12-01T00:00:00+00:00", AuditKind.STEP_DECISION)
        for _ in range(n)
    ]


def _chain(n: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        row: dict[str, object] = {"seq": seq, "prev_hash": prev, "kind": "step.decision"}
        row["entry_id"], row["ts"] = f"e{seq}", "2026-12-01T00:00:00+00:00"
        row["hash"] = prev = entry_hash(row)
        rows.append(row)
    return rows


def test_entries_appended_after_the_head_was_read_verify() -> None:
    rows = _chain(8)
    head = (5, str(rows[4]["hash"]))
    assert verify_chain(rows, head).ok


def test_a_head_that_does_not_match_its_entry_is_caught_with_entries_past_it() -> None:
    rows = _chain(8)
    report = verify_chain(rows, (5, str(rows[3]["hash"])))
    assert not report.ok and report.first_bad_seq == 5


def test_an_altered_entry_past_the_head_is_caught() -> None:
    rows = _chain(8)
    rows[6]["kind"] = "approval.decision"
    report = verify_chain(rows, (5, str(rows[4]["hash"])))
    assert not report.ok and report.first_bad_seq == 7


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_verify_while_another_process_appends_is_intact(
    backend: str, tmp_path: Path, pg_schema: str
) -> None:
    writer = make_store(backend, tmp_path, pg_schema)  # another process's store: its own writer
    verifier = make_store(backend, tmp_path, pg_schema)
    await writer.open()
    await verifier.open()
    stop = asyncio.Event()

    async def append() -> None:
        while not stop.is_set():
            await writer.append_audit(_drafts(5))

    try:
        await writer.append_audit(_drafts(200))
        task = asyncio.create_task(append())
        reports = []
        for _ in range(60):
            reports.append(await verifier.verify_audit())
        stop.set()
        await task
        bad = [r for r in reports if not r.ok]
        assert bad == []
        final = await verifier.verify_audit()  # once nobody writes: every entry, and the head
        assert final.ok and final.checked > 200
    finally:
        stop.set()
        await verifier.aclose()
        await writer.aclose()
