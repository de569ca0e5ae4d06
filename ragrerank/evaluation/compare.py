"""Two systems of one run compared query by query (``ragrerank eval --compare A B``):
per-query nDCG@10 wins, losses and ties, the mean difference, and two significance tests
(`ragrerank.utils.stats`: the exact sign test and the paired randomization test).

Both systems rerank the same first-stage candidates of the same queries in one run, so
their per-query values are paired by construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..utils.stats import paired_randomization_test, sign_test
from .metrics import wins_losses_ties

__all__ = ["COMPARE_MEASURE", "check_pairs", "compare_systems", "comparisons_markdown"]

COMPARE_MEASURE = "nDCG@10"
ROUNDS = 10000


def check_pairs(pairs: Sequence[Sequence[str]], systems: Sequence[str]) -> list[tuple[str, str]]:
    """``pairs`` as ``(a, b)`` tuples; `ValueError` naming a pair that is not two different
    names of ``systems`` (listing them)."""
    out = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"compare[{i}]: expected two system names, got {pair!r}")
        a, b = pair
        for name in (a, b):
            if name not in systems:
                raise ValueError(
                    f"compare[{i}]: unknown system {name!r}; systems of this run: {list(systems)}"
                )
        if a == b:
            raise ValueError(f"compare[{i}]: compares {a!r} with itself")
        out.append((a, b))
    return out


def compare_systems(
    a: str,
    b: str,
    values: Mapping[str, Mapping[str, float]],
    qids: Sequence[str],
    *,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare system ``a`` with ``b`` on ``qids`` by their per-query values.

    Args:
        a: the first system's name (a win: ``a`` scored higher).
        b: the second's.
        values: ``{system: {qid: value}}`` (e.g. `EvalReport.per_query`, nDCG@10).
        qids: the queries to compare on (both systems must have them all).
        rounds: random sign patterns of the randomization test.
        seed: its seed.

    Returns:
        Plain JSON data: ``a``, ``b``, ``measure``, ``queries``, ``mean_a``, ``mean_b``,
        ``mean_difference`` (a minus b), ``wins``, ``losses``, ``ties`` (values within
        1e-9 tie), ``sign_test_p``, ``randomization_p`` and ``randomization_rounds``.
    """
    va, vb = values[a], values[b]
    wins, losses, ties = wins_losses_ties(va, vb, qids)
    xs, ys = [float(va[q]) for q in qids], [float(vb[q]) for q in qids]
    mean_a = sum(xs) / len(xs) if xs else 0.0
    mean_b = sum(ys) / len(ys) if ys else 0.0
    return {
        "a": a,
        "b": b,
        "measure": COMPARE_MEASURE,
        "queries": len(qids),
        "mean_a": mean_a,
        "mean_b": mean_b,
        "mean_difference": mean_a - mean_b,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "sign_test_p": sign_test(wins, losses),
        "randomization_p": paired_randomization_test(xs, ys, rounds=rounds, seed=seed),
        "randomization_rounds": rounds,
    }


def comparisons_markdown(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    """The summary's "Comparisons" section (no lines without comparisons)."""
    if not comparisons:
        return []
    rounds = comparisons[0]["randomization_rounds"]
    lines = [
        "",
        f"## Comparisons (per-query {COMPARE_MEASURE})",
        "",
        f"W/L/T = queries whose {COMPARE_MEASURE} is higher / lower / equal for A than for B; "
        "Δ = mean A minus mean B; p-values: the exact two-sided sign test on W vs L (ties "
        f"left out) and the paired randomization test on Δ ({rounds} sign flips, seed 0; "
        "exact for few queries).",
        "",
        f"| A | B | A {COMPARE_MEASURE} | B {COMPARE_MEASURE} | Δ | W/L/T | sign test p | "
        "randomization p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c['a']} | {c['b']} | {c['mean_a']:.4f} | {c['mean_b']:.4f} | "
            f"{c['mean_difference']:+.4f} | {c['wins']}/{c['losses']}/{c['ties']} | "
            f"{c['sign_test_p']:.4g} | {c['randomization_p']:.4g} |"
        )
    return lines
