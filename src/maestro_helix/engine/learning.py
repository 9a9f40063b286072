"""Cross-agent learning in the step chain: the learning service (the knowledge base's only
writer), the link that hands it high-QSR outputs after their commit, and the link that gives
agents what was learnt (read-only, retrieved by BM25 from the current version).

Nothing is learnt from an attempt that was never stored: the insight is taken by an observer,
run by the engine after the step's commit. Every insight is redacted with the project's detectors
and verified before it is pushed; the store verifies again and refuses what still holds personal
data or secrets.

Insights are pushed in batches, one knowledge-base version per batch: those waiting are pushed
together when a run completes (so the next run reads what this one learnt), else at most
``push_every_s`` after the first of them was taken (a tick), and when the service closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from maestro_helix.core.clock import Clock, SystemClock, iso
from maestro_helix.core.knowledge import Insight, InsightDraft, KnowledgeVersion
from maestro_helix.core.ports import KnowledgePort
from maestro_helix.core.scores import GateDecision
from maestro_helix.core.steps import Next, StepInput, StepOutcome
from maestro_helix.core.workflow import Unresolved, render
from maestro_helix.helix.knowledge import (
    BM25Index,
    KnowledgeConfig,
    RedactionUnverified,
    Redactor,
    draft_insight,
)
from maestro_helix.helix.pii import redact

__all__ = ["KnowledgeLink", "LearningLink", "LearningService"]

log = logging.getLogger(__name__)


class LearningService:
    """Turns high-QSR outputs into insights and pushes them: the one writer of the base.

    Args:
        store: where the knowledge base lives.
        config: thresholds and sizes.
        clock: timestamps of the versions.
        redactor: the redaction (default: :func:`maestro_helix.helix.pii.redact`); whatever it
            returns is verified with the detectors before anything is pushed.
    """

    def __init__(
        self,
        store: KnowledgePort,
        config: KnowledgeConfig | None = None,
        clock: Clock | None = None,
        redactor: Redactor = redact,
    ) -> None:
        self.store = store
        self.config = config or KnowledgeConfig()
        self.clock = clock or SystemClock()
        self.redactor = redactor
        self.refused = 0  # insights refused because redaction could not be verified
        self.failed = 0  # insights lost because their push failed (logged)
        self._pending: list[tuple[InsightDraft, str]] = []  # (draft, "run/step")
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    def insight_of(self, out: StepOutcome) -> InsightDraft | None:
        """The insight a gated attempt yields, or None (not passed, QSR too low, no text)."""
        inp = out.input
        qsr = out.qsr
        if out.verdict is None or out.verdict.decision is not GateDecision.PASS:
            return None
        if qsr is None or qsr < self.config.min_qsr or out.output is None:
            return None
        text = out.output.text.strip()
        if not text:
            return None
        provenance: dict[str, Any] = {
            "run_id": inp.run_id,
            "workflow": inp.workflow.name,
            "workflow_version": inp.workflow.version,
            "step_id": inp.step.id,
            "step_index": inp.index,
            "attempt": inp.attempt,
            "agent_id": out.agent_id,
            "qsr": round(qsr, 4),
        }
        return draft_insight(
            task=out.task,
            output_text=text,
            capability=inp.step.capability,
            provenance=provenance,
            max_chars=self.config.max_chars,
            redactor=self.redactor,
        )

    async def push(self, drafts: list[InsightDraft], note: str = "") -> KnowledgeVersion | None:
        """A new version with ``drafts`` (None when nothing is new)."""
        if not drafts:
            return None
        return await self.store.push_knowledge(drafts, iso(self.clock.now()), note)

    async def learn(self, out: StepOutcome, *, run_done: bool = False) -> None:
        """Take the insight of one committed attempt; it is pushed with the others waiting when
        its run is done (``run_done``), at the next tick, or at once when ``push_every_s`` is 0.
        A refused redaction is logged, counted and stores nothing."""
        try:
            draft = self.insight_of(out)
        except RedactionUnverified as e:
            self.refused += 1
            log.warning(
                "insight refused",
                extra={"run_id": out.input.run_id, "step_id": out.input.step.id, "why": str(e)},
            )
            draft = None
        if draft is not None:
            self._pending.append((draft, f"{out.input.run_id}/{out.input.step.id}"))
        if not self._pending:
            return
        if run_done or self.config.push_every_s <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._tick(), name="maestro-knowledge-push")

    @property
    def pending(self) -> int:
        """Insights taken and not pushed yet."""
        return len(self._pending)

    async def _tick(self) -> None:
        await asyncio.sleep(self.config.push_every_s)
        self._timer = None
        await self.flush()

    async def flush(self) -> KnowledgeVersion | None:
        """Push every waiting insight as one new version (None: nothing new). When the store
        refuses the batch, its insights are pushed one by one, so one refused item costs only
        itself; a failed push is logged and its insights dropped (counted in ``failed``):
        learning never fails a step."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return None
            try:
                return await self.push([d for d, _ in batch], _note(batch))
            except Exception:
                if len(batch) == 1:
                    self.failed += 1
                    log.exception("knowledge push failed", extra={"note": batch[0][1]})
                    return None
            last = None
            for one in batch:
                try:
                    last = await self.push([one[0]], one[1]) or last
                except Exception:
                    self.failed += 1
                    log.exception("knowledge push failed", extra={"note": one[1]})
            return last

    async def aclose(self) -> None:
        """Stop the tick and push what is waiting (before the store closes)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await self.flush()


def _note(batch: list[tuple[InsightDraft, str]]) -> str:
    """A version's note: the attempt its insight came from, or how many and from where."""
    notes = [n for _, n in batch]
    if len(notes) == 1:
        return notes[0]
    return (f"{len(notes)} insights: " + ", ".join(notes))[:500]


class LearningLink:
    """After the gate: a passing, high-QSR attempt is handed to the learning service once the
    engine has committed it (an observer)."""

    def __init__(self, service: LearningService) -> None:
        self.service = service

    async def execute_step(self, inp: StepInput, nxt: Next) -> StepOutcome:
        out = await nxt(inp)
        if out.verdict is None or out.verdict.decision is not GateDecision.PASS:
            return out
        service = self.service
        done = inp.index == len(inp.workflow.steps) - 1  # a pass of the last step ends the run

        async def learn() -> None:
            await service.learn(out, run_done=done)

        return replace(out, observers=(*out.observers, learn))


class KnowledgeLink:
    """An input link, just before the agent: the insights most relevant to this step's task
    and input, from the knowledge base's current version (re-read when the version changes)."""

    def __init__(
        self,
        store: KnowledgePort,
        config: KnowledgeConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.config = config or KnowledgeConfig()
        self.clock = clock or SystemClock()
        self._index: tuple[int, BM25Index] | None = None
        self._checked = float("-inf")
        self._refreshing = asyncio.Lock()

    async def index(self) -> BM25Index:
        """The current version's index; the version is looked up at most every
        ``refresh_s`` (the index is rebuilt only when it changed), by one caller at a time:
        the others use the index they have meanwhile (the first ones wait for it)."""
        t = self.clock.monotonic()
        if self._index is not None and (
            t - self._checked < self.config.refresh_s or self._refreshing.locked()
        ):
            return self._index[1]
        async with self._refreshing:
            if self._index is not None and self.clock.monotonic() - self._checked < (
                self.config.refresh_s
            ):
                return self._index[1]  # refreshed while this caller waited
            self._checked = self.clock.monotonic()
            version = await self.store.knowledge_version()
            if self._index is None or self._index[0] != version:
                _, items = await self.store.knowledge_items(version or None)
                previous = self._index[1] if self._index is not None else None
                self._index = (version, BM25Index(items, previous=previous))
            return self._index[1]

    async def retrieve(self, inp: StepInput) -> tuple[Insight, ...]:
        if self.config.retrieve <= 0:
            return ()
        step = inp.step
        try:
            task = str(render(step.task, inp.scope)) if step.task else ""
        except Unresolved:
            task = step.task or ""
        query = " ".join([task, *_strings(inp.scope.get("input", {}))])
        idx = await self.index()
        return tuple(i for i, _ in idx.search(query, self.config.retrieve, step.capability))

    async def prepare(self, inp: StepInput) -> StepInput:
        """An input link (after routing): the input with its retrieved insights."""
        if inp.knowledge:
            return inp
        return replace(inp, knowledge=await self.retrieve(inp))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []
