"""`ragrerank.train.click_fit.fit_clicks`: the IPS click likelihood on hand-worked examples."""

from __future__ import annotations

import pytest

pytest.importorskip("lightgbm")

from ragrerank.train.click_fit import fit_clicks

# One split, no shrinkage of the leaf values: each leaf's prediction is its clicks / exposure.
EXACT = {"min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0.0, "lambda_l2": 0.0,
         "learning_rate": 0.3, "feature_fraction": 1.0}  # fmt: skip


def predict(fit: object, rows: list[list[float]]) -> list[float]:
    import lightgbm

    booster = lightgbm.Booster(model_str=fit.model)  # type: ignore[attr-defined]
    return [float(p) for p in booster.predict(rows)]


def test_each_leaf_learns_clicks_over_exposure() -> None:
    # Every query: feature 0 clicked 1 of exposure 4 (0.25), feature 1 clicked 3 of 4 (0.75).
    rows = [[0.0], [1.0]] * 6
    qids = [f"q{i // 2}" for i in range(12)]
    fit = fit_clicks(rows, qids, [1, 3] * 6, [4.0, 4.0] * 6, folds=2, params=EXACT,
                     rounds=300, early_stopping=300, show_progress=False)  # fmt: skip
    low, high = predict(fit, [[0.0], [1.0]])
    assert low == pytest.approx(0.25, abs=2e-3) and high == pytest.approx(0.75, abs=2e-3)
    assert fit.pairs == 12 and fit.clicks == 24.0 and fit.exposure == 48.0


def test_ips_exposure_reverses_the_naive_order() -> None:
    """Relevant documents (feature 1) were always shown at position 4 (propensity 0.25),
    others at position 1. Expected clicks per 100 showings: relevant 100 * 0.25 * 0.9 = 22.5,
    others 100 * 1.0 * 0.3 = 30. Naive (exposure = showings) ranks the others first; IPS
    (exposure = sum of propensities) recovers 0.9 > 0.3."""
    rows = [[1.0], [0.0]] * 4
    qids = [f"q{i // 2}" for i in range(8)]
    clicks = [22.5, 30.0] * 4
    naive = fit_clicks(rows, qids, clicks, [100.0, 100.0] * 4, folds=2, params=EXACT,
                       rounds=300, early_stopping=300, show_progress=False)  # fmt: skip
    ips = fit_clicks(rows, qids, clicks, [25.0, 100.0] * 4, folds=2, params=EXACT,
                     rounds=300, early_stopping=300, show_progress=False)  # fmt: skip
    rel, other = predict(naive, [[1.0], [0.0]])
    assert rel == pytest.approx(0.225, abs=2e-3) and other == pytest.approx(0.30, abs=2e-3)
    rel, other = predict(ips, [[1.0], [0.0]])
    assert rel == pytest.approx(0.90, abs=2e-3) and other == pytest.approx(0.30, abs=2e-3)


@pytest.mark.parametrize(
    ("clicks", "exposure", "message"),
    [
        ([1, -1], [1.0, 1.0], "row 1 (query 'b'): clicks must be >= 0"),
        ([1, 0], [1.0, 0.0], "row 1 (query 'b'): exposure must be > 0"),
        ([0, 0], [1.0, 1.0], "no clicks"),
        ([1], [1.0, 1.0], "must describe the same rows"),
    ],
)
def test_bad_input_names_the_row(clicks: list[float], exposure: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_clicks([[0.0], [1.0]], ["a", "b"], clicks, exposure, show_progress=False)
