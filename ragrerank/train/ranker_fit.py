"""Fitting a LightGBM lambdarank model on a `RankingTable`: query-grouped K-fold cross-
validation with early stopping per fold, then one model on all queries (`fit_ranker`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import require
from ..types import int_at_least
from .lgb_cv import cross_validate_then_refit

if TYPE_CHECKING:
    from .ranker import RankingTable

__all__ = ["DEFAULT_PARAMS", "RankerFit", "fit_ranker", "group_sizes", "query_folds"]

logger = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
"""Small-data lambdarank defaults (``seed`` is added per fit; ``params`` override any)."""


@dataclass(frozen=True)
class RankerFit:
    """What `fit_ranker` learned and measured.

    Attributes:
        model: the final LightGBM text model (all training queries, ``final_rounds`` rounds).
        best_iterations: the early-stopped round of each fold.
        fold_ndcg10: each held-out fold's nDCG@10 at its best round (LightGBM's metric; the
            fold also chose that round, so it is slightly optimistic).
        mean_ndcg10: their mean.
        final_rounds: the rounds of the final model (mean best iteration, rounded).
        oof: one prediction per table row by the fold model that did not see its query (rows
            of dropped queries: by the final model, which never saw them either). Scores of
            different folds are not on one scale.
        importance: total gain per feature name in the final model.
        fold_of: query id -> its fold (dropped queries are absent).
        dropped_queries: queries without any relevant candidate (not trained on).
        params: the LightGBM parameters used.
    """

    model: str
    best_iterations: list[int]
    fold_ndcg10: list[float]
    mean_ndcg10: float
    final_rounds: int
    oof: list[float]
    importance: dict[str, float]
    fold_of: dict[str, int]
    dropped_queries: list[str]
    params: dict[str, Any] = field(default_factory=dict)


def query_folds(query_ids: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Each distinct query id's fold in ``range(folds)``: a seeded shuffle dealt round robin,
    so fold sizes differ by at most one query and a query is never split."""
    import numpy as np

    distinct = list(dict.fromkeys(query_ids))
    if folds < 2 or folds > len(distinct):
        raise ValueError(f"folds must be between 2 and the {len(distinct)} queries, got {folds}")
    order = np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[int(j)]: k % folds for k, j in enumerate(order)}


def group_sizes(qids: Sequence[str]) -> list[int]:
    """Sizes of the runs of equal consecutive query ids (LightGBM query groups)."""
    sizes: list[int] = []
    for i, q in enumerate(qids):
        if i and q == qids[i - 1]:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def fit_ranker(
    table: RankingTable,
    *,
    folds: int = 5,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    rounds: int = 500,
    early_stopping: int = 50,
    show_progress: bool = True,
) -> RankerFit:
    """Cross-validate and fit a lambdarank model on ``table``.

    Queries without a relevant candidate are dropped (and counted). The rest are split into
    ``folds`` by query (seeded); per fold a model trains on the others and stops early on
    the held-out fold's nDCG@10; the final model trains on all of them for the mean best
    iteration.

    Args:
        table: the features, labels and query groups.
        folds: cross-validation folds (>= 2, at most the usable queries).
        seed: LightGBM's seed and the fold shuffle's.
        params: LightGBM parameters over `DEFAULT_PARAMS`.
        rounds: the most boosting rounds per fold.
        early_stopping: stop a fold after this many rounds without a better nDCG@10.
        show_progress: a progress bar over folds and rounds.

    Returns:
        The `RankerFit`.

    Raises:
        ValueError: bad arguments, or too few queries with a relevant candidate.
        MissingDependencyError: lightgbm is not installed (extra ``ranker``).
    """
    import numpy as np

    lgb: Any = require("lightgbm", "ranker")
    int_at_least(folds, "folds", 2)
    int_at_least(rounds, "rounds", 1)
    int_at_least(early_stopping, "early_stopping", 1)
    x = np.asarray(table.features, dtype=np.float64)
    y = np.asarray(table.labels, dtype=np.float64)
    qids = list(table.query_ids)
    relevant = {q for q, label in zip(qids, table.labels, strict=True) if label > 0}
    dropped = [q for q in dict.fromkeys(qids) if q not in relevant]
    if len(relevant) < folds:
        raise ValueError(
            f"{len(relevant)} queries have a relevant candidate ({len(dropped)} have none): "
            f"too few for {folds} folds"
        )
    fold_of = query_folds([q for q in qids if q in relevant], folds, seed)
    used = {**DEFAULT_PARAMS, "seed": seed, **dict(params or {})}
    row_fold = np.asarray([fold_of.get(q, -1) for q in qids])
    oof = np.full(len(qids), np.nan)

    def dataset(mask: Any) -> Any:
        rows = np.flatnonzero(mask)
        return lgb.Dataset(x[rows], label=y[rows], group=group_sizes([qids[i] for i in rows]),
                           params={"feature_pre_filter": False}, free_raw_data=False)  # fmt: skip

    def predict_held_out(k: int, booster: Any, best_k: int) -> None:
        rows = np.flatnonzero(row_fold == k)
        oof[rows] = booster.predict(x[rows], num_iteration=best_k)

    cv = cross_validate_then_refit(lgb, used, dataset, row_fold, folds, metric="ndcg@10",
                                   rounds=rounds, early_stopping=early_stopping, desc="ranker cv",
                                   show_progress=show_progress, on_fold=predict_held_out)  # fmt: skip
    best, scores, final, final_rounds = (
        cv.best_iterations,
        cv.fold_scores,
        cv.final,
        cv.final_rounds,
    )
    rest = np.flatnonzero(row_fold < 0)
    if rest.size:
        oof[rest] = final.predict(x[rest])
    gains = final.feature_importance(importance_type="gain")
    mean = math.fsum(scores) / len(scores)
    logger.info("ranker cv nDCG@10 %.4f over %d folds; final model: %d rounds",
                mean, folds, final_rounds)  # fmt: skip
    return RankerFit(
        model=final.model_to_string(),
        best_iterations=best,
        fold_ndcg10=scores,
        mean_ndcg10=mean,
        final_rounds=final_rounds,
        oof=[float(v) for v in oof],
        importance={n: float(g) for n, g in zip(table.names, gains, strict=True)},
        fold_of=fold_of,
        dropped_queries=dropped,
        params=used,
    )
