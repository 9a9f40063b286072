"""A witness without database access: it keeps checkpoints and accepts only append-only growth,
checked by consistency proofs fetched from the API (``governance/witness.py``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.cli.main import app as cli_app
from maestro_helix.core.errors import AuditLogError
from maestro_helix.governance.audit import GENESIS_HASH, entry_hash
from maestro_helix.governance.auditlog import Checkpointer
from maestro_helix.governance.checkpoint import Checkpoint, NoteSigner
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.merkle import MerkleTree, leaf_hash
from maestro_helix.governance.policy import Role
from maestro_helix.governance.witness import accept_checkpoint, witness_update
from maestro_helix.store import schema as t
from maestro_helix.store.sqlite import SQLiteStore
from maestro_helix.testing import FakeClock
from test_audit_attacks import draft

KEY = NoteSigner("example.org/log", Ed25519PrivateKey.generate())


async def _fetcher(m: Maestro) -> Any:
    clock = FakeClock()
    token = (await add_operator(m.store, f"w{id(m)}", Role.VIEWER, clock))[1]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(m)), base_url="http://log.test"
    )

    async def fetch(path: str) -> bytes:
        r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        return r.content

    return fetch, client


async def test_the_witness_follows_growth_and_refuses_a_rewrite(tmp_path: Path) -> None:
    folder, db = tmp_path / "witness", tmp_path / "log.db"
    async with Maestro.open(SQLiteStore(db), agents=AgentRegistry(), resume=False) as m:
        fetch, client = await _fetcher(m)
        signer = Checkpointer(m.store, KEY)
        await m.store.append_audit([draft(i) for i in range(1, 6)])
        await signer.checkpoint()
        first = await witness_update(folder, fetch, KEY.verifier())
        assert first.before is None and first.stored
        await m.store.append_audit([draft(i) for i in range(6, 20)])
        await signer.checkpoint()
        grown = await witness_update(folder, fetch, KEY.verifier())
        assert grown.before is not None and grown.before.checkpoint == first.now.checkpoint
        assert grown.now.checkpoint.size > first.now.checkpoint.size and grown.stored
        again = await witness_update(folder, fetch, KEY.verifier())
        assert not again.stored
        await client.aclose()
        rows = await m.store.audit_entries()

    def rewrite(c: Any) -> None:  # even the key holder: rewrite, drop the checkpoints, re-sign
        prev = GENESIS_HASH
        for r in rows:
            if r["seq"] == 3:
                r["agent_id"] = "mallory"
            r["prev_hash"], r["hash"] = prev, entry_hash({**r, "prev_hash": prev})
            prev = r["hash"]
            c.execute(
                t.audit_log.update()
                .where(t.audit_log.c.seq == r["seq"])
                .values(agent_id=r["agent_id"], prev_hash=r["prev_hash"], hash=r["hash"])
            )
        c.execute(t.audit_head.update().values(hash=prev))
        c.execute(t.audit_checkpoints.delete())

    async with Maestro.open(SQLiteStore(db), agents=AgentRegistry(), resume=False) as m:
        await m.store._call(rewrite)  # type: ignore[attr-defined]
        await m.store.append_audit([draft(30)])
        await Checkpointer(m.store, KEY).checkpoint()
        fetch, client = await _fetcher(m)
        kept = sorted(p.name for p in folder.iterdir())
        with pytest.raises(AuditLogError, match="not an append-only extension"):
            await witness_update(folder, fetch, KEY.verifier())
        await client.aclose()
    assert sorted(p.name for p in folder.iterdir()) == kept, "nothing stored"


def test_accept_refuses_a_smaller_tree_and_a_foreign_key() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(9)]
    tree = MerkleTree(leaves)
    big = KEY.sign(Checkpoint(KEY.name, 9, tree.root(9), "t"))
    small = KEY.sign(Checkpoint(KEY.name, 4, tree.root(4), "t"))
    proof = tree.consistency_proof(4, 9)
    assert accept_checkpoint(small, big.note, proof, KEY.verifier()).checkpoint.size == 9
    with pytest.raises(AuditLogError, match="shrank"):
        accept_checkpoint(big, small.note, [], KEY.verifier())
    other = NoteSigner(KEY.name, Ed25519PrivateKey.generate())
    with pytest.raises(AuditLogError, match="another key"):
        accept_checkpoint(small, other.sign(big.checkpoint).note, proof, KEY.verifier())


# -- the command, over real HTTP ------------------------------------------------------------------


@pytest.fixture
def log_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A stand-in for the log's API on a free port: answers the paths it is given, checks the
    token; stopped by the test that started it."""
    answers: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path)
            ok = self.headers.get("Authorization") == "Bearer tok"
            self.send_response(200 if body is not None and ok else (401 if not ok else 404))
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def note(size: int, root: bytes) -> bytes:
    return KEY.sign(Checkpoint(KEY.name, size, root, "2026-12-01T00:00:00Z")).note.encode()


def test_the_witness_command_over_http(
    tmp_path: Path, log_server: tuple[str, dict[str, bytes]]
) -> None:
    url, answers = log_server
    vkey = tmp_path / "log.vkey"
    vkey.write_text(KEY.vkey() + "\n")
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(12))
    runner = CliRunner()

    def witness(token: str = "tok") -> Any:
        args = ["audit", "witness", str(tmp_path / "w"), "--url", url, "--pubkey", str(vkey)]
        return runner.invoke(cli_app, [*args, "--token", token])

    answers["/audit/checkpoint"] = KEY.sign(
        Checkpoint(KEY.name, 5, tree.root(5), "t")
    ).note.encode()
    r = witness()
    assert r.exit_code == 0 and "first checkpoint kept: tree size 5" in r.output, r.output
    answers["/audit/checkpoint"] = KEY.sign(
        Checkpoint(KEY.name, 12, tree.root(12), "t")
    ).note.encode()
    proof = [h.hex() for h in tree.consistency_proof(5, 12)]
    answers["/audit/proof/consistency?old=5&new=12"] = orjson.dumps({"proof": proof})
    r = witness()
    assert r.exit_code == 0 and "from 5 to 12 entries by appending only" in r.output, r.output
    assert "nothing new" in witness().output
    forked = MerkleTree(leaf_hash(bytes([i + 100])) for i in range(20))
    answers["/audit/checkpoint"] = KEY.sign(
        Checkpoint(KEY.name, 20, forked.root(), "t")
    ).note.encode()
    answers["/audit/proof/consistency?old=12&new=20"] = orjson.dumps(
        {"proof": [h.hex() for h in forked.consistency_proof(12, 20)]}
    )
    r = witness()
    assert r.exit_code == 1 and "log REFUSED" in r.output and "rewritten" in r.output
    denied = witness(token="wrong")
    assert denied.exit_code == 2 and "HTTP 401" in denied.output


async def test_the_witness_command_against_a_mutual_tls_server(tmp_path: Path) -> None:
    """``maestro serve --tls`` asks for a client certificate: the witness presents its own."""
    import contextlib

    from prometheus_client import CollectorRegistry

    from maestro_helix.observability.metrics import HelixMetrics
    from maestro_helix.security import init_ca, issue, serve_tls

    certs = tmp_path / "certs"
    init_ca(certs)
    issue(certs, "server", kind="server", hosts=["localhost", "127.0.0.1"])
    issue(certs, "witness", kind="client")
    vkey = tmp_path / "log.vkey"
    vkey.write_text(KEY.vkey() + "\n")
    async with Maestro.open(
        SQLiteStore(tmp_path / "log.db"), agents=AgentRegistry(), resume=False, audit_signer=KEY
    ) as m:
        token = (await add_operator(m.store, "wit", Role.VIEWER, FakeClock()))[1]
        await m.store.append_audit([draft(i) for i in range(1, 9)])
        assert m.checkpointer is not None
        await m.checkpointer.checkpoint()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        metrics = HelixMetrics(CollectorRegistry())
        server = asyncio.create_task(
            serve_tls(create_app(m), "127.0.0.1", 0, certs, metrics, on_listening=bound.set_result)
        )
        try:
            port = await asyncio.wait_for(bound, 5)
            args = [
                "audit",
                "witness",
                str(tmp_path / "w"),
                "--url",
                f"https://127.0.0.1:{port}",
                "--pubkey",
                str(vkey),
                "--token",
                token,
                "--certs",
                str(certs),
            ]
            ok = await asyncio.to_thread(
                CliRunner().invoke, cli_app, [*args, "--client", "witness"]
            )
            assert ok.exit_code == 0 and "first checkpoint kept" in ok.output, ok.output
            no_cert = await asyncio.to_thread(CliRunner().invoke, cli_app, args[:-2])
            assert no_cert.exit_code == 2 and "unreachable" in no_cert.output
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
