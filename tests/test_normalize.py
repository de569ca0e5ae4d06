from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragrerank import normalize_scores

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


def test_softmax_matches_definition() -> None:
    s = [2.0, 1.0, 0.0]
    exps = [math.exp(x) for x in s]
    assert normalize_scores(s, "softmax") == pytest.approx([e / sum(exps) for e in exps])


def test_softmax_temperature_flattens() -> None:
    sharp = normalize_scores([2.0, 0.0], "softmax", temperature=0.5)
    flat = normalize_scores([2.0, 0.0], "softmax", temperature=4.0)
    assert sharp[0] > flat[0] > 0.5


def test_sigmoid_and_minmax_and_none() -> None:
    assert normalize_scores([0.0, -1000.0, 1000.0], "sigmoid") == pytest.approx([0.5, 0.0, 1.0])
    assert normalize_scores([1.0, 3.0, 2.0], "minmax") == [0.0, 1.0, 0.5]
    assert normalize_scores([4.0, 4.0], "minmax") == [1.0, 1.0]
    assert normalize_scores([4.0, -2.5], None) == [4.0, -2.5]


def test_bad_method_and_temperature() -> None:
    with pytest.raises(ValueError, match="normalize"):
        normalize_scores([1.0], "tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature"):
        normalize_scores([1.0], "softmax", temperature=0.0)


@given(st.lists(finite, min_size=1, max_size=50))
def test_softmax_is_a_distribution_and_keeps_order(scores: list[float]) -> None:
    p = normalize_scores(scores, "softmax")
    assert math.fsum(p) == pytest.approx(1.0)
    assert all(0.0 <= x <= 1.0 for x in p)
    for i in range(len(scores)):
        for j in range(len(scores)):
            if scores[i] > scores[j]:
                assert p[i] >= p[j]


@given(st.lists(finite, min_size=1, max_size=50), st.sampled_from(["sigmoid", "minmax"]))
def test_bounded_and_monotone(scores: list[float], method: str) -> None:
    p = normalize_scores(scores, method)  # type: ignore[arg-type]
    assert all(0.0 <= x <= 1.0 for x in p)
    assert all(type(x) is float for x in p)
    for i in range(len(scores)):
        for j in range(len(scores)):
            if scores[i] > scores[j]:
                assert p[i] >= p[j]
