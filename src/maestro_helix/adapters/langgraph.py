"""Helix in a LangGraph graph: a node wrapper that gates the node's output.

    from maestro_helix.adapters import HelixJudge
    from maestro_helix.adapters.langgraph import helix_node

    graph.add_node("reply", helix_node(write_reply, judge=HelixJudge(), text_key="reply",
                                       task="Reply to the customer", expect={"min_length": 40}))

The wrapped node runs the node, scores its update (``text_key`` is the output text; the whole
update is its data) and gates it: a pass returns the update (plus ``helix``: the judgement); a
retry runs the node again with the evaluator's feedback in the state under ``feedback_key``; an
escalation asks people through LangGraph's ``interrupt()`` (the graph needs a checkpointer) and
goes on when they answer ``{"decision": "approve"}``; a rejection, or a gate failure, raises
:class:`HelixRejected`. As always with ``interrupt()``, the node runs again from its start when
the graph is resumed. Async nodes; run the graph with ``ainvoke``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langgraph.types import interrupt

from maestro_helix.adapters._judge import HelixJudge, Judgement
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import GateDecision
from maestro_helix.core.workflow import Expectations

__all__ = ["HelixRejected", "helix_node"]

Node = Callable[[Mapping[str, Any]], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class HelixRejected(MaestroError):
    """The gate failed the node's output, or the people asked rejected it."""

    def __init__(self, node: str, reasons: tuple[str, ...], judgement: Judgement | None) -> None:
        self.node = node
        self.reasons = reasons
        self.judgement = judgement
        super().__init__(f"node {node}: rejected ({'; '.join(reasons) or 'no reason given'})")


def helix_node(
    node: Node,
    *,
    judge: HelixJudge,
    text_key: str,
    task: str | Callable[[Mapping[str, Any]], str] = "",
    expect: Expectations | Mapping[str, Any] | None = None,
    input_keys: tuple[str, ...] | None = None,
    feedback_key: str = "helix_feedback",
    name: str | None = None,
) -> Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]:
    """Wrap ``node`` so its output passes Helix's gate before the graph moves on.

    Args:
        node: the LangGraph node (sync or async), returning a state update.
        judge: scores and gates (its gate's ``max_attempts`` bounds the retries).
        text_key: the update's key holding the output text.
        task: what the node is asked to do, or a function of the state giving it.
        expect: what a good output looks like (mentions, length, required fields, schema).
        input_keys: the state keys that are the node's input (default: the whole state).
        feedback_key: the state key carrying the feedback into a retry.
        name: the node's name in reasons and errors (default: the function's name).
    """
    label: str = name or str(getattr(node, "__name__", "node"))
    exp = expect if isinstance(expect, Expectations | None) else Expectations(**expect)

    async def run(state: Mapping[str, Any]) -> Mapping[str, Any]:
        value = node(state)
        if inspect.isawaitable(value):
            value = await value
        return value

    async def wrapped(state: Mapping[str, Any]) -> dict[str, Any]:
        what = task(state) if callable(task) else task
        inp = {k: state[k] for k in input_keys if k in state} if input_keys else dict(state)
        attempt, current = 1, dict(state)
        while True:
            update = dict(await run(current))
            j = await judge.judge(
                AgentOutput(text=str(update.get(text_key, "")), data=update),
                task=what, input=inp, expect=exp, step_id=label, attempt=attempt,
            )  # fmt: skip
            if j.decision is not GateDecision.RETRY:
                break
            attempt += 1
            current = {**state, feedback_key: j.feedback().to_dict()}
        if j.decision is GateDecision.PASS:
            return {**update, "helix": j.to_dict()}
        if j.decision is GateDecision.FAIL:
            raise HelixRejected(label, j.verdict.reasons, j)
        answer = interrupt({"node": label, "output": update, **j.to_dict()})
        return _after_people(label, update, j, answer)

    wrapped.__name__ = label
    return wrapped


def _after_people(label: str, update: dict[str, Any], j: Judgement, answer: Any) -> dict[str, Any]:
    decision = answer.get("decision") if isinstance(answer, Mapping) else answer
    if decision in ("approve", "override"):
        who = answer.get("operator") if isinstance(answer, Mapping) else None
        return {**update, "helix": {**j.to_dict(), "human": {"decision": decision, "by": who}}}
    reason = answer.get("reason") if isinstance(answer, Mapping) else None
    raise HelixRejected(label, (str(reason or "rejected by people"),), j)
