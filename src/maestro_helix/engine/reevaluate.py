"""Re-evaluation on request (runbook weeks 9–10): after its output is scored, an agent that can
revise gets the evaluator's suggestions — on a passing output too — and may hand back a revised
output, which is scored again before the gate decides (the step core's optional revise phase).
Bounded (``max_reevaluations`` rounds, the step's timeout per round) and recorded: each round's
scores before and after, and which output was kept, go on the agent's result
(``AgentResult.revisions``) and into the attempt's audit entry (``details.reevaluations``).

A revision is kept only when it scores at least as well on the composite (0.4·QSR + 0.3·(1−MRI)):
asking to be scored again can never make an attempt worse.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from maestro_helix.agents.base import AgentRegistry, normalise_output
from maestro_helix.core.outputs import StepContext, storable
from maestro_helix.core.scores import QualityScore, RiskScore
from maestro_helix.core.steps import AgentResult, ScorePhase, Scores, StepInput, feedback_for
from maestro_helix.engine.bridge import DEFAULT_STEP_TIMEOUT_S

__all__ = ["Reevaluation"]


def _composite(scores: Scores) -> float:
    q = scores.quality.score if isinstance(scores.quality, QualityScore) else 0.0
    m = scores.risk.score if isinstance(scores.risk, RiskScore) else 1.0
    return 0.4 * q + 0.3 * (1.0 - m)


def _score(scores: Scores, which: str) -> float | None:
    ev = scores.quality if which == "qsr" else scores.risk
    return ev.score if isinstance(ev, QualityScore | RiskScore) else None


class Reevaluation:
    """The revise phase.

    Args:
        agents: the registry (the agent that ran is asked, when it can revise).
        max_rounds: at most this many revisions per attempt.
        timeout_s: how long one revision may take unless the step sets ``timeout_s``.
    """

    def __init__(
        self,
        agents: AgentRegistry,
        max_rounds: int = 1,
        timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    ) -> None:
        self.agents = agents
        self.max_rounds = max_rounds
        self.timeout_s = timeout_s

    async def revise(
        self, inp: StepInput, result: AgentResult, scores: Scores, evaluate: ScorePhase
    ) -> tuple[AgentResult, Scores]:
        rounds: list[dict[str, Any]] = []
        for n in range(1, self.max_rounds + 1):
            better, record = await self._round(inp, result, scores, evaluate, n)
            if record is None:
                break
            rounds.append(record)
            if better is None:
                break
            result, scores = better
        if rounds:
            result = replace(result, revisions=tuple(rounds))
        return result, scores

    async def _round(
        self, inp: StepInput, result: AgentResult, scores: Scores, evaluate: ScorePhase, n: int
    ) -> tuple[tuple[AgentResult, Scores] | None, dict[str, Any] | None]:
        """(the revised result and scores to go on with, or None to stop; the round's record,
        or None when no round took place)."""
        if result.output is None:
            return None, None
        if not isinstance(scores.quality, QualityScore) or not isinstance(scores.risk, RiskScore):
            return None, None
        agent = self.agents.get(result.agent_id)
        revise = getattr(agent, "revise", None)
        if revise is None or not getattr(agent, "can_revise", True):
            return None, None
        fb = feedback_for(inp.attempt, scores.quality.to_dict(), scores.risk.to_dict(), ())
        if not fb.suggestions:
            return None, None
        ctx = StepContext(
            run_id=inp.run_id,
            workflow=inp.workflow.name,
            step=inp.step.id,
            attempt=inp.attempt,
            capability=inp.step.capability,
            task=result.task,
            feedback=fb,
            knowledge=inp.knowledge,
        )
        record: dict[str, Any] = {
            "round": n,
            "suggestions": list(fb.suggestions),
            "qsr_before": _score(scores, "qsr"),
            "mri_before": _score(scores, "mri"),
        }
        timeout = inp.step.timeout_s if inp.step.timeout_s is not None else self.timeout_s
        try:
            value = await asyncio.wait_for(revise(result.payload, result.output, fb, ctx), timeout)
            revised = None if value is None else normalise_output(value)
        except Exception as e:  # a revision (its timeout, a bug) never fails the attempt
            return None, record | {"revised": False, "error": f"{type(e).__name__}: {e}"}
        if revised is None:
            return None, record | {"revised": False}
        problem = storable(revised.to_dict())
        if problem is not None:
            return None, record | {"revised": False, "error": f"cannot be stored: {problem}"}
        new_result = replace(result, output=revised)
        new_scores = await evaluate.score(inp, new_result)
        kept = _composite(new_scores) >= _composite(scores)
        record |= {
            "revised": True,
            "qsr_after": _score(new_scores, "qsr"),
            "mri_after": _score(new_scores, "mri"),
            "kept": kept,
        }
        return ((new_result, new_scores) if kept else None), record
