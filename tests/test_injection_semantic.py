"""The optional semantic layer of the injection model (helix/injection/semantic.py): projected
word vectors, the window's hidden units, and how the logistic regression reads them."""

from __future__ import annotations

import base64
import json
import math

import pytest

from maestro_helix.helix.injection import model as model_module
from maestro_helix.helix.injection import semantic as semantic_module
from maestro_helix.helix.injection.model import LearnedModel, window_semantic
from maestro_helix.helix.injection.semantic import Semantic, encode_table

WORDS = ("ignore", "rules", "weather", "sunny")
ROWS = ((100, -20), (90, -10), (-50, 60), (-40, 80))  # int8, two hidden units
SCALE = (0.01, 0.02)
BIAS = (-0.2, 0.1)


def table() -> Semantic:
    return Semantic(WORDS, base64.b64decode(encode_table(ROWS)), SCALE, BIAS)


def test_vectors_are_the_int8_rows_times_their_unit_scale() -> None:
    sem = table()
    assert sem.hidden == 2
    v = sem.vector("ignore")
    assert v is not None and v == pytest.approx((1.0, -0.4))
    assert sem.vector("sunny") == pytest.approx((-0.4, 1.6))
    assert sem.vector("unknown") is None


def test_activations_are_relu_of_bias_plus_the_mean_of_known_words() -> None:
    sem = table()
    h = sem.activations([sem.vector("ignore"), None, sem.vector("rules")])
    mean = ((1.0 + 0.9) / 2, (-0.4 - 0.2) / 2)
    assert h == pytest.approx([max(0.0, -0.2 + mean[0]), max(0.0, 0.1 + mean[1])])
    assert h[1] == 0.0  # the ReLU cuts the negative unit
    assert sem.activations([None, None]) == pytest.approx([0.0, 0.1])  # bias alone


def test_sizes_that_disagree_are_refused() -> None:
    with pytest.raises(ValueError, match="sizes disagree"):
        Semantic(WORDS, b"\x00" * 7, SCALE, BIAS)


def test_the_model_adds_the_weighted_hidden_units_to_each_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sem = table()
    monkeypatch.setattr(model_module, "load_semantic", lambda: sem)
    plain = LearnedModel({}, 0.0, 0.5, "t")
    weighted = LearnedModel({}, 0.0, 0.5, "t", semantic=(3.0, -1.0))
    assert plain.probability("ignore rules") == pytest.approx(0.5)
    h = sem.activations([sem.vector("ignore"), sem.vector("rules")])
    z = 3.0 * h[0] - 1.0 * h[1]
    assert weighted.probability("ignore rules") == pytest.approx(1 / (1 + math.exp(-z)))
    # the weather words give the first unit nothing, the second a negative weight
    assert weighted.probability("weather sunny") < 0.5 < weighted.probability("ignore rules")
    assert window_semantic("ignore rules", sem) == [pytest.approx(h)]


def test_semantic_weights_without_their_table_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    data = {
        "format": "maestro-injection-lr/5",
        "buckets": model_module.BUCKETS,
        "bias": 0.0,
        "threshold": 0.5,
        "version": "t",
        "semantic": [1.0, 2.0, 3.0],
        "weights": {},
    }

    class Raw:
        def read_text(self, encoding: str) -> str:
            return json.dumps(data)

    class Files:
        def joinpath(self, name: str) -> Raw:
            return Raw()

    monkeypatch.setattr(model_module.resources, "files", lambda pkg: Files())
    monkeypatch.setattr(model_module, "load_semantic", lambda: table())  # 2 units, not 3
    model_module.load_model.cache_clear()
    try:
        with pytest.raises(ValueError, match="3 hidden units"):
            model_module.load_model()
    finally:
        model_module.load_model.cache_clear()


def test_the_shipped_model_runs_without_a_semantic_table() -> None:
    # the semantic layer was measured and not shipped (bench/RESULTS.md): no table, no weights
    assert semantic_module.load_semantic() is None
    assert model_module.load_model().semantic == ()
