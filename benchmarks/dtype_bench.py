"""What ``dtype="auto"`` costs: the dense encoder (all-MiniLM-L6-v2) and zero-shot ColBERT
over its token vectors, in float32 and in the dtype ``auto`` picks here, on SciFact.

Run: ``python -m benchmarks.dtype_bench`` (writes benchmarks/results/dtype.{md,json,png});
``--quick``: 300 documents and 20 queries.

Per dtype: indexing (encode + upsert into embedded Qdrant) in documents per second, dense
and hybrid (dense + BM25, RRF) nDCG@10 and R@100, and the top-10 agreement of each query's
run with the float32 run; ColBERT reranking bm25s' top 50 of 40 queries, each dtype:
nDCG@10, top-10 agreement and the largest score drift over the query's score spread. The
cross-encoder's per-dtype agreement and drift are in ``speed.md`` (``benchmarks.speed``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    QUICK_BANNER,
    add_run_options,
    ir_metrics,
    label_bars,
    legend_below,
    machine,
    machine_line,
    pyplot,
    save_figure,
    topk_agreement,
    write_results,
)

MODES = ("dense", "hybrid")


def measure(
    data: str | None, model: str, dtype: str, docs: int | None, queries: int | None
) -> dict[str, Any]:
    """Index SciFact test's corpus with the dense model in ``dtype`` and run both modes."""
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.retrieval.qdrant import QdrantRetriever
    from ragrerank.utils.hardware import resolve_dtype

    ds = load_beir("scifact", "test", path=data)
    documents = list(ds.documents())
    qids = sorted(ds.queries)[:queries] if queries else sorted(ds.queries)
    if docs:  # quick: the judged documents of the chosen queries first, then others
        judged = {d for q in qids for d in ds.qrels.get(q, {})}
        documents = sorted(documents, key=lambda d: d.id not in judged)[:docs]
    out: dict[str, Any] = {"dtype": dtype, "resolved": resolve_dtype(dtype, "cpu")}
    with tempfile.TemporaryDirectory() as tmp, QdrantRetriever(
        "scifact", path=Path(tmp), dense_model=model, dense_dtype=dtype,
        device="cpu", show_progress=True,
    ) as retriever:  # fmt: skip
        start = time.perf_counter()
        retriever.index(documents)
        seconds = time.perf_counter() - start
        out["index_s"] = seconds
        out["docs_per_s"] = len(documents) / seconds
        out["documents"] = len(documents)
        for mode in MODES:
            runs = retriever.retrieve_batch([ds.queries[q] for q in qids], top_n=100, mode=mode)
            run = {
                q: {str(c.id): float(c.score or 0.0) for c in cands}
                for q, cands in zip(qids, runs, strict=True)
            }
            out[mode] = {
                "metrics": ir_metrics({q: ds.qrels.get(q, {}) for q in qids}, run),
                "top10": {
                    q: [str(c.id) for c in cands[:10]] for q, cands in zip(qids, runs, strict=True)
                },
            }
    out["queries"] = len(qids)
    return out


def colbert_rows(data: str | None, model: str, queries: int, depth: int) -> list[dict[str, Any]]:
    """Zero-shot ColBERT MaxSim (``model``'s token vectors) reranking each query's bm25s
    top ``depth``, in float32 and in ``dtype="auto"``: nDCG@10, agreement and drift."""
    from benchmarks.common import bm25_topk
    from ragrerank import Candidate, ColBERTScorer
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.utils.hardware import resolve_dtype

    ds = load_beir("scifact", "test", path=data)
    qids = sorted(ds.queries)[:queries]
    corpus = {d: ds.text(d) for d in ds.corpus}
    first = bm25_topk(corpus, {q: ds.queries[q] for q in qids}, depth)
    rows = []
    for dtype in ("float32", "auto"):
        scorer = ColBERTScorer(model, device="cpu", dtype=dtype, cache_max_bytes=0)
        scores = {
            q: scorer.score_candidates(
                ds.queries[q], [Candidate(text=corpus[d], id=d) for d, _ in first[q]]
            ).scores
            for q in qids
        }
        run = {q: {d: s for (d, _), s in zip(first[q], scores[q], strict=True)} for q in qids}
        top10 = {q: sorted(run[q], key=lambda d, q=q: -run[q][d])[:10] for q in qids}
        rows.append({"dtype": dtype, "resolved": resolve_dtype(dtype, "cpu"), "scores": scores,
                     "top10": top10, "nDCG@10": ir_metrics(
                         {q: ds.qrels.get(q, {}) for q in qids}, run, ("nDCG@10",))["nDCG@10"]})  # fmt: skip
    ref = rows[0]
    for r in rows:
        r["agreement"] = agreement(r["top10"], ref["top10"])
        r["max_drift_over_spread"] = max(
            max(abs(a - b) for a, b in zip(r["scores"][q], ref["scores"][q], strict=True))
            / ((max(ref["scores"][q]) - min(ref["scores"][q])) or 1.0)
            for q in qids
        )
        r["queries"], r["depth"] = len(qids), depth
    for r in rows:
        del r["scores"]
    return rows


def agreement(a: dict[str, list[str]], b: dict[str, list[str]]) -> float:
    """Mean top-10 agreement of two runs' per-query top 10s."""
    return statistics.fmean(topk_agreement(a[q], b[q]) for q in a)


def markdown(report: dict[str, Any]) -> str:
    lines = ["# dtype=auto: the dense first stage and ColBERT (SciFact test)", ""]
    if report.get("quick"):
        lines += [QUICK_BANNER, ""]
    rows = report["rows"]
    first = rows[0]
    lines += [
        f"Dense model: {report['dense_model']}; {first['documents']} documents, {first['queries']} "
        "queries; hybrid = dense + BM25 fused by Qdrant's RRF; embedded Qdrant. Agreement: "
        "mean top-10 overlap with the float32 run of the same mode.",
        "",
        machine_line(report["machine"]),
        "",
        "| dense dtype | indexing docs/s | dense nDCG@10 | dense R@100 | hybrid nDCG@10 | "
        "hybrid R@100 | dense top-10 agreement | hybrid top-10 agreement |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = r["dtype"] if r["dtype"] == r["resolved"] else f"{r['dtype']} ({r['resolved']})"
        d, h = r["dense"]["metrics"], r["hybrid"]["metrics"]
        lines.append(
            f"| {name} | {r['docs_per_s']:.1f} | {d['nDCG@10']:.4f} | {d['R@100']:.4f} | "
            f"{h['nDCG@10']:.4f} | {h['R@100']:.4f} | {r['agreement']['dense']:.3f} | "
            f"{r['agreement']['hybrid']:.3f} |"
        )
    colbert = report.get("colbert") or []
    if colbert:
        c0 = colbert[0]
        lines += [
            "",
            "## ColBERT (zero-shot MaxSim over the same model's token vectors)",
            "",
            f"Reranking each of {c0['queries']} queries' bm25s top {c0['depth']}, documents "
            "encoded on the fly.",
            "",
            "| encoder dtype | nDCG@10 | top-10 agreement vs float32 | max score drift / spread |",
            "|---|---:|---:|---:|",
        ]
        for r in colbert:
            name = r["dtype"] if r["dtype"] == r["resolved"] else f"{r['dtype']} ({r['resolved']})"
            lines.append(
                f"| {name} | {r['nDCG@10']:.4f} | {r['agreement']:.3f} | "
                f"{r['max_drift_over_spread']:.1%} |"
            )
    lines += ["", "![dense dtype](dtype.png)", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: nDCG@10 and R@100 per mode and dtype. Right: indexing throughput per dtype."""
    plt = pyplot()
    rows = report["rows"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{m} {k}" for m in MODES for k in ("nDCG@10", "R@100")]
    width = 0.8 / len(rows)
    for j, r in enumerate(rows):
        values = [r[m]["metrics"][k] for m in MODES for k in ("nDCG@10", "R@100")]
        xs = [i + (j - (len(rows) - 1) / 2) * width for i in range(len(labels))]
        bars = ax1.bar(xs, values, width, label=f"dense model in {r['resolved']}", color=f"C{j}")
        label_bars(ax1, bars, ".3f")
    ax1.set_xticks(range(len(labels)), labels)
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("score (higher is better)")
    ax1.set_title("Retrieval quality by dense-model dtype")
    legend_below(ax1, ncol=2)
    bars = ax2.barh(
        [r["resolved"] for r in rows], [r["docs_per_s"] for r in rows],
        color=[f"C{j}" for j in range(len(rows))],
    )  # fmt: skip
    label_bars(ax2, bars, ".1f")
    ax2.set_xlim(0, max(r["docs_per_s"] for r in rows) * 1.2)
    ax2.set_xlabel("documents indexed per second (encode + upsert; higher is faster)")
    ax2.set_title("Indexing throughput")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dense-model", help="bi-encoder (default: all-MiniLM-L6-v2)")
    add_run_options(parser, "300 documents, 20 queries")
    args = parser.parse_args(argv)
    from ragrerank.evaluation.first_stage import default_dense_model

    model = args.dense_model or default_dense_model()
    docs, queries = (300, 20) if args.quick else (None, None)
    rows = [measure(args.data, model, dtype, docs, queries) for dtype in ("float32", "auto")]
    colbert = colbert_rows(args.data, model, 5 if args.quick else 40, 10 if args.quick else 50)
    for r in rows:
        r["agreement"] = {m: agreement(r[m]["top10"], rows[0][m]["top10"]) for m in MODES}
    report: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "dense_model": "all-MiniLM-L6-v2" if args.dense_model is None else args.dense_model,
        "rows": rows,
        "colbert": colbert,
    }
    write_results("dtype", report, markdown(report), lambda p: plot(report, p), args.out)
    return report


if __name__ == "__main__":
    main()
