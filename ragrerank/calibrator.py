"""`Calibrator`: raw scores to P(relevant), fitted on judged data (Platt or isotonic), and
the calibration measures (`expected_calibration_error`, `reliability_bins`).

Fitting needs scikit-learn (the ``calibration`` extra); applying a fitted calibrator is
pure Python, so a saved ``calibrator.json`` serves without it.
"""

from __future__ import annotations

import bisect
import logging
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import require
from .normalize import _sigmoid
from .types import int_at_least, real_float
from .utils.jsonio import load_json, write_json

__all__ = [
    "Calibrator",
    "CalibrationMethod",
    "expected_calibration_error",
    "reliability_bins",
]

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["platt", "isotonic"]
METHODS: tuple[str, ...] = ("platt", "isotonic")
FORMAT_VERSION = 1
PLATT_C = 1e4  # L2 strength 1/C on the standardized slope: next to nothing


def _scores(scores: Sequence[float], what: str = "scores") -> list[float]:
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Sequence):
        raise ValueError(f"{what} must be a sequence of numbers, got {type(scores).__name__}")
    out: list[float] = []
    for i, s in enumerate(scores):
        v = real_float(s)
        if v is None or not math.isfinite(v):
            raise ValueError(f"{what} must be finite numbers, got {s!r} at index {i}")
        out.append(v)
    return out


def _labels(labels: Sequence[int | bool], n: int) -> list[int]:
    """Relevance labels as 0/1 (grade > 0 is relevant), checked against ``n`` scores."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ValueError(f"labels must be a sequence of ints, got {type(labels).__name__}")
    if len(labels) != n:
        raise ValueError(f"got {n} scores but {len(labels)} labels")
    out: list[int] = []
    for i, y in enumerate(labels):
        if not isinstance(y, numbers.Integral):
            raise ValueError(
                f"labels must be ints or bools (relevance grades), got {y!r} at index {i}"
            )
        out.append(1 if int(y) > 0 else 0)
    return out


def _probs(probs: Sequence[float]) -> list[float]:
    out = _scores(probs, "probs")
    for i, p in enumerate(out):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probs must lie in [0, 1], got {p!r} at index {i}")
    return out


def reliability_bins(
    probs: Sequence[float], labels: Sequence[int | bool], bins: int = 10
) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1]: what a reliability diagram plots.

    Bin ``k`` holds the probabilities ``p`` with ``int(p * bins) == k``; a ``p`` of exactly 1.0
    goes in the last bin.

    Args:
        probs: predicted probabilities in [0, 1].
        labels: relevance labels (grade > 0 is relevant).
        bins: number of bins (>= 1).

    Returns:
        One dict per bin, in order: ``lo``, ``hi``, ``count``, ``mean_prob`` and ``frac_pos``
        (both None for an empty bin).

    Raises:
        ValueError: no probabilities, a value outside [0, 1] or not finite, a bad label
            (naming its index), a length mismatch or a bad ``bins``.
    """
    int_at_least(bins, "bins")
    p = _probs(probs)
    y = _labels(labels, len(p))
    if not p:
        raise ValueError("probs is empty")
    sums = [0.0] * bins
    pos = [0] * bins
    counts = [0] * bins
    for pi, yi in zip(p, y, strict=True):
        k = min(int(pi * bins), bins - 1)
        sums[k] += pi
        pos[k] += yi
        counts[k] += 1
    return [
        {
            "lo": k / bins,
            "hi": (k + 1) / bins,
            "count": counts[k],
            "mean_prob": sums[k] / counts[k] if counts[k] else None,
            "frac_pos": pos[k] / counts[k] if counts[k] else None,
        }
        for k in range(bins)
    ]


def expected_calibration_error(
    probs: Sequence[float], labels: Sequence[int | bool], bins: int = 10
) -> float:
    """ECE: ``sum_k (n_k / n) * |mean prob_k - fraction positive_k|`` over `reliability_bins`.

    Raises:
        ValueError: as `reliability_bins`.
    """
    table = reliability_bins(probs, labels, bins)
    n = sum(b["count"] for b in table)
    return float(
        math.fsum(b["count"] / n * abs(b["mean_prob"] - b["frac_pos"]) for b in table if b["count"])
    )


class Calibrator:
    """Maps a scorer's raw scores to P(relevant); fit with `Calibrator.fit`.

    - ``"platt"``: ``p = sigmoid(a * score + b)``, a logistic regression on the score with
      Platt's target smoothing (relevant target ``(N+ + 1) / (N+ + 2)``, others
      ``1 / (N- + 2)``, so perfectly separated data stays finite) and the slope kept >= 0
      (a scorer that ranks relevant documents lower gets the constant base rate, with a
      warning). Two parameters: needs little data, assumes a sigmoid shape.
    - ``"isotonic"``: the best non-decreasing step fit, applied with linear interpolation
      between its thresholds and clipped at the ends. Any shape; needs more data (a few
      thousand judged pairs) or it over-fits.

    Calling it maps scores to plain floats in [0, 1], non-decreasing in the score.

    Args:
        method: ``"platt"`` or ``"isotonic"``.
        params: ``{"a", "b"}`` (Platt) or ``{"x", "y"}`` (isotonic thresholds).
        scorer: the `ragrerank.scorer.fingerprint` of the scorer the scores came from, or
            None (no check).
        n: judged pairs fitted on.
        positives: how many of them were relevant.
        ece: expected calibration error on the fit data (10 bins).
    """

    def __init__(
        self,
        method: CalibrationMethod,
        params: dict[str, Any],
        *,
        scorer: str | None = None,
        n: int = 0,
        positives: int = 0,
        ece: float | None = None,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if method == "platt":
            a, b = (real_float(params.get(k)) for k in ("a", "b"))
            if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or a < 0:
                raise ValueError(f"platt params must be finite a >= 0 and b, got {params!r}")
            self._params: dict[str, Any] = {"a": a, "b": b}
        else:
            x, y = _scores(params.get("x", ()), "x"), _probs(params.get("y", ()))
            if not x or len(x) != len(y):
                raise ValueError("isotonic params need equal, non-empty x and y")
            if any(x[i] > x[i + 1] or y[i] > y[i + 1] for i in range(len(x) - 1)):
                raise ValueError("isotonic x and y must be non-decreasing")
            self._params = {"x": x, "y": y}
        self.method: CalibrationMethod = method
        self.scorer = scorer
        self.n = n
        self.positives = positives
        self.ece = ece

    @classmethod
    def fit(
        cls,
        scores: Sequence[float],
        labels: Sequence[int | bool],
        *,
        method: CalibrationMethod = "platt",
        scorer: str | None = None,
    ) -> Calibrator:
        """Fit on judged (score, label) pairs; fit on queries the scorer never trained on.

        Args:
            scores: raw scores, finite.
            labels: relevance grades or bools; > 0 is relevant (unjudged: pass 0).
            method: ``"platt"`` or ``"isotonic"``.
            scorer: the fingerprint of the scorer the scores came from, or None.

        Returns:
            The fitted calibrator.

        Raises:
            ValueError: a non-finite score or a bad label (naming its index), a length
                mismatch, only one class, or an unknown method.
            MissingDependencyError: scikit-learn is not installed.
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        x = _scores(scores)
        y = _labels(labels, len(x))
        positives = sum(y)
        if positives in (0, len(y)):
            raise ValueError(f"labels need both classes: {positives} relevant of {len(y)} pairs")
        params = _fit_platt(x, y) if method == "platt" else _fit_isotonic(x, y)
        calibrator = cls(method, params, scorer=scorer, n=len(x), positives=positives)
        calibrator.ece = expected_calibration_error(calibrator(x), y)
        return calibrator

    def __call__(self, scores: Sequence[float]) -> list[float]:
        """P(relevant) of each raw score, plain floats in [0, 1], in input order.

        Raises:
            ValueError: a non-finite score, naming its index.
        """
        values = _scores(scores)
        if self.method == "platt":
            a, b = self._params["a"], self._params["b"]
            return [_sigmoid(a * s + b) for s in values]
        return [_interpolate(self._params["x"], self._params["y"], s) for s in values]

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the fitted parameters."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self._params.items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `save` writes."""
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "params": self.params,
            "scorer": self.scorer,
            "n": self.n,
            "positives": self.positives,
            "ece": self.ece,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """The calibrator of `to_dict`; `ValueError` for another format version."""
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            got = data.get("format_version") if isinstance(data, dict) else data
            raise ValueError(f"calibrator format_version must be {FORMAT_VERSION}, got {got!r}")
        return cls(
            data.get("method"),  # type: ignore[arg-type]  # checked by __init__
            dict(data.get("params") or {}),
            scorer=data.get("scorer"),
            n=int(data.get("n", 0)),
            positives=int(data.get("positives", 0)),
            ece=data.get("ece"),
        )

    def save(self, path: str | Path) -> Path:
        """Write the calibrator as JSON; returns the path."""
        out = Path(path)
        write_json(out, self.to_dict(), indent=2)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Calibrator:
        """Read a calibrator `save` wrote.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a calibrator file.
        """
        return cls.from_dict(load_json(path, "calibrator"))

    @classmethod
    def of(cls, value: Calibrator | str | Path) -> Calibrator:
        """``value`` if a `Calibrator`, else the one `load` reads from that path."""
        if isinstance(value, Calibrator):
            return value
        if isinstance(value, (str, Path)):
            return cls.load(value)
        raise TypeError(f"calibrator must be a Calibrator or a path, got {type(value).__name__}")

    def check_scorer(self, scorer_fingerprint: str, name: str) -> None:
        """`ValueError` naming both unless fitted on that scorer (or on an unnamed one)."""
        if self.scorer is not None and self.scorer != scorer_fingerprint:
            raise ValueError(
                f"calibrator was fitted on scorer fingerprint {self.scorer}, but scorer {name} "
                f"has fingerprint {scorer_fingerprint}"
            )

    def describe(self) -> dict[str, Any]:
        """What the trace records: method, scorer fingerprint, pairs fitted on."""
        return {"method": self.method, "scorer": self.scorer, "n": self.n}

    def __repr__(self) -> str:
        return f"Calibrator(method={self.method!r}, n={self.n}, scorer={self.scorer!r})"


def _interpolate(xs: list[float], ys: list[float], s: float) -> float:
    """Piecewise-linear through (xs, ys), constant beyond the ends (scikit-learn's clip)."""
    if s <= xs[0]:
        return ys[0]
    if s >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, s)  # xs[i - 1] <= s < xs[i]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    p = y0 if x1 == x0 else y0 + (s - x0) * (y1 - y0) / (x1 - x0)
    return min(1.0, max(0.0, float(p)))


def platt_targets(labels: Sequence[int]) -> tuple[float, float]:
    """Platt's smoothed targets ``(relevant, not relevant)`` for 0/1 ``labels``."""
    pos = sum(labels)
    neg = len(labels) - pos
    return (pos + 1) / (pos + 2), 1 / (neg + 2)


def _fit_platt(x: list[float], y: list[int]) -> dict[str, float]:
    """Soft-target logistic regression: each pair enters twice, as a relevant sample with
    weight ``t`` and a non-relevant one with ``1 - t``, on the standardized score."""
    require("sklearn", "calibration")
    from sklearn.linear_model import LogisticRegression

    t_pos, t_neg = platt_targets(y)
    mu = math.fsum(x) / len(x)
    sd = math.sqrt(math.fsum((v - mu) ** 2 for v in x) / len(x)) or 1.0
    z = [[(v - mu) / sd] for v in x]
    targets = [t_pos if yi else t_neg for yi in y]
    model = LogisticRegression(C=PLATT_C, max_iter=1000)
    model.fit(z + z, [1] * len(x) + [0] * len(x), sample_weight=targets + [1 - t for t in targets])
    slope = float(model.coef_[0][0])
    if slope < 0:
        logger.warning(
            "scores rank relevant documents lower (Platt slope %.3g < 0): calibrating to the "
            "constant base rate",
            slope,
        )
        mean = math.fsum(targets) / len(targets)
        return {"a": 0.0, "b": math.log(mean / (1 - mean))}
    a = slope / sd
    return {"a": a, "b": float(model.intercept_[0]) - a * mu}


def _fit_isotonic(x: list[float], y: list[int]) -> dict[str, list[float]]:
    require("sklearn", "calibration")
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(out_of_bounds="clip", increasing=True)
    model.fit(x, y)
    return {
        "x": [float(v) for v in model.X_thresholds_],
        "y": [float(v) for v in model.y_thresholds_],
    }
