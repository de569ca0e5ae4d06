"""Significance tests for comparing two rankers: the one place for them (plain Python).

`sign_test` scores wins against losses (interleaving outcomes, per-query nDCG wins);
`paired_randomization_test` compares two paired samples' means (per-query metrics);
`sign_test_sample_size` says how many impressions a sign test needs to detect a difference.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

__all__ = ["paired_randomization_test", "sign_test", "sign_test_sample_size"]

_EXACT_UP_TO = 2000  # non-ties; past it the binomial terms are summed in floating point
_REL_TOL = 1e-12  # |mean| within this (relative) of the observed one counts as "as extreme"


def _count(value: object, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value!r}")
    return value


def _open_unit(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{what} must be a number in (0, 1), got {value!r}")
    return float(value)


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the binomial p-value of ``wins`` against ``losses``.

    Ties are left out (pass only wins and losses). Under the null hypothesis each non-tie
    is a win with probability 1/2; the p-value is ``2 * P(X <= min(wins, losses))`` for
    ``X ~ Binomial(wins + losses, 1/2)``, capped at 1: in integers up to 2000 non-ties,
    in floating point (relative error ~1e-9 or less) beyond.

    Args:
        wins: comparisons the first system won.
        losses: comparisons it lost.

    Returns:
        The p-value in [0, 1] (1.0 when there are no non-ties).

    Raises:
        ValueError: a count that is not an int >= 0.

    Example:
        ``sign_test(9, 1)`` is ``2 * (1 + 10) / 2**10 = 0.021484375``.
    """
    n = _count(wins, "wins") + _count(losses, "losses")
    k = min(wins, losses)
    if 2 * k >= n:  # no non-ties, or an even split
        return 1.0
    if n <= _EXACT_UP_TO:  # integer arithmetic, one correctly rounded division
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))
    # P(X = k), then the lower tail summed downwards: the terms shrink at least geometrically.
    term = math.exp(
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)
    )
    tail, i = 0.0, k
    while i >= 0 and term > tail * 1e-17:
        tail += term
        term *= i / (n - i + 1)
        i -= 1
    return min(1.0, 2.0 * tail)


def paired_randomization_test(
    a: Sequence[float], b: Sequence[float], *, rounds: int = 10000, seed: int = 0
) -> float:
    """Two-sided paired randomization (sign-flip permutation) test on the mean difference.

    Under the null hypothesis each pair's two values are exchangeable, so the sign of each
    difference ``a[i] - b[i]`` is a coin flip. The p-value is the share of sign patterns
    whose mean difference is at least as far from 0 as the observed one: exact (all
    ``2**n`` patterns) when ``2**n <= rounds``, else estimated from ``rounds`` random
    patterns as ``(hits + 1) / (rounds + 1)`` (never 0).

    Args:
        a: the first system's value per item (e.g. per-query nDCG@10).
        b: the second system's, aligned with ``a``.
        rounds: random sign patterns drawn (an int >= 1).
        seed: the random generator's seed (the same inputs and seed: the same p-value).

    Returns:
        The p-value in (0, 1] (1.0 for no items or no differences).

    Raises:
        ValueError: unequal lengths, or a value that is not a finite number (naming its
            index).
    """
    _count(rounds, "rounds", 1)
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} values but b has {len(b)}")
    diffs = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for name, v in (("a", x), ("b", y)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name}[{i}] must be a finite number, got {v!r}")
        if x != y:
            diffs.append(float(x) - float(y))
    if not diffs:
        return 1.0
    observed = abs(math.fsum(diffs))
    bar = observed - _REL_TOL * max(observed, math.fsum(abs(d) for d in diffs))
    n = len(diffs)
    if n < 63 and (1 << n) <= rounds:
        hits = sum(
            abs(math.fsum(-d if mask >> i & 1 else d for i, d in enumerate(diffs))) >= bar
            for mask in range(1 << n)
        )
        return hits / (1 << n)
    rng = random.Random(seed)
    hits = 0
    for _ in range(rounds):
        signs = rng.getrandbits(n)
        total = math.fsum(-d if signs >> i & 1 else d for i, d in enumerate(diffs))
        hits += abs(total) >= bar
    return (hits + 1) / (rounds + 1)


def sign_test_sample_size(
    p_win: float, p_loss: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Impressions (ties counted) a two-sided `sign_test` needs to detect ``p_win`` vs
    ``p_loss`` at level ``alpha`` with probability ``power``.

    A normal approximation of the binomial: with ``q = p_win / (p_win + p_loss)`` (the win
    share among non-ties), the sign test needs
    ``m = ((z[1 - alpha/2] / 2 + z[power] * sqrt(q (1 - q))) / (q - 1/2))**2`` non-ties, and
    ``m / (p_win + p_loss)`` impressions give that many on average. Small answers (under
    ~30 non-ties) are rough: check them by simulation.

    Args:
        p_win: P(an impression is a win for the first system).
        p_loss: P(it is a loss); ``1 - p_win - p_loss`` is the tie rate.
        alpha: the test's two-sided significance level, in (0, 1).
        power: the wanted probability of a significant result, in (0, 1).

    Returns:
        The number of impressions, rounded up.

    Raises:
        ValueError: probabilities outside [0, 1], summing over 1, or equal (no difference).
    """
    for name, p in (("p_win", p_win), ("p_loss", p_loss)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if p_win + p_loss > 1.0 + 1e-12:
        raise ValueError(f"p_win + p_loss must be <= 1, got {p_win} + {p_loss}")
    if p_win == p_loss:
        raise ValueError(f"p_win and p_loss are equal ({p_win}): there is no difference to detect")
    alpha, power = _open_unit(alpha, "alpha"), _open_unit(power, "power")
    decided = p_win + p_loss
    q = p_win / decided
    z = NormalDist()
    root = z.inv_cdf(1.0 - alpha / 2.0) / 2.0 + z.inv_cdf(power) * math.sqrt(q * (1.0 - q))
    non_ties = (root / (q - 0.5)) ** 2
    return max(1, math.ceil(non_ties / decided - 1e-9))
