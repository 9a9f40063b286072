"""Re-evaluation on request (runbook weeks 9–10): after its output is scored, an agent that can
revise gets the evaluator's suggestions — on a passing output too — and may hand back a revised
output, which is scored again before the gate decides. Bounded (``max_reevaluations`` rounds, the
step's timeout per round) and recorded: each round's scores before and after, and which output
was kept, go into the attempt's audit entry (``details.reevaluations``).

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
from maestro_helix.core.steps import Next, StepInput, StepOutcome
from maestro_helix.engine.bridge import DEFAULT_STEP_TIMEOUT_S, EvaluateLink

__all__ = ["ReevaluateLink"]


def _composite(out: StepOutcome) -> float:
    q, m = out.qsr, out.mri
    return 0.4 * (q or 0.0) + 0.3 * (1.0 - (m if m is not None else 1.0))


class ReevaluateLink:
    """Between the gate and the evaluation.

    Args:
        agents: the registry (the agent that ran is asked).
        evaluate: the evaluation link, whose :meth:`~EvaluateLink.score` scores revisions.
        max_rounds: at most this many revisions per attempt (0: off).
        timeout_s: how long one revision may take unless the step sets ``timeout_s``.
    """

    def __init__(
        self,
        agents: AgentRegistry,
        evaluate: EvaluateLink,
        max_rounds: int = 1,
        timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    ) -> None:
        self.agents = agents
        self.evaluate = evaluate
        self.max_rounds = max_rounds
        self.timeout_s = timeout_s

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        rounds: list[dict[str, Any]] = []
        for n in range(1, self.max_rounds + 1):
            nxt_out, record = await self._round(out, n)
            if record is None:
                break
            rounds.append(record)
            if nxt_out is None:
                break
            out = nxt_out
        return replace(out, reevaluations=tuple(rounds)) if rounds else out

    async def _round(
        self, out: StepOutcome, n: int
    ) -> tuple[StepOutcome | None, dict[str, Any] | None]:
        """(the outcome to go on with, or None to stop; the round's record, or None: no round)."""
        if out.output is None or out.agent_id is None:
            return None, None
        if not isinstance(out.quality, QualityScore) or not isinstance(out.risk, RiskScore):
            return None, None
        agent = self.agents.get(out.agent_id)
        revise = getattr(agent, "revise", None)
        if revise is None or not getattr(agent, "can_revise", True):
            return None, None
        fb = out.feedback()
        if not fb.suggestions:
            return None, None
        inp = out.input
        ctx = StepContext(
            run_id=inp.run_id,
            workflow=inp.workflow.name,
            step=inp.step.id,
            attempt=inp.attempt,
            capability=inp.step.capability,
            task=out.task,
            feedback=fb,
            knowledge=inp.knowledge,
        )
        record: dict[str, Any] = {
            "round": n,
            "suggestions": list(fb.suggestions),
            "qsr_before": out.qsr,
            "mri_before": out.mri,
        }
        timeout = inp.step.timeout_s if inp.step.timeout_s is not None else self.timeout_s
        try:
            value = await asyncio.wait_for(revise(out.payload, out.output, fb, ctx), timeout)
            revised = None if value is None else normalise_output(value)
        except Exception as e:  # a revision (its timeout, a bug) never fails the attempt
            record |= {"revised": False, "error": f"{type(e).__name__}: {e}"}
            return None, record
        if revised is None:
            return None, record | {"revised": False}
        problem = storable(revised.to_dict())
        if problem is not None:
            return None, record | {"revised": False, "error": f"cannot be stored: {problem}"}
        scored = await self.evaluate.score(inp, replace(out, output=revised))
        kept = _composite(scored) >= _composite(out)
        record |= {"revised": True, "qsr_after": scored.qsr, "mri_after": scored.mri, "kept": kept}
        return (scored if kept else None), record
