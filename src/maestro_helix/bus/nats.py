"""NATS JetStream event bus: reflexive events on a durable stream, at-least-once to subscribers.

Publishing is pipelined: up to ``max_in_flight`` messages wait for their JetStream ack at once, and
every message carries ``Nats-Msg-Id = event_id`` so a retried publish is stored once. Subscribers
are pull consumers with explicit acks: a message is acked after its handler returns and NAKed
(redelivered later) when the handler raises.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    PubAck,
    StorageType,
    StreamConfig,
)

from maestro_helix.bus._pull import Puller
from maestro_helix.bus.base import REFLEXIVE_SUBJECT, EventBus, EventHandler, Subscription
from maestro_helix.bus.lag import DEFAULT_INTERVAL_S, ConsumerLag
from maestro_helix.core.clock import Clock, SystemClock
from maestro_helix.core.errors import MaestroError
from maestro_helix.core.records import EventRecord

__all__ = ["BusClosed", "BusError", "JetStreamBus"]

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
_STREAM_NAME_IN_USE = 10058  # JetStream API error code: a stream with this name already exists


class BusError(MaestroError):
    """The event bus could not complete an operation.

    Attributes:
        url: the server URL (credentials removed).
        reason: what went wrong, in words.
        not_acked: for a failed publish, how many of its events the server did not acknowledge
            (they may or may not be on the stream; publishing them again is safe, the server
            de-duplicates by event id).
    """

    retryable = True

    def __init__(self, url: str, reason: str, *, not_acked: int = 0) -> None:
        self.url = url
        self.reason = reason
        self.not_acked = not_acked
        super().__init__(f"NATS {url}: {reason}")


class BusClosed(BusError):
    """The bus is not open (``open()`` not called yet, or ``aclose()`` already called)."""

    retryable = False


class _JetStreamSubscription(Subscription):
    def __init__(
        self,
        bus: JetStreamBus,
        psub: Puller,
        handler: EventHandler,
        consumer: str,
        *,
        ephemeral: bool,
    ) -> None:
        self._bus = bus
        self._psub = psub
        self._handler = handler
        self.consumer = consumer
        self._ephemeral = ephemeral
        self._closing = False
        self._closed = False
        # stream sequence -> event time (epoch seconds) of messages received and not yet acked
        self.held: dict[int, float] = {}
        self._task = asyncio.create_task(self._run(), name=f"maestro-bus-consumer-{consumer}")

    async def _run(self) -> None:
        bus = self._bus
        while not self._closing:
            try:
                msgs = await self._psub.fetch(bus._fetch_batch, bus._fetch_timeout_s)
            except nats.errors.TimeoutError:
                continue  # nothing new within the fetch window (a flush timed out)
            except nats.errors.ConnectionClosedError:
                if not self._closing:
                    log.error("event bus connection closed; consumer stops", extra=self._fields())
                return
            except nats.errors.Error as e:
                # server restart, leader change, reconnect in progress: try again shortly
                log.warning("event bus fetch failed: %s", e, extra=self._fields())
                await asyncio.sleep(min(1.0, bus._fetch_timeout_s))
                continue
            batch = [(m, self._decode(m)) for m in msgs]
            # the whole batch is received (and un-acked) from here on, so it all counts for lag
            for m, ev in batch:
                if ev is not None:
                    self.held[m.metadata.sequence.stream] = _epoch(ev.ts, bus._clock)
            # a batch already fetched is delivered even if aclose() was called meanwhile
            for m, ev in batch:
                await self._deliver(m, ev)

    def _decode(self, msg: Msg) -> EventRecord | None:
        try:
            d = orjson.loads(msg.data)
            return EventRecord(
                event_id=d["event_id"],
                type=d["type"],
                ts=d["ts"],
                run_id=d.get("run_id"),
                workflow=d.get("workflow"),
                step_id=d.get("step_id"),
                payload=d.get("payload") or {},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as e:
            log.error("undecodable message on event stream: %s", e, extra=self._fields())
            return None

    async def _deliver(self, msg: Msg, ev: EventRecord | None) -> None:
        bus = self._bus
        seq = msg.metadata.sequence.stream
        try:
            if ev is None:
                await msg.term()  # never decodable: redelivering it would loop forever
                return
            bus.delivered += 1
            try:
                res = self._handler(ev)
                if inspect.isawaitable(res):
                    await res
            except Exception:
                bus.failed += 1
                log.exception(
                    "event handler failed; the event will be redelivered",
                    extra={
                        **self._fields(),
                        "event_id": ev.event_id,
                        "delivery": msg.metadata.num_delivered,
                    },
                )
                await msg.nak(delay=bus._nak_delay_s or None)
            else:
                await msg.ack()
                bus.acked += 1
        except nats.errors.Error as e:
            # the server redelivers after ack_wait: at-least-once, never lost
            log.warning("event bus could not ack/nak a message: %s", e, extra=self._fields())
        finally:
            self.held.pop(seq, None)

    def _fields(self) -> dict[str, Any]:
        return {"stream": self._bus.stream, "consumer": self.consumer}

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing = True
        try:
            await self._task  # ends within one fetch window, after its current batch
        except Exception:
            log.exception("event bus consumer failed", extra=self._fields())
        finally:
            self._bus._subs.discard(self)
            nc = self._bus._nc
            if nc is not None and not nc.is_closed:
                try:
                    await self._psub.unsubscribe()
                    if self._ephemeral:
                        await self._bus._js_or_raise().delete_consumer(
                            self._bus.stream, self.consumer
                        )
                    await nc.flush()  # acks are fire-and-forget: make sure the server has them
                except (nats.errors.Error, BusError) as e:
                    log.warning("event bus consumer close failed: %s", e, extra=self._fields())


class JetStreamBus(EventBus):
    """Publishes reflexive events to a NATS JetStream stream and delivers them to subscribers.

    Delivery is at-least-once: a handler may see an event again after a crash or a failed ack, so
    handlers should be idempotent on ``event_id``. Events of one ``publish`` call are sent in order;
    a subscriber sees them in stream order except for redeliveries.

    Args:
        url: server URL, or several separated by commas. May carry ``user:password@``.
        stream: JetStream stream name (created or updated by ``open``).
        subject: subject the events are published on.
        max_in_flight: most publishes waiting for their server ack at once.
        durable: consumer name for ``subscribe``: a durable consumer resumes where it stopped and
            starts at the beginning of the stream the first time. ``None``: an ephemeral consumer
            (``maestro-<random>``) that sees events published after ``subscribe`` returns and is
            deleted on close.
        connect_options: passed to ``nats.connect`` (``user``/``password``, ``user_credentials``,
            ``tls``, ``name``, ``connect_timeout``, ``max_reconnect_attempts``...).
        ack_wait_s: how long the server waits for a handler's ack before redelivering.
        dedup_window_s: how long the server remembers event ids to drop duplicates.
        open_timeout_s: bound on ``open`` (connecting and setting up the stream).
        publish_timeout_s: how long one publish waits for a server ack before it counts as failed.
        publish_attempts: attempts per event (with the same message id) before ``publish`` raises.
        fetch_batch: messages fetched per pull request.
        fetch_timeout_s: how long one pull waits for messages; also bounds ``Subscription.aclose``.
        nak_delay_s: delay before an event whose handler raised is redelivered.
        clock: wall clock for ``lag_ms``.
        lag_interval_s: how often the stream's consumers are asked how far behind they are
            (:meth:`event_lag_ms`); ``None`` turns that off.
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "REFLEXIVE",
        subject: str = REFLEXIVE_SUBJECT,
        max_in_flight: int = 1024,
        durable: str | None = None,
        connect_options: Mapping[str, Any] | None = None,
        ack_wait_s: float = 30.0,
        dedup_window_s: float = 120.0,
        open_timeout_s: float = 10.0,
        publish_timeout_s: float = 5.0,
        publish_attempts: int = 3,
        fetch_batch: int = 256,
        fetch_timeout_s: float = 0.5,
        nak_delay_s: float = 1.0,
        clock: Clock | None = None,
        lag_interval_s: float | None = DEFAULT_INTERVAL_S,
    ) -> None:
        if max_in_flight < 1 or publish_attempts < 1 or fetch_batch < 1:
            raise ValueError("max_in_flight, publish_attempts and fetch_batch must be >= 1")
        self.servers = [u.strip() for u in url.split(",") if u.strip()]
        self.url = ",".join(_redact(u) for u in self.servers)
        self.stream = stream
        self.subject = subject
        self.max_in_flight = max_in_flight
        self.durable = durable
        self._connect_options = dict(connect_options or {})
        self.ack_wait_s = ack_wait_s
        self.dedup_window_s = dedup_window_s
        self._open_timeout_s = open_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self._publish_attempts = publish_attempts
        self._fetch_batch = fetch_batch
        self._fetch_timeout_s = fetch_timeout_s
        self._nak_delay_s = nak_delay_s
        self._clock: Clock = clock or SystemClock()
        self._lag_interval_s = lag_interval_s
        self.consumer_lag: ConsumerLag | None = None
        """The server-side lag of the stream's consumers, while open (see :mod:`.lag`)."""
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subs: set[_JetStreamSubscription] = set()
        self._last_conn_error: BaseException | None = None
        self._closing = False
        self.published = 0
        """Events the server acknowledged (stored, or recognised as duplicates)."""
        self.duplicates = 0
        """Of ``published``, events the server already had (same event id within the window)."""
        self.delivered = 0
        """Deliveries to this bus's handlers (redeliveries included)."""
        self.acked = 0
        """Deliveries acked after the handler returned."""
        self.failed = 0
        """Deliveries whose handler raised (NAKed, redelivered later)."""

    # -- lifetime -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create (or update) the stream. Idempotent.

        Raises:
            BusError: the server cannot be reached in ``open_timeout_s``, refuses the
                credentials, has no JetStream, or the stream cannot be set up.
        """
        if self._nc is not None:
            return
        nc = Client()
        self._closing = False
        try:
            async with asyncio.timeout(self._open_timeout_s):
                await nc.connect(**self._connect_kwargs())
                js = nc.jetstream(
                    timeout=self._publish_timeout_s, publish_async_max_pending=self.max_in_flight
                )
                await self._ensure_stream(js)
        except BaseException as e:
            self._closing = True  # a failed open is not a disconnection worth a warning
            await _close_quietly(nc)
            if isinstance(e, TimeoutError | nats.errors.Error | OSError):
                raise self._open_error(e) from None
            raise
        self._nc, self._js = nc, js
        if self._lag_interval_s:
            self.consumer_lag = ConsumerLag(
                js, self.stream, clock=self._clock, interval_s=self._lag_interval_s
            )
            self.consumer_lag.start()

    async def aclose(self) -> None:
        """Stop subscriptions (each finishes its current batch), then drain and close."""
        lag, self.consumer_lag = self.consumer_lag, None
        if lag is not None:
            await lag.aclose()
        for sub in list(self._subs):
            try:
                await sub.aclose()
            except Exception:
                log.exception("event bus subscription close failed", extra={"stream": self.stream})
        nc, self._nc, self._js = self._nc, None, None
        self._closing = True
        if nc is None or nc.is_closed:
            return
        try:
            async with asyncio.timeout(_CLOSE_S):  # a close never hangs on the connection
                await nc.drain()
        except (nats.errors.Error, TimeoutError, OSError) as e:
            log.warning("event bus drain failed: %s", e or "timed out", extra={"url": self.url})
            await _close_quietly(nc)

    async def __aenter__(self) -> JetStreamBus:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- publish --------------------------------------------------------------------------------

    async def publish(self, events: Sequence[EventRecord]) -> None:
        """Publish events in order; return once the server has acked every one (durable).

        Up to ``max_in_flight`` acks are awaited at once. Events whose ack fails or times out are
        published again with the same message id (so the server stores each once).

        Raises:
            BusError: some events were still not acked after ``publish_attempts`` attempts;
                ``not_acked`` says how many.
            BusClosed: the bus is not open.
        """
        js = self._js_or_raise()
        pending: Sequence[EventRecord] = events
        attempt = 0
        while pending:
            attempt += 1
            failed, error = await self._publish_window(js, pending)
            if not failed:
                return
            if attempt >= self._publish_attempts:
                raise BusError(
                    self.url,
                    f"{len(failed)} of {len(events)} events not acked by stream {self.stream!r} "
                    f"after {attempt} attempts (last error: {_describe(error)})",
                    not_acked=len(failed),
                )
            log.warning(
                "event bus: %d events not acked, publishing them again",
                len(failed),
                extra={"stream": self.stream, "attempt": attempt, "error": _describe(error)},
            )
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
            pending = failed

    async def _publish_window(
        self, js: JetStreamContext, events: Sequence[EventRecord]
    ) -> tuple[list[EventRecord], BaseException | None]:
        """Send every event, then wait for the acks; returns the events not acked."""
        futures: list[tuple[EventRecord, asyncio.Future[PubAck]]] = []
        failed: list[EventRecord] = []
        error: BaseException | None = None
        oldest = 0  # index of this call's oldest future that may still be waiting for its ack
        try:
            for i, ev in enumerate(events):
                # The window is nats-py's semaphore of max_in_flight slots. When it is full, wait
                # for this call's oldest ack (a future callback) rather than let publish_async
                # bound its slot wait with wait_for, which costs a task per message and made
                # pipelined publishing several times slower.
                if js.publish_async_pending() >= self.max_in_flight:
                    while oldest < len(futures) and futures[oldest][1].done():
                        oldest += 1
                    if oldest < len(futures):
                        head = futures[oldest][1]
                        await asyncio.wait([head], timeout=self._publish_timeout_s)
                        if not head.done():  # the server stalls: leave the rest to the retry
                            failed.extend(events[i:])
                            error = TimeoutError("no ack within publish_timeout_s")
                            break
                full = js.publish_async_pending() >= self.max_in_flight  # others' publishes
                try:
                    fut = await js.publish_async(
                        self.subject,
                        orjson.dumps(ev.to_dict()),
                        wait_stall=self._publish_timeout_s if full else None,
                        stream=self.stream,
                        headers={MSG_ID_HEADER: ev.event_id},
                    )
                except nats.errors.ConnectionClosedError as e:
                    raise BusClosed(self.url, "connection closed") from e
                except nats.errors.Error as e:
                    failed.append(ev)
                    error = e
                    continue
                futures.append((ev, fut))
            if futures:
                await asyncio.wait([f for _, f in futures], timeout=self._publish_timeout_s)
        finally:
            # on timeout or cancellation: give the slots back (a cancelled future frees its slot)
            for _, fut in futures:
                if not fut.done():
                    fut.cancel()
                elif not fut.cancelled():
                    fut.exception()  # mark retrieved, even when we leave by an exception
        for ev, fut in futures:
            if fut.cancelled():
                failed.append(ev)
                error = error or TimeoutError("no ack within publish_timeout_s")
            elif (exc := fut.exception()) is not None:
                failed.append(ev)
                error = exc
            else:
                self.published += 1
                if fut.result().duplicate:
                    self.duplicates += 1
        return failed, error

    # -- subscribe ------------------------------------------------------------------------------

    async def subscribe(self, handler: EventHandler) -> Subscription:
        """Start a pull consumer that calls ``handler`` with each event (sync or async).

        The event is acked once the handler returns; if it raises, the event is NAKed and
        delivered again after ``nak_delay_s`` (the error is logged).
        """
        js = self._js_or_raise()
        ephemeral = self.durable is None
        name = self.durable or f"maestro-{secrets.token_hex(6)}"
        config = ConsumerConfig(
            name=name,
            durable_name=None if ephemeral else name,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            deliver_policy=DeliverPolicy.NEW if ephemeral else DeliverPolicy.ALL,
            filter_subject=self.subject,
            # an ephemeral consumer left behind by a crashed process goes away by itself
            inactive_threshold=max(300.0, 2 * self.ack_wait_s) if ephemeral else None,
        )
        try:
            exists = False
            if not ephemeral:
                try:
                    await js.consumer_info(self.stream, name)
                    exists = True
                except nats.js.errors.NotFoundError:
                    pass
            if not exists:
                await js.add_consumer(self.stream, config=config)
            assert self._nc is not None
            # replies through a callback: a fetch cannot lose one to its timeout (see _pull)
            psub = await Puller(self._nc, js._prefix, self.stream, name).start()
        except nats.errors.Error as e:
            raise BusError(
                self.url, f"cannot create consumer {name!r} on stream {self.stream!r}: {e}"
            ) from None
        sub = _JetStreamSubscription(self, psub, handler, name, ephemeral=ephemeral)
        self._subs.add(sub)
        return sub

    # -- observation ----------------------------------------------------------------------------

    def lag_ms(self) -> float:
        """Now minus the time of the oldest event received and not yet acked (0.0 when none).

        Counts events fetched by this bus's subscriptions and still waiting for, or in, their
        handler. Exposed as ``reflexive_event_lag_ms``.
        """
        oldest = min((t for sub in self._subs for t in sub.held.values()), default=None)
        if oldest is None:
            return 0.0
        return max(0.0, (self._clock.now().timestamp() - oldest) * 1000.0)

    def event_lag_ms(self) -> float:
        """Age of the oldest reflexive event not yet processed, by any consumer of the stream
        (measured on the server every ``lag_interval_s``) or by this bus's own handlers: what
        ``reflexive_event_lag_ms`` reports."""
        server = self.consumer_lag.value_ms if self.consumer_lag is not None else 0.0
        return max(server, self.lag_ms())

    async def stream_info(self) -> int:
        """The number of messages on the stream (to reconcile with the store's event count)."""
        js = self._js_or_raise()
        try:
            info = await js.stream_info(self.stream)
        except nats.errors.Error as e:
            raise BusError(self.url, f"cannot read stream {self.stream!r}: {e}") from None
        return info.state.messages

    # -- internals ------------------------------------------------------------------------------

    def _js_or_raise(self) -> JetStreamContext:
        if self._js is None:
            raise BusClosed(self.url, "not open (call open() first)")
        return self._js

    def _connect_kwargs(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"name": "maestro-helix", "connect_timeout": 2.0}
        opts.update(self._connect_options)
        user_error_cb: Callable[[Exception], Awaitable[None]] | None = opts.get("error_cb")

        async def error_cb(e: Exception) -> None:
            self._last_conn_error = e
            if user_error_cb is not None:
                await user_error_cb(e)
            else:  # nats' default logs a full traceback for every refused connection
                log.warning("event bus connection error: %s", _describe(e), extra={"url": self.url})

        async def disconnected_cb() -> None:
            if not self._closing:
                log.warning("event bus disconnected", extra={"url": self.url})

        async def reconnected_cb() -> None:
            log.info("event bus reconnected", extra={"url": self.url})

        opts["error_cb"] = error_cb
        opts.setdefault("disconnected_cb", disconnected_cb)
        opts.setdefault("reconnected_cb", reconnected_cb)
        opts["servers"] = self.servers
        return opts

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[self.subject],
                storage=StorageType.FILE,
                duplicate_window=self.dedup_window_s,
            )
            try:
                await js.add_stream(config)
                return
            except nats.js.errors.BadRequestError as e:
                if e.err_code != _STREAM_NAME_IN_USE:  # else another process just created it
                    raise
            info = await js.stream_info(self.stream)
        config = info.config
        subjects = list(config.subjects or [])
        if self.subject in subjects and config.duplicate_window == self.dedup_window_s:
            return
        if self.subject not in subjects:
            subjects.append(self.subject)
        # keep the rest of the operator's configuration (limits, replicas...) as it is
        await js.update_stream(
            config.evolve(subjects=subjects, duplicate_window=self.dedup_window_s)
        )

    def _open_error(self, e: BaseException) -> BusError:
        if isinstance(e, nats.js.errors.APIError | nats.js.errors.NoStreamResponseError):
            return BusError(self.url, f"cannot set up stream {self.stream!r}: {_describe(e)}")
        cause = self._last_conn_error or e
        if isinstance(e, TimeoutError):
            why = f"no connection within {self._open_timeout_s:g} s ({_describe(cause)})"
        else:
            why = _describe(cause)
        return BusError(self.url, f"cannot connect: {why}")


def _epoch(ts: str, clock: Clock) -> float:
    try:
        t = datetime.fromisoformat(ts)
    except ValueError:
        return clock.now().timestamp()  # unreadable time: count lag from receipt
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _describe(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_CLOSE_S = 15.0  # drain's own timeout is 30 s per stage; past this the connection is dropped


async def _close_quietly(nc: Client) -> None:
    try:
        async with asyncio.timeout(_CLOSE_S):
            await nc.close()
    except Exception as e:  # best effort: the connection is being abandoned anyway
        log.debug("closing nats connection failed: %s", e or "timed out")
