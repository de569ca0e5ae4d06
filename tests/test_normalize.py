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


any_finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.lists(any_finite, min_size=1, max_size=20),
    st.sampled_from(["softmax", "sigmoid", "minmax"]),
    st.floats(min_value=1e-300, max_value=1e300),
)
def test_finite_input_never_gives_nan_even_at_the_float_range(
    scores: list[float], method: str, temperature: float
) -> None:
    p = normalize_scores(scores, method, temperature=temperature)  # type: ignore[arg-type]
    assert all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in p)
    best = max(range(len(scores)), key=lambda i: scores[i])
    assert p[best] == max(p)


def test_spreads_beyond_the_float_range() -> None:
    big = 1.7e308
    assert normalize_scores([-big, big, 0.0], "minmax") == [0.0, 1.0, 0.5]
    assert normalize_scores([big, -big], "softmax") == [1.0, 0.0]
    assert normalize_scores([3.0, 3.0, 3.0], "minmax") == [1.0, 1.0, 1.0]
    assert normalize_scores([5.0, 5.0], "softmax") == [0.5, 0.5]


@pytest.mark.parametrize("method", ["softmax", "sigmoid", "minmax", None])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_scores_are_refused_naming_the_index(method: str | None, bad: float) -> None:
    with pytest.raises(ValueError, match=r"scores must be finite, got .* at index 1"):
        normalize_scores([0.5, bad, 0.1], method)  # type: ignore[arg-type]


@pytest.mark.parametrize("temperature", [math.inf, math.nan, -1.0, True, "1"])
def test_temperature_must_be_finite_and_positive(temperature: object) -> None:
    with pytest.raises(ValueError, match="temperature"):
        normalize_scores([1.0, 0.0], "softmax", temperature=temperature)  # type: ignore[arg-type]
