"""Score normalization over one query's candidates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from .types import finite_float

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
    """Normalize raw scores (finite numbers; finite input never gives NaN).

    - ``"softmax"``: over all given scores (so any subset sums to <= 1), ``temperature``
      (finite, > 0) scales.
    - ``"sigmoid"``: per score, for models trained with a logistic loss.
    - ``"minmax"``: to [0, 1] within the query; all-equal scores map to 1.0.
    - ``None``: raw scores unchanged.

    Args:
        scores: raw scores of one query's candidates.
        method: ``"softmax"``, ``"sigmoid"``, ``"minmax"`` or None.
        temperature: softmax temperature.

    Returns:
        One normalized plain float per score, in input order.

    Raises:
        ValueError: an unknown ``method``, a non-finite score (naming its index) or a bad
            ``temperature``.

    Example:
        ``normalize_scores([2.0, 0.0], "softmax")`` is ``[0.8807..., 0.1192...]``.
    """
    if method is not None and method not in NORMALIZERS:
        raise ValueError(f"normalize must be one of {NORMALIZERS} or None, got {method!r}")
    values = [float(s) for s in scores]
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise ValueError(f"scores must be finite, got {v!r} at index {i}")
    if method is None or not values:
        return values
    if method == "softmax":
        temperature = finite_float(temperature, "temperature")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        top = max(values)
        # s - top <= 0 (may be -inf for spreads beyond the float range): exps in [0, 1],
        # the best is exactly 1.0, so the total is >= 1.
        exps = [math.exp((s - top) / temperature) for s in values]
        total = math.fsum(exps)
        return [e / total for e in exps]
    if method == "sigmoid":
        return [_sigmoid(s) for s in values]
    lo, hi = min(values), max(values)
    if hi == lo:
        return [1.0 for _ in values]
    if math.isinf(hi - lo):  # a spread beyond the float range: halve to stay finite
        return [(s / 2 - lo / 2) / (hi / 2 - lo / 2) for s in values]
    return [(s - lo) / (hi - lo) for s in values]
