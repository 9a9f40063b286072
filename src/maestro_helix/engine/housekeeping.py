"""Housekeeping every long-lived process does (``maestro serve`` and ``maestro worker`` alike):
expire approval requests past their deadline, run cleared actions nobody is running, and take up
runs nobody live holds (decided elsewhere, or left by a process that died)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from maestro_helix.core.errors import MaestroError

if TYPE_CHECKING:
    from maestro_helix.engine.engine import Engine
    from maestro_helix.governance.service import Governance

__all__ = ["HOUSEKEEPING_INTERVAL_S", "housekeep_once", "housekeeping"]

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 5.0


async def housekeep_once(
    engine: Engine,
    governance: Governance | None,
    also: Sequence[Callable[[], Awaitable[object]]] = (),
) -> None:
    for task in also:  # e.g. take up the active risk model (engine/predict_link.py)
        await task()
    if governance is not None:
        await governance.refresh_policy()  # a policy applied by `maestro policy apply`
        expired = await governance.expire()
        if expired:
            log.info("approval requests expired", extra={"count": len(expired)})
    taken = await engine.resume_unfinished()
    if taken:
        log.info("took up runs nobody held", extra={"count": len(taken)})


async def housekeeping(
    engine: Engine,
    governance: Governance | None,
    interval_s: float = HOUSEKEEPING_INTERVAL_S,
    also: Sequence[Callable[[], Awaitable[object]]] = (),
) -> None:
    """Run :func:`housekeep_once` every ``interval_s`` until cancelled; a failing tick is logged
    with its cause and the next one tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await housekeep_once(engine, governance, also)
        except MaestroError as e:
            log.warning("housekeeping failed; will retry", extra={"error": str(e)})
        except Exception as e:  # a long-lived process must outlive one bad tick
            log.exception(
                "housekeeping failed; will retry", extra={"error": f"{type(e).__name__}: {e}"}
            )
