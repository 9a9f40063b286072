"""Helix gates and GIL approvals inside other orchestrators.

- :class:`HelixJudge` (here): QSR + MRI + the gate for one output, in-process, outside a workflow.
- ``maestro_helix.adapters.langgraph``: a node wrapper that gates a node's output, retries it with
  the evaluator's feedback and escalates to people through LangGraph's ``interrupt()``
  (extra ``langgraph``).
- ``maestro_helix.adapters.openai_agents``: an output guardrail and a tool-approval hook for the
  OpenAI Agents SDK that decide with Helix and GIL's rules (extra ``openai-agents``).
"""

from maestro_helix.adapters._judge import HelixJudge, Judgement

__all__ = ["HelixJudge", "Judgement"]
