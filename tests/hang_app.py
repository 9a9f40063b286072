"""An app whose agent hangs in a plain ``def`` (the worst kind: it never yields), for the serve
lifecycle tests; and a quick one-step workflow to see the server still runs other work."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from maestro_helix import AgentRegistry, parse_definition
from maestro_helix.appspec import AppSpec

HANG = parse_definition(
    {
        "name": "hang",
        "steps": [
            {"id": "stuck", "capability": "hang", "task": "Never answer", "timeout_s": 1.5},
        ],
    }
)
HANG_LONG = parse_definition(
    {"name": "hang-long", "steps": [{"id": "stuck", "capability": "hang", "task": "Never answer"}]}
)
QUICK = parse_definition(
    {
        "name": "quick",
        "steps": [
            {
                "id": "answer",
                "capability": "explain",
                "task": "Explain ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"mentions": ["${input.topic}"]},
            }
        ],
    }
)


def hang(inp: Mapping[str, Any]) -> str:
    time.sleep(3600)  # a blocking call that never returns
    return ""


def explain(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return (
        f"{t} is brewed from the leaves of the tea plant; {t} differs by how long the leaves "
        f"oxidise, which sets the colour, the caffeine and the taste of {t}."
    )


def spec() -> AppSpec:
    agents = AgentRegistry()
    agents.add("hanger", hang, {"hang"})
    agents.add("explainer", explain, {"explain"})
    return AppSpec(agents, workflows=(HANG, HANG_LONG, QUICK))
