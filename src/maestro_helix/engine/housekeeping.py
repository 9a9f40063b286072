"""Housekeeping every long-lived process does (``maestro serve`` and ``maestro worker`` alike):
expire approval requests past their deadline, run cleared actions nobody is running, take up
runs nobody live holds (decided elsewhere, or left by a process that died), and evaluate every
running canary (rolling it back or promoting it when its test decides)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from maestro_helix.core.errors import MaestroError

if TYPE_CHECKING:
    from maestro_helix.engine.engine import Engine
    from maestro_helix.governance.service import Governance
    from maestro_helix.ops.canary import Rollout

__all__ = ["HOUSEKEEPING_INTERVAL_S", "housekeep_once", "housekeeping"]

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 5.0


async def housekeep_once(
    engine: Engine, governance: Governance | None, rollout: Rollout | None = None
) -> None:
    if governance is not None:
        await governance.refresh_policy()  # a policy applied by `maestro policy apply`
        expired = await governance.expire()
        if expired:
            log.info("approval requests expired", extra={"count": len(expired)})
    taken = await engine.resume_unfinished()
    if taken:
        log.info("took up runs nobody held", extra={"count": len(taken)})
    if rollout is not None:
        await rollout.evaluate_all()


async def housekeeping(
    engine: Engine,
    governance: Governance | None,
    interval_s: float = HOUSEKEEPING_INTERVAL_S,
    rollout: Rollout | None = None,
) -> None:
    """Run :func:`housekeep_once` every ``interval_s`` until cancelled; a failing tick is logged
    with its cause and the next one tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await housekeep_once(engine, governance, rollout)
        except MaestroError as e:
            log.warning("housekeeping failed; will retry", extra={"error": str(e)})
        except Exception as e:  # a long-lived process must outlive one bad tick
            log.exception(
                "housekeeping failed; will retry", extra={"error": f"{type(e).__name__}: {e}"}
            )
