"""The QSR's defect checks: each failure kind is caught, reported and capped below the gate,
and good answers of the same shape are not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import CriterionScore, QualityScore
from maestro_helix.core.workflow import Expectations
from maestro_helix.helix import criteria as cr
from maestro_helix.helix import topic
from maestro_helix.helix.base import EvaluationRequest
from maestro_helix.helix.qsr import QSREvaluator
from maestro_helix.helix.text import LexicalRelevance, Tokenizer

GATE = 0.7
TASK = "Describe the purpose of the offside rule in football and the rules for applying it."
GOOD = (
    "In football a player is in an offside position when any part of the body is in the "
    "opponents' half and nearer to the goal line than both the ball and the second-last "
    "defender. Being there is not an offence by itself. The referee penalises it only when the "
    "ball is played by a team-mate and the player then interferes with play. A player cannot be "
    "offside from a throw-in, a goal kick or a corner kick. The sanction is an indirect free kick."
)
OTHER = (
    "Photosynthesis is the process by which green plants turn light into chemical energy. "
    "Chlorophyll absorbs mostly red and blue light. That energy splits water molecules and "
    "releases oxygen. The Calvin cycle then fixes carbon dioxide into sugars such as glucose."
)


def evaluate(text: str, task: str = TASK, **kw: object) -> QualityScore:
    req = EvaluationRequest(
        step_id="s",
        task=task,
        input={},
        input_text=str(kw.pop("input_text", "")),
        output=AgentOutput(text=text),
        expect=Expectations(),
        sources=tuple(kw.pop("sources", ())),  # type: ignore[arg-type]
    )
    q = QSREvaluator(**kw).evaluate(req)  # type: ignore[arg-type]
    assert isinstance(q, QualityScore), q
    return q


def crit(q: QualityScore, name: str) -> CriterionScore:
    found = [c for c in q.criteria if c.name == name]
    assert found, f"{name} not in {[c.name for c in q.criteria]}"
    return found[0]


def test_a_good_answer_passes_with_every_check_clean() -> None:
    q = evaluate(GOOD)
    assert q.score >= 0.9
    for name in ("refusal", "truncation", "degeneration", "echo", "focus"):
        assert crit(q, name).score == 1.0, crit(q, name)
    assert q.suggestions == ()


def test_template_words_do_not_outweigh_the_subject() -> None:
    # The answer never says "purpose" or "rules"; it is about the offside rule, so it is relevant.
    rel = LexicalRelevance()
    assert rel.score(TASK, GOOD) >= 0.9
    # ... and an answer that repeats the template words but not the subject is not.
    assert rel.score(TASK, "The purpose of rules is to describe how to apply rules.") < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with an explanation of the offside rule right now.",
        "Thank you for your question about the offside rule in football. I appreciate your "
        "interest, but I'm not able to give a detailed answer on this topic. It would be best to "
        "speak with a specialist who can address the offside rule properly.",
        "As an AI language model, I cannot explain the offside rule in football in detail. I "
        "recommend checking the official documentation of the football association.",
    ],
)
def test_refusals_fail_the_gate_with_a_suggestion(text: str) -> None:
    q = evaluate(text)
    assert crit(q, "refusal").score < 0.3
    assert q.score < GATE
    assert any("refuse" in s for s in q.suggestions)


def test_an_apology_in_a_real_answer_is_not_a_refusal() -> None:
    text = "I'm sorry your refund is late. " + GOOD
    assert crit(evaluate(text), "refusal").score == 1.0


def test_a_hedge_inside_a_long_explanation_keeps_most_of_its_score() -> None:
    text = "I can't explain every corner case, but here is the core of it. " + GOOD
    assert crit(evaluate(text), "refusal").score >= GATE


@pytest.mark.parametrize("cut", [40, 120, 200])
def test_truncated_answers_fail(cut: int) -> None:
    text = GOOD[:cut].rsplit(" ", 1)[0]
    q = evaluate(text)
    assert crit(q, "truncation").score <= 0.2
    assert q.score < GATE
    assert any("mid-sentence" in s for s in q.suggestions)


def test_open_code_fence_is_truncation() -> None:
    assert cr.check_truncation("Here is the code:\n```python\nprint(1)\n").score < GATE


def test_lists_and_labels_are_not_truncation() -> None:
    assert cr.check_truncation("Steps:\n- open the valve\n- read the gauge").score == 1.0
    assert cr.check_truncation("Thanks for the report.\nKim").score == 1.0


@pytest.mark.parametrize(
    "text",
    [
        " ".join(["The offside rule applies to attackers in the opponents' half."] * 6),
        "The offside rule " * 20,
        GOOD.split(".")[0] + ". " + " ".join(["offside"] * 40),
    ],
)
def test_repetition_loops_fail(text: str) -> None:
    q = evaluate(text)
    assert crit(q, "degeneration").score < 0.3
    assert q.score < GATE


@pytest.mark.parametrize(
    "text",
    [
        "qwrt zxcvb plkjh mnbvc trewq lkjhg poiuy fdsaq wxcvb nmkjl qazws xedcv rfvtg bhyuj "
        "qwpo zxnm lkqw",
        "St4eaxRmcode0 i!pjanres6tr8nclate laq4 frop 8nq&uwc3@&dg yo 0nat0#r@ ldeysu5eanhe "
        "ponplgdej*et ofwAPIs *et!r3en by k2eifodvcsllookyp(q e8n*8ion *x hsilement txev5",
    ],
)
def test_gibberish_fails(text: str) -> None:
    q = evaluate(text)
    assert crit(q, "degeneration").score < 0.3
    assert q.score < GATE


def test_shuffled_words_fail_as_word_salad() -> None:
    words = GOOD.split()
    salad = " ".join(words[i] for i in (*range(1, len(words), 2), *range(0, len(words), 2)))
    assert crit(evaluate(salad), "degeneration").score < GATE


def test_a_terse_note_is_not_gibberish() -> None:
    text = "Research on solar leasing: solar leasing contracts last ten years; costs fall."
    assert crit(evaluate(text, "Research solar leasing"), "degeneration").score == 1.0


@pytest.mark.parametrize("text", [TASK, f"You asked me to answer this: {TASK}", f"Sure! {TASK}"])
def test_echo_of_the_task_fails(text: str) -> None:
    q = evaluate(text)
    assert crit(q, "echo").score < 0.5
    assert q.score < GATE


def test_echo_of_the_input_fails_but_a_short_extract_passes() -> None:
    task = "Summarise the following text in one sentence."
    assert evaluate(GOOD, task, input_text=GOOD).score < GATE
    lead = GOOD.split(". ")[0] + "."
    assert crit(evaluate(lead, task, input_text=GOOD), "echo").score == 1.0


@pytest.mark.parametrize("text", ["N/A", "TODO", "[Insert answer here]", "Lorem ipsum dolor."])
def test_placeholders_are_hard_failures(text: str) -> None:
    q = evaluate(text)
    assert crit(q, "placeholder").score == 0.0
    assert q.score <= 0.5


def test_json_text_is_not_a_placeholder() -> None:
    assert cr.check_placeholder('{"answer": 1}') is None
    assert cr.check_placeholder("[1, 2]") is None


def test_off_topic_answer_naming_the_subject_once_fails() -> None:
    for text in (
        f"The offside rule is an interesting subject. {OTHER}",
        f"Regarding the offside rule: {OTHER}",
        f"{OTHER} This is also relevant when thinking about the offside rule.",
    ):
        q = evaluate(text)
        assert crit(q, "focus").score <= 0.5, text
        assert q.score < GATE, text


def test_wrong_subject_fails_on_relevance() -> None:
    q = evaluate(OTHER)
    assert crit(q, "relevance").score < 0.3
    assert q.score < GATE


def test_subject_terms_drop_the_template() -> None:
    terms = topic.subject_terms(TASK, Tokenizer())
    assert "offsid" in terms and "football" in terms
    assert not {"purpos", "rul", "describ"} & set(terms)


def test_grounding_scores_claims_against_the_sources() -> None:
    sources = (GOOD,)
    grounded = "A player cannot be offside from a throw-in or a corner kick. The sanction is an "
    grounded += "indirect free kick awarded to the defending side."
    assert crit(evaluate(grounded, sources=sources), "grounding").score == 1.0
    invented = (
        "The offside rule was introduced in 1925 by the Brazilian federation. Players caught "
        "offside three times are sent off by the video assistant."
    )
    q = evaluate(invented, sources=sources)
    assert crit(q, "grounding").score < 0.5
    assert q.score < GATE
    assert any("sources" in s for s in q.suggestions)


def test_no_sources_means_no_grounding_check() -> None:
    assert "grounding" not in [c.name for c in evaluate(GOOD).criteria]


def test_a_zero_weight_defect_is_reported_but_does_not_cap() -> None:
    text = "I'm sorry, but I can't help with that: my training data on sports officiating is thin."
    q = evaluate(text, weights={"refusal": 0.0, "relevance": 0.0})
    assert crit(q, "refusal").score < 0.3
    assert crit(q, "refusal").weight == 0.0
    assert q.score >= GATE


def test_a_short_reply_naming_the_task_subject_is_not_an_echo() -> None:
    q = evaluate(
        "Supplier acme: your payout was sent. Thanks, acme team.", "Confirm the payout to acme"
    )
    assert crit(q, "echo").score == 1.0
    assert q.score >= GATE


def test_a_closing_bracket_after_a_plain_word_is_still_mid_sentence() -> None:
    assert (
        cr.check_truncation("For example, f(3.0) and f(3) are cached as two entries (f(3)").score
        < GATE
    )
    assert (
        cr.check_truncation("Two calls are cached as separate entries, f(3.0) and f(3)").score
        < GATE
    )
    assert cr.check_truncation('The manual says: "close the valve first."').score == 1.0
    assert (
        cr.check_truncation("The full list is in the docs (https://docs.example.com/x)").score
        == 1.0
    )


@settings(max_examples=3000, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("abXy .!?\n\t_19²½ÉéßΩ-,")) | st.characters(),
        max_size=80,
    )
)
def test_sentence_boundaries_are_what_the_pattern_finds(text: str) -> None:
    from maestro_helix.helix.criteria import _BOUNDARY, _boundaries

    expected = [(m.group(1), m.group(2)) for m in _BOUNDARY.finditer(text)]
    assert list(_boundaries(text)) == expected


def test_compressibility_is_measured_as_zlib_measures_it() -> None:
    """The repetition criterion's compressed size (a window sized to the text) stays within a
    few per cent of ``zlib.compress(text, 6)`` for prose, loops and long texts."""
    import random
    import zlib

    from maestro_helix.helix.criteria import _compressed_size

    rng = random.Random(5)
    vocab = [
        "supply",
        "chain",
        "growth",
        "market",
        "storage",
        "cost",
        "region",
        "analysts",
        "expect",
        "trend",
        "grid",
    ]
    texts = [" ".join(rng.choice(vocab) for _ in range(n)).encode() for n in (40, 200, 900, 7000)]
    texts += [b"the same sentence again and again. " * k for k in (8, 60, 1200)]
    for raw in texts:
        want = len(zlib.compress(raw, 6))
        assert abs(_compressed_size(raw) - want) <= max(3, 0.05 * want), len(raw)
