"""Tokenisation and lexical relevance (maestro_helix.helix.text)."""

from __future__ import annotations

import pytest

from maestro_helix.helix.text import (
    BACKGROUND_IDF,
    LexicalRelevance,
    RelevanceScorer,
    Tokenizer,
    stem,
    tokenize,
)

# (query, on-topic answer, off-topic answer, same-domain answer that misses the point)
RESEARCH = (
    "Review the literature on the effect of sleep deprivation on working memory in adults.",
    "Studies of sleep deprivation consistently find impaired working memory in adults. After 24 "
    "hours awake, participants recall fewer items in n-back and digit-span tasks, and fMRI work "
    "shows reduced activity in the prefrontal cortex. Even chronic partial sleep restriction, such "
    "as six hours a night for two weeks, produces deficits comparable to a full night of "
    "deprivation, while subjects underestimate their own impairment.",
    "Solar panel efficiency has improved steadily, with commercial monocrystalline modules now "
    "exceeding 22%. Perovskite tandem cells have passed 33% in the lab, although durability "
    "outdoors is still unproven.",
    "Adult education programmes are expanding in many countries. Recent studies show that "
    "flexible evening classes improve completion rates, and the literature suggests online "
    "options work well for working parents.",
)
FINANCE = (
    "Explain why the company's gross margin declined in Q2 and what management plans to do "
    "about it.",
    "Gross margin fell from 41.2% to 37.5% in Q2. Three things drove the decline: freight costs "
    "rose after the shipping disruption, a stronger dollar cut the value of European sales, and "
    "heavy discounting cleared excess winter inventory. Management plans to raise list prices 4% "
    "in Q3, renegotiate freight contracts and shift more production to the lower-cost Vietnam "
    "plant.",
    "Preheat the oven to 180C. Whisk the eggs and sugar until pale, fold in the flour and melted "
    "butter, then bake for 25 minutes until golden.",
    "The company's annual general meeting will be held in Zurich on 14 May. Shareholders can vote "
    "online and the board has nominated two new independent directors.",
)
CUSTOMER_SERVICE = (
    "Customer writes: My package was marked delivered but I never received it. Order 77120.",
    "I'm sorry your package for order 77120 shows as delivered but never reached you. I've opened "
    "a claim with the carrier and we will ship a replacement today at no cost; you'll get a "
    "tracking number by email within the hour.",
    "Our summer sale starts Friday with up to 50% off swimwear and sandals. Members get early "
    "access on Thursday.",
    "Thank you for being a valued customer. We have updated our privacy policy; please review the "
    "changes on our website at your convenience.",
)
CASES = pytest.mark.parametrize(
    "case", [RESEARCH, FINANCE, CUSTOMER_SERVICE], ids=["research", "finance", "customer_service"]
)


class CountingTokenizer(Tokenizer):
    """Records every text it is asked to tokenise."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def tokens(self, text: str, *, remember: bool = True) -> tuple[str, ...]:
        self.seen.append(text)
        return super().tokens(text, remember=remember)


# --------------------------------------------------------------------------- tokenisation


def test_tokenize_lowercases_and_drops_stopwords() -> None:
    assert tokenize("The Revenue of THE company") == ["revenu", "company"]


def test_tokenize_keeps_unicode_letters() -> None:
    assert tokenize("Café in Zürich, Ångström") == ["café", "zürich", "ångström"]


def test_tokenize_splits_on_hyphens_and_underscores() -> None:
    assert tokenize("Cash-flow cash_flow") == ["cash", "flow", "cash", "flow"]


def test_tokenize_drops_single_letters_but_keeps_digits() -> None:
    assert tokenize("customer's order 7") == ["customer", "order", "7"]


def test_stem_conflates_inflections() -> None:
    assert stem("refunds") == stem("refunded") == stem("refund")
    assert stem("pricing") == stem("priced") == stem("price") == stem("prices")
    assert stem("companies") == stem("company")
    assert stem("taxes") == stem("tax")


def test_stem_leaves_short_words_digits_and_ss_us_is_endings() -> None:
    assert stem("gas") == "gas"
    assert stem("2024") == "2024"
    assert stem("loss") == "loss"
    assert stem("status") == "status"
    assert stem("analysis") == "analysis"


def test_tokenizer_matches_uncached_tokenize() -> None:
    text = RESEARCH[1]
    assert list(Tokenizer().tokens(text)) == tokenize(text)


def test_tokenizer_stays_correct_when_its_memo_overflows() -> None:
    tok = Tokenizer(memo_size=3)
    text = FINANCE[1]
    assert list(tok.tokens(text)) == tokenize(text)
    assert list(tok.tokens(text + " again")) == tokenize(text + " again")


def test_tokenizer_returns_the_same_terms_for_a_recent_text() -> None:
    tok = Tokenizer()
    first = tok.tokens(FINANCE[1])
    tok.tokens(FINANCE[0])
    assert tok.tokens("".join(FINANCE[1])) == first  # an equal but distinct string
    assert tok.tokens(FINANCE[2], remember=False) == tuple(tokenize(FINANCE[2]))


def test_tokenizer_words_keeps_stopwords() -> None:
    assert Tokenizer().words("It is IT") == ["it", "is", "it"]


def test_background_table_makes_generic_words_cheaper_than_topical_ones() -> None:
    unknown = LexicalRelevance()._unknown_idf
    assert BACKGROUND_IDF[stem("study")] < unknown
    assert BACKGROUND_IDF[stem("summarise")] < BACKGROUND_IDF[stem("revenue")] < unknown
    assert stem("microplastics") not in BACKGROUND_IDF


# ------------------------------------------------------------------------------ relevance


def test_lexical_relevance_is_a_relevance_scorer() -> None:
    assert isinstance(LexicalRelevance(), RelevanceScorer)


@CASES
def test_on_topic_answer_scores_at_least_0_8(case: tuple[str, str, str, str]) -> None:
    query, on_topic, _, _ = case
    assert LexicalRelevance().score(query, on_topic) >= 0.8


@CASES
def test_off_topic_answer_scores_at_most_0_3(case: tuple[str, str, str, str]) -> None:
    query, _, off_topic, _ = case
    assert LexicalRelevance().score(query, off_topic) <= 0.3


@CASES
def test_same_domain_answer_that_misses_the_point_scores_at_most_0_3(
    case: tuple[str, str, str, str],
) -> None:
    query, _, _, near_miss = case
    assert LexicalRelevance().score(query, near_miss) <= 0.3


@CASES
def test_relevance_orders_on_topic_above_near_miss_above_off_topic(
    case: tuple[str, str, str, str],
) -> None:
    query, on_topic, off_topic, near_miss = case
    r = LexicalRelevance()
    assert r.raw(query, on_topic) > r.raw(query, near_miss) >= r.raw(query, off_topic)


def test_short_summary_of_long_input_is_relevant() -> None:
    article = (
        "Summarise this for the board. The city council voted on Tuesday to approve a congestion "
        "charge for vehicles entering the downtown area during peak hours. Drivers will pay $12 "
        "per day between 7am and 7pm on weekdays, with exemptions for residents, taxis and "
        "emergency vehicles. Revenue, expected to reach $80 million a year, will fund new bus "
        "lanes and a bike-sharing expansion. Business groups warned the charge could push "
        "shoppers to suburban malls, while environmental groups praised the plan. The charge "
        "takes effect in January after a public consultation."
    )
    summary = (
        "The council approved a $12 weekday congestion charge downtown from January; the $80M a "
        "year funds bus lanes and bike sharing, despite business worries about lost shoppers."
    )
    assert LexicalRelevance().score(article, summary) >= 0.8


def test_relevance_is_zero_without_shared_terms() -> None:
    assert LexicalRelevance().score("quarterly revenue", "hiking boots with leather soles") == 0.0


def test_relevance_is_zero_for_empty_or_stopword_only_sides() -> None:
    r = LexicalRelevance()
    assert r.score("", FINANCE[1]) == 0.0
    assert r.score("what is it about", FINANCE[1]) == 0.0
    assert r.score(FINANCE[0], "") == 0.0


def test_relevance_stays_within_0_and_1() -> None:
    r = LexicalRelevance()
    assert 0.0 <= r.score(FINANCE[0], FINANCE[0]) <= 1.0
    assert 0.0 <= r.raw(FINANCE[0], FINANCE[0]) <= 1.0


def test_calibration_is_monotonic_and_anchored_at_zero() -> None:
    r = LexicalRelevance()
    values = [r.calibrate(x / 20) for x in range(21)]
    assert values[0] == 0.0
    assert values == sorted(values)
    assert values[-1] > 0.99


def test_idf_override_changes_the_weight_of_a_term() -> None:
    query, answer = "blender refund", "your blender is on its way"
    default = LexicalRelevance().raw(query, answer)
    blender_common = LexicalRelevance(idf={"blender": 0.1}).raw(query, answer)
    assert blender_common < default


def test_repeated_query_is_tokenised_once() -> None:
    tok = CountingTokenizer()
    r = LexicalRelevance(tokenizer=tok)
    query = FINANCE[0]
    for answer in (FINANCE[1], FINANCE[2], FINANCE[3]):
        r.score(query, answer)
    assert tok.seen.count(query) == 1


def test_query_cache_is_bounded() -> None:
    tok = CountingTokenizer()
    r = LexicalRelevance(tokenizer=tok, query_cache_size=2)
    for query in ("alpha revenue", "beta revenue", "gamma revenue", "alpha revenue"):
        r.score(query, "revenue grew")
    assert tok.seen.count("alpha revenue") == 2
