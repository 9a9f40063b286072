"""Shared by the example apps: a ChatAgent when an OpenAI-compatible endpoint is configured.

Set ``MAESTRO_LLM_BASE_URL`` (e.g. ``http://127.0.0.1:8080/v1``) and ``MAESTRO_LLM_MODEL``;
optionally ``MAESTRO_LLM_API_KEY_ENV`` (the *name* of the variable holding the key, e.g.
``OPENAI_API_KEY``), ``MAESTRO_LLM_MODE`` (``chat``, the default, or ``completions`` for base
models), ``MAESTRO_LLM_MAX_TOKENS`` (default 300) and ``MAESTRO_LLM_TIMEOUT_S`` (default 120).
Without them the apps use their deterministic agents and run offline. The JSON steps (triage,
extraction, research) need a model that follows instructions: a small base model's prose is not
JSON, so those steps are retried and then escalated — nothing acts on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from maestro_helix.agents.base import Agent, FunctionAgent
from maestro_helix.agents.chat import ChatAgent
from maestro_helix.agents.endpoint import Endpoint


def llm_settings() -> dict[str, Any] | None:
    """The endpoint settings from the environment, or None when none is configured."""
    base_url = os.environ.get("MAESTRO_LLM_BASE_URL")
    if not base_url:
        return None
    cfg: dict[str, Any] = {
        "type": "openai",
        "base_url": base_url,
        "model": os.environ.get("MAESTRO_LLM_MODEL", "default"),
        "mode": os.environ.get("MAESTRO_LLM_MODE", "chat"),
        "temperature": 0.2,
        "max_tokens": int(os.environ.get("MAESTRO_LLM_MAX_TOKENS", "300")),
        "timeout_s": float(os.environ.get("MAESTRO_LLM_TIMEOUT_S", "120")),
    }
    if os.environ.get("MAESTRO_LLM_API_KEY_ENV"):
        cfg["api_key_env"] = os.environ["MAESTRO_LLM_API_KEY_ENV"]
    return cfg


def agent_or_llm(
    id: str,
    capabilities: Iterable[str],
    fallback: Any,
    llm: Mapping[str, Any] | None,
    endpoints: dict[str, Endpoint],
) -> Agent:
    """A ChatAgent built from ``llm`` (the example's prompt merged into the endpoint settings)
    when an endpoint is configured, else the deterministic ``fallback`` function."""
    settings = llm_settings()
    if settings is None or llm is None:
        return FunctionAgent(id, fallback, capabilities)
    return ChatAgent.from_config(
        id, capabilities, {**settings, **llm}, source=f"{id} (MAESTRO_LLM_*)", endpoints=endpoints
    )
