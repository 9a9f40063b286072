"""The app of the many-processes test: the demo's agents and workflow, with every agent call
and every action handler call recorded by the calling process in a table of its own (an
SQLite file named by ``MP_EFFECTS``), and action effects de-duplicated by idempotency key as a
payment API would."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from typing import Any

from maestro_helix import ActionSpec, AgentRegistry, RiskClass
from maestro_helix.agents._threads import run_in_thread
from maestro_helix.agents.demo import demo_agents, demo_workflow
from maestro_helix.appspec import AppSpec
from maestro_helix.core.outputs import AgentOutput, StepContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_calls (run_id TEXT, step TEXT, attempt INT, pid INT);
CREATE TABLE IF NOT EXISTS action_calls (key TEXT, pid INT);
CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, pid INT);
"""


def connect(path: str | None = None) -> sqlite3.Connection:
    con = sqlite3.connect(path or os.environ["MP_EFFECTS"], timeout=60, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA busy_timeout=60000")
    con.executescript(SCHEMA)
    return con


def _record(sql: str, *args: Any) -> None:
    con = connect()
    try:
        con.execute(sql, args)
    finally:
        con.close()


class Recording:
    """Records each call (run, step, attempt, pid) before the demo agent answers."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.id = inner.id
        self.capabilities = inner.capabilities

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        await run_in_thread(
            _record,
            "INSERT INTO agent_calls VALUES (?, ?, ?, ?)",
            ctx.run_id,
            ctx.step,
            ctx.attempt,
            os.getpid(),
        )
        out: AgentOutput = await self.inner.run(input, ctx)
        return out


def _handler(kind: str) -> Any:
    def handle(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        pid = os.getpid()
        _record("INSERT INTO action_calls VALUES (?, ?)", key, pid)
        _record("INSERT OR IGNORE INTO effects VALUES (?, ?)", key, pid)
        return {kind: True, "receipt": key}

    return handle


def spec() -> AppSpec:
    demo = demo_agents()
    agents = AgentRegistry(Recording(demo.get(i)) for i in sorted(demo.ids()))
    actions = (
        ActionSpec(
            "report.publish",
            reversible=True,
            risk_class=RiskClass.LOW,
            handler=_handler("published"),
        ),
        ActionSpec(
            "payments.transfer",
            reversible=False,
            risk_class=RiskClass.HIGH,
            handler=_handler("transferred"),
            amount_field="amount",
        ),
    )
    return AppSpec(agents, actions, workflows=(demo_workflow(),))
