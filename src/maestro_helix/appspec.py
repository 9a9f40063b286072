"""What a deployment brings to the engine: its agents, action types, evaluators and workflows.

The command line loads one with ``--app MODULE:ATTR`` (the attribute may be an ``AppSpec``, an
``AgentRegistry``, a list of agents, or a function returning one of these), or with
``--app agents.yaml``: model agents declared in a file (see ``agents_from_file`` in
``agents/chat.py``). Without ``--app``, the demo's spec is used.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from maestro_helix.agents.base import AgentRegistry
from maestro_helix.core.actions import ActionSpec
from maestro_helix.core.errors import ConfigError
from maestro_helix.core.workflow import WorkflowDef
from maestro_helix.helix.base import CustomCriterion

__all__ = ["AppSpec", "demo_app", "load_app"]


@dataclass(frozen=True)
class AppSpec:
    agents: AgentRegistry
    action_types: tuple[ActionSpec, ...] = ()
    evaluators: Mapping[str, CustomCriterion] = field(default_factory=dict)
    workflows: tuple[WorkflowDef, ...] = ()


def demo_app() -> AppSpec:
    """Everything the demo needs: its agents, action types and workflow."""
    from maestro_helix.agents.demo import demo_actions, demo_agents, demo_workflow

    return AppSpec(demo_agents(), tuple(demo_actions()), workflows=(demo_workflow(),))


def load_app(spec: str | None) -> AppSpec:
    """Import ``MODULE:ATTR`` (see the module docstring); errors name the option and the cause."""
    if spec is None:
        return demo_app()
    if spec.endswith((".yaml", ".yml", ".json")):  # agents declared in a file (ChatAgents)
        from maestro_helix.agents.chat import agents_from_file

        return AppSpec(AgentRegistry(agents_from_file(spec)))
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ConfigError("--app", "", f"expected MODULE:ATTRIBUTE, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ConfigError("--app", "", f"cannot import {mod_name!r}: {e}") from None
    obj = getattr(mod, attr, None)
    if obj is None:
        raise ConfigError("--app", "", f"module {mod_name!r} has no attribute {attr!r}")
    if callable(obj) and not isinstance(obj, AgentRegistry | AppSpec):
        obj = obj()
    if isinstance(obj, AppSpec):
        found: AppSpec = obj
        return found
    if isinstance(obj, AgentRegistry):
        return AppSpec(obj)
    try:
        return AppSpec(AgentRegistry(list(obj)))
    except TypeError as e:
        raise ConfigError(
            "--app", "", f"{spec} is not an AppSpec, AgentRegistry or list of agents: {e}"
        ) from None
