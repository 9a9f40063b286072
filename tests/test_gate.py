"""HelixQualityGate: decisions, threshold precedence and config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maestro_helix.core.errors import ConfigError
from maestro_helix.core.scores import (
    EvaluationFailure,
    FailureKind,
    GateDecision,
    GateThresholds,
    OnExhausted,
    QualityScore,
    RiskFactor,
    RiskScore,
)
from maestro_helix.core.workflow import parse_definition
from maestro_helix.helix.gate import HelixQualityGate, load_gate_config, parse_gate_config

T = GateThresholds()
GOOD_Q = QualityScore(0.9)
LOW_Q = QualityScore(0.5)
NO_RISK = RiskScore(0.0)
PII = RiskScore(0.5, (RiskFactor("pii.email", 0.5, correctable=True),))
INJECTION = RiskScore(0.6, (RiskFactor("injection.input", 0.6, where="input"),))


def decide(q: object, r: object, attempt: int = 1, t: GateThresholds = T, **kw: object):
    return HelixQualityGate().decide(q, r, attempt=attempt, thresholds=t, **kw)  # type: ignore[arg-type]


def test_good_scores_pass() -> None:
    assert decide(GOOD_Q, NO_RISK).decision is GateDecision.PASS


def test_exactly_at_thresholds_passes() -> None:
    assert decide(QualityScore(0.7), RiskScore(0.3)).decision is GateDecision.PASS


def test_low_quality_retries_while_attempts_remain() -> None:
    v = decide(LOW_Q, NO_RISK, attempt=1)
    assert v.decision is GateDecision.RETRY
    assert "QSR 0.500 < 0.7" in v.reasons[0]


def test_low_quality_on_last_attempt_escalates_by_default() -> None:
    assert decide(LOW_Q, NO_RISK, attempt=3).decision is GateDecision.ESCALATE


def test_low_quality_on_last_attempt_fails_when_configured() -> None:
    t = GateThresholds(on_exhausted=OnExhausted.FAIL)
    assert decide(LOW_Q, NO_RISK, attempt=3, t=t).decision is GateDecision.FAIL


def test_correctable_risk_is_retried() -> None:
    assert decide(GOOD_Q, PII).decision is GateDecision.RETRY


def test_correctable_risk_on_last_attempt_escalates() -> None:
    assert decide(GOOD_Q, PII, attempt=3).decision is GateDecision.ESCALATE


def test_uncorrectable_risk_escalates_at_once() -> None:
    v = decide(GOOD_Q, INJECTION)
    assert v.decision is GateDecision.ESCALATE
    assert "injection.input" in v.reasons[0]


def test_correctable_risk_with_a_small_uncorrectable_part_is_retried() -> None:
    mixed = RiskScore(
        0.5,
        (
            RiskFactor("pii.email", 0.35, correctable=True),
            RiskFactor("agent.record", 0.2, where="agent"),
        ),
    )
    assert decide(GOOD_Q, mixed).decision is GateDecision.RETRY


def test_uncorrectable_part_above_the_bar_escalates() -> None:
    mixed = RiskScore(
        0.7,
        (
            RiskFactor("pii.email", 0.35, correctable=True),
            RiskFactor("action.irreversible", 0.5, where="action"),
        ),
    )
    assert decide(GOOD_Q, mixed).decision is GateDecision.ESCALATE


def test_risk_retry_can_be_switched_off() -> None:
    t = GateThresholds(retry_on_risk=False)
    assert decide(GOOD_Q, PII, t=t).decision is GateDecision.ESCALATE


@pytest.mark.parametrize("kind", list(FailureKind))
def test_evaluator_failure_escalates_never_scores_low(kind: FailureKind) -> None:
    v = decide(EvaluationFailure("qsr", kind, "boom"), NO_RISK)
    assert v.decision is GateDecision.ESCALATE
    assert kind.value in v.reasons[0]


def test_agent_error_retries_then_escalates() -> None:
    assert decide(None, None, agent_error="ValueError: x").decision is GateDecision.RETRY
    assert decide(None, None, attempt=3, agent_error="x").decision is GateDecision.ESCALATE


def test_threshold_precedence_most_specific_wins() -> None:
    defn = parse_definition(
        {
            "name": "wf",
            "gate": {"min_qsr": 0.6, "max_attempts": 5},
            "steps": [
                {"id": "a", "capability": "c", "gate": {"min_qsr": 0.8}},
                {"id": "b", "capability": "c"},
            ],
        }
    )
    cfg = parse_gate_config(
        {
            "default": {"min_qsr": 0.7, "max_mri": 0.3},
            "workflows": {"wf": {"steps": {"b": {"max_mri": 0.1}}}},
        },
        "g.json",
    )
    gate = HelixQualityGate(cfg)
    a = gate.thresholds_for(defn, defn.steps[0])
    b = gate.thresholds_for(defn, defn.steps[1])
    assert (a.min_qsr, a.max_mri, a.max_attempts) == (0.8, 0.3, 5)
    assert (b.min_qsr, b.max_mri, b.max_attempts) == (0.6, 0.1, 5)


def test_repo_config_file_is_valid() -> None:
    cfg = load_gate_config(Path(__file__).parents[1] / "config" / "helix_quality_gates.json")
    assert cfg.default.min_qsr == 0.7 and cfg.default.max_mri == 0.3


def test_malformed_config_names_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "gates.json"
    p.write_text(json.dumps({"default": {"min_qsr": "high"}}))
    with pytest.raises(ConfigError, match=r"gates.json: default.min_qsr: "):
        load_gate_config(p)


def test_config_unknown_field_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "gates.json"
    p.write_text(json.dumps({"default": {"min_qrs": 0.7}}))
    with pytest.raises(ConfigError, match=r"default.min_qrs: unknown field"):
        load_gate_config(p)


def test_config_out_of_range_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "gates.json"
    p.write_text(json.dumps({"workflows": {"w": {"steps": {"s": {"max_mri": 2}}}}}))
    with pytest.raises(ConfigError, match=r"workflows.w.steps.s.max_mri"):
        load_gate_config(p)


def test_config_invalid_json_gives_line(tmp_path: Path) -> None:
    p = tmp_path / "gates.json"
    p.write_text('{"default": {,}}')
    with pytest.raises(ConfigError, match=r"gates.json: line 1 column \d+: invalid JSON"):
        load_gate_config(p)
