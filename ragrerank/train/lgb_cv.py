"""The one LightGBM loop both fits share (`fit_ranker`, `fit_clicks`): per query fold, train
on the other folds with early stopping on the held-out one; then one model on every row for
the mean best round."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CrossValidated", "cross_validate_then_refit"]


@dataclass(frozen=True)
class CrossValidated:
    """What `cross_validate_then_refit` returns.

    Attributes:
        best_iterations: the early-stopped round of each fold.
        fold_scores: each held-out fold's metric at its best round.
        final: the final LightGBM booster (every row with a fold >= 0).
        final_rounds: its rounds (mean best iteration, rounded, at least 1).
    """

    best_iterations: list[int]
    fold_scores: list[float]
    final: Any
    final_rounds: int


def cross_validate_then_refit(
    lgb: Any,
    params: Mapping[str, Any],
    dataset: Callable[[Any], Any],
    row_fold: Any,
    folds: int,
    *,
    metric: str,
    rounds: int,
    early_stopping: int,
    desc: str,
    show_progress: bool,
    on_fold: Callable[[int, Any, int], None] | None = None,
) -> CrossValidated:
    """Cross-validate over ``folds`` and refit.

    Args:
        lgb: the lightgbm module.
        params: the LightGBM parameters.
        dataset: a boolean row mask -> its ``lgb.Dataset``.
        row_fold: each row's fold (a numpy int array; -1: never trained on).
        folds: the number of folds.
        metric: the held-out metric's name in LightGBM's ``best_score``.
        rounds: the most boosting rounds per fold.
        early_stopping: stop a fold after this many rounds without a better metric.
        desc: the progress bar's label.
        show_progress: a progress bar over folds and rounds.
        on_fold: called as ``on_fold(k, booster, best_round)`` after fold ``k``.
    """
    from tqdm.auto import tqdm

    best: list[int] = []
    scores: list[float] = []
    bar = tqdm(total=folds * rounds + 1, desc=desc, unit="round", disable=not show_progress)
    for k in range(folds):
        seen = bar.n
        booster = lgb.train(
            dict(params),
            dataset((row_fold >= 0) & (row_fold != k)),
            num_boost_round=rounds,
            valid_sets=[dataset(row_fold == k)],
            valid_names=["held_out"],
            callbacks=[
                lgb.early_stopping(early_stopping, verbose=False),
                lambda env: bar.update(1),
            ],
        )
        bar.update(seen + rounds - bar.n)  # the rounds early stopping skipped
        best_k = int(booster.best_iteration) or booster.current_iteration()
        best.append(best_k)
        scores.append(float(booster.best_score["held_out"][metric]))
        if on_fold is not None:
            on_fold(k, booster, best_k)
        bar.set_postfix(fold=k + 1, **{metric: f"{scores[-1]:.4f}"})
    final_rounds = max(1, round(sum(best) / len(best)))
    final = lgb.train(dict(params), dataset(row_fold >= 0), num_boost_round=final_rounds)
    bar.update(1)
    bar.close()
    return CrossValidated(best, scores, final, final_rounds)
