"""Write ``docs/api/maestro_helix.yaml``, the OpenAPI document of the HTTP API, from the app itself.

    python tools/gen_openapi.py            # rewrite the file
    python tools/gen_openapi.py --check    # exit 1 (and say so) when the file is out of date

The app is built with ``create_app`` over a throw-away system (an empty SQLite file in a temporary
folder, no agents); the document does not depend on what a deployment registers. Keys are sorted
so that the file changes only when the API does (``tests/test_api_contract.py`` checks that).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.api import create_app
from maestro_helix.app import Maestro
from maestro_helix.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api" / "maestro_helix.yaml"
HEADER = "# Generated from the app by tools/gen_openapi.py; do not edit by hand.\n"


async def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, as FastAPI builds it."""
    with tempfile.TemporaryDirectory(prefix="maestro-openapi-") as tmp:
        async with Maestro.open(
            SQLiteStore(Path(tmp) / "openapi.db"), agents=AgentRegistry(), resume=False
        ) as system:
            return create_app(system).openapi()


def render(document: dict[str, Any]) -> str:
    """The document as the committed YAML: sorted keys, block style, UTF-8 text."""
    body = yaml.safe_dump(
        document, sort_keys=True, allow_unicode=True, default_flow_style=False, width=100
    )
    return HEADER + body


async def current() -> str:
    """What ``docs/api/maestro_helix.yaml`` should contain now."""
    return render(await openapi_document())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    parser.add_argument("--out", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    text = asyncio.run(current())
    out: Path = args.out
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date: run python tools/gen_openapi.py", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
