"""The audit hash chain: every tampering is caught and the first bad entry named."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_helix.governance.audit import AuditDraft, verify_chain
from maestro_helix.store.base import Store
from maestro_helix.store.sqlite import SQLiteStore


def draft(i: int) -> AuditDraft:
    return AuditDraft(
        entry_id=str(uuid.uuid4()),
        ts=f"2026-01-01T00:00:{i:02d}.000000+00:00",
        kind="step.decision",
        run_id="r1",
        step_id="research",
        step_index=0,
        attempt=i,
        workflow="wf",
        workflow_version=1,
        agent_id="a",
        qsr_score=0.8 + i / 1000,
        mri_score=0.1,
        gate_decision="pass",
        gil_decision="not_required",
        evaluator_versions={"qsr": "qsr-1", "mri": "mri-1"},
        details={"reasons": [], "n": i},
    )


async def filled(tmp_path: Path, n: int = 10) -> Path:
    store = SQLiteStore(tmp_path / "a.db")
    async with store:
        await store.append_audit([draft(i) for i in range(1, 4)])
        await store.append_audit([draft(i) for i in range(4, n + 1)])
        assert (await store.verify_audit()).ok
    return tmp_path / "a.db"


async def verify(path: Path):  # type: ignore[no-untyped-def]
    async with SQLiteStore(path) as store:
        return await store.verify_audit()


def sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    with con:
        for s in statements:
            con.execute(s)
    con.close()


async def test_intact_chain_verifies(store: Store) -> None:
    await store.append_audit([draft(i) for i in range(1, 6)])
    report = await store.verify_audit()
    assert report.ok and report.checked == 5


async def test_flipped_byte_in_a_score_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(db, "UPDATE audit_log SET qsr_score = 0.9 WHERE seq = 5")
    report = await verify(db)
    assert not report.ok and report.first_bad_seq == 5
    assert "altered" in report.reason


async def test_flipped_byte_in_text_field_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(db, "UPDATE audit_log SET agent_id = 'b' WHERE seq = 7")
    assert (await verify(db)).first_bad_seq == 7


async def test_flipped_byte_in_json_details_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(db, "UPDATE audit_log SET details = json_set(details, '$.n', 4) WHERE seq = 3")
    assert (await verify(db)).first_bad_seq == 3


async def test_deleted_entry_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(db, "DELETE FROM audit_log WHERE seq = 4")
    report = await verify(db)
    assert not report.ok and report.first_bad_seq == 5
    assert "missing" in report.reason


async def test_deleted_entry_with_renumbering_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(
        db,
        "DELETE FROM audit_log WHERE seq = 4",
        "UPDATE audit_log SET seq = seq - 1 WHERE seq > 4",
    )
    report = await verify(db)
    assert not report.ok and report.first_bad_seq == 4
    assert "does not link" in report.reason


async def test_reordered_entries_are_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(
        db,
        "UPDATE audit_log SET seq = -1 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    )
    report = await verify(db)
    assert not report.ok and report.first_bad_seq == 6


async def test_truncated_tail_is_caught(tmp_path: Path) -> None:
    db = await filled(tmp_path)
    sql(db, "DELETE FROM audit_log WHERE seq >= 9")
    report = await verify(db)
    assert not report.ok and report.first_bad_seq == 9


async def test_rehashed_forgery_without_head_update_is_caught(tmp_path: Path) -> None:
    """Rewriting an entry and recomputing every later hash still leaves the recorded head."""
    db = await filled(tmp_path)
    async with SQLiteStore(db) as store:
        rows = await store.audit_entries()
    from maestro_helix.governance.audit import GENESIS_HASH, entry_hash

    rows[4]["qsr_score"] = 0.99
    prev = GENESIS_HASH
    for r in rows:
        r["prev_hash"] = prev
        r["hash"] = prev = entry_hash(r)
    report = verify_chain(rows, head=(10, "f" * 64))
    assert not report.ok and report.first_bad_seq == 10


def test_cli_verify_reports_first_bad_entry(tmp_path: Path) -> None:
    import asyncio

    from maestro_helix.cli.main import app

    db = asyncio.run(filled(tmp_path))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    assert "10 entries verified" in ok.output
    sql(db, "UPDATE audit_log SET gate_decision = 'retry' WHERE seq = 2")
    bad = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert bad.exit_code == 1
    assert "entry 2" in bad.output


@pytest.mark.parametrize("n", [1, 50])
async def test_concurrent_appends_form_one_chain(store: Store, n: int) -> None:
    import asyncio

    await asyncio.gather(*(store.append_audit([draft(i % 60)]) for i in range(n)))
    report = await store.verify_audit()
    assert report.ok and report.checked == n
