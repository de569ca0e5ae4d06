"""Score normalization over one query's candidates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["NORMALIZERS", "Normalization", "normalize_scores"]

Normalization = Literal["softmax", "sigmoid", "minmax"] | None
NORMALIZERS: tuple[str, ...] = ("softmax", "sigmoid", "minmax")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def normalize_scores(
    scores: Sequence[float], method: Normalization, *, temperature: float = 1.0
) -> list[float]:
    """Normalize raw scores.

    - ``"softmax"``: over all given scores (so any subset sums to <= 1), ``temperature`` scales.
    - ``"sigmoid"``: per score, for models trained with a logistic loss.
    - ``"minmax"``: to [0, 1] within the query; all-equal scores map to 1.0.
    - ``None``: raw scores unchanged.
    """
    if method is None:
        return [float(s) for s in scores]
    if not scores:
        return []
    if method == "softmax":
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        top = max(scores)
        exps = [math.exp((s - top) / temperature) for s in scores]
        total = math.fsum(exps)
        return [e / total for e in exps]
    if method == "sigmoid":
        return [_sigmoid(s) for s in scores]
    if method == "minmax":
        lo, hi = min(scores), max(scores)
        if hi == lo:
            return [1.0 for _ in scores]
        return [(s - lo) / (hi - lo) for s in scores]
    raise ValueError(f"normalize must be one of {NORMALIZERS} or None, got {method!r}")
