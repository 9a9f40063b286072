"""QSR: the quality score of one step output, with its breakdown and how to improve it.

:class:`QSREvaluator` scores an :class:`~maestro_helix.helix.base.EvaluationRequest` against the
step's :class:`~maestro_helix.core.workflow.Expectations` with built-in criteria (``schema``,
``completeness``, ``relevance``, ``length``, ``format``) plus custom criteria registered by name.
The aggregate is a weighted mean over the criteria that apply, capped by the weakest of the
defect checks (:data:`DEFECT_CRITERIA`: refusal, truncation, degeneration, echo, focus,
placeholder, grounding); a hard failure (schema invalid, a required field missing, an empty or
placeholder output) caps it at :data:`HARD_FAILURE_CAP` so it cannot pass a 0.7 gate.
Failing criteria yield concrete suggestions the agent gets back when the step is retried.

A crash or a timeout of any criterion is returned as an
:class:`~maestro_helix.core.scores.EvaluationFailure`, never as a low score: the gate must know the
evaluator could not judge, and fail closed.

The built-in path is pure CPU (no I/O, no threads, no awaits) and takes a fraction of a
millisecond for a 1.5 KB output.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from maestro_helix.core.scores import (
    CriterionScore,
    EvaluationFailure,
    FailureKind,
    QualityScore,
    clamp01,
)
from maestro_helix.helix import criteria as cr
from maestro_helix.helix import formats, topic
from maestro_helix.helix.base import CustomCriterion, EvaluationRequest
from maestro_helix.helix.custom import (
    DEFAULT_CUSTOM_WEIGHT,
    CustomRunner,
    discard,
    is_async_callable,
    short,
)
from maestro_helix.helix.text import LexicalRelevance, RelevanceScorer, Tokenizer

__all__ = [
    "BUILTIN_CRITERIA",
    "DEFAULT_CUSTOM_WEIGHT",
    "DEFAULT_WEIGHTS",
    "DEFECT_CRITERIA",
    "EMPTY_SUGGESTION",
    "HARD_FAILURE_CAP",
    "SUGGEST_BELOW",
    "QSREvaluator",
]

DEFAULT_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"schema": 0.35, "completeness": 0.25, "relevance": 0.25, "length": 0.10, "format": 0.05}
)
"""Weights of the built-in criteria; renormalised over the criteria that apply to a step."""

HARD_FAILURE_CAP: Final = 0.5
"""The most a hard failure can score: below any sensible gate (the default gate is 0.7)."""

SUGGEST_BELOW: Final = 0.7
"""A criterion scoring below this gets a suggestion (a hard failure always does)."""

EMPTY_SUGGESTION: Final = (
    "The output is empty: return an answer to the task as text or structured data."
)

BUILTIN_CRITERIA: Final = ("schema", "completeness", "relevance", "length", "format")
"""The built-in criteria of the weighted mean, in the order they are reported."""

DEFECT_CRITERIA: Final = (
    "placeholder",
    "refusal",
    "truncation",
    "degeneration",
    "echo",
    "focus",
    "grounding",
)
"""The built-in defect checks (:mod:`maestro_helix.helix.criteria`), reported after the others.

They are not averaged in: the weakest of them caps the aggregate, since a refusal or a loop is a
failed step whatever else is right. Their reported weight is 1.0; a weight of 0 in ``weights``
reports a check without letting it cap.
"""

_DEFECTS = frozenset(DEFECT_CRITERIA)
_NON_EMPTY = "non_empty"  # the criterion reported for an empty output
_RESERVED = frozenset((*BUILTIN_CRITERIA, *DEFECT_CRITERIA, _NON_EMPTY))
_TASK_HINT_MAX = 80
_SCHEMA_CACHE_SIZE = 256


def _is_blank(value: Any) -> bool:
    """Missing or empty: ``None``, blank strings and empty containers (``0``/``False`` are data)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


def _field(data: Mapping[str, Any], name: str) -> Any:
    """``data[name]`` or None; a dotted name (``"meta.author"``) reaches into nested mappings."""
    if name in data:
        return data[name]
    cur: Any = data
    for part in name.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _data_text(value: Any, out: list[str], depth: int = 0) -> None:
    """Collect the strings and numbers of structured data, for outputs that have no text."""
    if depth > 8:
        return
    if isinstance(value, str):
        if value.strip():
            out.append(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        out.append(str(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            _data_text(v, out, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            _data_text(v, out, depth + 1)


@dataclass(slots=True)
class _Builtin:
    """The built-in part of one evaluation, before custom criteria join it."""

    criteria: list[CriterionScore] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    hard: bool = False
    empty: bool = False
    ceiling: float = 1.0


class QSREvaluator(CustomRunner):
    """Scores step outputs: built-in criteria from the step's expectations plus custom criteria.

    Args:
        relevance: the relevance scorer; :class:`~maestro_helix.helix.text.LexicalRelevance` by
            default. Any :class:`~maestro_helix.helix.text.RelevanceScorer` (an embedding model,
            an LLM judge) can be plugged in here; it must return a calibrated 0..1 score.
        custom: custom criteria by name. A criterion is called with the request and returns a
            :class:`~maestro_helix.core.scores.CriterionScore` (its ``name`` and ``weight`` are
            replaced by the registered name and the configured weight), or an awaitable of one.
        weights: weight overrides by criterion name (built-in or custom); unnamed built-ins keep
            :data:`DEFAULT_WEIGHTS` and unnamed custom criteria get :data:`DEFAULT_CUSTOM_WEIGHT`.
            A weight of 0 reports the criterion without counting it.
        custom_timeout_s: the time a custom criterion may take. Async criteria are cancelled at
            the limit; sync ones cannot be interrupted but fail (``TIMEOUT``) if they overran.
        version: recorded as ``evaluator_version`` on every result.

    Raises:
        ValueError: a weight is negative or not finite, the timeout is not positive, or a custom
            criterion uses a built-in criterion's name.
        TypeError: a custom criterion is not callable, or ``relevance`` has no ``score`` method.
    """

    def __init__(
        self,
        *,
        relevance: RelevanceScorer | None = None,
        custom: Mapping[str, CustomCriterion] | None = None,
        weights: Mapping[str, float] | None = None,
        custom_timeout_s: float = 2.0,
        version: str = "qsr-1",
    ) -> None:
        if relevance is not None and not isinstance(relevance, RelevanceScorer):
            raise TypeError("relevance must have a score(query, text) -> float method")
        if not (custom_timeout_s > 0 and math.isfinite(custom_timeout_s)):
            raise ValueError(f"custom_timeout_s must be positive, got {custom_timeout_s!r}")
        merged = dict(DEFAULT_WEIGHTS) | dict.fromkeys(DEFECT_CRITERIA, 1.0)
        for name, w in (weights or {}).items():
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
            merged[name] = float(w)
        customs = dict(custom or {})
        for name, fn in customs.items():
            if name in _RESERVED:
                raise ValueError(f"custom criterion {name!r} uses the name of a built-in criterion")
            if not callable(fn):
                raise TypeError(f"custom criterion {name!r} is not callable")
        self.version = version
        self.custom_timeout_s = float(custom_timeout_s)
        self.relevance: RelevanceScorer = relevance or LexicalRelevance()
        self._weights: Mapping[str, float] = MappingProxyType(merged)
        self._custom: Mapping[str, CustomCriterion] = MappingProxyType(customs)
        self._async: frozenset[str] = frozenset(
            n for n, f in customs.items() if is_async_callable(f)
        )
        # Share the lexical scorer's tokenizer so both criteria fill and hit one word memo.
        tok = self.relevance.tokenizer if isinstance(self.relevance, LexicalRelevance) else None
        self._tok: Tokenizer = tok or Tokenizer()
        self._query_has_terms = functools.lru_cache(maxsize=256)(self._has_terms)
        self._validators_by_id: OrderedDict[int, tuple[Mapping[str, Any], Any]] = OrderedDict()
        self._validators_by_json: OrderedDict[str, Any] = OrderedDict()

    # ----------------------------------------------------------------------------- public API

    @property
    def weights(self) -> Mapping[str, float]:
        """The effective weights of the built-in criteria and of the named custom criteria."""
        return self._weights

    @property
    def custom_names(self) -> tuple[str, ...]:
        """The names of the registered custom criteria."""
        return tuple(self._custom)

    def is_async(self, name: str) -> bool:
        """Whether the custom criterion ``name`` is async (needs :meth:`aevaluate`)."""
        self._resolve((name,))
        return name in self._async

    def evaluate(
        self, req: EvaluationRequest, custom: Sequence[str] = ()
    ) -> QualityScore | EvaluationFailure:
        """Score one output with the built-in criteria and the named sync custom criteria.

        Args:
            req: the output and what was asked.
            custom: names of registered custom criteria to run, in report order.

        Returns:
            The quality score, or an ``EvaluationFailure`` when a criterion crashed, returned
            something invalid or overran ``custom_timeout_s``.

        Raises:
            KeyError: a name in ``custom`` is not registered.
            TypeError: a named criterion is async; use :meth:`aevaluate`.
        """
        fns = self._resolve(custom)
        for name, _ in fns:
            if name in self._async:
                raise TypeError(
                    f"custom criterion {name!r} is async: use 'await evaluator.aevaluate(...)'"
                )
        base = self._builtin(req)
        if isinstance(base, EvaluationFailure):
            return base
        if base.empty:
            return self._finish(base, ())
        scores: list[CriterionScore] = []
        for name, fn in fns:
            r = self._call(name, fn, req)
            if isinstance(r, EvaluationFailure):
                return r
            if not isinstance(r, CriterionScore):
                discard(r)
                raise TypeError(
                    f"custom criterion {name!r} returned an awaitable: "
                    "use 'await evaluator.aevaluate(...)'"
                )
            scores.append(r)
        return self._finish(base, scores)

    async def aevaluate(
        self, req: EvaluationRequest, custom: Sequence[str] = ()
    ) -> QualityScore | EvaluationFailure:
        """Like :meth:`evaluate`, and also runs async custom criteria (concurrently).

        Each async criterion is bounded by ``asyncio.wait_for(custom_timeout_s)``. With no async
        criterion among ``custom`` this runs exactly the synchronous path: no awaits, no tasks.

        Raises:
            KeyError: a name in ``custom`` is not registered.
        """
        fns = self._resolve(custom)
        base = self._builtin(req)
        if isinstance(base, EvaluationFailure):
            return base
        if base.empty:
            return self._finish(base, ())
        slots: list[CriterionScore | None] = []
        pending: list[tuple[int, str, Awaitable[Any]]] = []
        for name, fn in fns:
            r = self._call(name, fn, req)
            if isinstance(r, EvaluationFailure):
                for _, _, aw in pending:
                    discard(aw)
                return r
            if isinstance(r, CriterionScore):
                slots.append(r)
            else:
                pending.append((len(slots), name, r))
                slots.append(None)
        if pending:
            done = await asyncio.gather(*(self._await(name, aw) for _, name, aw in pending))
            # Report the first failure in the caller's order, whatever finished first.
            for (i, _, _), res in zip(pending, done, strict=True):
                if isinstance(res, EvaluationFailure):
                    return res
                slots[i] = res
        return self._finish(base, [s for s in slots if s is not None])

    def validator_for(self, schema: Mapping[str, Any]) -> Any:
        """The compiled ``Draft202012Validator`` for ``schema``, cached.

        Looked up by object identity first (the same definition's schema dict, the hot path),
        then by canonical JSON, so equal schemas built separately share one validator.
        """
        key_id = id(schema)
        hit = self._validators_by_id.get(key_id)
        # Holding the schema in the entry keeps its id from being reused by another object.
        if hit is not None and hit[0] is schema:
            return hit[1]
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
        validator = self._validators_by_json.get(key)
        if validator is None:
            from jsonschema import Draft202012Validator  # only steps with a schema need it

            validator = Draft202012Validator(schema)
            self._validators_by_json[key] = validator
            if len(self._validators_by_json) > _SCHEMA_CACHE_SIZE:
                self._validators_by_json.popitem(last=False)
        else:
            self._validators_by_json.move_to_end(key)
        self._validators_by_id[key_id] = (schema, validator)
        if len(self._validators_by_id) > _SCHEMA_CACHE_SIZE:
            self._validators_by_id.popitem(last=False)
        return validator

    # ----------------------------------------------------------------------- built-in criteria

    def _has_terms(self, query: str) -> bool:
        return bool(self._tok.tokens(query))

    def _builtin(self, req: EvaluationRequest) -> _Builtin | EvaluationFailure:
        out = req.output
        exp = req.expect
        data = out.data
        text = out.text
        if not text.strip():
            parts: list[str] = []
            _data_text(data, parts)
            text = "\n".join(parts)
        b = _Builtin()
        if not text.strip() and all(_is_blank(v) for v in data.values()):
            b.empty = True
            b.hard = True
            b.criteria.append(
                CriterionScore(_NON_EMPTY, 0.0, 1.0, "the output has no text and no data")
            )
            b.suggestions.append(EMPTY_SUGGESTION)
        w = self._weights
        try:
            if exp.required_fields or exp.output_schema is not None:
                self._schema(b, data, exp.required_fields, exp.output_schema, w["schema"])
        except Exception as e:
            return self._crash("schema", e)
        try:
            mentions = [m for m in req.mentions if m.strip()]
            if mentions:
                self._completeness(b, text, mentions, w["completeness"])
        except Exception as e:
            return self._crash("completeness", e)
        failed = self._relevance_of(b, req, text)
        if failed is not None:
            return failed
        try:
            if exp.min_length is not None or exp.max_length is not None:
                self._length(b, text, exp.min_length, exp.max_length, w["length"])
        except Exception as e:
            return self._crash("length", e)
        try:
            if exp.format != "text":
                self._format(b, out.text, text, bool(data), exp.format, w["format"])
        except Exception as e:
            return self._crash("format", e)
        if not b.empty:
            try:
                self._defects(b, req, out.text if out.text.strip() else "", exp.format)
            except Exception as e:
                return self._crash("defects", e)
        return b

    def _relevance_of(
        self, b: _Builtin, req: EvaluationRequest, text: str
    ) -> EvaluationFailure | None:
        """The relevance criterion through the pluggable scorer; a failure if the scorer did."""
        query = f"{req.task}\n{req.input_text}" if req.input_text else req.task
        if not (text.strip() and query.strip() and self._query_has_terms(query)):
            return None
        try:
            rel = self.relevance.score(query, text)
        except Exception as e:
            return self._crash("relevance", e)
        if isinstance(rel, bool) or not isinstance(rel, int | float) or not 0.0 <= rel <= 1.0:
            return self._failure(
                "relevance",
                FailureKind.CRASH,
                f"relevance scorer {type(self.relevance).__name__} returned {rel!r}, "
                "expected a number in 0..1",
            )
        weight = self._weights["relevance"]
        if req.expect.output_schema is not None:  # the structure is the contract; prose counts less
            weight *= 0.25
        self._relevance(b, float(rel), req.task or req.input_text, weight)
        return None

    def _defects(self, b: _Builtin, req: EvaluationRequest, text: str, fmt: str) -> None:
        """The defect checks; prose checks only run on the output's own text (not its data)."""
        checks: list[tuple[str, cr.Check | None]] = []
        if text:
            checks.append(("placeholder", cr.check_placeholder(text)))
            if checks[-1][1] is None and fmt != "json":
                tok = self._tok
                checks += [
                    ("refusal", cr.check_refusal(text, tok)),
                    ("truncation", cr.check_truncation(text)),
                    ("degeneration", cr.check_degeneration(text)),
                    # an output that carries data or proposes actions may restate the task in
                    # its text ("Refund of 50 USD to C-11 prepared"): the work is in the rest
                    (
                        "echo",
                        None
                        if req.output.data or req.output.actions
                        else cr.check_echo(text, req.task, req.input_text, tok),
                    ),
                    ("focus", topic.check_focus(text, topic.subject_terms(req.task, tok), tok)),
                ]
        if req.sources:
            checks.append(
                (
                    "grounding",
                    topic.check_grounding(text or req.output.text, req.sources, self._tok),
                )
            )
        w = self._weights
        for name, c in checks:
            if c is None:
                continue
            weight = w[name]
            self._add(b, CriterionScore(name, c.score, weight, short(c.detail)), c.suggestion)
            if weight > 0.0:
                b.ceiling = min(b.ceiling, c.score)
                if name == "placeholder":
                    b.hard = True

    def _crash(self, criterion: str, e: Exception) -> EvaluationFailure:
        return self._failure(
            criterion, FailureKind.CRASH, f"{criterion} check raised {type(e).__name__}: {e}"
        )

    @staticmethod
    def _add(b: _Builtin, c: CriterionScore, suggestion: str, hard: bool = False) -> None:
        b.criteria.append(c)
        if hard:
            b.hard = True
        if (hard or c.score < SUGGEST_BELOW) and suggestion:
            b.suggestions.append(suggestion)

    def _schema(
        self,
        b: _Builtin,
        data: Mapping[str, Any],
        required: Sequence[str],
        schema: Mapping[str, Any] | None,
        weight: float,
    ) -> None:
        missing = [f for f in required if _is_blank(_field(data, f))]
        present = len(required) - len(missing)
        details: list[str] = []
        fixes: list[str] = []
        score = present / len(required) if required else 1.0
        if required:
            details.append(f"{present}/{len(required)} required fields present")
        if missing:
            details.append("missing or empty: " + ", ".join(missing))
            fixes.append("Add the missing field(s): " + ", ".join(missing))
        if schema is not None:
            from jsonschema.exceptions import best_match

            instance = data if isinstance(data, dict) else dict(data)
            error = best_match(self.validator_for(schema).iter_errors(instance))
            if error is None:
                details.append("matches the output schema")
            else:
                score = 0.0
                where = f"{error.json_path}: {error.message}"
                details.append(f"schema violation at {where}")
                fixes.append(f"Make the data match the output schema at {where}")
        hard = bool(fixes)
        self._add(
            b,
            CriterionScore("schema", score, weight, short("; ".join(details))),
            short(". ".join(fixes), 300),
            hard,
        )

    def _completeness(self, b: _Builtin, text: str, mentions: Sequence[str], weight: float) -> None:
        tok = self._tok
        # (mention, phrase, matched on terms): a mention of only stopwords (e.g. "IT") is matched
        # on the plain words instead, or it could never be found.
        needles: list[tuple[str, str, bool]] = []
        seen: set[str] = set()
        for m in mentions:
            key = m.strip().casefold()
            if key in seen:
                continue
            seen.add(key)
            terms = tok.tokens(m, remember=False)
            if terms:
                needles.append((m, " ".join(terms), True))
            else:
                needles.append((m, " ".join(tok.words(m)), False))
        # The tokenizer remembers the output for the relevance scorer, which reads it next.
        # Space-delimited with sentinels, a phrase matches whole tokens in order ("cash flow"
        # matches "Cash-flow", not "cashflow").
        by_terms = " " + " ".join(tok.tokens(text)) + " " if any(n[2] for n in needles) else ""
        by_words = " " + " ".join(tok.words(text)) + " " if not all(n[2] for n in needles) else ""
        covered: list[str] = []
        missing: list[str] = []
        for m, phrase, on_terms in needles:
            if phrase and f" {phrase} " in (by_terms if on_terms else by_words):
                covered.append(m)
            else:
                missing.append(m)
        total = len(covered) + len(missing)
        detail = f"{len(covered)}/{total} mentions covered"
        if missing:
            detail += "; missing: " + ", ".join(missing)
        self._add(
            b,
            CriterionScore("completeness", len(covered) / total, weight, short(detail)),
            short("Cover: " + ", ".join(missing), 300) if missing else "",
        )

    def _relevance(self, b: _Builtin, score: float, task: str, weight: float) -> None:
        hint = short(task, _TASK_HINT_MAX)
        detail = f"relevance to the task and input {score:.2f} ({type(self.relevance).__name__})"
        self._add(
            b, CriterionScore("relevance", score, weight, detail), f"Stay on the task: {hint}"
        )

    def _length(
        self, b: _Builtin, text: str, lo: int | None, hi: int | None, weight: float
    ) -> None:
        score, detail, fix = formats.length_check(text, lo, hi)
        self._add(b, CriterionScore("length", score, weight, detail), fix)

    def _format(
        self, b: _Builtin, raw_text: str, text: str, has_data: bool, fmt: str, weight: float
    ) -> None:
        score, detail, fix = formats.format_check(raw_text, text, has_data, fmt)
        self._add(b, CriterionScore("format", score, weight, short(detail)), fix)

    # ---------------------------------------------------------------------------- aggregation

    def _finish(self, b: _Builtin, custom: Sequence[CriterionScore]) -> QualityScore:
        criteria = (*b.criteria, *custom)
        suggestions = list(b.suggestions)
        for c in custom:
            if c.score < SUGGEST_BELOW:
                suggestions.append(
                    f"Improve {c.name}: {c.detail}"
                    if c.detail
                    else f"Improve {c.name} (scored {c.score:.2f})"
                )
        if b.empty:
            score = 0.0
        else:
            total = 0.0
            weighted = 0.0
            for c in criteria:
                if c.weight > 0.0 and c.name not in _DEFECTS:
                    total += c.weight
                    weighted += c.weight * c.score
            # Nothing applicable to check on a non-empty output: no evidence against it.
            score = weighted / total if total > 0.0 else 1.0
            score = min(score, b.ceiling)
            if b.hard:
                score = min(score, HARD_FAILURE_CAP)
        return QualityScore(
            score=clamp01(score),
            criteria=criteria,
            suggestions=tuple(suggestions),
            evaluator_version=self.version,
        )
