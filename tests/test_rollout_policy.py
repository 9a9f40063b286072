"""The rollout's sign-off rules come from the policy file's ``rollout`` section, validated at
start-up: it may tighten the floor (more capacities, higher roles, named product owners), never
drop it (refused with file, field and reason). On SQLite and PostgreSQL, through ``Maestro``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from maestro_helix.app import Maestro
from maestro_helix.core.errors import ConfigErrors
from maestro_helix.core.records import RunStatus
from maestro_helix.core.rollout import Stage, StageRefused
from maestro_helix.governance.identity import add_operator
from maestro_helix.governance.policy import Role
from maestro_helix.store.base import Store
from test_stages import TOPIC, agents, flow, people

StoreFactory = Callable[[], Store]


def policy_file(tmp_path: Path, rollout: dict[str, Any]) -> Path:
    p = tmp_path / "governance.json"
    p.write_text(json.dumps({"version": 1, "rollout": rollout}))
    return p


async def test_a_tightened_policy_is_enforced(stores: StoreFactory, tmp_path: Path) -> None:
    """A third staging capacity (security), and the product owner raised to admin."""
    path = policy_file(
        tmp_path,
        {
            "signoffs": {
                "staging": {"governance": "approver", "admin": "admin", "security": "approver"},
                "production": {"product_owner": "admin"},
            }
        },
    )
    async with Maestro.open(stores(), agents=agents(), policy=path) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        sam, _ = await add_operator(m.store, "sam", Role.APPROVER)
        boss, _ = await add_operator(m.store, "boss", Role.ADMIN)
        v = (await m.engine.register(flow("good"))).version
        await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
        out = await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
        assert out.missing == ("security",) and out.stage is Stage.DRAFT
        out = await m.rollout.promote("brief", v, Stage.STAGING, sam, "security")
        assert out.stage is Stage.STAGING
        staged = await m.store.get_workflow("brief", v)
        for _ in range(3):
            r = await m.engine.run(staged, {"topic": TOPIC}, pin=True)
            assert r.status is RunStatus.COMPLETED
        with pytest.raises(StageRefused, match="needs role admin"):
            await m.rollout.promote("brief", v, Stage.PRODUCTION, ops["paul"], "product_owner")
        out = await m.rollout.promote("brief", v, Stage.PRODUCTION, boss, "product_owner")
        assert out.stage is Stage.PRODUCTION


async def test_only_a_named_product_owner_signs_for_production(
    stores: StoreFactory, tmp_path: Path
) -> None:
    path = policy_file(tmp_path, {"product_owners": ["paul"]})
    async with Maestro.open(stores(), agents=agents(), policy=path) as m:
        assert m.rollout is not None
        ops = await people(m.store)
        pete, _ = await add_operator(m.store, "pete", Role.ADMIN)
        v = (await m.engine.register(flow("good"))).version
        await m.rollout.promote("brief", v, Stage.STAGING, ops["gina"], "governance")
        await m.rollout.promote("brief", v, Stage.STAGING, ops["ada"], "admin")
        staged = await m.store.get_workflow("brief", v)
        for _ in range(3):
            await m.engine.run(staged, {"topic": TOPIC}, pin=True)
        with pytest.raises(StageRefused, match="pete is not a product owner"):
            await m.rollout.promote("brief", v, Stage.PRODUCTION, pete, "product_owner")
        out = await m.rollout.promote("brief", v, Stage.PRODUCTION, ops["paul"], "product_owner")
        assert out.stage is Stage.PRODUCTION
        entries = [e for e in await m.store.audit_entries() if e["kind"] == "workflow.signoff"]
    assert [e["human_operator_id"] for e in entries][-1] == "paul"


@pytest.mark.parametrize(
    ("rollout", "field", "reason"),
    [
        (
            {"signoffs": {"staging": {"governance": "approver"}}},
            "rollout.signoffs.staging.admin",
            "the floor needs a 'admin' sign-off by role admin",
        ),
        (
            {"signoffs": {"production": {"product_owner": "operator"}}},
            "rollout.signoffs.production.product_owner",
            "by role approver or above, not operator",
        ),
        (
            {"signoffs": {"staging": {"governance": "approver", "admin": "approver"}}},
            "rollout.signoffs.staging.admin",
            "by role admin or above, not approver",
        ),
        (
            {
                "signoffs": {
                    "staging": {
                        "governance": "approver",
                        "admin": "admin",
                        "irreversible": "viewer",
                    }
                }
            },
            "rollout.signoffs.staging.irreversible",
            "not configurable",
        ),
        ({"signoffs": {"canary": {}}}, "rollout.signoffs.canary", ""),
        ({"product_owner": ["paul"]}, "rollout.product_owner", ""),
    ],
)
async def test_a_policy_dropping_the_floor_is_refused_at_start_up(
    tmp_path: Path, rollout: dict[str, Any], field: str, reason: str
) -> None:
    path = policy_file(tmp_path, rollout)
    with pytest.raises(ConfigErrors) as e:
        async with Maestro.open(tmp_path / "m.db", agents=agents(), policy=path):
            pass
    text = str(e.value)
    assert str(path) in text and field in text and reason in text, text
