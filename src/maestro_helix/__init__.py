"""Maestro + Helix: gated, audited, durable AI agent workflows.

Public API; everything else is implementation. The names are imported on first use, so
``import maestro_helix`` (and ``maestro --help``) stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maestro_helix.agents.base import AgentRegistry, FunctionAgent, MetacognitiveAgent
    from maestro_helix.agents.chat import ChatAgent
    from maestro_helix.agents.failures import classify_agent_error
    from maestro_helix.app import Maestro
    from maestro_helix.core.actions import ActionSpec, RiskClass
    from maestro_helix.core.errors import (
        AgentError,
        AgentFailureKind,
        ConfigError,
        InputError,
        MaestroError,
        StoreError,
        TransientAgentError,
        WorkflowDefinitionError,
    )
    from maestro_helix.core.outputs import AgentOutput, ProposedAction, StepContext
    from maestro_helix.core.records import RunStatus
    from maestro_helix.core.scores import (
        CriterionScore,
        EvaluationFailure,
        Feedback,
        GateDecision,
        QualityScore,
        RiskFactor,
        RiskScore,
    )
    from maestro_helix.core.workflow import (
        StepDef,
        WorkflowDef,
        load_definition_file,
        parse_definition,
    )
    from maestro_helix.engine.engine import Engine, RunResult

    __version__: str

_LAZY: dict[str, str] = {
    "AgentError": "maestro_helix.core.errors",
    "AgentFailureKind": "maestro_helix.core.errors",
    "ChatAgent": "maestro_helix.agents.chat",
    "TransientAgentError": "maestro_helix.core.errors",
    "classify_agent_error": "maestro_helix.agents.failures",
    "ActionSpec": "maestro_helix.core.actions",
    "AgentOutput": "maestro_helix.core.outputs",
    "AgentRegistry": "maestro_helix.agents.base",
    "ConfigError": "maestro_helix.core.errors",
    "CriterionScore": "maestro_helix.core.scores",
    "Engine": "maestro_helix.engine.engine",
    "EvaluationFailure": "maestro_helix.core.scores",
    "Feedback": "maestro_helix.core.scores",
    "FunctionAgent": "maestro_helix.agents.base",
    "GateDecision": "maestro_helix.core.scores",
    "InputError": "maestro_helix.core.errors",
    "Maestro": "maestro_helix.app",
    "MaestroError": "maestro_helix.core.errors",
    "MetacognitiveAgent": "maestro_helix.agents.base",
    "ProposedAction": "maestro_helix.core.outputs",
    "QualityScore": "maestro_helix.core.scores",
    "RiskClass": "maestro_helix.core.actions",
    "RiskFactor": "maestro_helix.core.scores",
    "RiskScore": "maestro_helix.core.scores",
    "RunResult": "maestro_helix.engine.engine",
    "RunStatus": "maestro_helix.core.records",
    "StepContext": "maestro_helix.core.outputs",
    "StepDef": "maestro_helix.core.workflow",
    "StoreError": "maestro_helix.core.errors",
    "WorkflowDef": "maestro_helix.core.workflow",
    "WorkflowDefinitionError": "maestro_helix.core.errors",
    "load_definition_file": "maestro_helix.core.workflow",
    "parse_definition": "maestro_helix.core.workflow",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("maestro-helix")
        except PackageNotFoundError:  # running from a source tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maestro_helix' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


__all__ = [
    "ActionSpec",
    "AgentError",
    "AgentFailureKind",
    "AgentOutput",
    "AgentRegistry",
    "ChatAgent",
    "ConfigError",
    "CriterionScore",
    "Engine",
    "EvaluationFailure",
    "Feedback",
    "FunctionAgent",
    "GateDecision",
    "InputError",
    "Maestro",
    "MaestroError",
    "MetacognitiveAgent",
    "ProposedAction",
    "QualityScore",
    "RiskClass",
    "RiskFactor",
    "RiskScore",
    "RunResult",
    "RunStatus",
    "StepContext",
    "StepDef",
    "StoreError",
    "TransientAgentError",
    "WorkflowDef",
    "WorkflowDefinitionError",
    "__version__",
    "classify_agent_error",
    "load_definition_file",
    "parse_definition",
]
