"""Running the QSR's custom criteria: sync or async, bounded in time, failing closed.

:class:`CustomRunner` is the part of :class:`~maestro_helix.helix.qsr.QSREvaluator` that calls
registered criteria and checks what they return: a crash, a timeout or an invalid result becomes
an :class:`~maestro_helix.core.scores.EvaluationFailure`, never a low score.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from maestro_helix.core.errors import EvaluationInconclusive
from maestro_helix.core.scores import CriterionScore, EvaluationFailure, FailureKind
from maestro_helix.helix.base import CustomCriterion, EvaluationRequest

__all__ = ["DEFAULT_CUSTOM_WEIGHT", "CustomRunner", "discard", "is_async_callable", "short"]

DEFAULT_CUSTOM_WEIGHT = 0.25
"""Weight of each custom criterion unless ``weights`` names it."""

_DETAIL_MAX = 200
_SPACES = re.compile(r"\s+")


def short(text: str, limit: int = _DETAIL_MAX) -> str:
    """One line, at most ``limit`` characters: details must stay readable in logs and UIs."""
    one = _SPACES.sub(" ", text).strip()
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # An instance whose class defines ``async def __call__``.
    return inspect.iscoroutinefunction(type(fn).__call__)


def discard(awaitable: Any) -> None:
    """Drop an awaitable we will not await, without a 'never awaited' warning."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    elif isinstance(awaitable, asyncio.Future):
        awaitable.cancel()


class CustomRunner:
    """Calls custom criteria; the evaluator sets the attributes below."""

    version: str
    custom_timeout_s: float
    _weights: Mapping[str, float]
    _custom: Mapping[str, CustomCriterion]

    def _resolve(self, names: Sequence[str]) -> list[tuple[str, CustomCriterion]]:
        if isinstance(names, str):
            names = (names,)  # a bare name would otherwise be iterated letter by letter
        out: list[tuple[str, CustomCriterion]] = []
        seen: set[str] = set()
        for name in names:
            if name in seen:
                continue
            fn = self._custom.get(name)
            if fn is None:
                known = ", ".join(sorted(self._custom)) or "none"
                raise KeyError(f"unknown custom criterion {name!r} (registered: {known})")
            seen.add(name)
            out.append((name, fn))
        return out

    def _failure(self, evaluator: str, kind: FailureKind, message: str) -> EvaluationFailure:
        return EvaluationFailure(
            evaluator=evaluator,
            kind=kind,
            message=short(message, 500),
            evaluator_version=self.version,
        )

    def _call(
        self, name: str, fn: CustomCriterion, req: EvaluationRequest
    ) -> CriterionScore | EvaluationFailure | Awaitable[Any]:
        """Call one criterion; a sync result is checked, an awaitable is returned as is."""
        start = time.perf_counter()
        try:
            result = fn(req)
        except EvaluationInconclusive as e:
            return self._failure(name, FailureKind.INCONCLUSIVE, f"{name}: {e}")
        except Exception as e:
            return self._failure(
                name, FailureKind.CRASH, f"custom criterion {name!r} raised {type(e).__name__}: {e}"
            )
        elapsed = time.perf_counter() - start
        if inspect.isawaitable(result):
            if elapsed > self.custom_timeout_s:
                discard(result)
                return self._timeout(name, elapsed)
            return result
        if elapsed > self.custom_timeout_s:
            # It could not be interrupted, but a result that came too late must not count.
            return self._timeout(name, elapsed)
        return self._check(name, result)

    async def _await(
        self, name: str, awaitable: Awaitable[Any]
    ) -> CriterionScore | EvaluationFailure:
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(awaitable, self.custom_timeout_s)
        except TimeoutError:
            return self._timeout(name, time.perf_counter() - start)
        except EvaluationInconclusive as e:
            return self._failure(name, FailureKind.INCONCLUSIVE, f"{name}: {e}")
        except Exception as e:
            return self._failure(
                name, FailureKind.CRASH, f"custom criterion {name!r} raised {type(e).__name__}: {e}"
            )
        return self._check(name, result)

    def _timeout(self, name: str, elapsed: float) -> EvaluationFailure:
        return self._failure(
            name,
            FailureKind.TIMEOUT,
            f"custom criterion {name!r} took {elapsed:.3f}s, "
            f"over the limit of {self.custom_timeout_s:g}s",
        )

    def _check(self, name: str, result: Any) -> CriterionScore | EvaluationFailure:
        if not isinstance(result, CriterionScore):
            return self._failure(
                name,
                FailureKind.CRASH,
                f"custom criterion {name!r} returned {type(result).__name__}, "
                "expected a CriterionScore",
            )
        s = result.score
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s <= 1.0:
            # NaN fails the range test too.
            return self._failure(
                name,
                FailureKind.CRASH,
                f"custom criterion {name!r} returned score {s!r}, expected a number in 0..1",
            )
        detail = result.detail if isinstance(result.detail, str) else str(result.detail)
        return CriterionScore(
            name=name,
            score=float(s),
            weight=self._weights.get(name, DEFAULT_CUSTOM_WEIGHT),
            detail=short(detail),
        )
