"""MRI: the risk index of one step, in 0..1, with the factors that made it.

:class:`RiskAssessor` reads a :class:`~maestro_helix.helix.base.RiskRequest` (the step's input
text, the agent's output and proposed actions, the agent's record) and reports every reason the
step is risky as a :class:`~maestro_helix.core.scores.RiskFactor`:

==========================  ======================================================  ===========
factor                      when                                                    correctable
==========================  ======================================================  ===========
``pii.<kind>``              personal data in the output (email, phone, card, ...)   yes
``secret.<kind>``           a credential in the output (AWS key, JWT, PEM, ...)     yes
``injection.input``         prompt-injection markers in the input                   no
``injection.output``        prompt-injection markers in the output                  yes
``injection.document``      ... in a retrieved document the step read               no
``injection.action``        ... in a proposed action's arguments (tool call)        no
``action.unknown``          a proposed action type that is not registered           no
``action.not_allowed``      a proposed action type the step does not allow          no
``action.irreversible``     an action that cannot be undone                         no
``action.high_risk``        an action registered with ``RiskClass.HIGH``            no
``action.magnitude``        the monetary amount of an action vs ``amount_limit``    no
``agent.record``            the agent's smoothed pass rate is below 0.5             no
==========================  ======================================================  ===========

Factors are aggregated with a noisy-OR, ``1 - prod(1 - s_i)``: independent reasons compound, one
strong reason is enough, and no factor means exactly 0.0. All scores live in module constants so
they can be tuned in one place. Details name the kind and the count of what was found, never the
value itself. Pure computation: no I/O, no state between calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from maestro_helix.core.actions import ActionSpec, RiskClass
from maestro_helix.core.outputs import AgentOutput, ProposedAction
from maestro_helix.core.scores import RiskFactor, RiskScore, clamp01
from maestro_helix.helix.base import RiskRequest
from maestro_helix.helix.injection import find_injection_markers
from maestro_helix.helix.pii import Finding, scan

__all__ = [
    "ACTION_HIGH_RISK_SCORE",
    "ACTION_IRREVERSIBLE_SCORE",
    "ACTION_NOT_ALLOWED_SCORE",
    "ACTION_UNKNOWN_SCORE",
    "AGENT_RECORD_MAX_SCORE",
    "AGENT_RELIABILITY_THRESHOLD",
    "COUNT_MAX_BONUS",
    "COUNT_STEP",
    "INJECTION_ACTION_SCORE",
    "INJECTION_DOCUMENT_SCORE",
    "INJECTION_INPUT_SCORE",
    "INJECTION_OUTPUT_SCORE",
    "MAGNITUDE_AT_LIMIT",
    "MAGNITUDE_CEILING",
    "MAGNITUDE_FLOOR",
    "PII_DEFAULT_SCORE",
    "PII_SCORES",
    "SECRET_DEFAULT_SCORE",
    "SECRET_SCORES",
    "RiskAssessor",
    "find_injection_markers",
    "magnitude_score",
    "noisy_or",
]

# --------------------------------------------------------------------------------------------
# Tunable scores (the stable, documented mapping)
# --------------------------------------------------------------------------------------------

PII_SCORES: Final[Mapping[str, float]] = MappingProxyType(
    {"email": 0.35, "phone": 0.35, "card": 0.6, "iban": 0.6, "national_id": 0.6}
)
"""Base score of one ``pii.<kind>`` factor (one occurrence)."""

PII_DEFAULT_SCORE: Final = 0.5
"""Base score of a personal-data kind missing from :data:`PII_SCORES`."""

SECRET_SCORES: Final[Mapping[str, float]] = MappingProxyType(
    {
        "secret.private_key": 0.95,
        "secret.aws_access_key": 0.9,
        "secret.stripe_key": 0.9,
        "secret.password_in_url": 0.85,
        "secret.generic_api_key": 0.8,
    }
)
"""Base score of one ``secret.<kind>`` factor where it differs from the default."""

SECRET_DEFAULT_SCORE: Final = 0.85
"""Base score of any other ``secret.<kind>`` factor (GitHub, OpenAI, Slack, JWT, ...)."""

COUNT_STEP: Final = 0.05
"""Added to a factor's base score for every occurrence after the first ..."""

COUNT_MAX_BONUS: Final = 0.15
"""... up to this much in total."""

INJECTION_INPUT_SCORE: Final = 0.6
"""Prompt-injection markers in the step input (a human must look: not correctable)."""

INJECTION_OUTPUT_SCORE: Final = 0.7
"""Prompt-injection markers in the output (the agent can drop them on a retry)."""

INJECTION_DOCUMENT_SCORE: Final = 0.6
"""Prompt-injection markers in a retrieved document the step read (a human must look)."""

INJECTION_ACTION_SCORE: Final = 0.8
"""Prompt-injection markers in a proposed action's arguments: an agent that passes an
injection on to a tool was likely hijacked (not correctable)."""

ACTION_UNKNOWN_SCORE: Final = 0.9
"""A proposed action whose type is not registered."""

ACTION_NOT_ALLOWED_SCORE: Final = 0.8
"""A proposed action whose type is not in the step's ``allowed_actions``."""

ACTION_IRREVERSIBLE_SCORE: Final = 0.5
"""A proposed action that cannot be undone (registration, else the agent's own claim)."""

ACTION_HIGH_RISK_SCORE: Final = 0.4
"""A proposed action registered with ``RiskClass.HIGH``."""

MAGNITUDE_FLOOR: Final = 0.2
"""``action.magnitude`` for a tiny amount; grows linearly to ..."""

MAGNITUDE_AT_LIMIT: Final = 0.6
"""... this at ``amount == amount_limit``; above the limit it approaches ..."""

MAGNITUDE_CEILING: Final = 0.95
"""... this (``AT_LIMIT + (CEILING - AT_LIMIT) * (1 - limit / amount)``)."""

AGENT_RELIABILITY_THRESHOLD: Final = 0.5
"""``agent.record`` appears when the agent's smoothed pass rate is below this; its score is
``THRESHOLD - reliability``, capped at :data:`AGENT_RECORD_MAX_SCORE`."""

AGENT_RECORD_MAX_SCORE: Final = 0.3
"""Cap of the ``agent.record`` factor."""

_MAX_DATA_DEPTH: Final = 8


def noisy_or(scores: Iterable[float]) -> float:
    """Aggregate independent risk scores: ``1 - prod(1 - s)``, clamped to [0, 1].

    Args:
        scores: factor scores; values outside [0, 1] are clamped first.

    Returns:
        0.0 for no scores.
    """
    keep = 1.0
    for s in scores:
        keep *= 1.0 - clamp01(s)
    return clamp01(1.0 - keep)


def _grow(base: float, count: int) -> float:
    bonus = min(COUNT_MAX_BONUS, COUNT_STEP * max(0, count - 1))
    return clamp01(min(0.99, base + bonus)) if count > 1 else clamp01(base)


def magnitude_score(amount: float, limit: float) -> float:
    """Score of the ``action.magnitude`` factor for one amount.

    Args:
        amount: the monetary magnitude (its absolute value is used).
        limit: the assessor's ``amount_limit`` (> 0).

    Returns:
        0.0 for a zero amount; :data:`MAGNITUDE_FLOOR` rising linearly to
        :data:`MAGNITUDE_AT_LIMIT` at the limit, then towards :data:`MAGNITUDE_CEILING`.
        A non-finite amount scores the ceiling.
    """
    if math.isnan(amount) or math.isinf(amount):
        return MAGNITUDE_CEILING
    a = abs(amount)
    if a == 0.0:
        return 0.0
    r = a / limit
    if r <= 1.0:
        return MAGNITUDE_FLOOR + (MAGNITUDE_AT_LIMIT - MAGNITUDE_FLOOR) * r
    return MAGNITUDE_AT_LIMIT + (MAGNITUDE_CEILING - MAGNITUDE_AT_LIMIT) * (1.0 - 1.0 / r)


# --------------------------------------------------------------------------------------------
# Descriptions (kinds and counts only, never values)
# --------------------------------------------------------------------------------------------

_PII_LABELS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "email": ("email address", "email addresses"),
        "phone": ("phone number", "phone numbers"),
        "card": ("payment card number", "payment card numbers"),
        "iban": ("IBAN", "IBANs"),
        "national_id": ("national id number", "national id numbers"),
    }
)


def _label(kind: str, count: int) -> str:
    if kind in _PII_LABELS:
        one, many = _PII_LABELS[kind]
        return one if count == 1 else many
    name = kind.removeprefix("secret.").replace("_", " ")
    return name if count == 1 else f"{name}s"


@dataclass(slots=True)
class _Tally:
    count: int = 0
    schemes: set[str] | None = None


# --------------------------------------------------------------------------------------------
# The assessor
# --------------------------------------------------------------------------------------------


def _data_lines(data: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterator[str]:
    """``key: value`` lines for the string (and number) leaves of structured output data."""
    if depth > _MAX_DATA_DEPTH:
        return
    for key, value in data.items():
        name = f"{prefix}{key}"
        yield from _leaf_lines(name, value, depth)


def _leaf_lines(name: str, value: Any, depth: int) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield f"{name}: {value}"
    elif isinstance(value, Mapping):
        yield from _data_lines(value, f"{name}.", depth + 1)
    elif isinstance(value, (list, tuple)):
        if depth <= _MAX_DATA_DEPTH:
            for i, item in enumerate(value):
                yield from _leaf_lines(f"{name}[{i}]", item, depth + 1)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield f"{name}: {value}"


def _action_lines(action: ProposedAction) -> Iterator[str]:
    yield from _data_lines(action.payload)


def _output_text(output: AgentOutput, data_lines: list[str] | None = None) -> str:
    """The output's text plus its structured data, one ``key: value`` line per leaf
    (``data_lines``: ``list(_data_lines(output.data))`` when the caller has them)."""
    if not output.data:
        return output.text
    seen = {output.text}
    lines = [output.text]
    for line in _data_lines(output.data) if data_lines is None else data_lines:
        value = line.split(": ", 1)[1]
        if value in seen:
            continue
        seen.add(value)
        lines.append(line)
    return "\n\n".join(lines)


def _as_amount(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").replace("_", "").strip())
        except ValueError:
            return None
    return None


class RiskAssessor:
    """Computes the MRI of one step (see the module docstring for the factors).

    Args:
        action_types: the registered action types by name; a proposed action whose type is
            missing scores ``action.unknown``.
        amount_limit: the monetary amount at which ``action.magnitude`` reaches
            :data:`MAGNITUDE_AT_LIMIT`; must be positive.
        amount_limits: the same limit per action type (from the policy), where it differs.
        version: reported as ``RiskScore.assessor_version``.

    Raises:
        ValueError: ``amount_limit`` is not a positive finite number.
    """

    def __init__(
        self,
        action_types: Mapping[str, ActionSpec] | None = None,
        *,
        amount_limit: float = 10_000.0,
        amount_limits: Mapping[str, float] | None = None,
        version: str = "mri-1",
    ) -> None:
        if not (amount_limit > 0.0 and math.isfinite(amount_limit)):
            raise ValueError(f"amount_limit must be a positive finite number, got {amount_limit!r}")
        self.action_types: Mapping[str, ActionSpec] = MappingProxyType(dict(action_types or {}))
        self.amount_limit = float(amount_limit)
        self.amount_limits = MappingProxyType(dict(amount_limits or {}))  # per action type
        self.version = version

    def use_amount_limits(self, amount_limits: Mapping[str, float]) -> None:
        """Score from now on with these per-type magnitude limits (a policy taken up)."""
        self.amount_limits = MappingProxyType(dict(amount_limits))

    def assess(self, req: RiskRequest) -> RiskScore:
        """Score one step.

        Args:
            req: the step's input text, output (text, data, proposed actions), the actions the
                step allows and, optionally, the agent's record.

        Returns:
            The noisy-OR of all factors (0.0 when there are none) and the factors, strongest
            first.
        """
        factors: list[RiskFactor] = []
        # the data's lines are read twice (the text scanned for personal data, and each line
        # scanned for injection on its own): walked once
        data_lines = list(_data_lines(req.output.data)) if req.output.data else []
        output_text = _output_text(req.output, data_lines)
        factors.extend(self._content_factors(scan(output_text)))
        factors.extend(self._injection_factors(req, output_text, data_lines))
        factors.extend(self._action_factors(req.output.actions, req.allowed_actions))
        if req.agent is not None:
            factors.extend(self._agent_factors(req.agent.reliability()))
        factors.sort(key=lambda f: (-f.score, f.name))
        return RiskScore(
            score=noisy_or(f.score for f in factors),
            factors=tuple(factors),
            assessor_version=self.version,
        )

    # -- personal data and secrets -------------------------------------------------------------

    @staticmethod
    def _content_factors(findings: list[Finding]) -> list[RiskFactor]:
        tallies: dict[str, _Tally] = {}
        for f in findings:
            t = tallies.setdefault(f.kind, _Tally())
            t.count += 1
            if f.scheme:
                if t.schemes is None:
                    t.schemes = set()
                t.schemes.add(f.scheme)
        out: list[RiskFactor] = []
        for kind, t in tallies.items():
            if kind.startswith("secret."):
                name = kind
                base = SECRET_SCORES.get(kind, SECRET_DEFAULT_SCORE)
                what = "secret"
            else:
                name = f"pii.{kind}"
                base = PII_SCORES.get(kind, PII_DEFAULT_SCORE)
                what = "personal data"
            detail = f"{what}: {t.count} {_label(kind, t.count)} in the output"
            if t.schemes:
                detail += f" ({', '.join(sorted(t.schemes))})"
            detail += "; remove or redact before retrying"
            out.append(
                RiskFactor(
                    name=name,
                    score=_grow(base, t.count),
                    detail=detail,
                    where="output",
                    count=t.count,
                    correctable=True,
                )
            )
        return out

    # -- prompt injection ----------------------------------------------------------------------

    @staticmethod
    def _injection_factors(
        req: RiskRequest, output_text: str, data_lines: list[str] | None = None
    ) -> list[RiskFactor]:
        """Input, output, retrieved documents and action arguments, each scanned on its own
        (:func:`maestro_helix.helix.injection.detect`: normalised, decoded, rules + model)."""
        # the output's text and each of its data values are scanned each on its own: joined,
        # benign "key: value" lines read like the fake turns of a conversation to the model
        if data_lines is None:
            data_lines = list(_data_lines(req.output.data))
        outputs = [req.output.text, *data_lines]
        scans: list[tuple[str, str, float, bool]] = [
            ("input", req.input_text, INJECTION_INPUT_SCORE, False),
            *(("output", t, INJECTION_OUTPUT_SCORE, True) for t in outputs if t.strip()),
        ]
        scans += [("document", d, INJECTION_DOCUMENT_SCORE, False) for d in req.documents]
        scans += [
            ("action", "\n".join(_action_lines(a)), INJECTION_ACTION_SCORE, False)
            for a in req.output.actions
        ]
        found: dict[str, tuple[list[str], float, bool, int]] = {}
        for where, text, base, correctable in scans:
            hits = find_injection_markers(text)
            if hits:
                prev = found.get(where, ([], base, correctable, 0))
                found[where] = (prev[0] + hits, base, correctable, prev[3] + 1)
        out: list[RiskFactor] = []
        for where, (hits, base, correctable, texts) in found.items():
            cats = ", ".join(sorted(set(hits)))
            what = {"document": f"{texts} retrieved document(s)", "action": f"{texts} proposed "
                    "action(s)' arguments"}.get(where, f"the {where}")  # fmt: skip
            out.append(
                RiskFactor(
                    name=f"injection.{where}",
                    score=_grow(base, len(hits)),
                    detail=f"{len(hits)} prompt-injection marker(s) in {what}: {cats}",
                    where=where,
                    count=len(hits),
                    correctable=correctable,
                )
            )
        return out

    # -- proposed actions ----------------------------------------------------------------------

    def _action_factors(
        self, actions: tuple[ProposedAction, ...], allowed: tuple[str, ...]
    ) -> list[RiskFactor]:
        if not actions:
            return []
        allowed_set = set(allowed)
        unknown: list[str] = []
        not_allowed: list[str] = []
        irreversible: list[str] = []
        high: list[str] = []
        magnitudes: list[tuple[float, float, str, float]] = []  # (score, amount, type, limit)
        for action in actions:
            spec = self.action_types.get(action.type)
            if spec is None:
                unknown.append(action.type)
            if action.type not in allowed_set:
                not_allowed.append(action.type)
            reversible = spec.reversible if spec is not None else action.reversible
            if reversible is False:
                irreversible.append(action.type)
            if spec is not None and spec.risk_class == RiskClass.HIGH:
                high.append(action.type)
            amount = action.amount
            if amount is None and spec is not None and spec.amount_field:
                amount = _as_amount(action.payload.get(spec.amount_field))
            if amount is not None:
                limit = self.amount_limits.get(action.type, self.amount_limit)
                s = magnitude_score(amount, limit)
                if s > 0.0:
                    magnitudes.append((s, amount, action.type, limit))

        out: list[RiskFactor] = []

        def add(name: str, base: float, types: list[str], what: str) -> None:
            if types:
                names = ", ".join(sorted(set(types)))
                out.append(
                    RiskFactor(
                        name=name,
                        score=_grow(base, len(types)),
                        detail=f"{len(types)} proposed action(s) {what}: {names}",
                        where="action",
                        count=len(types),
                        correctable=False,
                    )
                )

        add("action.unknown", ACTION_UNKNOWN_SCORE, unknown, "of an unregistered type")
        allowed_txt = ", ".join(sorted(allowed_set)) if allowed_set else "none"
        add(
            "action.not_allowed",
            ACTION_NOT_ALLOWED_SCORE,
            not_allowed,
            f"not allowed in this step (allowed: {allowed_txt})",
        )
        add("action.irreversible", ACTION_IRREVERSIBLE_SCORE, irreversible, "that cannot be undone")
        add("action.high_risk", ACTION_HIGH_RISK_SCORE, high, "of high risk class")
        if magnitudes:
            score, amount, atype, limit = max(magnitudes)
            ratio = abs(amount) / limit if math.isfinite(amount) else math.inf
            out.append(
                RiskFactor(
                    name="action.magnitude",
                    score=score,
                    detail=(
                        f"largest amount {abs(amount):,.2f} is {ratio:.2f}x the limit "
                        f"{limit:,.2f} ({atype}); {len(magnitudes)} action(s) with "
                        "an amount"
                    ),
                    where="action",
                    count=len(magnitudes),
                    correctable=False,
                )
            )
        return out

    # -- the agent's record --------------------------------------------------------------------

    @staticmethod
    def _agent_factors(reliability: float) -> list[RiskFactor]:
        if not reliability < AGENT_RELIABILITY_THRESHOLD:
            return []
        score = min(AGENT_RECORD_MAX_SCORE, AGENT_RELIABILITY_THRESHOLD - reliability)
        return [
            RiskFactor(
                name="agent.record",
                score=score,
                detail=(
                    f"agent reliability {reliability:.2f} is below "
                    f"{AGENT_RELIABILITY_THRESHOLD:.2f}"
                ),
                where="agent",
                count=1,
                correctable=False,
            )
        ]
