"""Metrics of a run: per-query measures (``ir_measures``), means, lift and wins/losses
against the first stage, latency percentiles, and the same by query slice (the default
slice: query length in words)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import require

__all__ = [
    "DEFAULT_SLICES",
    "MEASURES",
    "SystemResult",
    "per_query",
    "percentiles",
    "query_length_bucket",
    "slice_groups",
    "slice_report",
    "system_result",
    "wins_losses_ties",
]

MEASURES = ("nDCG@10", "RR@10", "R@10", "R@100", "nDCG@3")

Run = dict[str, dict[str, float]]
SliceFn = Callable[[str], str]


def query_length_bucket(query: str) -> str:
    """Default slice: query length in words (SciFact claims are 4-29 words)."""
    n = len(query.split())
    if n <= 9:
        return "short (<=9 words)"
    return "medium (10-14 words)" if n <= 14 else "long (>=15 words)"


DEFAULT_SLICES: Mapping[str, SliceFn] = {"query length": query_length_bucket}


@dataclass(frozen=True)
class SystemResult:
    """Metrics of one system (the first stage or a reranker on its candidates).

    ``lift_at_3`` is mean nDCG@3 minus the first stage's; wins/losses/ties compare each
    query's nDCG@10 with the first stage's. Latency is per query, scoring only.
    """

    name: str
    metrics: dict[str, float]
    lift_at_3: float = 0.0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    latency_ms: dict[str, float] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def percentiles(samples: Sequence[float]) -> dict[str, float] | None:
    """p50, p95 (linear-interpolated), mean and count of ``samples``; None when empty."""
    if not samples:
        return None
    import numpy as np

    arr = np.asarray(samples, dtype=float)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
        "n": float(len(arr)),
    }


def per_query(qrels: Mapping[str, Mapping[str, int]], run: Run) -> dict[str, dict[str, float]]:
    """``{measure: {qid: value}}`` for every measure in `MEASURES` (ir_measures)."""
    ir_measures: Any = require("ir_measures", "eval")
    parsed = [ir_measures.parse_measure(x) for x in MEASURES]
    by_str = {str(m): x for m, x in zip(parsed, MEASURES, strict=True)}
    out: dict[str, dict[str, float]] = {name: dict.fromkeys(run, 0.0) for name in MEASURES}
    for metric in ir_measures.iter_calc(parsed, qrels, run):
        out[by_str[str(metric.measure)]][metric.query_id] = float(metric.value)
    return out


def wins_losses_ties(
    mine: Mapping[str, float], base: Mapping[str, float], qids: Sequence[str]
) -> tuple[int, int, int]:
    """Queries of ``qids`` where ``mine`` is above / below / within 1e-9 of ``base``."""
    wins = sum(mine[q] > base[q] + 1e-9 for q in qids)
    losses = sum(mine[q] < base[q] - 1e-9 for q in qids)
    return wins, losses, len(qids) - wins - losses


def _mean(values: Mapping[str, float], qids: Sequence[str]) -> float:
    return float(sum(values[q] for q in qids) / len(qids)) if qids else math.nan


def system_result(
    name: str,
    pq: Mapping[str, Mapping[str, float]],
    base: Mapping[str, Mapping[str, float]],
    qids: Sequence[str],
    latency: Sequence[float] | None,
) -> SystemResult:
    wins, losses, ties = wins_losses_ties(pq["nDCG@10"], base["nDCG@10"], qids)
    metrics = {m: _mean(pq[m], qids) for m in MEASURES}
    return SystemResult(
        name=name,
        metrics=metrics,
        lift_at_3=metrics["nDCG@3"] - _mean(base["nDCG@3"], qids),
        wins=wins,
        losses=losses,
        ties=ties,
        latency_ms=percentiles(latency) if latency is not None else None,
    )


def _slice_stats(
    pq: Mapping[str, Mapping[str, float]],
    base: Mapping[str, Mapping[str, float]],
    members: Sequence[str],
) -> dict[str, Any]:
    wins, losses, ties = wins_losses_ties(pq["nDCG@10"], base["nDCG@10"], members)
    return {
        "nDCG@10": _mean(pq["nDCG@10"], members),
        "lift_at_3": _mean(pq["nDCG@3"], members) - _mean(base["nDCG@3"], members),
        "wins": wins,
        "losses": losses,
        "ties": ties,
    }


def slice_groups(
    queries: Mapping[str, str], slices: Mapping[str, SliceFn]
) -> dict[str, dict[str, list[str]]]:
    """``{slice: {bucket: [qid, ...]}}``, buckets sorted, ids in ``queries`` order."""
    out: dict[str, dict[str, list[str]]] = {}
    for slice_name, fn in slices.items():
        groups: dict[str, list[str]] = {}
        for q, text in queries.items():
            groups.setdefault(str(fn(text)), []).append(q)
        out[slice_name] = dict(sorted(groups.items()))
    return out


def slice_report(
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]],
    base: str,
    queries: Mapping[str, str],
    slices: Mapping[str, SliceFn],
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{slice: {bucket: {"n": queries, "systems": {system: stats}}}}``, buckets sorted;
    ``per_query`` is each system's `per_query`, ``base`` the first stage's name, ``queries``
    the query texts by id (the ids that were evaluated)."""
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for slice_name, groups in slice_groups(queries, slices).items():
        report[slice_name] = {
            bucket: {
                "n": len(members),
                "systems": {
                    name: _slice_stats(pq, per_query[base], members)
                    for name, pq in per_query.items()
                },
            }
            for bucket, members in groups.items()
        }
    return report
