"""The attack suite: someone with write access to a copy of the database tampers with the audit
log; ``maestro audit verify --against`` a witness's exported checkpoints catches each attack and
names the first bad entry or checkpoint."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from maestro_helix.cli.main import app
from maestro_helix.core.clock import FakeClock
from maestro_helix.core.errors import AuditLogError
from maestro_helix.governance.audit import GENESIS_HASH, AuditDraft, canonical_bytes, entry_hash
from maestro_helix.governance.auditlog import (
    Checkpointer,
    CheckpointPolicy,
    open_notes,
    verify_log,
)
from maestro_helix.governance.checkpoint import (
    Checkpoint,
    NoteSigner,
    init_keys,
    load_signer,
)
from maestro_helix.governance.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from maestro_helix.store.base import Store
from maestro_helix.store.sqlite import SQLiteStore

runner = CliRunner()
N = 12


def draft(i: int, operator: str = "") -> AuditDraft:
    return AuditDraft(
        entry_id=str(uuid.uuid4()),
        ts=f"2026-01-01T00:00:{i:02d}.000000+00:00",
        kind="approval.decision" if operator else "step.decision",
        run_id=f"run-{i % 3}",
        step_id="research",
        step_index=0,
        attempt=i,
        agent_id="a",
        qsr_score=0.8,
        mri_score=0.1,
        gate_decision="pass",
        human_operator_id=operator,
        details={"n": i},
    )


async def _build(db: Path, keys: Path) -> None:
    """Entries 1..N with checkpoints at sizes 4, 8 and N."""
    async with SQLiteStore(db) as store:
        cp = Checkpointer(store, load_signer(keys))
        for lo, hi in ((1, 4), (5, 8), (9, N)):
            await store.append_audit(
                [draft(i, "alice" if i == 6 else "") for i in range(lo, hi + 1)]
            )
            assert await cp.checkpoint() is not None


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    """A log, its key, and a witness folder with the exported checkpoints."""
    keys, db, witness = tmp_path / "keys", tmp_path / "orig.db", tmp_path / "witness"
    init_keys(keys)
    asyncio.run(_build(db, keys))
    r = cli("audit", "checkpoint", "--db", db, "--keys", keys, "--export", witness)
    assert r.exit_code == 0, r.output
    assert len(list(witness.glob("*.checkpoint"))) == 3
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    return {"db": copy, "keys": keys, "witness": witness, "vkey": keys / "audit-log.vkey"}


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def verify(s: dict[str, Path], *extra: Any) -> Any:
    return cli(
        "audit", "verify", "--db", s["db"], "--against", s["witness"], "--pubkey", s["vkey"], *extra
    )


def sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    with con:
        for st in statements:
            con.execute(st)
    con.close()


def rows_of(path: Path) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with SQLiteStore(path) as store:
            return await store.audit_entries()

    return asyncio.run(read())


def rewrite_from(path: Path, rows: list[dict[str, Any]]) -> None:
    """Recompute every hash and the head over ``rows`` and write them back (a careful forger)."""
    prev = GENESIS_HASH
    con = sqlite3.connect(path)
    with con:
        con.execute("DELETE FROM audit_log")
        for i, r in enumerate(rows, start=1):
            r["seq"], r["prev_hash"] = i, prev
            r["hash"] = prev = entry_hash(r)
            cols = ", ".join(r)
            values = [json.dumps(v) if isinstance(v, dict) else v for v in r.values()]
            con.execute(
                f"INSERT INTO audit_log ({cols}) VALUES ({', '.join('?' * len(r))})", values
            )
        con.execute("UPDATE audit_head SET seq = ?, hash = ?", (len(rows), prev))
    con.close()


def failed(r: Any) -> str:
    assert r.exit_code == 1, r.output
    return " ".join(r.output.split())


def test_the_untouched_copy_verifies(setup: dict[str, Path]) -> None:
    r = verify(setup)
    assert r.exit_code == 0, r.output
    assert f"{N} entries verified" in r.output and "3 signed checkpoint(s) match" in r.output


def test_a_byte_flip_is_caught(setup: dict[str, Path]) -> None:
    sql(setup["db"], "UPDATE audit_log SET agent_id = 'b' WHERE seq = 7")
    assert "BROKEN at entry 7" in failed(verify(setup))


def test_a_deleted_entry_is_caught(setup: dict[str, Path]) -> None:
    sql(setup["db"], "DELETE FROM audit_log WHERE seq = 5")
    out = failed(verify(setup))
    assert "BROKEN at entry 6" in out and "missing" in out


def test_reordered_entries_are_caught(setup: dict[str, Path]) -> None:
    sql(
        setup["db"],
        "UPDATE audit_log SET seq = -1 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    )
    assert "BROKEN at entry 6" in failed(verify(setup))


def test_a_truncated_tail_with_its_head_moved_back_is_caught(setup: dict[str, Path]) -> None:
    """The head is rewritten to the new last entry, so only the checkpoint shows what is gone."""
    rows = rows_of(setup["db"])
    sql(
        setup["db"],
        "DELETE FROM audit_log WHERE seq > 9",
        f"UPDATE audit_head SET seq = 9, hash = '{rows[8]['hash']}'",
    )
    out = failed(verify(setup))
    assert "BROKEN at entry 10" in out and f"{N:012d}.checkpoint signed {N}" in out


def test_a_rewrite_with_every_hash_and_the_head_recomputed_is_caught(
    setup: dict[str, Path],
) -> None:
    rows = rows_of(setup["db"])
    rows[5]["human_operator_id"] = "mallory"  # seq 6: who approved
    rewrite_from(setup["db"], rows)
    plain = cli("audit", "verify", "--db", setup["db"], "--keys", setup["db"].parent / "nokeys")
    assert plain.exit_code == 0, "the chain alone cannot see this rewrite"
    out = failed(verify(setup))
    assert "000000000008.checkpoint" in out and "seq 5..8 was rewritten" in out


def test_a_rewrite_is_caught_by_the_stored_checkpoints_too(setup: dict[str, Path]) -> None:
    rows = rows_of(setup["db"])
    rows[1]["qsr_score"] = 0.99
    rewrite_from(setup["db"], rows)
    r = cli("audit", "verify", "--db", setup["db"], "--pubkey", setup["vkey"])
    assert "stored checkpoint 4" in failed(r)


def test_a_forged_checkpoint_signed_by_another_key_is_caught(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    """Mallory rewrites the log and signs a matching checkpoint with her own key, same name."""
    rows = rows_of(setup["db"])
    rows[10]["gate_decision"] = "fail"
    rewrite_from(setup["db"], rows)
    tree = MerkleTree(leaf_hash(canonical_bytes(r)) for r in rows_of(setup["db"]))
    mallory = init_keys(tmp_path / "mallory", load_signer(setup["keys"]).name)
    forged = mallory.sign(Checkpoint(mallory.name, N, tree.root(), "2026-12-01T00:00:00Z"))
    target = setup["witness"] / f"{N:012d}.checkpoint"
    target.write_text(forged.note, encoding="utf-8")
    out = failed(verify(setup))
    assert str(target) in out and "another key made this checkpoint" in out
    # and with mallory's key as the trusted one, the genuine checkpoints fail instead
    mine = cli(
        "audit",
        "verify",
        "--db",
        setup["db"],
        "--against",
        setup["witness"],
        "--pubkey",
        tmp_path / "mallory" / "audit-log.vkey",
    )
    assert "another key" in failed(mine)


def test_verify_against_an_empty_or_missing_folder_is_an_error(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    r = cli(
        "audit",
        "verify",
        "--db",
        setup["db"],
        "--against",
        tmp_path / "empty",
        "--pubkey",
        setup["vkey"],
    )
    assert r.exit_code == 2 and "holds no checkpoints" in r.output
    r = cli(
        "audit",
        "verify",
        "--db",
        setup["db"],
        "--against",
        tmp_path / "nope",
        "--pubkey",
        setup["vkey"],
    )
    assert r.exit_code == 2 and "no such folder" in r.output


def test_an_empty_log_fails_unless_allowed(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    asyncio.run(SQLiteStore(db).open())  # a real, empty database
    r = cli("audit", "verify", "--db", db, "--keys", tmp_path)
    assert r.exit_code == 1 and "empty" in r.output
    ok = cli("audit", "verify", "--db", db, "--keys", tmp_path, "--allow-empty")
    assert ok.exit_code == 0, ok.output


def test_export_refuses_to_overwrite_a_different_checkpoint(setup: dict[str, Path]) -> None:
    f = setup["witness"] / "000000000004.checkpoint"
    f.write_text(f.read_text().replace("time", "time 1"), encoding="utf-8")
    r = cli(
        "audit",
        "checkpoint",
        "--db",
        setup["db"],
        "--keys",
        setup["keys"],
        "--export",
        setup["witness"],
    )
    assert r.exit_code == 2 and "not overwritten" in r.output


def test_prove_and_consistency_from_the_cli(setup: dict[str, Path]) -> None:

    r = cli("audit", "prove", "6", "--db", setup["db"], "--pubkey", setup["vkey"], "--json")
    assert r.exit_code == 0, r.output
    p = json.loads(r.output)
    assert p["tree_size"] == N and p["leaf_index"] == 5
    assert verify_inclusion(
        bytes.fromhex(p["leaf_hash"]),
        5,
        N,
        [bytes.fromhex(h) for h in p["proof"]],
        bytes.fromhex(p["root_hash"]),
    )
    c = json.loads(cli("audit", "consistency", "4", str(N), "--db", setup["db"], "--json").output)
    assert c["old_checkpoint"] and c["new_checkpoint"]
    assert verify_consistency(
        4,
        N,
        bytes.fromhex(c["old_root"]),
        bytes.fromhex(c["new_root"]),
        [bytes.fromhex(h) for h in c["proof"]],
    )
    too_new = cli("audit", "consistency", "4", "99", "--db", setup["db"])
    assert too_new.exit_code == 2 and "NEW <=" in too_new.output


def test_list_and_show_filter_entries(setup: dict[str, Path]) -> None:
    r = cli("audit", "list", "--db", setup["db"], "--operator", "alice", "--json")
    entries = json.loads(r.output)["entries"]
    assert [e["seq"] for e in entries] == [6] and entries[0]["kind"] == "approval.decision"
    r = cli(
        "audit", "list", "--db", setup["db"], "--run", "run-1", "--kind", "step.decision", "--json"
    )
    assert [e["seq"] for e in json.loads(r.output)["entries"]] == [1, 4, 7, 10]
    shown = json.loads(cli("audit", "show", "6", "--db", setup["db"], "--json").output)
    assert shown["human_operator_id"] == "alice" and len(shown["leaf_hash"]) == 64
    assert cli("audit", "show", "99", "--db", setup["db"]).exit_code == 2


# -- the checkpointer, on every backend ---------------------------------------------------------


async def test_checkpoints_every_n_entries_or_t_seconds(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    signer = NoteSigner("example.org/log", Ed25519PrivateKey.generate())
    cp = Checkpointer(store, signer, CheckpointPolicy(every_entries=5, every_seconds=60), clock)
    await store.append_audit([draft(i) for i in range(1, 4)])
    assert await cp.maybe_checkpoint() is None, "3 entries, 0 s: not yet"
    await store.append_audit([draft(i) for i in range(4, 6)])
    made = await cp.maybe_checkpoint()
    assert made is not None and made.tree_size == 5
    await store.append_audit([draft(6)])
    assert await cp.maybe_checkpoint() is None
    clock.advance(61)
    later = await cp.maybe_checkpoint()
    assert later is not None and later.tree_size == 6
    stored = await store.list_checkpoints()
    assert [c.tree_size for c in stored] == [5, 6]
    report = await store.scan_audit(lambda e, h: verify_log(e, h, _anchors(signer, stored)))
    assert report.ok and report.checkpoints == 2 and report.tree_size == 6


def _anchors(signer: NoteSigner, stored: list[Any]) -> list[Any]:
    anchors, bad = open_notes([(str(c.tree_size), c.note) for c in stored], signer.verifier())
    assert bad is None
    return anchors


async def test_the_checkpointer_refuses_to_sign_a_rewritten_log(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    init_keys(tmp_path / "k")
    await _build(db, tmp_path / "k")
    rows = await _rows(db)
    rows[2]["details"] = {"n": 99}
    rewrite_from(db, rows)
    async with SQLiteStore(db) as store:
        await store.append_audit([draft(99)])
        with pytest.raises(AuditLogError, match="no longer match the stored checkpoint"):
            await Checkpointer(store, load_signer(tmp_path / "k")).checkpoint()


async def _rows(db: Path) -> list[dict[str, Any]]:
    async with SQLiteStore(db) as store:
        return await store.audit_entries()


async def test_parallel_verification_matches_one_pass(store: Store) -> None:
    """Worker processes (one per segment) give the report of one pass, intact and tampered."""
    from maestro_helix.governance.auditscan import combine_segments
    from maestro_helix.store.threaded import ThreadedStore

    assert isinstance(store, ThreadedStore)
    await store.append_audit([draft(i) for i in range(1, 40)])

    async def both() -> tuple[Any, Any]:
        one = await store.scan_audit(lambda rows, head: verify_log(rows, head))
        split = await store.audit_segments([], 3, min_entries=1)
        assert split is not None and len(split[0]) == 3
        return one, combine_segments(*split)

    one, parallel = await both()
    assert one.ok and parallel == one
    await store.append_audit([draft(99)])
    entries = await store.audit_entries()
    forged = {**entries[20], "qsr_score": 0.01}
    await store.scan_audit(lambda rows, head: None)  # the store is still serving
    from maestro_helix.store import schema as t

    def tamper(c: Any) -> None:
        c.execute(t.audit_log.update().where(t.audit_log.c.seq == 21).values(qsr_score=0.01))

    await store._call(tamper)
    one, parallel = await both()
    assert not one.ok and one.first_bad_seq == 21 and parallel == one
    assert forged["seq"] == 21


def test_keys_init_and_export_from_the_cli(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    r = cli("keys", "init", "--keys", keys, "--origin", "example.org/audit")
    assert r.exit_code == 0, r.output
    vkey = r.output.strip().splitlines()[-1]
    assert vkey.startswith("example.org/audit+")
    assert (keys / "audit-log.key").stat().st_mode & 0o777 == 0o600
    assert cli("keys", "export", "--keys", keys).output.strip() == vkey
    pem = cli("keys", "export", "--keys", keys, "--format", "pem").output
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    again = cli("keys", "init", "--keys", keys)
    assert again.exit_code == 2 and "exists already" in again.output
    assert cli("keys", "export", "--keys", tmp_path / "none").exit_code == 2


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_export_commits_to_the_witness_git_repository(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    import subprocess

    repo = tmp_path / "witness-repo"
    repo.mkdir()

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *a], capture_output=True, text=True, check=True
        ).stdout

    git("init", "-q")
    git("config", "user.name", "witness")
    git("config", "user.email", "witness@example.org")
    args = ("audit", "checkpoint", "--db", setup["db"], "--keys", setup["keys"], "--export", repo)
    r = cli(*args, "--git")
    assert r.exit_code == 0 and "git: committed" in r.output, r.output
    assert f"audit checkpoint {N}" in git("log", "--oneline")
    files = git("ls-files").split()
    assert "checkpoint" in files and f"{N:012d}.checkpoint" in files
    assert "nothing new" in cli(*args, "--git").output
    plain = cli(
        "audit",
        "checkpoint",
        "--db",
        setup["db"],
        "--keys",
        setup["keys"],
        "--export",
        tmp_path / "plain",
        "--git",
    )
    assert plain.exit_code == 2 and "not inside a git work tree" in plain.output


def test_a_cli_process_with_the_key_signs_what_it_appended(tmp_path: Path) -> None:
    """MAESTRO_KEYS makes every engine process (demo, run, serve, worker) a checkpoint signer."""
    keys, db = tmp_path / "keys", tmp_path / "d.db"
    init_keys(keys)
    env = {"MAESTRO_KEYS": str(keys), "MAESTRO_CHECKPOINT_ENTRIES": "5"}
    r = runner.invoke(app, ["demo", "-n", "4", "--db", str(db)], env=env)
    assert r.exit_code == 0, r.output
    stored = asyncio.run(_checkpoints(db))
    assert stored and stored[-1].tree_size == len(rows_of(db)), "signed at close, to the end"
    ok = cli("audit", "verify", "--db", db, "--pubkey", keys / "audit-log.vkey")
    assert ok.exit_code == 0 and f"{len(stored)} signed checkpoint(s) match" in ok.output
    bad = runner.invoke(
        app, ["demo", "-n", "1", "--db", str(db)], env={**env, "MAESTRO_CHECKPOINT_ENTRIES": "zero"}
    )
    assert bad.exit_code == 2 and "MAESTRO_CHECKPOINT_" in bad.output


async def _checkpoints(db: Path) -> list[Any]:
    async with SQLiteStore(db) as store:
        return await store.list_checkpoints()
