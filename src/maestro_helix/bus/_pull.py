"""A pull consumer that cannot lose a message to a client-side timeout.

nats-py's ``PullSubscription.fetch`` waits for each reply with ``asyncio.wait_for(queue.get(),
timeout)`` and asks the server to expire the pull request at that same deadline. On Python 3.11
a message that arrives as ``wait_for`` times out is taken off the queue and then discarded with
the cancelled wait: the server has delivered it, the client never sees it, and it comes back
only after ``ack_wait`` (30 s by default). A message redelivered after a NAK delay that is a
multiple of the fetch window lands on that boundary about every other time (measured: 6 of 12
redeliveries late).

:class:`Puller` receives the replies of its pull requests through a subscription *callback*,
which puts every message on its own queue: nothing is dropped on the way. A fetch first takes
what is there (a ``no_wait`` request, ended by the server's ``404 No Messages``), else waits for one
message (a request for 1 that expires with ``timeout``, ended by ``408 Request Timeout``); each
request is read to its end, so none stays open to deliver more than was asked. It never cancels
a wait that may hold a message (``asyncio.wait`` leaves the getter running for the next fetch).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["GRACE_S", "Puller"]

GRACE_S = 1.0  # past the request's expiry, the server's own status is late: give up waiting
_HEARTBEAT = "100"


def _status(msg: Msg) -> str | None:
    headers = msg.headers or {}
    return headers.get("Status") if not msg.data else None


class Puller:
    """Pulls from one durable or ephemeral consumer of a stream.

    Args:
        nc: an open connection.
        api_prefix: the JetStream API prefix (``$JS.API`` unless a domain or prefix is set).
        stream: the stream.
        consumer: the consumer's name.
    """

    def __init__(self, nc: Client, api_prefix: str, stream: str, consumer: str) -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Subscription | None = None
        self._getter: asyncio.Task[Msg] | None = None

    async def start(self) -> Puller:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)
        return self

    async def _on_msg(self, msg: Msg) -> None:
        self._queue.put_nowait(msg)

    async def _next_msg(self, timeout: float) -> Msg | None:
        """The next queued reply, or None after ``timeout`` (the wait goes on for next time)."""
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait({self._getter}, timeout=max(0.0, timeout))
        if not done:
            return None
        msg, self._getter = self._getter.result(), None
        return msg

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages; an empty list when none came within ``timeout``.

        First what is there now (``no_wait``), else one message as soon as it comes. Every
        request is read to its end (its last message or the server's status) before this
        returns, so no request is left open to deliver more than was asked for.
        """
        msgs = await self._request({"batch": batch, "no_wait": True}, batch, timeout)
        if msgs:
            return msgs
        return await self._request(
            {"batch": 1, "expires": int(timeout * 1_000_000_000)}, 1, timeout
        )

    async def _request(self, request: dict[str, Any], batch: int, timeout: float) -> list[Msg]:
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + GRACE_S
        msgs: list[Msg] = []
        while len(msgs) < batch:
            msg = await self._next_msg(deadline - loop.time())
            if msg is None:
                break  # the server's status is overdue (connection trouble): try again later
            status = _status(msg)
            if status is None:
                msgs.append(msg)
            elif status != _HEARTBEAT:
                break  # the request is over: no (more) messages, or it expired
        return msgs

    async def unsubscribe(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
