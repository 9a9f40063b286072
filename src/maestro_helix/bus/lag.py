"""How far behind the consumers of ``reflexive.events`` are, measured on the server.

A process's own subscriptions only know the events they have received. What an operator needs is
the age of the oldest event that some consumer of the stream has not processed yet, whether it
was delivered and is waiting for its ack, or is still waiting to be delivered; and that is the
same number whichever process (``maestro serve``, ``maestro worker``) is scraped.

:class:`ConsumerLag` asks JetStream, every ``interval_s``, for each consumer on the stream: its
ack floor (every message up to it is acknowledged) and whether anything is pending. If something
is, the oldest unprocessed event is the first message on the consumer's subject after the ack
floor, and its age is now minus the time the server stored it. The gauge
``reflexive_event_lag_ms`` is the largest age over the consumers (0 when every consumer is up
to date or none exists).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors

from maestro_helix.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_INTERVAL_S", "ConsumerLag", "server_time"]

DEFAULT_INTERVAL_S = 5.0


def server_time(text: str | datetime | None) -> float | None:
    """Epoch seconds of a JetStream timestamp (RFC 3339 with nanoseconds, or the ``datetime``
    nats-py already made of it), or ``None``."""
    if isinstance(text, datetime):
        return (text if text.tzinfo else text.replace(tzinfo=UTC)).timestamp()
    if not text:
        return None
    t = text.strip().replace("Z", "+00:00")
    head, dot, rest = t.partition(".")
    if dot:  # Python reads at most microseconds: cut the fraction to 6 digits
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits) :]
        t = f"{head}.{digits[:6]}{tz}"
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class ConsumerLag:
    """Polls the stream's consumers and keeps the age of the oldest unprocessed event.

    Args:
        js: a JetStream context (``nc.jetstream()``).
        stream: the stream of reflexive events.
        clock: wall clock (tests pass a fake one).
        interval_s: time between two measurements.
    """

    def __init__(
        self,
        js: Any,
        stream: str,
        *,
        clock: Clock | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._js = js
        self.stream = stream
        self._clock = clock or SystemClock()
        self.interval_s = interval_s
        self.value_ms = 0.0
        """The last measurement (ms)."""
        self.by_consumer: dict[str, float] = {}
        """Oldest unprocessed event's age (ms) per consumer, from the last measurement."""
        self._task: asyncio.Task[None] | None = None

    async def measure(self) -> float:
        """Measure now; returns (and keeps) the largest age in ms.

        Raises:
            nats.errors.Error: the server did not answer (the caller decides what that means).
        """
        now = self._clock.now().timestamp()
        ages: dict[str, float] = {}
        for info in await self._js.consumers_info(self.stream):
            oldest = await self._oldest_unprocessed(info)
            ages[info.name] = 0.0 if oldest is None else max(0.0, (now - oldest) * 1000.0)
        self.by_consumer = ages
        self.value_ms = max(ages.values(), default=0.0)
        return self.value_ms

    async def _oldest_unprocessed(self, info: Any) -> float | None:
        if not (info.num_pending or info.num_ack_pending):
            return None
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        subject = info.config.filter_subject or None
        try:
            msg = await self._js.get_msg(self.stream, seq=floor + 1, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return None  # removed by the stream's limits meanwhile
        return server_time(msg.time)

    def start(self) -> None:
        """Measure every ``interval_s`` in the background until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"maestro-lag-{self.stream}")

    async def _loop(self) -> None:
        while True:
            try:
                await self.measure()
            except (nats.errors.Error, TimeoutError) as e:
                # keep the last value: a scrape during a server restart is not "no lag"
                log.warning(
                    "event lag measurement failed",
                    extra={"stream": self.stream, "error": f"{type(e).__name__}: {e}"},
                )
            await asyncio.sleep(self.interval_s)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
