"""An optional LLM judge for the QSR: an async custom criterion with a spread, not a coin toss.

:class:`LLMJudge` asks an OpenAI-compatible chat-completions endpoint to grade one output
``samples`` times (at a temperature above zero), and reports the mean and a band around it
(mean ± 2 standard errors, clipped to 0..1). When the band straddles the gate's QSR threshold
the grade is **inconclusive**: the criterion raises
:class:`~maestro_helix.core.errors.EvaluationInconclusive`, the evaluator returns an
``EvaluationFailure`` of kind ``inconclusive`` and the gate escalates the step to people
instead of passing or failing it by the luck of one sample::

    judge = LLMJudge("http://127.0.0.1:8000/v1", "my-model", samples=5)
    qsr = QSREvaluator(custom={"judge": judge}, custom_timeout_s=60)
    await qsr.aevaluate(req, custom=("judge",))

Only the standard library is used (``urllib`` in a worker thread); the API key, if any, is
read from the environment variable named by ``api_key_env``, never logged.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import urllib.request
from typing import Any

from maestro_helix.core.errors import EvaluationInconclusive
from maestro_helix.core.scores import CriterionScore
from maestro_helix.helix.base import EvaluationRequest

__all__ = ["PROMPT", "LLMJudge", "parse_grade"]

PROMPT = (
    "You grade an AI agent's answer. Task:\n{task}\n\nInput:\n{input}\n\nAnswer:\n{output}\n\n"
    "Is the answer correct, complete, on topic and not a refusal? Reply with one line "
    "'SCORE: <number from 0 to 10>' and nothing else."
)
"""The grading prompt; ``{task}``, ``{input}`` and ``{output}`` are filled in."""

_GRADE = re.compile(
    r"(?i)score\s*[:=]?\s*(\d+(?:\.\d+)?)(?:\s*/\s*(100|10|1)(?!\d))?|(\d+(?:\.\d+)?)"
)


def parse_grade(reply: str) -> float:
    """A judge's reply ("SCORE: 7", "7/10", "0.7") as 0..1.

    Raises:
        ValueError: no grade in the reply, or one outside its scale.
    """
    m = _GRADE.search(reply)
    if m is None:
        raise ValueError(f"no grade in the judge's reply {reply[:80]!r}")
    value = float(m.group(1) or m.group(3))
    scale = (
        float(m.group(2)) if m.group(2) else (1.0 if value <= 1.0 and "." in m.group() else 10.0)
    )
    if not 0.0 <= value <= scale:
        raise ValueError(f"grade {value} outside 0..{scale:g} in {reply[:80]!r}")
    return value / scale


class LLMJudge:
    """Grades an output with an OpenAI-compatible model, ``samples`` times (see the module).

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name sent in each request.
        samples: how many grades to ask for (>= 2 to have a spread).
        gate: the QSR threshold whose straddling makes a grade inconclusive.
        temperature: sampling temperature of the judge.
        timeout_s: the limit of one request.
        api_key_env: the environment variable holding the bearer token, if any.

    Raises:
        ValueError: fewer than 2 samples, or a gate outside 0..1.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        samples: int = 5,
        gate: float = 0.7,
        temperature: float = 0.7,
        timeout_s: float = 30.0,
        api_key_env: str = "MAESTRO_JUDGE_API_KEY",
    ) -> None:
        if samples < 2:
            raise ValueError(f"samples must be at least 2 to measure a spread, got {samples}")
        if not 0.0 <= gate <= 1.0:
            raise ValueError(f"gate must be in 0..1, got {gate!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.samples = samples
        self.gate = gate
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.api_key_env = api_key_env

    def _ask(self, prompt: str) -> float:
        body = json.dumps(
            {
                "model": self.model,
                "temperature": self.temperature,
                "messages": [{"role": "user", "content": prompt}],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
            data: Any = json.loads(resp.read())
        return parse_grade(str(data["choices"][0]["message"]["content"]))

    async def __call__(self, req: EvaluationRequest) -> CriterionScore:
        """Grade ``req.output``; raises EvaluationInconclusive when the band straddles."""
        prompt = PROMPT.format(
            task=req.task, input=req.input_text[:4000], output=req.output.text[:8000]
        )
        grades = await asyncio.gather(
            *(asyncio.to_thread(self._ask, prompt) for _ in range(self.samples))
        )
        mean = sum(grades) / len(grades)
        sd = math.sqrt(sum((g - mean) ** 2 for g in grades) / (len(grades) - 1))
        half = 2.0 * sd / math.sqrt(len(grades))
        lo, hi = max(0.0, mean - half), min(1.0, mean + half)
        detail = (
            f"judge {mean:.2f}, band {lo:.2f}..{hi:.2f} over {len(grades)} samples "
            f"(spread {min(grades):.2f}..{max(grades):.2f})"
        )
        if lo < self.gate <= hi:
            raise EvaluationInconclusive(f"{detail} straddles the gate {self.gate:g}")
        return CriterionScore("judge", mean, 1.0, detail)
