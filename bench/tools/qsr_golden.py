"""The golden corpus of the QSR and MRI: thousands of varied requests and the scores they get.

Built from the demo pipeline's real requests (captured while ``bench/_throughput_probe.py`` runs),
the labelled quality set (``bench/data/quality_set.jsonl``, under several expectations) and the
PII corpora (``tests/pii_corpus*.py``). A speed-up of the evaluators must leave every score,
breakdown entry, suggestion and risk factor exactly as it was::

    python bench/tools/qsr_golden.py save /tmp/golden.json     # with the code before the change
    python bench/tools/qsr_golden.py check /tmp/golden.json    # after it: exits 1 on a difference
    python bench/tools/qsr_golden.py sample /tmp/golden.json tests/data/qsr_golden.json 200

``sample`` keeps a compact, varied subset for ``tests/test_qsr_golden.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from maestro_helix.core.outputs import AgentOutput, ProposedAction  # noqa: E402
from maestro_helix.core.scores import EvaluationFailure, QualityScore, RiskScore  # noqa: E402
from maestro_helix.core.workflow import Expectations  # noqa: E402
from maestro_helix.helix.base import AgentRecord, EvaluationRequest, RiskRequest  # noqa: E402
from maestro_helix.helix.qsr import QSREvaluator  # noqa: E402
from maestro_helix.helix.risk import RiskAssessor  # noqa: E402

# ------------------------------------------------------------------------- (de)serialisation


def _output(d: dict[str, Any]) -> AgentOutput:
    return AgentOutput(
        text=d["text"],
        data=d.get("data") or {},
        actions=tuple(ProposedAction.from_dict(a) for a in d.get("actions") or ()),
    )


def _output_dict(o: AgentOutput) -> dict[str, Any]:
    return {"text": o.text, "data": dict(o.data), "actions": [a.to_dict() for a in o.actions]}


def eval_request(d: dict[str, Any]) -> EvaluationRequest:
    return EvaluationRequest(
        step_id=d["step_id"],
        task=d["task"],
        input=d.get("input") or {},
        input_text=d["input_text"],
        output=_output(d["output"]),
        expect=Expectations(**d.get("expect", {})),
        mentions=tuple(d.get("mentions", ())),
        attempt=d.get("attempt", 1),
        sources=tuple(d.get("sources", ())),
    )


def eval_dict(r: EvaluationRequest) -> dict[str, Any]:
    return {
        "step_id": r.step_id,
        "task": r.task,
        "input": json.loads(json.dumps(dict(r.input), default=str)),
        "input_text": r.input_text,
        "output": _output_dict(r.output),
        "expect": r.expect.model_dump(exclude_defaults=True),
        "mentions": list(r.mentions),
        "attempt": r.attempt,
        "sources": list(r.sources),
    }


def risk_request(d: dict[str, Any]) -> RiskRequest:
    agent = d.get("agent")
    return RiskRequest(
        step_id=d["step_id"],
        input_text=d["input_text"],
        output=_output(d["output"]),
        allowed_actions=tuple(d.get("allowed_actions", ())),
        agent=AgentRecord(**agent) if agent else None,
        documents=tuple(d.get("documents", ())),
    )


def risk_dict(r: RiskRequest) -> dict[str, Any]:
    a = r.agent
    return {
        "step_id": r.step_id,
        "input_text": r.input_text,
        "output": _output_dict(r.output),
        "allowed_actions": list(r.allowed_actions),
        "agent": {"agent_id": a.agent_id, "passed": a.passed, "total": a.total} if a else None,
        "documents": list(r.documents),
    }


def quality_result(q: QualityScore | EvaluationFailure) -> dict[str, Any]:
    return {"failure": q.to_dict()} if isinstance(q, EvaluationFailure) else q.to_dict()


def risk_result(r: RiskScore) -> dict[str, Any]:
    return r.to_dict()


# ------------------------------------------------------------------------------- the corpus


def _demo_cases(n: int) -> list[dict[str, Any]]:
    """The requests the demo pipeline really scores (first attempts, retries, revisions)."""
    import _throughput_probe as probe

    from maestro_helix.helix import qsr as qsr_mod
    from maestro_helix.helix import risk as risk_mod

    evals: list[EvaluationRequest] = []
    risks: list[RiskRequest] = []
    orig_eval = qsr_mod.QSREvaluator.aevaluate
    orig_assess = risk_mod.RiskAssessor.assess

    async def aevaluate(self: Any, req: EvaluationRequest, custom: Any = ()) -> Any:
        evals.append(req)
        return await orig_eval(self, req, custom)

    def assess(self: Any, req: RiskRequest) -> Any:
        risks.append(req)
        return orig_assess(self, req)

    qsr_mod.QSREvaluator.aevaluate = aevaluate  # type: ignore[method-assign]
    risk_mod.RiskAssessor.assess = assess  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as d:
            asyncio.run(probe.main(n, str(Path(d) / "golden.db"), 7))
    finally:
        qsr_mod.QSREvaluator.aevaluate = orig_eval  # type: ignore[method-assign]
        risk_mod.RiskAssessor.assess = orig_assess  # type: ignore[method-assign]
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e, r in zip(evals, risks, strict=True):
        c = {"source": "demo", "eval": eval_dict(e), "risk": risk_dict(r)}
        key = json.dumps(c, sort_keys=True)
        if key not in seen:
            seen.add(key)
            cases.append(c)
    return cases


_EXPECTS: list[dict[str, Any]] = [
    {},
    {"min_length": 200, "max_length": 1200},
    {"format": "markdown"},
    {"format": "bullets"},
    {"format": "json"},
    {"required_fields": ["answer"]},
]


def _quality_cases() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (ROOT / "bench/data/quality_set.jsonl").open()]
    cases = []
    for i, row in enumerate(rows):
        task, inp, out = row["task"], row["input_text"], row["output"]
        words = [w for w in task.split() if len(w) > 4]
        variants: list[dict[str, Any]] = [{"expect": {}}]
        v = _EXPECTS[i % len(_EXPECTS)]
        extra: dict[str, Any] = {"expect": v}
        if i % 3 == 0 and words:
            extra["mentions"] = words[:2]
        if i % 4 == 1:
            extra["sources"] = [inp or task]
        if i % 5 == 2:
            extra["data"] = {"answer": out[:40]} if i % 10 == 2 else {"answer": ""}
        variants.append(extra)
        for var in variants:
            ev = {
                "step_id": "answer",
                "task": task,
                "input_text": inp,
                "output": {"text": out, "data": var.get("data", {})},
                "expect": var["expect"],
                "mentions": var.get("mentions", []),
                "sources": var.get("sources", []),
            }
            rk = {
                "step_id": "answer",
                "input_text": f"{task}\n{inp}" if inp else task,
                "output": {"text": out, "data": var.get("data", {})},
                "documents": var.get("sources", []),
            }
            cases.append({"source": f"quality:{row['kind']}", "eval": ev, "risk": rk})
    return cases


def _pii_cases() -> list[dict[str, Any]]:
    import pii_corpus
    import pii_corpus_eu

    pos, neg = pii_corpus.build_corpus()
    r = random.Random(5)
    texts = [s.text for s in pos] + [s.text for s in neg]
    texts += [pii_corpus_eu.id_negative(r) for _ in range(100)]
    texts += [pii_corpus_eu.secret_hard_negative(r) for _ in range(100)]
    for _scheme, make, ctx in pii_corpus_eu.EU_IDS:
        for _ in range(10):
            texts.append(f"{r.choice(ctx) if ctx else 'id'} {make(r)} on file.")
    cases = []
    tasks = ["Reply to the customer about their account.", "Summarise the ticket for the team."]
    for i, t in enumerate(texts):
        data = {"note": t[: len(t) // 2]} if i % 7 == 3 else {}
        out = {"text": t, "data": data}
        cases.append(
            {
                "source": "pii",
                "eval": {
                    "step_id": "reply",
                    "task": tasks[i % 2],
                    "input_text": "",
                    "output": out,
                    "mentions": ["customer"] if i % 3 == 0 else [],
                },
                "risk": {
                    "step_id": "reply",
                    "input_text": tasks[i % 2],
                    "output": out,
                    "agent": {"agent_id": "a", "passed": 1, "total": 6} if i % 11 == 0 else None,
                },
            }
        )
    return cases


def build(n_demo: int = 1500) -> list[dict[str, Any]]:
    return _demo_cases(n_demo) + _quality_cases() + _pii_cases()


# ------------------------------------------------------------------------------- evaluation


def score(cases: list[dict[str, Any]], *, injection: bool = True) -> list[dict[str, Any]]:
    """The QSR and MRI of every case; ``injection=False`` scores the MRI without the
    prompt-injection detector (the committed sample must not change when that detector does)."""
    from maestro_helix.agents.demo import demo_actions
    from maestro_helix.helix import risk as risk_mod

    if not injection:
        real = risk_mod.find_injection_markers
        risk_mod.find_injection_markers = lambda text: []
        try:
            return score(cases)
        finally:
            risk_mod.find_injection_markers = real

    qsr = QSREvaluator()
    mri = RiskAssessor({a.name: a for a in demo_actions()})
    out = []
    for c in cases:
        q = qsr.evaluate(eval_request(c["eval"]))
        r = mri.assess(risk_request(c["risk"]))
        out.append({"qsr": quality_result(q), "mri": risk_result(r)})
    return out


def diff(a: Any, b: Any, path: str = "", tol: float = 1e-12) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [x for k in a for x in diff(a[k], b[k], f"{path}.{k}", tol)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [x for i, (u, v) in enumerate(zip(a, b, strict=True)) for x in diff(u, v, path, tol)]
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return [] if abs(a - b) <= tol else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main(argv: list[str]) -> int:
    cmd, path = argv[0], Path(argv[1])
    if cmd == "save":
        cases = build()
        res = score(cases)
        path.write_text(json.dumps({"cases": cases, "results": res}))
        print(f"saved {len(cases)} cases to {path}")
        return 0
    golden = json.loads(path.read_text())
    if cmd == "check":
        # twice: cold caches, then warm ones (memo contents must never change a result)
        bad = 0
        for _ in range(2):
            res = score(golden["cases"])
            for i, (want, got) in enumerate(zip(golden["results"], res, strict=True)):
                d = diff(want, got)
                if d:
                    bad += 1
                    if bad <= 10:
                        print(i, golden["cases"][i]["source"], d[:3])
        print(f"{len(golden['cases'])} cases, {bad} differing")
        return 1 if bad else 0
    if cmd == "sample":
        n = int(argv[3])
        cases = golden["cases"]
        r = random.Random(15)
        # stratified: demo steps, each kind of the quality set, the PII corpora
        by_source: dict[str, list[int]] = {}
        for i, c in enumerate(cases):
            by_source.setdefault(c["source"].split(":")[0], []).append(i)
        share = {"demo": 0.3, "quality": 0.35, "pii": 0.35}
        idx = sorted(i for k, v in by_source.items() for i in r.sample(v, int(n * share[k])))
        chosen = [cases[i] for i in idx]
        picked = [
            {"case": c, "expected": e}
            for c, e in zip(chosen, score(chosen, injection=False), strict=True)
        ]
        Path(argv[2]).write_text(json.dumps(picked, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"wrote {len(picked)} cases to {argv[2]}")
        return 0
    raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
