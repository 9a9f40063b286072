"""The injection sets: the held-out split stays apart from what the model is trained on."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "bench" / "data"


def _grams(text: str, n: int = 6) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_heldout_attacks_share_no_six_word_run_with_the_training_phrasings() -> None:
    sys.path.insert(0, str(DATA))
    import injection_compose as c
    import injection_heldout as h

    train: set[str] = set()
    for name in dir(c):
        value = getattr(c, name)
        if name.isupper() and isinstance(value, tuple):
            for half in value:
                for item in half:
                    train |= _grams(item)
    heldout = [*h.ADDRESSEE, *h.PLANTED_ORDER, *h.TURN_TEMPLATES, *h.TURN_ORDER, *h.EXTRACTION,
               *h.PERSONA_TEMPLATES, *h.HIJACK, *h.OVERRIDE, *h.OVERRIDE_ACT]  # fmt: skip
    shared = {s: _grams(s) & train for s in heldout if _grams(s) & train}
    assert not shared
    assert not set(h.PERSONA_NAMES) & {n for half in c.PERSONA_NAME for n in half}


def test_heldout_split_is_committed_labelled_and_never_a_training_split() -> None:
    rows = [json.loads(x) for x in (DATA / "injection_heldout.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"heldout"}
    assert sum(r["label"] for r in rows) >= 300 and sum(1 - r["label"] for r in rows) >= 300
    trained = (DATA / "injection_compose.jsonl", DATA / "injection_set.jsonl")
    seen = {json.loads(x)["text"] for p in trained for x in p.read_text().splitlines()}
    assert not seen & {r["text"] for r in rows}
