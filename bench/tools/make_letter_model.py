"""Build the letter-bigram table the gibberish check uses (src/.../helix/data/letters.json).

Counts letter pairs (with word-start and word-end marks) in the docstrings of the Python
standard library (PSF license) and in bench/data/quality_texts.py; stores log-probabilities
rounded to 0.1 as JSON. Usage: ``python bench/tools/make_letter_model.py``.
"""

from __future__ import annotations

import inspect
import json
import math
import pkgutil
import re
import sys
from collections import Counter
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "maestro_helix" / "helix" / "data" / "letters.json"
ALPHA = "abcdefghijklmnopqrstuvwxyz"
WORD = re.compile(r"[a-z]+")


def corpus() -> str:
    sys.path.insert(0, str(ROOT / "bench" / "data"))
    from quality_texts import TEXTS

    parts = [t for _, t in TEXTS]
    for info in pkgutil.iter_modules():
        if info.name.startswith("_") or info.name in {"this", "antigravity", "idlelib"}:
            continue
        try:
            mod = import_module(info.name)
        except Exception:
            continue
        if not str(getattr(mod, "__file__", "")).startswith(sys.base_prefix):
            continue
        for obj in [mod, *vars(mod).values()]:
            doc = inspect.getdoc(obj) if callable(obj) or obj is mod else None
            if doc:
                parts.append(doc)
    return "\n".join(parts)


def main() -> None:
    text = corpus().lower()
    pairs: Counter[str] = Counter()
    for w in WORD.findall(text):
        if len(w) < 2 or len(w) > 20:
            continue
        s = "^" + w + "$"
        pairs.update(s[i : i + 2] for i in range(len(s) - 1))
    firsts = "^" + ALPHA
    table: dict[str, float] = {}
    for a in firsts:
        total = sum(pairs[a + b] for b in ALPHA + "$") + 27
        for b in ALPHA + "$":
            table[a + b] = round(math.log((pairs[a + b] + 1) / total), 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {len(table)} pairs from {sum(pairs.values())} to {OUT}")


if __name__ == "__main__":
    main()
