"""One OpenAI-compatible HTTP endpoint: URL, key, timeouts, a concurrency limit, retries.

Agents that talk to the same server share one :class:`Endpoint`, so its concurrency limit holds
across them. httpx errors are translated here into the project's exception tree
(``TransientAgentError``, ``AgentRejected``, ``AgentOutputInvalid`` in ``core/errors.py``).
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from maestro_helix.agents.failures import RetryPolicy, call_with_retries, is_transient_status
from maestro_helix.core.errors import (
    AgentConfigError,
    AgentOutputInvalid,
    AgentRejected,
    TransientAgentError,
)

__all__ = ["CallResult", "Endpoint"]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful call: the decoded JSON body, how long it took from the first send (retries
    and their pauses included, the wait for a free concurrency slot not) and how many tries."""

    body: Mapping[str, Any]
    latency_ms: float
    tries: int


class Endpoint:
    """An OpenAI-compatible server, e.g. ``http://127.0.0.1:8080/v1`` or a hosted API.

    Args:
        base_url: the API root, ending before ``/chat/completions``.
        api_key_env: name of the environment variable holding the API key (read at each call,
            so a rotated key is picked up); None for servers without keys.
        timeout_s: the whole call's read/write/pool timeout.
        connect_timeout_s: the TCP/TLS connect timeout.
        max_concurrency: calls in flight at once to this endpoint (per event loop).
        retry: retries of transient failures (429, 5xx, timeouts, connection errors).
        headers: extra headers sent with every call.
        transport: an httpx transport to use instead of the network (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.headers = dict(headers or {})
        self._transport = transport
        # asyncio primitives belong to one loop: one semaphore per loop that uses this endpoint
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"Endpoint({self.base_url!r}, max_concurrency={self.max_concurrency})"

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._limits.get(loop)
        if sem is None:
            sem = self._limits[loop] = asyncio.Semaphore(self.max_concurrency)
        return sem

    def _auth_headers(self, agent_id: str) -> dict[str, str]:
        h = {"content-type": "application/json", **self.headers}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise AgentConfigError(
                    agent_id, f"environment variable {self.api_key_env} (the API key) is not set"
                )
            h["authorization"] = f"Bearer {key}"
        return h

    async def post(self, path: str, body: Mapping[str, Any], agent_id: str) -> CallResult:
        """POST ``body`` as JSON to ``base_url + path``; retried per the policy when transient."""
        url = self.base_url + path
        headers = self._auth_headers(agent_id)
        limit = self._limit()
        tries = 0
        started: float | None = None  # the first send, after the wait for a free slot

        async def once() -> Mapping[str, Any]:
            nonlocal tries, started
            tries += 1
            async with limit:
                if started is None:
                    started = time.perf_counter()
                return await self._post_once(url, body, headers, agent_id)

        result = await call_with_retries(once, self.retry)
        assert started is not None
        return CallResult(result, (time.perf_counter() - started) * 1000.0, tries)

    async def _post_once(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], agent_id: str
    ) -> Mapping[str, Any]:
        # a client per call: nothing outlives the call or its event loop (no unclosed pools);
        # connection set-up is small beside a model's latency
        async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout) as client:
            try:
                r = await client.post(url, json=dict(body), headers=dict(headers))
            except httpx.TimeoutException as e:
                raise TransientAgentError(agent_id, f"{url}: timed out ({type(e).__name__})") from e
            except httpx.TransportError as e:
                raise TransientAgentError(
                    agent_id, f"{url}: cannot reach the endpoint ({type(e).__name__}: {e})"
                ) from e
        return _decode(r, url, agent_id)


def _decode(r: httpx.Response, url: str, agent_id: str) -> Mapping[str, Any]:
    status = r.status_code
    if 200 <= status < 300:
        try:
            data = r.json()
        except ValueError:
            raise AgentOutputInvalid(
                agent_id, f"{url}: answered {status} with a body that is not JSON", status=status
            ) from None
        if not isinstance(data, dict):
            raise AgentOutputInvalid(
                agent_id, f"{url}: answered a JSON {type(data).__name__}, not an object"
            )
        return data
    detail = _error_detail(r)
    if is_transient_status(status):
        raise TransientAgentError(
            agent_id,
            f"{url}: HTTP {status}{detail}",
            status=status,
            retry_after_s=_retry_after(r.headers.get("retry-after")),
        )
    raise AgentRejected(agent_id, f"{url}: HTTP {status}{detail}", status=status)


def _error_detail(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        text = r.text.strip()
        return f": {text[:200]}" if text else ""
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err
    return f": {str(msg)[:200]}" if msg else ""


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is rare for APIs and ignored)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
