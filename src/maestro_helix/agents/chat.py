"""``ChatAgent``: a step run by a model behind any OpenAI-compatible endpoint.

Hosted APIs, vLLM, Ollama and llama.cpp's ``llama-server`` all speak ``/v1/chat/completions``;
base models (no chat template) are driven through ``/v1/completions`` with an explicit prompt
template. Configured in Python or from plain data (a workflow app's YAML)::

    agent: {type: openai, base_url: http://127.0.0.1:8080/v1, model: gemma-3-270m,
            api_key_env: OPENAI_API_KEY, system: "You extract invoices.",
            prompt: "Extract the fields of: ${input.document}", output: json}

Prompts are templates over the step: ``${input}`` / ``${input.KEY}`` (the step's input),
``${task}`` (the step's rendered task), ``${attempt}``. On a retry the evaluator's reasons and
suggestions (``ctx.feedback``) are appended to the prompt — or put where a template says
``${feedback}`` (for base models, whose prompt must end where the answer starts).
Structured output (JSON mode or a JSON schema) becomes ``AgentOutput.data``; tool calls become
proposed actions (so GIL sees them); tokens, latency, cost and tries are ``AgentOutput.usage``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from maestro_helix.agents.endpoint import CallResult, Endpoint
from maestro_helix.agents.failures import RetryPolicy
from maestro_helix.core.configfile import parse_model
from maestro_helix.core.errors import (
    AgentConfigError,
    AgentOutputInvalid,
    ConfigError,
    ConfigErrors,
)
from maestro_helix.core.outputs import AgentOutput, ProposedAction, StepContext, Usage
from maestro_helix.core.scores import Feedback
from maestro_helix.core.workflow import Unresolved, load_text, render

__all__ = [
    "ChatAgent",
    "ChatAgentConfig",
    "ChatMode",
    "OutputFormat",
    "ToolSpec",
    "agents_from_config",
    "agents_from_file",
]


class ChatMode(enum.StrEnum):
    """Which API the agent calls."""

    CHAT = "chat"  # /chat/completions: system + user messages, tools, response_format
    COMPLETIONS = "completions"  # /completions: one prompt, for base models


class OutputFormat(enum.StrEnum):
    TEXT = "text"  # the answer is the output text
    JSON = "json"  # JSON mode: the answer is a JSON object → data
    JSON_SCHEMA = "json_schema"  # the answer must follow ``json_schema`` → data


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolSpec(_Frozen):
    """A tool the model may call; each call becomes a proposed action of type ``action``.

    Attributes:
        name: the function name the model sees (``[A-Za-z0-9_-]``).
        action: the registered action type it proposes, e.g. ``payments.transfer``.
        description: what the tool does, for the model.
        parameters: JSON Schema of the arguments.
        amount_field: the argument holding the monetary amount (feeds risk and policy).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    action: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    amount_field: str | None = None


_DEFAULT_PROMPT = "${task}\n\n${input}"
_DEFAULT_TEMPLATE = "${system}\n\n${prompt}\n"


class ChatAgentConfig(_Frozen):
    """How a :class:`ChatAgent` calls its model. Every field has a typed default but the URL/model.

    Attributes:
        type: always ``openai`` (the wire protocol).
        base_url: API root, e.g. ``https://api.example.com/v1`` or ``http://127.0.0.1:8080/v1``.
        model: the model name sent in each request.
        api_key_env: environment variable holding the API key (None: no key is sent).
        mode: ``chat`` or ``completions``.
        system: the system prompt (a template).
        prompt: the user prompt (a template).
        prompt_template: ``completions`` mode: the whole text sent (``${system}``, ``${prompt}``).
        output: ``text``, ``json`` or ``json_schema``.
        json_schema: the schema of the answer (``json_schema`` output).
        text_field: with JSON output, the field that is the output text (default: none, the
            answer is only ``data``).
        tools: tools the model may call (chat mode).
        temperature, max_tokens, stop: sampling settings.
        extra_body: fields merged into every request (server-specific, e.g. llama.cpp ``grammar``).
        timeout_s, connect_timeout_s: per-call timeouts.
        max_concurrency: calls in flight to this endpoint.
        tries, backoff_initial_s, backoff_max_s: retries of transient failures.
        price_in_per_mtok, price_out_per_mtok: USD per million prompt/completion tokens.
    """

    type: Literal["openai"] = "openai"
    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: ChatMode = ChatMode.CHAT
    system: str = ""
    prompt: str = _DEFAULT_PROMPT
    prompt_template: str = _DEFAULT_TEMPLATE
    output: OutputFormat = OutputFormat.TEXT
    json_schema: dict[str, Any] | None = None
    text_field: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=512, ge=1)
    stop: tuple[str, ...] = ()
    extra_body: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=10_000)
    tries: int = Field(default=4, ge=1, le=20)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=20.0, ge=0)
    price_in_per_mtok: float = Field(default=0.0, ge=0)
    price_out_per_mtok: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ChatAgentConfig:
        if self.output is OutputFormat.JSON_SCHEMA and self.json_schema is None:
            raise ValueError("output 'json_schema' needs a 'json_schema'")
        if self.mode is ChatMode.COMPLETIONS and self.tools:
            raise ValueError("tools need mode 'chat' (/completions has no tool calls)")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s is smaller than backoff_initial_s")
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("two tools have the same name")
        return self

    @classmethod
    def parse(cls, data: Any, source: str = "<python>") -> ChatAgentConfig:
        """Validate plain data; errors name the source, the field and the reason."""
        return parse_model(cls, data, source)

    def endpoint(self, transport: httpx.AsyncBaseTransport | None = None) -> Endpoint:
        """An :class:`Endpoint` with this config's URL, key, timeouts, limit and retries."""
        return Endpoint(
            self.base_url,
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            max_concurrency=self.max_concurrency,
            retry=RetryPolicy(self.tries, self.backoff_initial_s, self.backoff_max_s),
            transport=transport,
        )


class ChatAgent:
    """An agent whose work is one call to an OpenAI-compatible model.

    Args:
        id: unique agent id.
        capabilities: what it can do.
        config: how to call the model.
        endpoint: share one with other agents on the same server (its concurrency limit is then
            shared); default: a new one from ``config``.
    """

    def __init__(
        self,
        id: str,
        capabilities: Iterable[str],
        config: ChatAgentConfig,
        *,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.id = id
        self.capabilities = frozenset(capabilities)
        self.config = config
        self.endpoint = endpoint or config.endpoint()
        self._tools = {t.name: t for t in config.tools}
        # a template that says where the feedback goes gets it there, not appended to the prompt
        self._places_feedback = any(
            "${feedback" in t for t in (config.system, config.prompt, config.prompt_template)
        )

    retries_transient = True  # the endpoint retries 429/5xx/timeouts itself (see run_agent)

    @classmethod
    def from_config(
        cls,
        id: str,
        capabilities: Iterable[str],
        data: Mapping[str, Any],
        *,
        source: str = "<python>",
        endpoints: dict[str, Endpoint] | None = None,
    ) -> ChatAgent:
        """Build from plain data (``{type: openai, base_url, model, ...}``).

        Agents built with the same ``endpoints`` dict share one endpoint per ``base_url``.
        """
        cfg = ChatAgentConfig.parse(data, source)
        endpoint = None
        if endpoints is not None:
            endpoint = endpoints.get(cfg.base_url)
            if endpoint is None:
                endpoint = endpoints[cfg.base_url] = cfg.endpoint()
        return cls(id, capabilities, cfg, endpoint=endpoint)

    def __repr__(self) -> str:
        return f"ChatAgent({self.id!r}, model={self.config.model!r}, {self.endpoint!r})"

    async def run(self, input: Mapping[str, Any], ctx: StepContext) -> AgentOutput:
        cfg = self.config
        scope = _scope(input, ctx)
        system = self._render(cfg.system, scope, "system")
        prompt = self._render(cfg.prompt, scope, "prompt")
        if not self._places_feedback:
            prompt += _feedback_block(ctx.feedback)
        if cfg.mode is ChatMode.CHAT:
            result = await self.endpoint.post(
                "/chat/completions", self._chat_body(system, prompt), self.id
            )
            content, calls = _chat_answer(result.body, self.id)
        else:
            full = self._render(
                cfg.prompt_template,
                {**scope, "system": system, "prompt": prompt},
                "prompt_template",
            )
            result = await self.endpoint.post("/completions", self._completion_body(full), self.id)
            content, calls = _completion_answer(result.body, self.id), []
        text, data = self._shape(content)
        return AgentOutput(
            text=text,
            data=data,
            actions=tuple(self._action(c) for c in calls),
            usage=self._usage(result),
        )

    def _render(self, template: str, scope: Mapping[str, Any], field: str) -> str:
        try:
            return str(render(template, scope) or "")
        except Unresolved as e:
            raise AgentConfigError(
                self.id, f"{field}: reference ${{{e.args[0]}}} has no value in this step's input"
            ) from None

    def _sampling(self) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model}
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.stop:
            body["stop"] = list(cfg.stop)
        return body

    def _chat_body(self, system: str, prompt: str) -> dict[str, Any]:
        cfg = self.config
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        body = {**self._sampling(), "messages": messages}
        if cfg.output is OutputFormat.JSON:
            body["response_format"] = {"type": "json_object"}
        elif cfg.output is OutputFormat.JSON_SCHEMA:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": cfg.json_schema, "strict": True},
            }
        if cfg.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in cfg.tools
            ]
        return {**body, **cfg.extra_body}

    def _completion_body(self, prompt: str) -> dict[str, Any]:
        return {**self._sampling(), "prompt": prompt, **self.config.extra_body}

    def _shape(self, content: str) -> tuple[str, dict[str, Any]]:
        cfg = self.config
        if cfg.output is OutputFormat.TEXT:
            return content.strip(), {}
        data = parse_json_object(content, self.id)
        if cfg.text_field is not None:
            value = data.get(cfg.text_field)
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            return text.strip(), data
        # no text of its own: the answer is data, scored as data (schema, mentions, relevance
        # over its values), not as prose a raw ``{...}`` would fail ("ends mid-sentence")
        return "", data

    def _action(self, call: Mapping[str, Any]) -> ProposedAction:
        fn = call.get("function") or {}
        name = str(fn.get("name", ""))
        spec = self._tools.get(name)
        if spec is None:
            known = ", ".join(sorted(self._tools)) or "none"
            raise AgentOutputInvalid(
                self.id, f"model called unknown tool {name!r} (tools: {known})"
            )
        raw = fn.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            raise AgentOutputInvalid(
                self.id, f"tool {name!r}: arguments are not a JSON object"
            ) from None
        if not isinstance(args, dict):
            raise AgentOutputInvalid(self.id, f"tool {name!r}: arguments are not a JSON object")
        amount = args.get(spec.amount_field) if spec.amount_field else None
        try:
            amount_f = None if amount is None else float(amount)
        except (TypeError, ValueError):
            raise AgentOutputInvalid(
                self.id, f"tool {name!r}: {spec.amount_field} is not a number"
            ) from None
        return ProposedAction(type=spec.action, payload=args, amount=amount_f)

    def _usage(self, result: CallResult) -> Usage:
        cfg = self.config
        u = result.body.get("usage") or {}
        pt = _int(u.get("prompt_tokens"))
        ct = _int(u.get("completion_tokens"))
        cost = (pt * cfg.price_in_per_mtok + ct * cfg.price_out_per_mtok) / 1e6
        return Usage(
            model=str(result.body.get("model") or cfg.model),
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_ms=result.latency_ms,
            cost_usd=cost,
            tries=result.tries,
        )


def _int(v: Any) -> int:
    try:
        return max(0, int(v))
    except (TypeError, ValueError):
        return 0


def _scope(input: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    fb = ctx.feedback
    return {
        "input": dict(input),
        "task": ctx.task,
        "attempt": ctx.attempt,
        "step": ctx.step,
        "workflow": ctx.workflow,
        "feedback": _feedback_block(fb).strip() if fb is not None else "",
    }


def _feedback_block(fb: Feedback | None) -> str:
    """What the model is told on a retry: why its last answer was not accepted, what to change."""
    if fb is None or not (fb.reasons or fb.suggestions):
        return ""
    lines = ["", "", "Your previous answer was not accepted."]
    if fb.reasons:
        lines.append("Why: " + "; ".join(fb.reasons))
    if fb.suggestions:
        lines.append("Do this: " + "; ".join(fb.suggestions))
    return "\n".join(lines)


def _first_choice(body: Mapping[str, Any], agent_id: str) -> Mapping[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise AgentOutputInvalid(agent_id, "the answer has no choices")
    first: Mapping[str, Any] = choices[0]
    return first


def _chat_answer(body: Mapping[str, Any], agent_id: str) -> tuple[str, list[Mapping[str, Any]]]:
    msg = _first_choice(body, agent_id).get("message")
    if not isinstance(msg, dict):
        raise AgentOutputInvalid(agent_id, "the answer's first choice has no message")
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise AgentOutputInvalid(agent_id, "tool_calls is not a list")
    return str(msg.get("content") or ""), [c for c in calls if isinstance(c, dict)]


def _completion_answer(body: Mapping[str, Any], agent_id: str) -> str:
    return str(_first_choice(body, agent_id).get("text") or "")


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_json_object(content: str, agent_id: str = "") -> dict[str, Any]:
    """The JSON object in a model's answer (bare, or in a ```json fence, or the first {...})."""
    text = content.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        value = json.loads(text)
    except ValueError:
        value = _first_object(text)
    if not isinstance(value, dict):
        raise AgentOutputInvalid(
            agent_id, f"the answer is not a JSON object: {content.strip()[:120]!r}"
        )
    return value


def _first_object(text: str) -> Any:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    return value


class _AgentEntry(_Frozen):
    capabilities: tuple[str, ...] = Field(min_length=1)
    agent: ChatAgentConfig


class _AgentsFile(_Frozen):
    agents: dict[str, _AgentEntry] = Field(min_length=1)


def agents_from_config(data: Any, source: str = "<python>") -> list[ChatAgent]:
    """ChatAgents declared as data (a YAML/JSON file's content)::

        agents:
          invoice.extractor:
            capabilities: [invoice.extract]
            agent: {type: openai, base_url: "http://127.0.0.1:8080/v1", model: m, output: json}

    Agents on the same ``base_url`` share one endpoint (and its concurrency limit). Errors name
    the source, the field and the reason, e.g. ``agents.yaml: agents.x.agent.model: ...``.
    """
    spec = parse_model(_AgentsFile, data, source)
    endpoints: dict[str, Endpoint] = {}
    out = []
    for agent_id, entry in spec.agents.items():
        cfg = entry.agent
        endpoint = endpoints.get(cfg.base_url)
        if endpoint is None:
            endpoint = endpoints[cfg.base_url] = cfg.endpoint()
        out.append(ChatAgent(agent_id, entry.capabilities, cfg, endpoint=endpoint))
    return out


def agents_from_file(path: str | Path) -> list[ChatAgent]:
    """:func:`agents_from_config` on a YAML or JSON file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigErrors([ConfigError(str(p), "", f"cannot read: {e}")]) from None
    return agents_from_config(load_text(text, str(p), p.suffix.lower()), str(p))
