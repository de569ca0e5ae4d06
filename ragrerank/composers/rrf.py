"""Reciprocal-rank fusion: the one implementation `FusionScorer` and the boosts share."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..scorer import score_order
from ..types import real_float

__all__ = ["check_weight", "ranks", "reciprocal_rank_fusion"]


def check_weight(value: object, what: str) -> float:
    """``value`` as a plain float; `ValueError` naming ``what`` unless a finite number >= 0."""
    weight = real_float(value)
    if weight is None:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return weight


def ranks(scores: Sequence[float]) -> list[int]:
    """1-based rank of each position, best score first; ties keep input order."""
    out = [0] * len(scores)
    for rank, i in enumerate(score_order(scores), 1):
        out[i] = rank
    return out


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], k: float
) -> list[float]:
    """``sum_r weights[r] / (k + rankings[r][i])`` for each position ``i``, summed in the
    order of ``rankings`` (1-based ranks, one list per ranking, all of one length)."""
    n = len(rankings[0]) if rankings else 0
    fused = [0.0] * n
    for ranking, weight in zip(rankings, weights, strict=True):
        for i, rank in enumerate(ranking):
            fused[i] += weight / (k + rank)
    return fused
