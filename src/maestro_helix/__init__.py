"""Maestro + Helix: gated, audited, durable AI agent workflows.

Public API; everything else is implementation.
"""

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
from maestro_helix.store.base import RunStatus

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
    "classify_agent_error",
    "load_definition_file",
    "parse_definition",
]
