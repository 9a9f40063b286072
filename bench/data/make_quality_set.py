"""Generate the labelled QSR quality set: good answers vs. each failure kind.

Sources (both redistributable): the explanations in ``quality_texts.py`` (written for this repo)
and the docstrings of the Python standard library (PSF license) as answers to "explain what X
does" tasks. Every failure is made from a good answer or a task by a template; the templates and
the topics are split in two, so the ``test`` split has topics *and* failure wordings that the
``dev`` split (used to tune the criteria) never shows.

Usage::

    python bench/data/make_quality_set.py            # writes bench/data/quality_set.jsonl

The output is deterministic (seeded); the committed file is what this script writes.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from quality_texts import TEXTS

OUT = Path(__file__).with_name("quality_set.jsonl")
KINDS = (
    "good",
    "off_topic",
    "wrong_subject",
    "refusal",
    "truncated",
    "repetition",
    "gibberish",
    "echo",
    "empty",
)

_MODULES = [
    "json",
    "heapq",
    "bisect",
    "collections",
    "itertools",
    "functools",
    "shutil",
    "tempfile",
    "csv",
    "sqlite3",
    "zlib",
    "gzip",
    "hashlib",
    "hmac",
    "secrets",
    "random",
    "statistics",
    "decimal",
    "fractions",
    "datetime",
    "calendar",
    "textwrap",
    "difflib",
    "string",
    "struct",
    "codecs",
    "copy",
    "pprint",
    "enum",
    "dataclasses",
    "contextlib",
    "argparse",
    "logging",
    "unittest",
    "doctest",
    "timeit",
    "threading",
    "queue",
    "subprocess",
    "socket",
    "selectors",
    "urllib.parse",
    "base64",
    "uuid",
    "ipaddress",
    "glob",
    "fnmatch",
    "pathlib",
    "zipfile",
    "tarfile",
    "configparser",
    "shlex",
    "platform",
    "locale",
    "gettext",
    "operator",
    "inspect",
    "weakref",
]

# --- task templates: (dev pool, test pool) ---------------------------------------------------
TASKS = (
    [
        "Explain {s}.",
        "Describe the purpose of {s} and the rules for using it.",
        "What is {s}? Explain how it works.",
        "Give a short explanation of {s} for a newcomer.",
        "Write a paragraph that describes {s}.",
    ],
    [
        "Explain the main purpose and the key rules of {s}.",
        "Describe {s} in a few sentences.",
        "Can you explain what {s} is and why it matters?",
        "Provide an overview of {s}, covering its role and how it is used.",
        "Briefly describe how {s} works.",
    ],
)

REFUSALS = (
    [
        "I'm sorry, but I can't help with an explanation of {s} right now.",
        "I am unable to provide information about {s}. Please consult another source.",
        "As an AI language model, I cannot explain {s} in detail. I recommend checking the "
        "official documentation or asking an expert who can give you an accurate answer.",
        "Unfortunately I don't have enough information to describe {s}. You may want to look it "
        "up in a reference work.",
        "I'm afraid I can't answer that. Questions about {s} are outside what I can help with, "
        "but I'd be happy to assist with something else.",
    ],
    [
        "Thank you for your question about {s}. I appreciate your interest, but I'm not able to "
        "give a detailed answer on this topic. It would be best to speak with a specialist who "
        "can address {s} properly and take your situation into account.",
        "Sorry, I cannot provide that. {S} is not something I am able to discuss here.",
        "I apologise, but I won't be able to explain {s}. My knowledge on this is limited, so "
        "please refer to a trusted textbook or website instead.",
        "That is a great question! Unfortunately, explaining {s} goes beyond what I can do at the "
        "moment. Perhaps try rephrasing, or ask me about something else.",
        "I do not know enough about {s} to answer. I would rather not guess and give you wrong "
        "information.",
    ],
)

OFF_TOPIC_BRIDGES = (
    [
        "{S} is an interesting subject. {other}",
        "{other} This is also relevant when thinking about {s}.",
        "Before discussing {s}, consider a related idea. {other}",
    ],
    [
        "When people ask about {s}, it helps to start somewhere else. {other}",
        "{other} In a way, {s} is similar.",
        "Regarding {s}: {other}",
    ],
)

ECHOES = (
    [
        "{task}",
        "You asked me to answer this: {task}",
        "The task is: {task} Here is my answer. {task}",
    ],
    [
        "Question: {task}\nAnswer: {task}",
        "{task} {task}",
        "Sure! {task}",
    ],
)

EMPTIES = (
    ["", "N/A", "TODO", "[Insert answer here]", "...", "Lorem ipsum dolor sit amet."],
    ["   ", "TBD", "<answer>", "{answer}", "Answer goes here.", "-"],
)


def _split_of(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=2).digest()[0] % 2


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip()) if s]


def _clean_doc(doc: str) -> str:
    keep: list[str] = []
    for para in doc.split("\n\n"):
        p = para.strip()
        if not p or p.startswith((">>>", "-", "*", "..", ":", "(")) or "::" in p:
            continue
        if re.match(r"^\w[\w.]*\(.*\)", p):  # a signature line
            continue
        if any(line.startswith("    ") for line in para.splitlines()):
            continue
        keep.append(" ".join(p.split()))
    text = " ".join(keep)
    out: list[str] = []
    n = 0
    for s in _sentences(text):
        if not s.endswith((".", "!", "?")):
            break
        out.append(s)
        n += len(s.split())
        if n >= 110:
            break
    return " ".join(out)


def _stdlib_topics() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _MODULES:
        mod = importlib.import_module(m)
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            text = _clean_doc(inspect.getdoc(obj) or "")
            if len(text.split()) < 35:
                continue
            what = "class" if inspect.isclass(obj) else "function"
            # an agent's answer names what it explains; the docstring itself does not
            lead = f"The {m}.{name} {what}: " if inspect.isclass(obj) else f"{m}.{name}(): "
            out.append((f"the {m}.{name} {what} in Python", lead + text))
    return out


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _fmt(tpl: str, **kw: str) -> str:
    s = kw.get("s", "")
    return tpl.format(S=_cap(s), **kw)


def _truncate(rng: random.Random, text: str) -> str:
    words = text.split()
    lo, hi = max(3, int(len(words) * 0.15)), max(4, int(len(words) * 0.6))
    for _ in range(20):
        cut = rng.randint(lo, hi)
        head = " ".join(words[:cut])
        if not head.endswith((".", "!", "?", ":", ";", ",")):
            return head
    return " ".join(words[:lo]).rstrip(".!?") + " and the"


def _repetition(rng: random.Random, text: str, split: int) -> str:
    sents = _sentences(text)
    first = sents[0]
    words = first.split()
    styles = (("sentence", "prefix_loop", "phrase"), ("tail_loop", "word_loop", "pair"))[split]
    style = rng.choice(styles)
    if style == "sentence":
        return " ".join([first] * rng.randint(4, 9))
    if style == "prefix_loop":
        phrase = " ".join(words[: max(3, len(words) // 2)])
        return first + " " + " ".join([phrase] * rng.randint(6, 12))
    if style == "phrase":
        phrase = " ".join(words[:4])
        return (phrase + " ") * rng.randint(10, 20)
    if style == "tail_loop":
        return " ".join(sents[:2]) + " " + ("and so on, " * rng.randint(8, 15)).strip()
    if style == "word_loop":
        w = rng.choice([x for x in words if len(x) > 3] or words)
        return " ".join(words[:5]) + " " + " ".join([w.strip(".,")] * rng.randint(15, 40))
    # pair: two sentences alternating
    second = sents[1] if len(sents) > 1 else first
    return " ".join([first, second] * rng.randint(3, 6))


_KEYS = "qwertyuiopasdfghjklzxcvbnm"


def _gibberish(rng: random.Random, text: str, split: int) -> str:
    styles = (("mash", "shuffled", "charnoise"), ("letters", "shuffled", "syllables"))[split]
    style = rng.choice(styles)
    n = rng.randint(25, 80)
    if style == "mash":
        return " ".join(
            "".join(
                rng.choice(_KEYS[:10] if rng.random() < 0.5 else _KEYS[10:19])
                for _ in range(rng.randint(3, 9))
            )
            for _ in range(n)
        )
    if style == "letters":
        return " ".join(
            "".join(rng.choice(_KEYS) for _ in range(rng.randint(2, 10))) for _ in range(n)
        )
    if style == "shuffled":
        words = text.split()
        rng.shuffle(words)
        return " ".join(words)
    if style == "charnoise":
        chars = list(text)
        for i in range(len(chars)):
            if rng.random() < 0.45:
                chars[i] = rng.choice(_KEYS + "#%&*@!0123456789")
        return "".join(chars)
    syl = ["ka", "lo", "mi", "ne", "tra", "vu", "zo", "pel", "rin", "dax", "qui", "sho"]
    return (
        " ".join(
            "".join(rng.choice(syl) for _ in range(rng.randint(1, 4))) for _ in range(n)
        ).capitalize()
        + "."
    )


def _record(**kw: Any) -> dict[str, Any]:
    kw["label"] = 1 if kw["kind"] == "good" else 0
    return kw


def _rows_for(
    i: int, subject: str, text: str, pool: list[tuple[str, str]], rng: random.Random, source: str
) -> list[dict[str, Any]]:
    split = _split_of(subject)
    name = ("dev", "test")[split]
    task = _fmt(rng.choice(TASKS[split]), s=subject)
    # another subject from elsewhere: a stdlib answer about a sibling in the same module would
    # be a near-miss, not clearly wrong
    family = subject.split(".")[0]
    others = [t for t in pool if t[0].split(".")[0] != family]
    _, other_t = rng.choice(others)
    base = {"split": name, "topic": subject, "source": source, "task": task, "input_text": ""}
    rows = [
        _record(kind="good", output=text, **base),
        _record(
            kind="off_topic",
            output=_fmt(rng.choice(OFF_TOPIC_BRIDGES[split]), s=subject, other=other_t),
            **base,
        ),
        _record(kind="wrong_subject", output=other_t, **base),
        _record(kind="refusal", output=_fmt(rng.choice(REFUSALS[split]), s=subject), **base),
        _record(kind="truncated", output=_truncate(rng, text), **base),
        _record(kind="repetition", output=_repetition(rng, text, split), **base),
        _record(kind="gibberish", output=_gibberish(rng, text, split), **base),
        _record(kind="echo", output=_fmt(rng.choice(ECHOES[split]), task=task), **base),
        _record(kind="empty", output=rng.choice(EMPTIES[split]), **base),
    ]
    sents = _sentences(text)
    if len(sents) >= 4 and i % 2 == 0:
        # a summarise-the-input task: good = a short summary (its lead), echo = the input back
        doc = text
        stask = "Summarise the following text in one or two sentences."
        sb = {**base, "task": stask, "input_text": doc}
        rows.append(_record(kind="good", output=" ".join(sents[:2]), **sb))
        rows.append(_record(kind="echo", output=doc, **sb))
    if len(sents) >= 3 and i % 3 == 0:
        # a good short answer: the first two sentences (complete, on topic)
        rows.append(_record(kind="good", output=" ".join(sents[:2]), **base))
    return rows


def build() -> list[dict[str, Any]]:
    rng = random.Random(20261201)
    own = [(s, t) for s, t in TEXTS]
    std = _stdlib_topics()
    rows: list[dict[str, Any]] = []
    for pool, source in ((own, "written"), (std, "stdlib")):
        for i, (subject, text) in enumerate(pool):
            rows.extend(_rows_for(i, subject, text, pool, rng, source))
    for n, r in enumerate(rows):
        r["id"] = f"q{n:05d}"
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["split"], r["kind"])] = counts.get((r["split"], r["kind"]), 0) + 1
    print(f"wrote {len(rows)} rows to {OUT}")
    for k in sorted(counts):
        print(k, counts[k])


if __name__ == "__main__":
    main()
