"""The predictor's costs and honesty (issue 13): features that reuse the step's own scan of its
input, the agents' record read from the shared track record (not a scan of every step), and a
result held for approval by the predictor not counted against the agent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from maestro_helix import Maestro
from maestro_helix.agents.base import AgentRegistry, FunctionAgent
from maestro_helix.core.workflow import parse_definition
from maestro_helix.helix import injection, pii
from maestro_helix.helix import predict as predict_mod
from maestro_helix.helix.predict import input_signals
from maestro_helix.store.base import Store

StoreFactory = Callable[[], Store]

MARK = "Kettering bakeries"
FLOW = parse_definition(
    {
        "name": "one-step",
        "steps": [
            {
                "id": "s",
                "capability": "research",
                "task": "Research ${input.topic}",
                "input": {"topic": "${input.topic}"},
                "expect": {"mentions": ["${input.topic}"]},
            }
        ],
    }
)


def _writer(inp: Mapping[str, Any]) -> str:
    t = inp["topic"]
    return f"Research on {t}: {t} contracts last ten years and {t} costs fall each year."


async def test_one_attempt_scans_its_input_for_injection_once(
    stores: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The predictor scans the string the risk assessor will scan (task and input), so the
    detector's memo serves the assessor: one scan of the input per attempt, not two."""
    scanned: list[str] = []
    real = injection._detect

    def counting(text: str, use_model: bool) -> Any:
        scanned.append(text)
        return real(text, use_model)

    monkeypatch.setattr(injection, "_detect", counting)
    injection._remembered.cache_clear()
    agents = AgentRegistry([FunctionAgent("r", _writer, {"research"}, inline=True)])
    async with Maestro.open(stores(), agents=agents) as m:
        r = await m.run(FLOW, {"topic": f"solar panel leasing for {MARK}"})
    assert len(r.attempts) == 1
    of_input = [t for t in scanned if MARK in t and not t.startswith("Research on")]  # not outputs
    assert len(of_input) == 1, of_input


def test_a_texts_detector_counts_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = pii.scan

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(pii, "scan", counting)
    predict_mod._detector_counts.cache_clear()
    text = f"Mail ann.lee@example.com about {MARK}"
    a = input_signals({"x": text}, text)
    b = input_signals({"x": text, "y": 3}, text)  # same text, another shape
    assert calls == [text]  # scanned once
    assert (a.pii_count, b.pii_count) == (1, 1)
    assert (a.numbers, b.numbers, b.fields) == (0, 1, 2)  # the shape is the payload's own
    long = "word " * 1000  # past the memo's bound: scanned every time
    input_signals({"x": long}, long)
    input_signals({"x": long}, long)
    assert calls.count(long) == 2
