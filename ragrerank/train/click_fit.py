"""Fitting a ranker on logged clicks: the inverse-propensity-weighted likelihood of the
position-based click model, as LightGBM ``cross_entropy`` over (query, document) pairs.

Under the PBM a document shown at position k is clicked with probability
``propensity(k) * r``, where ``r`` = P(click | examined) is what the ranker should learn. Over
all its impressions a pair has ``clicks`` and ``exposure`` = the sum of the propensities of
the positions it was shown at; the weighted log-loss ``clicks * -log(s) + (exposure - clicks) *
-log(1 - s)`` has the same expectation, up to a constant, as the log-loss against ``r`` on
every examination. So each pair becomes two rows: label 1 with weight ``clicks`` and label 0
with weight ``max(0, exposure - clicks)``. With every propensity 1 (``exposure`` = number of
impressions) it is the naive click-through-rate model, whose labels carry the position bias.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import require
from ..types import int_at_least
from .lgb_cv import cross_validate_then_refit
from .ranker_fit import DEFAULT_PARAMS, query_folds

# lambdarank-only settings, and bagging (the click rows are weighted pairs, not samples)
_NOT_FOR_CLICKS = ("objective", "metric", "eval_at", "bagging_fraction", "bagging_freq")

__all__ = ["CLICK_PARAMS", "ClickFit", "fit_clicks"]

logger = logging.getLogger(__name__)

CLICK_PARAMS: dict[str, Any] = {
    **{k: v for k, v in DEFAULT_PARAMS.items() if k not in _NOT_FOR_CLICKS},
    "objective": "cross_entropy",
    "metric": "cross_entropy",
    "min_data_in_leaf": 50,
}
"""Defaults of `fit_clicks`: `DEFAULT_PARAMS`'s tree settings with the ``cross_entropy``
objective and larger leaves (``seed`` is added per fit; ``params`` override any)."""


@dataclass(frozen=True)
class ClickFit:
    """What `fit_clicks` learned and measured.

    Attributes:
        model: the final LightGBM text model (every query, ``final_rounds`` rounds).
        best_iterations: the early-stopped round of each fold.
        fold_loss: each held-out fold's weighted log-loss at its best round (the IPS
            estimate of the log-loss on examined documents; lower is better).
        mean_loss: their mean.
        final_rounds: the rounds of the final model (mean best iteration, rounded).
        pairs: (query, document) pairs trained on.
        clicks: total clicks.
        exposure: total exposure.
        importance: total gain per feature in the final model.
        params: the LightGBM parameters used.
    """

    model: str
    best_iterations: list[int]
    fold_loss: list[float]
    mean_loss: float
    final_rounds: int
    pairs: int
    clicks: float
    exposure: float
    importance: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


def fit_clicks(
    features: Any,
    query_ids: Sequence[str],
    clicks: Sequence[float],
    exposure: Sequence[float],
    *,
    names: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    rounds: int = 500,
    early_stopping: int = 50,
    show_progress: bool = True,
) -> ClickFit:
    """Cross-validate and fit a click model on one row per (query, document) pair.

    Args:
        features: a float array, one row per pair.
        query_ids: each row's query (folds never split a query).
        clicks: each pair's clicks (>= 0).
        exposure: each pair's exposure (> 0): the sum of the propensities of the positions it
            was shown at (the naive model: its number of impressions).
        names: the feature names (for ``importance``).
        folds: cross-validation folds (>= 2).
        seed: LightGBM's seed and the fold shuffle's.
        params: LightGBM parameters over `CLICK_PARAMS`.
        rounds: the most boosting rounds per fold.
        early_stopping: stop a fold after this many rounds without a lower held-out loss.
        show_progress: a progress bar over folds and rounds.

    Returns:
        The `ClickFit`.

    Raises:
        ValueError: mismatched lengths, a negative click count or a non-positive exposure
            (naming the row), no click at all, or bad arguments.
        MissingDependencyError: lightgbm is not installed (extra ``ranker``).
    """
    import numpy as np

    lgb: Any = require("lightgbm", "ranker")
    int_at_least(folds, "folds", 2)
    int_at_least(rounds, "rounds", 1)
    int_at_least(early_stopping, "early_stopping", 1)
    x = np.asarray(features, dtype=np.float64)
    n = len(query_ids)
    if x.ndim != 2 or x.shape[0] != n or len(clicks) != n or len(exposure) != n:
        raise ValueError(
            f"features {x.shape}, {n} query ids, {len(clicks)} clicks and {len(exposure)} "
            "exposures must describe the same rows"
        )
    for i, (c, e) in enumerate(zip(clicks, exposure, strict=True)):
        if not (math.isfinite(c) and c >= 0):
            raise ValueError(f"row {i} (query {query_ids[i]!r}): clicks must be >= 0, got {c!r}")
        if not (math.isfinite(e) and e > 0):
            raise ValueError(f"row {i} (query {query_ids[i]!r}): exposure must be > 0, got {e!r}")
    if not any(c > 0 for c in clicks):
        raise ValueError("no clicks to learn from")
    # Two weighted rows per pair: clicked (label 1) and examined but not clicked (label 0).
    pos = np.asarray(clicks, dtype=np.float64)
    neg = np.maximum(0.0, np.asarray(exposure, dtype=np.float64) - pos)
    row_of = np.concatenate([np.arange(n), np.arange(n)])
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([pos, neg])
    keep = weights > 0
    row_of, labels, weights = row_of[keep], labels[keep], weights[keep]
    fold_of = query_folds(list(query_ids), folds, seed)
    row_fold = np.asarray([fold_of[query_ids[i]] for i in row_of])
    used = {**CLICK_PARAMS, "seed": seed, **dict(params or {})}

    def dataset(mask: Any) -> Any:
        return lgb.Dataset(x[row_of[mask]], label=labels[mask], weight=weights[mask],
                           params={"feature_pre_filter": False}, free_raw_data=False)  # fmt: skip

    cv = cross_validate_then_refit(lgb, used, dataset, row_fold, folds, metric="cross_entropy",
                                   rounds=rounds, early_stopping=early_stopping,
                                   desc="click model cv", show_progress=show_progress)  # fmt: skip
    best, losses, final, final_rounds = (
        cv.best_iterations,
        cv.fold_scores,
        cv.final,
        cv.final_rounds,
    )
    gains = final.feature_importance(importance_type="gain")
    column_names = list(names) if names is not None else [f"f{i}" for i in range(x.shape[1])]
    mean = math.fsum(losses) / len(losses)
    logger.info("click model cv loss %.4f over %d folds; final model: %d rounds",
                mean, folds, final_rounds)  # fmt: skip
    return ClickFit(
        model=final.model_to_string(),
        best_iterations=best,
        fold_loss=losses,
        mean_loss=mean,
        final_rounds=final_rounds,
        pairs=n,
        clicks=float(pos.sum()),
        exposure=float(np.asarray(exposure, dtype=np.float64).sum()),
        importance={c: float(g) for c, g in zip(column_names, gains, strict=True)},
        params=used,
    )
