"""Schema upgrades: a database at head is recognised without Alembic; anything else migrates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from maestro_helix.store.migrate import at_head, head_revisions, upgrade
from maestro_helix.store.sqlite import SQLiteStore


def test_head_is_read_from_the_revision_files() -> None:
    from alembic.script import ScriptDirectory

    from maestro_helix.store.migrate import alembic_config

    assert head_revisions() == frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_fresh_and_old_schemas_are_upgraded_and_a_current_one_is_left_alone(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        assert not at_head(conn)  # no alembic_version table yet
        upgrade(conn)
        assert at_head(conn)
    with engine.begin() as conn:  # an older schema: the upgrade path runs again
        from alembic import command

        from maestro_helix.store.migrate import alembic_config

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
        assert not at_head(conn)
        upgrade(conn)
        assert at_head(conn)
        assert conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar() == 0
    engine.dispose()


async def test_a_store_on_its_database_after_the_first_opens_without_importing_alembic(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db):  # the first start creates the schema (through Alembic)
        pass
    probe = (
        "import asyncio, sys\n"
        "from maestro_helix.store.sqlite import SQLiteStore\n"
        "async def main():\n"
        f"    async with SQLiteStore({str(db)!r}) as s:\n"
        "        await s.count('runs')\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
