"""ragrerank.utils.stats: the sign test, the paired randomization test and the sign test's
sample size, against hand-worked values and references computed here."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest

from ragrerank.utils.stats import paired_randomization_test, sign_test, sign_test_sample_size


def exact_sign_test(wins: int, losses: int) -> Fraction:
    """The two-sided binomial p-value with exact integers."""
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return Fraction(1)
    term, total = 1, 1  # C(n, 0); C(n, i + 1) = C(n, i) * (n - i) / (i + 1), exactly
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    tail = Fraction(total, 2**n)
    return min(Fraction(1), 2 * tail)


def test_sign_test_hand_worked() -> None:
    # 9 wins, 1 loss: P(X <= 1) = (1 + 10) / 1024, doubled.
    assert sign_test(9, 1) == 22 / 1024 == 0.021484375
    assert sign_test(1, 9) == sign_test(9, 1)  # two-sided: symmetric
    assert sign_test(3, 0) == pytest.approx(2 / 8, rel=1e-12)
    assert sign_test(10, 0) == pytest.approx(2 / 1024, rel=1e-12)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0 and sign_test(4, 3) == 1.0
    assert type(sign_test(9, 1)) is float


@pytest.mark.parametrize(
    ("wins", "losses"), [(7, 2), (30, 12), (60, 40), (101, 70), (250, 180), (1100, 1000)]
)
def test_sign_test_matches_exact_integers(wins: int, losses: int) -> None:
    exact = exact_sign_test(wins, losses)
    if wins + losses <= 2000:
        assert sign_test(wins, losses) == float(exact)  # correctly rounded
    assert sign_test(wins, losses) == pytest.approx(float(exact), rel=1e-9)


def test_sign_test_floating_point_tail_matches_exact_integers() -> None:
    """Past 2000 non-ties the tail is summed in floats: still within 1e-9 of exact."""
    for wins, losses in [(1040, 961), (1300, 1200), (2500, 2000), (5000, 4800)]:
        got = sign_test(wins, losses)
        assert got == pytest.approx(float(exact_sign_test(wins, losses)), rel=1e-9)


def test_sign_test_large_counts_match_the_normal_approximation() -> None:
    # 1,002,000 non-ties: the exact test and the continuity-corrected z agree to ~1e-3.
    wins, losses = 502_000, 500_000
    z = (wins - losses - 1) / math.sqrt(wins + losses)
    normal = math.erfc(z / math.sqrt(2))
    assert sign_test(wins, losses) == pytest.approx(normal, rel=1e-2)
    assert sign_test(1000, 0) == 0.0 or sign_test(1000, 0) < 1e-300


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_sign_test_bad_counts(bad: object) -> None:
    with pytest.raises(ValueError, match="wins must be an int >= 0"):
        sign_test(bad, 1)  # type: ignore[arg-type]


def test_randomization_exact_on_a_worked_example() -> None:
    # Differences 1, 2, 3: of the 8 sign patterns only +++ and --- reach |sum| = 6.
    assert paired_randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == 0.25
    # Differences 1, 1: |sum| = 2 for ++ and --: 2 of 4. Equal pairs are left out.
    assert paired_randomization_test([1.0, 1.0, 0.5], [0.0, 0.0, 0.5]) == 0.5
    assert paired_randomization_test([0.3, 0.2], [0.3, 0.2]) == 1.0
    assert paired_randomization_test([], []) == 1.0


def test_randomization_exact_enumeration_matches_a_reference() -> None:
    rng = random.Random(3)
    a = [rng.random() for _ in range(10)]
    b = [x + rng.gauss(0.1, 0.2) for x in a]
    d = [x - y for x, y in zip(a, b, strict=True)]
    observed = abs(sum(d))
    patterns = list(itertools.product((1, -1), repeat=len(d)))
    hits = sum(abs(sum(s * x for s, x in zip(p, d, strict=True))) >= observed - 1e-12
               for p in patterns)  # fmt: skip
    assert paired_randomization_test(a, b) == hits / len(patterns)


def test_randomization_monte_carlo_is_seeded_and_near_the_exact_value() -> None:
    rng = random.Random(5)
    a = [rng.random() for _ in range(16)]
    b = [x - rng.gauss(0.05, 0.1) for x in a]
    exact = paired_randomization_test(a, b, rounds=2**16)
    sampled = paired_randomization_test(a, b, rounds=4000, seed=1)
    assert sampled == paired_randomization_test(a, b, rounds=4000, seed=1)
    # 4000 draws: the standard error is <= 0.008.
    assert abs(sampled - exact) < 0.04
    assert 0 < sampled <= 1


def test_randomization_detects_a_real_shift_and_not_noise() -> None:
    rng = random.Random(0)
    a = [rng.random() for _ in range(200)]
    shifted = [x - 0.1 + rng.gauss(0, 0.05) for x in a]
    assert paired_randomization_test(a, shifted, rounds=2000) < 0.01
    noise = [x + rng.gauss(0, 0.05) for x in a]
    assert paired_randomization_test(a, noise, rounds=2000) > 0.01


def test_randomization_bad_input_names_the_index() -> None:
    with pytest.raises(ValueError, match="a has 2 values but b has 1"):
        paired_randomization_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"b\[1\] must be a finite number"):
        paired_randomization_test([1.0, 2.0], [1.0, math.nan])
    with pytest.raises(ValueError, match="rounds must be an int >= 1"):
        paired_randomization_test([1.0], [0.0], rounds=0)


def test_sample_size_hand_worked() -> None:
    # q = 0.75 among non-ties (half of all impressions):
    # m = ((1.959964 / 2 + 0.841621 * sqrt(0.1875)) / 0.25) ** 2 = 28.92 non-ties, / 0.5 -> 58.
    z_a, z_p = 1.959963984540054, 0.8416212335729143
    m = ((z_a / 2 + z_p * math.sqrt(0.75 * 0.25)) / 0.25) ** 2
    assert sign_test_sample_size(0.375, 0.125) == math.ceil(m / 0.5) == 58
    # Fewer ties, fewer impressions; a smaller difference, many more.
    assert sign_test_sample_size(0.75, 0.25) == math.ceil(m) == 29
    assert sign_test_sample_size(0.26, 0.24) > 100 * sign_test_sample_size(0.375, 0.125)
    assert sign_test_sample_size(0.125, 0.375) == 58  # symmetric
    assert sign_test_sample_size(0.375, 0.125, power=0.95) > 58


def test_sample_size_gives_the_power_it_promises() -> None:
    """Simulated sign tests at the computed size reach about the requested power."""
    p_win, p_loss = 0.3, 0.15
    n = sign_test_sample_size(p_win, p_loss, power=0.8)
    rng = random.Random(0)
    hits = 0
    trials = 400
    for _ in range(trials):
        draws = [rng.random() for _ in range(n)]
        wins = sum(d < p_win for d in draws)
        losses = sum(p_win <= d < p_win + p_loss for d in draws)
        hits += sign_test(wins, losses) < 0.05
    assert 0.7 <= hits / trials <= 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_win": 0.3, "p_loss": 0.3}, "no difference"),
        ({"p_win": 0.7, "p_loss": 0.6}, "p_win \\+ p_loss must be <= 1"),
        ({"p_win": -0.1, "p_loss": 0.3}, "p_win must be a probability"),
        ({"p_win": 0.3, "p_loss": 0.1, "alpha": 0.0}, "alpha must be a number in"),
        ({"p_win": 0.3, "p_loss": 0.1, "power": 1.0}, "power must be a number in"),
    ],
)
def test_sample_size_bad_input(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sign_test_sample_size(**kwargs)
