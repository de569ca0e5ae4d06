"""Offline evaluation of rerankers on a BEIR-layout data set (``ragrerank eval``).

`evaluate` runs it end to end, and owns the latency-vs-candidates sweep; its siblings own
the first stage (`.first_stage`), the score cache (`.score_cache`), the metrics
(`.metrics`) and the report (`.report`).

First stage (Qdrant BM25, dense or hybrid) -> N candidates -> each reranker. Metrics come
from ``ir_measures``; first-stage runs and reranker scores are cached on disk, so a rerun
neither re-indexes nor re-scores. Needs the ``qdrant`` and ``eval`` extras.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import require
from ..scorer import Scorer, score_output
from ..types import Candidate
from .compare import check_pairs, compare_systems
from .datasets import BeirDataset
from .first_stage import (
    as_dataset,
    corpus_digest,
    default_cache,
    first_stage_run,
    non_negative_int,
    positive_int,
    stage_mode,
)
from .metrics import (
    DEFAULT_SLICES,
    Run,
    SliceFn,
    per_query,
    percentiles,
    slice_groups,
    slice_report,
    system_result,
)
from .report import EvalReport, machine_info
from .score_cache import ScoreCache, cached_run
from .taxonomy import taxonomy_report

__all__ = ["LATENCY_POINTS", "evaluate"]

LATENCY_POINTS = (10, 20, 50, 100)


def evaluate(
    dataset: str | Path | BeirDataset,
    rerankers: Mapping[str, Scorer],
    *,
    split: str = "test",
    first_stage: str = "hybrid",
    candidates: int = 100,
    query_ids: Sequence[str] | None = None,
    slices: Mapping[str, SliceFn] | None = None,
    cache_dir: str | Path | None = None,
    dense_model: str | Path | Any = None,
    latency_points: Sequence[int] = LATENCY_POINTS,
    latency_queries: int = 5,
    show_progress: bool = True,
    taxonomy_k: int = 10,
    max_traces: int = 100,
    compare: Sequence[tuple[str, str]] = (),
) -> EvalReport:
    """Evaluate the first stage and each reranker on its top ``candidates``.

    Args:
        dataset: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)
            or a loaded `BeirDataset` of ``split``.
        rerankers: display name -> scorer.
        split: the qrels split to evaluate (``qrels/<split>.tsv``).
        first_stage: ``"bm25"``, ``"dense"`` or ``"hybrid"`` (Qdrant, embedded).
        candidates: first-stage depth N, each reranker scores all N.
        query_ids: evaluate only these queries (default: all judged in the split).
        slices: extra slice functions (query text -> bucket label); the query-length
            slice is always included.
        cache_dir: first-stage runs, the Qdrant index and reranker scores (default
            ``~/.cache/ragrerank/eval``).
        dense_model: the first stage's dense model (name, folder or a loaded
            ``SentenceTransformer``); default: all-MiniLM-L6-v2.
        latency_points: candidate counts for the latency-vs-candidates sweep.
        latency_queries: queries timed per point (0 disables the sweep).
        show_progress: progress bars while encoding and scoring.
        taxonomy_k: the top-k of the failure taxonomy (`.taxonomy`): a query is a success
            when a relevant document is in a system's top ``taxonomy_k``.
        max_traces: at most this many score traces of failed queries per reranker
            (``traces/`` of `EvalReport.write`); 0: none. Every query keeps its table row.
        compare: pairs ``(a, b)`` of system names (rerankers, or the first stage as
            ``"first stage (<mode>)"``) to compare query by query (`.compare`).

    Returns:
        The `EvalReport`: metrics per system, per-query wins and losses, slices, latency,
        failure taxonomy, comparisons.

    Raises:
        ValueError: bad arguments, e.g. a ``compare`` name that is not a system of the run.
    """
    positive_int(candidates, "candidates")
    positive_int(taxonomy_k, "taxonomy_k")
    non_negative_int(max_traces, "max_traces")
    non_negative_int(latency_queries, "latency_queries")
    for name, scorer in rerankers.items():
        if not isinstance(scorer, Scorer):
            raise TypeError(f"reranker {name!r} does not implement ragrerank.Scorer")
    stage_mode(first_stage)
    fs_name = f"first stage ({first_stage})"
    pairs = check_pairs(compare, [fs_name, *rerankers])
    require("ir_measures", "eval")
    started = time.perf_counter()
    ds = as_dataset(dataset, split)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    runs = first_stage_run(
        ds,
        split,
        first_stage,
        candidates,
        cache,
        query_ids=query_ids,
        dense_model=dense_model,
        show_progress=show_progress,
    )
    qids = list(runs)
    qrels = {q: dict(ds.qrels[q]) for q in qids}
    system_runs: dict[str, Run] = {
        fs_name: {q: {str(c.id): float(c.score or 0.0) for c in runs[q]} for q in qids}
    }
    latencies: dict[str, list[float]] = {}
    corpus = corpus_digest(ds)
    for name, scorer in rerankers.items():
        store = ScoreCache.of(cache, ds, corpus, scorer)
        system_runs[name], latencies[name] = cached_run(name, scorer, ds, runs, store,
                                                        show_progress)  # fmt: skip
    measured = {name: per_query(qrels, run) for name, run in system_runs.items()}
    systems = {
        name: system_result(name, measured[name], measured[fs_name], qids, latencies.get(name))
        for name in system_runs
    }
    slice_fns = {**DEFAULT_SLICES, **(slices or {})}
    texts = {q: ds.queries[q] for q in qids}
    by_slice = slice_report(measured, fs_name, texts, slice_fns)
    taxonomy, traces = taxonomy_report(qrels, system_runs, fs_name, texts,
                                       slice_groups(texts, slice_fns), taxonomy_k, max_traces)  # fmt: skip
    ndcg = {name: pq["nDCG@10"] for name, pq in measured.items()}
    sweep = _latency_sweep(
        ds, runs, rerankers, latency_points, candidates, latency_queries, show_progress
    )
    return EvalReport(
        dataset=str(dataset) if not isinstance(dataset, BeirDataset) else dataset.name,
        split=split,
        first_stage=first_stage,
        candidates=candidates,
        n_queries=len(qids),
        systems=systems,
        slices=by_slice,
        latency_vs_candidates=sweep,
        per_query=ndcg,
        machine=machine_info(),
        elapsed_s=time.perf_counter() - started,
        taxonomy=taxonomy,
        failure_traces=traces,
        comparisons=[compare_systems(a, b, ndcg, qids) for a, b in pairs],
    )


def _latency_sweep(
    ds: BeirDataset,
    runs: Mapping[str, list[Candidate]],
    rerankers: Mapping[str, Scorer],
    points: Sequence[int],
    candidates: int,
    n_queries: int,
    show_progress: bool,
) -> dict[str, dict[str, float]]:
    """p50 scoring latency at each candidate count on the first ``n_queries`` queries."""
    if not n_queries or not rerankers:
        return {}
    from tqdm.auto import tqdm

    usable = sorted({p for p in points if 1 <= p <= candidates} | {candidates})
    qids = list(runs)[:n_queries]
    out: dict[str, dict[str, float]] = {}
    total = len(rerankers) * len(usable) * len(qids)
    with tqdm(total=total, desc="latency sweep", unit="call", disable=not show_progress) as bar:
        for name, scorer in rerankers.items():
            out[name] = {}
            score_output(scorer, ds.queries[qids[0]], runs[qids[0]][:2])  # warm-up: load model
            for n in usable:
                samples = []
                for q in qids:
                    cands = runs[q][:n]
                    t0 = time.perf_counter()
                    score_output(scorer, ds.queries[q], cands)
                    samples.append((time.perf_counter() - t0) * 1000.0)
                    bar.update(1)
                stats = percentiles(samples)
                if stats is not None:
                    out[name][str(n)] = stats["p50"]
    return out
