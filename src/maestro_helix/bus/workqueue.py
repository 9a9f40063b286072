"""Step hand-out for workers on many machines: a JetStream work-queue stream.

Each step attempt is one message on ``maestro.work.capability.<name>`` (or ``…agent.<id>`` for a
step pinned to an agent), published with ``Nats-Msg-Id`` = the attempt's key, so a re-sent item is
stored once. Workers pull from one durable consumer per route, so any number of workers share the
work; a worker acks only after the step's result is committed in the store. An item that is not
acked within ``ack_wait_s`` (the worker died) is delivered again; the engine's handling of an item
is idempotent (an attempt already committed is not run again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from maestro_helix.bus._pull import Puller
from maestro_helix.bus.nats import BusError
from maestro_helix.core.errors import RunHeld
from maestro_helix.core.work import WorkItem

__all__ = ["JetStreamWorkQueue", "WorkHandler", "routes_for"]

log = logging.getLogger(__name__)

WorkHandler = Callable[[WorkItem], Awaitable[None]]
SUBJECT_PREFIX = "maestro.work"


def routes_for(capabilities: Iterable[str], agent_ids: Iterable[str]) -> list[str]:
    """The routes a worker with these agents serves."""
    return sorted({f"capability.{c}" for c in capabilities} | {f"agent.{a}" for a in agent_ids})


def _consumer_name(route: str) -> str:
    return "workers_" + "".join(ch if ch.isalnum() else "_" for ch in route)


class JetStreamWorkQueue:
    """A JetStream work queue of step attempts.

    Args:
        url: NATS server(s), e.g. ``nats://127.0.0.1:4222``.
        namespace: keeps several deployments (or test runs) on one NATS server apart.
        ack_wait_s: how long a worker may hold an item before it is delivered again.
        connect_options: passed to ``nats.connect`` (credentials, TLS, name…).
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        namespace: str = "",
        ack_wait_s: float = 30.0,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.stream = f"MAESTRO_WORK_{namespace}" if namespace else "MAESTRO_WORK"
        # a separate subject tree per namespace: streams may not overlap
        self.prefix = f"maestro.{namespace}.work" if namespace else SUBJECT_PREFIX
        self.ack_wait_s = ack_wait_s
        self.connect_options = dict(connect_options or {})
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def open(self) -> None:
        if self._nc is not None:
            return
        try:
            self._nc = await nats.connect(
                self.url.split(","),
                connect_timeout=5,
                max_reconnect_attempts=60,
                **self.connect_options,
            )
        except (OSError, nats.errors.Error, TimeoutError) as e:
            raise BusError(self.url, f"cannot connect: {e or type(e).__name__}") from None
        self._js = self._nc.jetstream()
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=120.0,
        )
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)

    async def stop_consuming(self) -> None:
        """Take no new items; wait for the ones in hand to finish and be acked."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._nc is not None:
            # nothing is in hand any more (acks were flushed with each item): close, don't
            # drain — a drain waits out pull requests still open on the server (30 s)
            nc, self._nc = self._nc, None
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await nc.flush(timeout=2)
            await nc.close()

    async def __aenter__(self) -> JetStreamWorkQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _js_or_raise(self) -> JetStreamContext:
        if self._js is None:
            raise BusError(self.url, "the work queue is not open")
        return self._js

    async def dispatch(self, items: Sequence[WorkItem], *, stall_s: float = 5.0) -> None:
        """Hand out items; returns once JetStream stored all of them.

        Every item is sent at once and the acks are awaited together (``publish_async``: one
        reply subscription, no request per item), so the items of many callers at once (a
        worker's items in flight) share the connection's writes and acks. An item whose ack
        fails or does not come within ``stall_s`` is sent again with the same ``Nats-Msg-Id``
        (stored once)."""
        js = self._js_or_raise()
        pending = list(items)
        error: BaseException | None = None
        for attempt in range(3):
            sent: list[tuple[WorkItem, asyncio.Future[Any]]] = []
            failed: list[WorkItem] = []
            for item in pending:
                try:
                    fut = await js.publish_async(
                        f"{self.prefix}.{item.route}",
                        _body(item),
                        wait_stall=stall_s,
                        headers={"Nats-Msg-Id": item.key},
                    )
                except (nats.errors.Error, nats.js.errors.Error) as e:
                    failed.append(item)
                    error = e
                    continue
                sent.append((item, fut))
            if sent:
                await asyncio.wait([f for _, f in sent], timeout=stall_s)
            for item, fut in sent:
                if not fut.done():
                    fut.cancel()  # its slot back; the reply, if it comes, is dropped
                    failed.append(item)
                    error = TimeoutError(f"no ack within {stall_s} s")
                elif fut.cancelled() or fut.exception() is not None:
                    failed.append(item)
                    error = None if fut.cancelled() else fut.exception()
            if not failed:
                return
            pending = failed
            if attempt < 2:
                await asyncio.sleep(0.2 * (attempt + 1))
        raise BusError(
            self.url, f"{len(pending)} item(s) not stored, e.g. {pending[0].key}: {error}"
        ) from None

    async def consume(
        self, routes: Sequence[str], handler: WorkHandler, *, concurrency: int = 32
    ) -> None:
        """Start pulling items for ``routes``; ``handler`` runs each (ack after it returns)."""
        js = self._js_or_raise()
        for route in routes:
            name = _consumer_name(route)
            cfg = ConsumerConfig(
                durable_name=name,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_s,
                max_ack_pending=-1,
                filter_subject=f"{self.prefix}.{route}",
            )
            with contextlib.suppress(nats.js.errors.BadRequestError):
                await js.add_consumer(self.stream, cfg)  # exists: another worker made it
            assert self._nc is not None
            # replies through a callback: a fetch cannot lose one to its timeout (see _pull)
            sub = await Puller(self._nc, js._prefix, self.stream, name).start()
            self._tasks.append(
                asyncio.create_task(self._pull(sub, handler, concurrency), name=f"work-{route}")
            )

    async def _pull(self, sub: Any, handler: WorkHandler, concurrency: int) -> None:
        running: set[asyncio.Task[None]] = set()
        done = asyncio.Event()
        while not self._stopping.is_set():
            free = concurrency - len(running)
            if free <= 0:  # fetch only what we can run now; wait for a slot
                done.clear()
                await done.wait()
                continue
            try:
                msgs: list[Msg] = await sub.fetch(free, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.Error, OSError) as e:
                if self._stopping.is_set():
                    break
                log.warning("work queue fetch failed", extra={"error": str(e)})
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                task = asyncio.create_task(self._handle(msg, handler))
                running.add(task)

                def finished(t: asyncio.Task[None]) -> None:
                    running.discard(t)
                    done.set()

                task.add_done_callback(finished)
        if running:  # let the items in hand finish (and be acked) before we go
            await asyncio.gather(*running, return_exceptions=True)

    async def _handle(self, msg: Msg, handler: WorkHandler) -> None:
        try:
            head, _, state = msg.data.partition(b"\n")
            d = orjson.loads(head)
            item = WorkItem(
                d["run_id"],
                int(d["step_index"]),
                int(d["attempt"]),
                d.get("capability"),
                d.get("agent"),
                int(d.get("epoch", 0)),
                state or None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.error("dropping a malformed work item", extra={"subject": msg.subject})
            await msg.term()
            return
        try:
            await handler(item)
        except RunHeld as e:  # a live worker has the run: look again once its lease may end
            with contextlib.suppress(nats.errors.Error):
                await msg.nak(delay=e.retry_after_s)
            return
        except Exception:
            log.exception("work item failed; it will be delivered again", extra={"key": item.key})
            with contextlib.suppress(nats.errors.Error):
                await msg.nak(delay=1.0)
        else:
            try:
                await msg.ack()
            except nats.errors.Error:
                log.warning(
                    "ack lost; the item will be delivered again (handled idempotently)",
                    extra={"key": item.key},
                )


def _body(item: WorkItem) -> bytes:
    """An item on the wire: its line of JSON, then the state it carries as it is (JSON has no
    raw newline)."""
    body = orjson.dumps(
        {
            "run_id": item.run_id,
            "step_index": item.step_index,
            "attempt": item.attempt,
            "capability": item.capability,
            "agent": item.agent,
            "epoch": item.epoch,
        }
    )
    return body if item.state is None else b"%s\n%s" % (body, item.state)
