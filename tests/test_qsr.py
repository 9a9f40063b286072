"""The QSR evaluator (maestro_helix.helix.qsr)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

import pytest

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import (
    CriterionScore,
    EvaluationFailure,
    FailureKind,
    QualityScore,
)
from maestro_helix.core.workflow import Expectations
from maestro_helix.helix.base import EvaluationRequest
from maestro_helix.helix.qsr import (
    DEFAULT_CUSTOM_WEIGHT,
    DEFAULT_WEIGHTS,
    DEFECT_CRITERIA,
    EMPTY_SUGGESTION,
    HARD_FAILURE_CAP,
    QSREvaluator,
)

TASK = "Reply to the customer about the late refund for order 48213 (a returned blender)."
ON_TOPIC = (
    "I'm sorry your refund for order 48213 is taking so long. The returned blender reached our "
    "warehouse on May 2 and the refund of $89.99 was issued today to your original card; it "
    "usually appears within 3-5 business days."
)
OFF_TOPIC = (
    "Our spring collection features lightweight linen shirts and relaxed chinos. Sign up for the "
    "newsletter to get early access to seasonal sales."
)
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["summary", "sources"],
    "properties": {
        "summary": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "string"}},
    },
}


def make_req(
    text: str = ON_TOPIC,
    data: Mapping[str, Any] | None = None,
    *,
    task: str = TASK,
    input_text: str = "",
    mentions: tuple[str, ...] = (),
    **expect: Any,
) -> EvaluationRequest:
    return EvaluationRequest(
        step_id="reply",
        task=task,
        input={},
        input_text=input_text,
        output=AgentOutput(text=text, data=dict(data or {})),
        expect=Expectations(**expect),
        mentions=mentions,
    )


def score_of(result: QualityScore | EvaluationFailure) -> QualityScore:
    assert isinstance(result, QualityScore), result
    return result


def failure_of(result: QualityScore | EvaluationFailure) -> EvaluationFailure:
    assert isinstance(result, EvaluationFailure), result
    return result


def criterion(result: QualityScore | EvaluationFailure, name: str) -> CriterionScore:
    found = [c for c in score_of(result).criteria if c.name == name]
    assert len(found) == 1, f"{name} not in {score_of(result).criteria}"
    return found[0]


def names(result: QualityScore | EvaluationFailure) -> list[str]:
    """The criteria of the weighted mean (the defect checks are reported after them)."""
    return [c.name for c in score_of(result).criteria if c.name not in DEFECT_CRITERIA]


def fixed(score: float, detail: str = "") -> Any:
    def check(req: EvaluationRequest) -> CriterionScore:
        return CriterionScore("ignored", score, 1.0, detail)

    return check


def crash(req: EvaluationRequest) -> CriterionScore:
    raise ZeroDivisionError("division by zero")


# ----------------------------------------------------------------------------------- schema


def test_required_fields_present_score_schema_1() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"summary": "ok", "sources": ["a"]}, required_fields=("summary", "sources"))
    )
    assert criterion(result, "schema").score == 1.0


def test_missing_required_field_scores_the_fraction_present() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"summary": "ok"}, required_fields=("summary", "sources"))
    )
    assert criterion(result, "schema").score == 0.5
    assert "sources" in criterion(result, "schema").detail


def test_blank_values_count_as_missing_but_zero_and_false_do_not() -> None:
    data: dict[str, Any] = {"a": None, "b": "  ", "c": [], "d": {}, "e": 0, "f": False}
    result = QSREvaluator().evaluate(
        make_req(data=data, required_fields=("a", "b", "c", "d", "e", "f"))
    )
    assert criterion(result, "schema").score == pytest.approx(2 / 6)


def test_dotted_required_field_reads_nested_data() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"meta": {"author": "kim"}}, required_fields=("meta.author",))
    )
    assert criterion(result, "schema").score == 1.0


def test_data_matching_the_schema_scores_schema_1() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"summary": "ok", "sources": ["10-K"]}, output_schema=REPORT_SCHEMA)
    )
    assert criterion(result, "schema").score == 1.0


def test_schema_violation_scores_0_with_the_error_path_in_the_detail() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"summary": "ok", "sources": [42]}, output_schema=REPORT_SCHEMA)
    )
    schema = criterion(result, "schema")
    assert schema.score == 0.0
    assert "$.sources[0]" in schema.detail


def test_missing_field_suggestion_names_every_missing_field() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"title": "x"}, required_fields=("title", "summary", "sources"))
    )
    assert "Add the missing field(s): summary, sources" in score_of(result).suggestions


def test_schema_violation_suggestion_names_the_path() -> None:
    result = QSREvaluator().evaluate(
        make_req(data={"summary": "ok", "sources": "10-K"}, output_schema=REPORT_SCHEMA)
    )
    (suggestion,) = score_of(result).suggestions
    assert suggestion.startswith("Make the data match the output schema at $.sources")


def test_equal_schemas_share_one_compiled_validator() -> None:
    ev = QSREvaluator()
    assert ev.validator_for(REPORT_SCHEMA) is ev.validator_for(copy.deepcopy(REPORT_SCHEMA))


def test_different_schemas_get_different_validators() -> None:
    ev = QSREvaluator()
    other = {**REPORT_SCHEMA, "required": ["summary"]}
    assert ev.validator_for(REPORT_SCHEMA) is not ev.validator_for(other)


def test_cached_validator_still_judges_each_output() -> None:
    ev = QSREvaluator()
    good = make_req(data={"summary": "ok", "sources": []}, output_schema=REPORT_SCHEMA)
    bad = make_req(data={"summary": 1, "sources": []}, output_schema=copy.deepcopy(REPORT_SCHEMA))
    assert criterion(ev.evaluate(good), "schema").score == 1.0
    assert criterion(ev.evaluate(bad), "schema").score == 0.0


# ----------------------------------------------------------------------------- completeness


def test_all_mentions_covered_scores_completeness_1() -> None:
    result = QSREvaluator().evaluate(make_req(mentions=("refund", "order 48213")))
    assert criterion(result, "completeness").score == 1.0


def test_mention_matches_across_case_and_punctuation() -> None:
    result = QSREvaluator().evaluate(
        make_req("Cash-flow turned positive.", task="", mentions=("cash flow",))
    )
    assert criterion(result, "completeness").score == 1.0


def test_mention_matches_inflected_forms() -> None:
    result = QSREvaluator().evaluate(
        make_req("The main risks are refinancing and churn.", task="", mentions=("risk",))
    )
    assert criterion(result, "completeness").score == 1.0


def test_mention_phrase_must_appear_in_order() -> None:
    result = QSREvaluator().evaluate(
        make_req("Cash is king; the flow of goods slowed.", task="", mentions=("cash flow",))
    )
    assert criterion(result, "completeness").score == 0.0


def test_stopword_only_mention_is_matched_on_words() -> None:
    result = QSREvaluator().evaluate(
        make_req("The IT team fixed the outage.", task="", mentions=("IT",))
    )
    assert criterion(result, "completeness").score == 1.0


def test_partial_coverage_scores_the_fraction_and_suggests_what_to_cover() -> None:
    result = QSREvaluator().evaluate(
        make_req(
            "Revenue grew 12% on strong demand.",
            task="",
            mentions=("revenue", "cash flow", "risks", "margin"),
        )
    )
    assert criterion(result, "completeness").score == 0.25
    assert "Cover: cash flow, risks, margin" in score_of(result).suggestions


def test_completeness_is_not_applicable_without_mentions() -> None:
    assert "completeness" not in names(QSREvaluator().evaluate(make_req()))


def test_completeness_reads_resolved_mentions_from_the_request() -> None:
    req = EvaluationRequest(
        step_id="reply",
        task=TASK,
        input={"product": "blender"},
        input_text="",
        output=AgentOutput(text=ON_TOPIC),
        expect=Expectations(mentions=("${input.product}",)),
        mentions=("blender",),
    )
    assert criterion(QSREvaluator().evaluate(req), "completeness").score == 1.0


# -------------------------------------------------------------------------------- relevance


def test_on_topic_output_scores_relevance_at_least_0_8() -> None:
    assert criterion(QSREvaluator().evaluate(make_req(ON_TOPIC)), "relevance").score >= 0.8


def test_off_topic_output_scores_relevance_at_most_0_3() -> None:
    assert criterion(QSREvaluator().evaluate(make_req(OFF_TOPIC)), "relevance").score <= 0.3


def test_off_topic_suggestion_quotes_the_start_of_the_task() -> None:
    task = (
        "Summarise the evidence on how microplastics affect marine ecosystems, citing peer "
        "reviewed studies published since 2019 and noting their limitations."
    )
    result = QSREvaluator().evaluate(make_req(OFF_TOPIC, task=task))
    hint = [s for s in score_of(result).suggestions if s.startswith("Stay on the task: ")]
    assert hint == [f"Stay on the task: {task[:79].rstrip()}…"]


def test_relevance_uses_the_input_text_when_there_is_no_task() -> None:
    result = QSREvaluator().evaluate(make_req(task="", input_text=TASK))
    assert criterion(result, "relevance").score >= 0.8


def test_relevance_is_not_applicable_without_a_query() -> None:
    assert "relevance" not in names(QSREvaluator().evaluate(make_req(task="")))


def test_relevance_is_not_applicable_when_the_task_has_only_stopwords() -> None:
    assert "relevance" not in names(QSREvaluator().evaluate(make_req(task="Do it.")))


def test_relevance_reads_data_strings_when_there_is_no_text() -> None:
    result = QSREvaluator().evaluate(make_req("", data={"reply": ON_TOPIC}))
    assert criterion(result, "relevance").score >= 0.8


def test_plugged_relevance_scorer_is_used() -> None:
    class Judge:
        def score(self, query: str, text: str) -> float:
            return 0.42

    result = QSREvaluator(relevance=Judge()).evaluate(make_req())
    assert criterion(result, "relevance").score == 0.42


def test_crashing_relevance_scorer_is_a_crash_not_a_low_score() -> None:
    class Broken:
        def score(self, query: str, text: str) -> float:
            raise RuntimeError("model not loaded")

    failure = failure_of(QSREvaluator(relevance=Broken()).evaluate(make_req()))
    assert (failure.evaluator, failure.kind) == ("relevance", FailureKind.CRASH)
    assert "model not loaded" in failure.message


def test_relevance_scorer_out_of_range_is_a_crash() -> None:
    class Loose:
        def score(self, query: str, text: str) -> float:
            return 1.7

    failure = failure_of(QSREvaluator(relevance=Loose()).evaluate(make_req()))
    assert (failure.evaluator, failure.kind) == ("relevance", FailureKind.CRASH)


# ----------------------------------------------------------------------------------- length


def test_length_within_bounds_scores_1() -> None:
    result = QSREvaluator().evaluate(make_req("x" * 50, task="", min_length=10, max_length=100))
    assert criterion(result, "length").score == 1.0


def test_too_long_output_loses_score_in_proportion_to_the_excess() -> None:
    result = QSREvaluator().evaluate(make_req("x" * 110, task="", max_length=100))
    assert criterion(result, "length").score == pytest.approx(0.9)


def test_far_too_long_output_scores_length_0() -> None:
    result = QSREvaluator().evaluate(make_req("x" * 500, task="", max_length=100))
    assert criterion(result, "length").score == 0.0


def test_too_long_output_suggests_the_limit() -> None:
    result = QSREvaluator().evaluate(make_req("x" * 150, task="", max_length=100))
    assert "Shorten to at most 100 characters (now 150)" in score_of(result).suggestions


def test_too_short_output_scores_the_fraction_and_suggests_the_minimum() -> None:
    result = QSREvaluator().evaluate(make_req("x" * 20, task="", min_length=100))
    assert criterion(result, "length").score == pytest.approx(0.2)
    assert "Expand to at least 100 characters (now 20)" in score_of(result).suggestions


def test_length_ignores_surrounding_whitespace() -> None:
    result = QSREvaluator().evaluate(make_req("  " + "x" * 100 + "\n\n", task="", max_length=100))
    assert criterion(result, "length").score == 1.0


# ----------------------------------------------------------------------------------- format


def test_json_object_text_scores_format_1() -> None:
    result = QSREvaluator().evaluate(make_req('{"status": "refunded"}', task="", format="json"))
    assert criterion(result, "format").score == 1.0


def test_invalid_json_scores_format_0_and_suggests_valid_json() -> None:
    result = QSREvaluator().evaluate(make_req('{"status": "refunded",}', task="", format="json"))
    assert criterion(result, "format").score == 0.0
    (suggestion,) = score_of(result).suggestions
    assert suggestion.startswith("Return valid JSON: ")
    assert "line 1" in suggestion


def test_json_scalar_is_not_an_object_or_array() -> None:
    result = QSREvaluator().evaluate(make_req('"refunded"', task="", format="json"))
    assert criterion(result, "format").score == 0.0


def test_fenced_json_suggestion_says_to_drop_the_fence() -> None:
    result = QSREvaluator().evaluate(make_req('```json\n{"a": 1}\n```', task="", format="json"))
    assert "code fence" in score_of(result).suggestions[0]


def test_data_only_output_satisfies_json_format() -> None:
    result = QSREvaluator().evaluate(make_req("", data={"status": "refunded"}, format="json"))
    assert criterion(result, "format").score == 1.0


def test_two_bullet_lines_satisfy_bullets_format() -> None:
    text = "Findings:\n- revenue up 12%\n• margin down\n1. churn flat"
    result = QSREvaluator().evaluate(make_req(text, task="", format="bullets"))
    assert criterion(result, "format").score == 1.0


def test_prose_fails_bullets_format_with_a_suggestion() -> None:
    result = QSREvaluator().evaluate(make_req("Revenue is up. - not a bullet", format="bullets"))
    assert criterion(result, "format").score == 0.0
    suggestions = score_of(result).suggestions
    assert any(s.startswith("Format the answer as a bulleted list") for s in suggestions)


@pytest.mark.parametrize(
    "text", ["# Refund status\nDone.", "Status:\n* refunded", "It is **refunded** now."]
)
def test_heading_list_or_emphasis_satisfies_markdown_format(text: str) -> None:
    result = QSREvaluator().evaluate(make_req(text, task="", format="markdown"))
    assert criterion(result, "format").score == 1.0


def test_plain_prose_fails_markdown_format() -> None:
    text = "See snake_case_name and 2 * 3 * 4 #hashtag."
    result = QSREvaluator().evaluate(make_req(text, task="", format="markdown"))
    assert criterion(result, "format").score == 0.0
    assert "Use Markdown: add a heading, a list or emphasis" in score_of(result).suggestions


def test_text_format_is_not_a_criterion() -> None:
    assert "format" not in names(QSREvaluator().evaluate(make_req(format="text")))


# ------------------------------------------------------------------------------------ empty


def test_empty_output_scores_0_and_says_it_is_empty() -> None:
    result = score_of(QSREvaluator().evaluate(make_req("  \n", data={})))
    assert result.score == 0.0
    assert result.suggestions[0] == EMPTY_SUGGESTION
    assert result.suggestions[0].startswith("The output is empty")


def test_output_with_only_blank_data_values_is_empty() -> None:
    result = score_of(QSREvaluator().evaluate(make_req("", data={"summary": "", "items": []})))
    assert result.score == 0.0


def test_empty_output_does_not_run_custom_criteria() -> None:
    calls: list[EvaluationRequest] = []

    def spy(req: EvaluationRequest) -> CriterionScore:
        calls.append(req)
        return CriterionScore("spy", 1.0)

    result = QSREvaluator(custom={"spy": spy}).evaluate(make_req(""), custom=["spy"])
    assert score_of(result).score == 0.0
    assert calls == []


def test_data_only_output_is_not_empty() -> None:
    result = score_of(QSREvaluator().evaluate(make_req("", data={"reply": ON_TOPIC})))
    assert result.score > 0.7


# -------------------------------------------------------------------------------- aggregate


def test_aggregate_is_renormalised_over_applicable_criteria() -> None:
    # Completeness 0.5 (weight 0.25) and length 1.0 (weight 0.10) are the only criteria.
    req = make_req("refund issued", task="", mentions=("refund", "apology"), max_length=100)
    result = score_of(QSREvaluator().evaluate(req))
    assert names(result) == ["completeness", "length"]
    assert result.score == pytest.approx((0.25 * 0.5 + 0.10 * 1.0) / 0.35)


def test_weight_override_changes_the_aggregate() -> None:
    req = make_req("refund issued", task="", mentions=("refund", "apology"), max_length=100)
    ev = QSREvaluator(weights={"completeness": 0.1, "length": 0.3})
    assert score_of(ev.evaluate(req)).score == pytest.approx((0.1 * 0.5 + 0.3 * 1.0) / 0.4)


def test_zero_weight_criterion_is_reported_but_not_counted() -> None:
    result = score_of(QSREvaluator(weights={"relevance": 0.0}).evaluate(make_req(OFF_TOPIC)))
    assert criterion(result, "relevance").weight == 0.0
    assert result.score == 1.0


def test_output_with_nothing_to_check_scores_1() -> None:
    result = score_of(QSREvaluator().evaluate(make_req("Done.", task="")))
    assert (result.score, names(result), result.suggestions) == (1.0, [], ())
    # the defect checks ran and found nothing
    assert {c.name: c.score for c in result.criteria} == {
        "refusal": 1.0,
        "truncation": 1.0,
        "degeneration": 1.0,
        "echo": 1.0,
    }


def test_missing_required_field_caps_an_otherwise_perfect_output() -> None:
    data = {"a": "x", "b": "x", "c": "x", "d": "x", "e": "x", "f": "x", "g": "x"}
    req = make_req(data=data, required_fields=("a", "b", "c", "d", "e", "f", "g", "h"))
    result = score_of(QSREvaluator().evaluate(req))
    assert criterion(result, "schema").score == pytest.approx(7 / 8)
    assert result.score == HARD_FAILURE_CAP


def test_schema_violation_keeps_the_aggregate_below_a_0_7_gate() -> None:
    req = make_req(
        data={"summary": "ok"}, output_schema=REPORT_SCHEMA, mentions=("refund",), max_length=900
    )
    assert score_of(QSREvaluator().evaluate(req)).score <= HARD_FAILURE_CAP < 0.7


def test_default_weights_are_the_documented_ones() -> None:
    assert dict(DEFAULT_WEIGHTS) == {
        "schema": 0.35,
        "completeness": 0.25,
        "relevance": 0.25,
        "length": 0.10,
        "format": 0.05,
    }
    assert DEFAULT_CUSTOM_WEIGHT == 0.25


def test_passing_criteria_produce_no_suggestions() -> None:
    req = make_req(mentions=("refund",), min_length=10, max_length=1000)
    assert score_of(QSREvaluator().evaluate(req)).suggestions == ()


def test_suggestions_follow_criterion_order() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.2, "too curt")})
    req = make_req(
        OFF_TOPIC,
        data={},
        required_fields=("summary",),
        mentions=("refund",),
        max_length=50,
        format="bullets",
    )
    suggestions = score_of(ev.evaluate(req, custom=["tone"])).suggestions
    assert [s.split(" ")[0] for s in suggestions] == [
        "Add",
        "Cover:",
        "Stay",
        "Shorten",
        "Format",
        "Improve",
    ]


def test_results_carry_the_evaluator_version() -> None:
    ev = QSREvaluator(version="qsr-test", custom={"boom": crash})
    assert score_of(ev.evaluate(make_req())).evaluator_version == "qsr-test"
    assert failure_of(ev.evaluate(make_req(), custom=["boom"])).evaluator_version == "qsr-test"


# ------------------------------------------------------------------------ custom criteria


def test_sync_custom_criterion_is_reported_under_its_registered_name() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.9, "polite")})
    tone = criterion(ev.evaluate(make_req(), custom=["tone"]), "tone")
    assert (tone.score, tone.weight, tone.detail) == (0.9, DEFAULT_CUSTOM_WEIGHT, "polite")


def test_custom_criterion_weight_can_be_overridden() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.9)}, weights={"tone": 0.5})
    assert criterion(ev.evaluate(make_req(), custom=["tone"]), "tone").weight == 0.5


def test_custom_criteria_run_only_when_named() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.9)})
    assert "tone" not in names(ev.evaluate(make_req()))


def test_low_custom_score_suggests_improving_it_with_its_detail() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.3, "sounds defensive")})
    result = score_of(ev.evaluate(make_req(), custom=["tone"]))
    assert "Improve tone: sounds defensive" in result.suggestions


def test_crashing_custom_criterion_is_a_crash_not_a_low_score() -> None:
    def boom(req: EvaluationRequest) -> CriterionScore:
        raise ValueError("lookup table missing")

    failure = failure_of(QSREvaluator(custom={"boom": boom}).evaluate(make_req(), custom=["boom"]))
    assert (failure.evaluator, failure.kind) == ("boom", FailureKind.CRASH)
    assert "ValueError: lookup table missing" in failure.message


def test_custom_criterion_returning_a_non_criterion_is_a_crash() -> None:
    def not_a_criterion(req: EvaluationRequest) -> Any:
        return {"score": 1.0}

    ev = QSREvaluator(custom={"bad": not_a_criterion})
    failure = failure_of(ev.evaluate(make_req(), custom=["bad"]))
    assert failure.kind == FailureKind.CRASH
    assert "returned dict, expected a CriterionScore" in failure.message


@pytest.mark.parametrize("bad_score", [1.5, -0.1, float("nan")])
def test_custom_criterion_score_outside_0_1_is_a_crash(bad_score: float) -> None:
    ev = QSREvaluator(custom={"bad": fixed(bad_score)})
    failure = failure_of(ev.evaluate(make_req(), custom=["bad"]))
    assert failure.kind == FailureKind.CRASH
    assert "expected a number in 0..1" in failure.message


def test_slow_sync_custom_criterion_is_a_timeout() -> None:
    def slow(req: EvaluationRequest) -> CriterionScore:
        time.sleep(0.05)
        return CriterionScore("slow", 1.0)

    ev = QSREvaluator(custom={"slow": slow}, custom_timeout_s=0.01)
    failure = failure_of(ev.evaluate(make_req(), custom=["slow"]))
    assert (failure.evaluator, failure.kind) == ("slow", FailureKind.TIMEOUT)


def test_unknown_custom_criterion_name_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        QSREvaluator(custom={"tone": fixed(1.0)}).evaluate(make_req(), custom=["nope"])


def test_custom_criterion_cannot_shadow_a_builtin() -> None:
    with pytest.raises(ValueError, match="relevance"):
        QSREvaluator(custom={"relevance": fixed(1.0)})


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="schema"):
        QSREvaluator(weights={"schema": -1.0})


async def polite(req: EvaluationRequest) -> CriterionScore:
    await asyncio.sleep(0)
    return CriterionScore("polite", 0.8, 1.0, "courteous")


def test_async_custom_criterion_in_evaluate_raises_type_error() -> None:
    ev = QSREvaluator(custom={"polite": polite})
    with pytest.raises(TypeError, match="aevaluate"):
        ev.evaluate(make_req(), custom=["polite"])


def test_sync_callable_returning_a_coroutine_in_evaluate_raises_type_error() -> None:
    ev = QSREvaluator(custom={"sneaky": lambda req: polite(req)})
    with pytest.raises(TypeError, match="aevaluate"):
        ev.evaluate(make_req(), custom=["sneaky"])


def test_callable_object_with_async_call_is_detected_as_async() -> None:
    class Judge:
        async def __call__(self, req: EvaluationRequest) -> CriterionScore:
            return CriterionScore("judge", 1.0)

    assert QSREvaluator(custom={"judge": Judge()}).is_async("judge")


async def test_aevaluate_awaits_async_custom_criteria() -> None:
    ev = QSREvaluator(custom={"polite": polite})
    result = await ev.aevaluate(make_req(), custom=["polite"])
    assert criterion(result, "polite").score == 0.8


async def test_aevaluate_keeps_the_named_order_of_sync_and_async_criteria() -> None:
    ev = QSREvaluator(custom={"polite": polite, "tone": fixed(0.9), "brief": fixed(1.0)})
    result = await ev.aevaluate(make_req(), custom=["tone", "polite", "brief"])
    assert names(result)[-3:] == ["tone", "polite", "brief"]


async def test_slow_async_custom_criterion_is_a_timeout() -> None:
    async def slow(req: EvaluationRequest) -> CriterionScore:
        await asyncio.sleep(10)
        return CriterionScore("slow", 1.0)

    ev = QSREvaluator(custom={"slow": slow}, custom_timeout_s=0.05)
    failure = failure_of(await ev.aevaluate(make_req(), custom=["slow"]))
    assert (failure.evaluator, failure.kind) == ("slow", FailureKind.TIMEOUT)


async def test_crashing_async_custom_criterion_is_a_crash() -> None:
    async def boom(req: EvaluationRequest) -> CriterionScore:
        raise ConnectionError("judge unreachable")

    ev = QSREvaluator(custom={"boom": boom})
    failure = failure_of(await ev.aevaluate(make_req(), custom=["boom"]))
    assert (failure.evaluator, failure.kind) == ("boom", FailureKind.CRASH)
    assert "judge unreachable" in failure.message


async def test_async_custom_criterion_returning_garbage_is_a_crash() -> None:
    async def garbage(req: EvaluationRequest) -> Any:
        return 0.9

    ev = QSREvaluator(custom={"garbage": garbage})
    failure = failure_of(await ev.aevaluate(make_req(), custom=["garbage"]))
    assert failure.kind == FailureKind.CRASH


async def test_sync_failure_in_aevaluate_discards_pending_async_criteria() -> None:
    ev = QSREvaluator(custom={"polite": polite, "boom": crash})
    failure = failure_of(await ev.aevaluate(make_req(), custom=["polite", "boom"]))
    assert failure.evaluator == "boom"  # and no "coroutine was never awaited" warning


async def test_aevaluate_equals_evaluate_for_builtins() -> None:
    req = make_req(
        data={"summary": "ok"},
        required_fields=("summary", "sources"),
        mentions=("refund", "tracking"),
        max_length=120,
        format="markdown",
    )
    ev = QSREvaluator(custom={"tone": fixed(0.6, "stiff")})
    assert await ev.aevaluate(req, custom=["tone"]) == ev.evaluate(req, custom=["tone"])


def test_aevaluate_without_async_criteria_never_suspends() -> None:
    ev = QSREvaluator(custom={"tone": fixed(0.9)})
    req = make_req(mentions=("refund",))
    coro = ev.aevaluate(req, custom=["tone"])
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    assert done.value.value == ev.evaluate(req, custom=["tone"])
