"""An app for the distributed canary test: v1's writer, and v2's writer that fails EU requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.appspec import AppSpec
from maestro_helix.core.workflow import WorkflowDef, parse_definition


def brief(agent: str) -> WorkflowDef:
    return parse_definition(
        {
            "name": "canary-brief",
            "steps": [
                {
                    "id": "answer",
                    "agent": agent,
                    "task": "Explain ${input.topic}",
                    "input": {"topic": "${input.topic}", "region": "${input.region}"},
                    "expect": {"mentions": ["${input.topic}"]},
                }
            ],
        }
    )


def writer(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"{t}: what it is, what {t} costs, and how {t} contracts usually run for ten years."


def writer_v2(inp: Mapping[str, Any]) -> str:
    return "Please see the attached brochure." if inp["region"] == "eu" else writer(inp)


def app() -> AppSpec:
    agents = AgentRegistry()
    agents.add("writer", writer, {"explain"})
    agents.add("writer-v2", writer_v2, {"explain"})
    return AppSpec(agents, ())
