"""Who this process is, for leases on runs and claims on actions, and how long they last.

A run being executed belongs to one process (its lease: owner, expiry, fencing epoch); an action
about to run is claimed the same way. A live process renews what it holds every ``ttl_s / 3``
seconds, and beats (its row in ``owners``, written on a connection of its own, never queued
behind its writer). Work passes to another process only when both have lapsed: after a crash
its leases expire, its heartbeat stops, and live processes take the work over; a live process
whose renewals are merely late (a stalled writer, a starved CPU) keeps it. Lease times are
wall-clock Unix seconds, so processes on several machines need clocks within a fraction of
``ttl_s`` of each other (NTP gives milliseconds).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from maestro_helix.core.errors import ConfigError

__all__ = ["DEFAULT_HANDOFF_S", "DEFAULT_LEASE_S", "Ownership", "process_owner_id"]

DEFAULT_LEASE_S = 10.0
"""A dead process's runs are taken over this long after its last renewal."""

DEFAULT_HANDOFF_S = 30.0
"""A run whose next step waits on the work queue is re-dispatched after this long untouched
(its dispatcher may have died between the commit and the hand-out). A re-dispatched item that
turns out to be a duplicate is harmless: the fencing epoch lets only one of them commit."""


def process_owner_id() -> str:
    """``host:pid:nonce``: unique per process start, readable in ``runs show``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Ownership:
    """This process's identity and lease timing (one per assembled system).

    Attributes:
        owner: the id written on the runs and actions this process holds.
        ttl_s: lease and claim length; renewed every ``ttl_s / 3``.
        handoff_s: how long a run may wait on a work queue before it counts as lost.
        now: wall clock (Unix seconds); tests pass their own.
    """

    owner: str = field(default_factory=process_owner_id)
    ttl_s: float = DEFAULT_LEASE_S
    handoff_s: float = DEFAULT_HANDOFF_S
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.ttl_s <= 0 or self.handoff_s <= 0:
            raise ValueError("lease times must be positive")

    @classmethod
    def from_env(cls) -> Ownership:
        """Lease timing from ``MAESTRO_LEASE_S`` (default 10 s): how long after a crash other
        processes take the dead one's runs and actions over."""
        raw = os.environ.get("MAESTRO_LEASE_S")
        if raw is None:
            return cls()
        try:
            ttl = float(raw)
            if ttl <= 0:
                raise ValueError(raw)
        except ValueError:
            raise ConfigError(
                "MAESTRO_LEASE_S", "", f"must be a positive number of seconds, got {raw!r}"
            ) from None
        return cls(ttl_s=ttl)

    def until(self) -> float:
        return self.now() + self.ttl_s

    def handoff_until(self) -> float:
        return self.now() + self.handoff_s
