"""The audit log's HTTP routes (``api/_audit.py``) over a real system on each store backend:
entries, signed checkpoints, inclusion and consistency proofs that verify on their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.governance.checkpoint import NoteSigner
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.merkle import verify_consistency, verify_inclusion
from maestro_helix.governance.policy import Role
from maestro_helix.store.base import Store
from maestro_helix.testing import FakeClock
from test_audit_attacks import draft

StoreFactory = Callable[[], Store]


@dataclass
class Api:
    m: Maestro
    client: httpx.AsyncClient
    tokens: dict[str, str]
    signer: NoteSigner

    async def get(self, path: str, who: str = "vic", **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.client.get(path, params=params, headers=headers)

    async def post(self, path: str, who: str) -> httpx.Response:
        return await self.client.post(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})


async def _api(store: Store, signer: NoteSigner | None) -> AsyncIterator[Api]:
    clock = FakeClock()
    async with Maestro.open(
        store, agents=AgentRegistry(), clock=clock, resume=False, audit_signer=signer
    ) as m:
        tokens = {
            name: (await add_operator(m.store, name, role, clock))[1]
            for name, role in (("vic", Role.VIEWER), ("oscar", Role.OPERATOR))
        }
        transport = httpx.ASGITransport(app=create_app(m))
        async with httpx.AsyncClient(transport=transport, base_url="http://maestro.test") as c:
            yield Api(m, c, tokens, signer or NoteSigner("x", Ed25519PrivateKey.generate()))


@pytest.fixture
async def api(stores: StoreFactory) -> AsyncIterator[Api]:
    async for a in _api(stores(), NoteSigner("example.org/log", Ed25519PrivateKey.generate())):
        yield a


async def test_entries_are_listed_with_filters_and_leaf_hashes(api: Api) -> None:
    await api.m.store.append_audit([draft(i, "alice" if i == 3 else "") for i in range(1, 8)])
    r = await api.get("/audit/entries", operator="alice")
    assert r.status_code == 200, r.text
    (only,) = r.json()["entries"]
    assert only["kind"] == "approval.decision" and only["details"] == {"n": 3}
    page = (await api.get("/audit/entries", limit=2, after_seq=0)).json()
    assert page["next_after"] is not None and len(page["entries"]) == 2
    one = (await api.get(f"/audit/entries/{only['seq']}")).json()
    assert one["human_operator_id"] == "alice" and len(one["leaf_hash"]) == 64
    assert (await api.get("/audit/entries/999")).status_code == 404


async def test_a_checkpoint_is_signed_on_demand_and_served_as_a_note(api: Api) -> None:
    assert (await api.get("/audit/checkpoint")).status_code == 404, "none yet"
    await api.m.store.append_audit([draft(i) for i in range(1, 6)])
    assert (await api.post("/audit/checkpoints", "vic")).status_code == 403
    made = await api.post("/audit/checkpoints", "oscar")
    assert made.status_code == 200, made.text
    base = (await api.m.store.list_checkpoints())[0].tree_size
    assert made.json()["tree_size"] == base == await api.m.store.count("audit_log")
    note = (await api.get("/audit/checkpoint")).text
    assert api.signer.verifier().open(note).checkpoint.size == base
    assert (await api.get("/audit/checkpoints")).json()["checkpoints"][0]["note"] == note


async def test_inclusion_and_consistency_proofs_verify(api: Api) -> None:
    await api.m.store.append_audit([draft(i) for i in range(1, 4)])
    small = (await api.post("/audit/checkpoints", "oscar")).json()
    await api.m.store.append_audit([draft(i) for i in range(4, 12)])
    big = (await api.post("/audit/checkpoints", "oscar")).json()
    n = big["tree_size"]
    for seq in (1, 2, n):
        p = (await api.get("/audit/proof/inclusion", seq=seq)).json()
        assert p["tree_size"] == n and p["root_hash"] == big["root_hash"]
        hashes = [bytes.fromhex(h) for h in p["proof"]]
        leaf, root = bytes.fromhex(p["leaf_hash"]), bytes.fromhex(p["root_hash"])
        assert verify_inclusion(leaf, seq - 1, n, hashes, root)
    c = (await api.get("/audit/proof/consistency", old=small["tree_size"], new=n)).json()
    assert c["old_root"] == small["root_hash"] and c["new_root"] == big["root_hash"]
    assert verify_consistency(
        small["tree_size"],
        n,
        bytes.fromhex(small["root_hash"]),
        bytes.fromhex(big["root_hash"]),
        [bytes.fromhex(h) for h in c["proof"]],
    )
    beyond = await api.get("/audit/proof/inclusion", seq=n + 1)
    assert (beyond.status_code, beyond.json()["error"]["code"]) == (404, "not_in_checkpoint")
    beyond = await api.get("/audit/proof/consistency", old=2, new=n + 5)
    assert (beyond.status_code, beyond.json()["error"]["code"]) == (404, "tree_size_not_found")
    backwards = await api.get("/audit/proof/consistency", old=3, new=2)
    assert (backwards.status_code, backwards.json()["error"]["code"]) == (422, "invalid_request")


async def test_a_server_without_the_key_cannot_sign(stores: StoreFactory) -> None:
    async for api in _api(stores(), None):
        r = await api.post("/audit/checkpoints", "oscar")
        assert r.status_code == 409 and r.json()["error"]["code"] == "no_signing_key"


async def test_the_system_signs_the_rest_of_the_log_when_it_closes(stores: StoreFactory) -> None:
    signer = NoteSigner("example.org/log", Ed25519PrivateKey.generate())
    store = stores()
    async for api in _api(store, signer):
        await api.m.store.append_audit([draft(i) for i in range(1, 4)])
    async with stores() as again:
        stored = await again.list_checkpoints()
        assert stored and stored[-1].tree_size == await again.count("audit_log")


async def test_verify_checks_the_tree_against_the_stored_checkpoints(api: Api) -> None:
    await api.m.store.append_audit([draft(i) for i in range(1, 6)])
    made = (await api.post("/audit/checkpoints", "oscar")).json()
    ok = (await api.get("/audit/verify")).json()
    assert ok["ok"] and ok["checkpoints"] == 1 and ok["root_hash"] == made["root_hash"]
    rows = await api.m.store.audit_entries()
    from maestro_helix.governance.audit import GENESIS_HASH, entry_hash
    from maestro_helix.store import schema as t

    def rewrite(c: Any) -> None:  # one entry changed, every later hash and the head recomputed
        prev = GENESIS_HASH
        for r in rows:
            if r["seq"] == 2:
                r["agent_id"] = "mallory"
            r["prev_hash"] = prev
            r["hash"] = prev = entry_hash(r)
            c.execute(
                t.audit_log.update()
                .where(t.audit_log.c.seq == r["seq"])
                .values(agent_id=r["agent_id"], prev_hash=r["prev_hash"], hash=r["hash"])
            )
        c.execute(t.audit_head.update().values(hash=prev))

    await api.m.store._call(rewrite)  # type: ignore[attr-defined]
    bad = (await api.get("/audit/verify")).json()
    assert not bad["ok"] and bad["bad_checkpoint"] == f"stored checkpoint {made['tree_size']}"
