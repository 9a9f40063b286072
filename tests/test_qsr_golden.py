"""The QSR and MRI give exactly the scores recorded in tests/data/qsr_golden.json.

The sample (200 requests: demo pipeline steps, the labelled quality set under several
expectations, the PII corpora) was scored by the code before the evaluators were tuned for
speed; a change that moves any score, breakdown entry, suggestion or risk factor must be
deliberate: regenerate the file with ``bench/tools/qsr_golden.py sample`` and say why. The MRI
is recorded without the prompt-injection detector, which evolves on its own.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qsr_golden", ROOT / "bench/tools/qsr_golden.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_scores_match_the_golden_sample(warm: bool) -> None:
    tool = _tool()
    sample = json.loads((ROOT / "tests/data/qsr_golden.json").read_text())
    cases = [s["case"] for s in sample]
    if warm:  # memos filled by other texts first must not change a result
        tool.score(list(reversed(cases)), injection=False)
    got = tool.score(cases, injection=False)
    bad = []
    for i, (s, g) in enumerate(zip(sample, got, strict=True)):
        d = tool.diff(s["expected"], g)
        if d:
            bad.append((i, s["case"]["source"], d[:3]))
    assert not bad, bad[:5]
