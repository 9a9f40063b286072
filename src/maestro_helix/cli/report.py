"""``maestro report``: the Go/No-Go report as one self-contained HTML page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from maestro_helix.cli import common
from maestro_helix.cli.common import DbOpt, open_store, run_async
from maestro_helix.core.errors import ConfigError

_AGE = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

WhenHelp = (
    "an ISO date or time (UTC unless it carries an offset), e.g. 2026-03-01 or "
    "2026-03-01T12:00+01:00, or an age such as 30m, 24h, 7d, 2w"
)


def parse_when(option: str, text: str | None, now: datetime | None = None) -> datetime | None:
    """``text`` as an aware UTC time: ISO 8601, or an age before ``now`` (``7d``, ``24h``...).

    Raises:
        ConfigError: neither form.
    """
    if text is None:
        return None
    t = text.strip()
    age = _AGE.fullmatch(t)
    if age:
        delta = timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise ConfigError(option, "", f"expected {WhenHelp}; got {text!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _exists(db: str) -> bool:
    if "://" in db and not db.startswith("sqlite:///"):
        return True  # a server database: the store says if it cannot be reached
    return Path(db.removeprefix("sqlite:///")).exists()


def report(
    db: DbOpt = "maestro.db",
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path(
        "maestro-report.html"
    ),
    since: Annotated[
        str | None, typer.Option(help=f"Only tasks created at or after this: {WhenHelp}.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Only tasks created before this: {WhenHelp}.")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    version: Annotated[
        int | None, typer.Option(help="Only runs of this version (with --workflow).")
    ] = None,
) -> None:
    """Write the Go/No-Go report: the share of tasks that met the quality gates without a human
    escalation (GO above 95 %), QSR and MRI per workflow and agent, escalations per 10k tasks,
    latency percentiles. One HTML file, readable offline."""

    async def main() -> None:
        start, end = parse_when("--since", since), parse_when("--until", until)
        if start is not None and end is not None and start >= end:
            raise ConfigError("--since", "", "must be before --until")
        if version is not None and workflow is None:
            raise ConfigError("--version", "", "needs --workflow")
        if not _exists(db):
            raise ConfigError("--db", "", f"no database at {db}")
        async with open_store(db) as store:
            from maestro_helix.ops.report import Verdict, build_report, render_html

            data = await build_report(
                store, since=start, until=end, workflow=workflow, version=version
            )
        out.write_text(render_html(data), encoding="utf-8")
        colour = "green" if data.verdict is Verdict.GO else "red"
        common.out.print(f"[bold {colour}]{data.verdict.value}[/bold {colour}]", highlight=False)
        for reason in data.reasons:
            common.out.print(reason, highlight=False, soft_wrap=True)
        common.out.print(f"report written to {out}", highlight=False, soft_wrap=True)

    run_async(main())
