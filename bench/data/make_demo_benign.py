"""Benign training rows from the product's own traffic: the demo pipeline's step inputs.

Runs ``maestro demo`` (seed 101, so the rows differ from the default demo's seed 7) into a
scratch database and writes, for every step attempt, the text the risk assessor scans as the
step's input (the task and the flattened input, as :func:`maestro_helix.engine.bridge.input_text`
builds it) and the step's output text, minus the tasks that carry a planted injection note.
``injection_compose.py`` adds them to its benign rows.

Usage::

    python bench/data/make_demo_benign.py   # writes bench/data/injection_demo_benign.jsonl
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from maestro_helix.agents.demo import _INJECTION_NOTES

OUT = Path(__file__).with_name("injection_demo_benign.jsonl")
TASKS = {
    "research": "Research {topic} with a focus on {angle}.",
    "analysis": "Analyse the findings on {topic}: key points and risks.",
    "synthesis": "Write a short summary of {topic} for decision makers.",
}


def _flat(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _flat(v, out)
    elif isinstance(value, list):
        for v in value:
            _flat(v, out)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        subprocess.run(
            [sys.executable, "-m", "maestro_helix", "demo", "--tasks", "200", "--seed", "101",
             "--db", str(db)],
            check=True, capture_output=True,
        )  # fmt: skip
        con = sqlite3.connect(db)
        runs = {r: json.loads(i) for r, i in con.execute("select run_id, input from runs")}
        outs: dict[tuple[str, str], dict[str, object]] = {}
        rows = con.execute("select run_id, step_id, output from steps order by step_index, attempt")
        for run_id, step_id, output in rows:
            if output:
                outs[(run_id, step_id)] = json.loads(output)
    texts: list[str] = []
    for (run_id, step_id), out in outs.items():
        inp = runs[run_id]
        if inp.get("note") in _INJECTION_NOTES:  # the demo's planted attacks
            continue
        data = out.get("data") or {}
        prev = {"analysis": "research", "synthesis": "analysis"}.get(step_id)
        upstream = (outs.get((run_id, prev)) or {}).get("data") if prev else None
        parts: list[str] = []
        _flat({"input": inp, "upstream": upstream or {}}, parts)
        task = TASKS[step_id].format(topic=inp.get("topic", ""), angle=inp.get("angle", ""))
        texts.append(f"{task} {' '.join(parts)}")
        if isinstance(out.get("text"), str):
            texts.append(str(out["text"]))
        texts.extend(str(v) for v in data.values() if isinstance(v, str))
    with OUT.open("w", encoding="utf-8") as f:
        for t in dict.fromkeys(texts):
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"wrote {len(set(texts))} texts to {OUT}")


if __name__ == "__main__":
    main()
