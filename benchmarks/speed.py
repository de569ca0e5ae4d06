"""Cross-encoder reranking speed: ragrerank vs the LangChain, LlamaIndex and
sentence-transformers rerankers, same weights, same inputs, same process.

Run: ``python -m benchmarks.speed`` (writes benchmarks/results/speed.{md,json,png});
``--quick`` is a smoke run (a few queries, 5 and 10 short candidates).

Inputs: SciFact test queries; each query's candidates are its bm25s top-100 documents cut
to ``--tokens`` word pieces (the first 20 / 50 / 100 for the smaller points). Every system
gets the same model folder (``--model``; default: the all-MiniLM-L6-v2 body with a seeded
sequence-classification head, the size of ``cross-encoder/ms-marco-MiniLM-L-6-v2``) and
returns its top 10. Each system is warmed up at every candidate count, then timed once
per query per candidate count, systems shuffled anew for every repetition.

Agreement: the top 10 of every system is compared with the top 10 of ragrerank in fp32
(`CrossEncoderScorer` defaults: float32, whose scores equal plain transformers within
1e-5); score drift is the largest absolute difference between a fast setting's raw score
and the fp32 score of the same pair. An untrained head gives near-tied scores, so its
agreement numbers are pessimistic; pass a trained model for meaningful ones.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    QUICK_BANNER,
    add_run_options,
    bm25_topk,
    fmt,
    interleaved,
    label_bars,
    latency_stats,
    legend_below,
    machine,
    machine_line,
    plain_log_ticks,
    pyplot,
    save_figure,
    time_ms,
    topk_agreement,
    wrap,
    write_results,
)
from ragrerank.utils.hardware import resolve_dtype

TOP_K = 10
TARGET_SPEEDUP = 2.5  # the default's, on AVX-512 BF16 CPUs (and any other setting's bar)
TARGET_SPEEDUP_AMX = 3.0  # the default's, on AMX CPUs
TARGET_AGREEMENT = 0.99
TARGET_SPEEDUP_INT8 = 4.0  # the best int8 setting's
TARGET_AGREEMENT_INT8 = 0.98
DEFAULT = "ragrerank default (dtype=auto)"
PEERS = (
    "LangChain CrossEncoderReranker",
    "LlamaIndex SentenceTransformerRerank",
    "sentence-transformers CrossEncoder.predict",
)
REFERENCE = "ragrerank fp32"
PACKAGES = (
    "sentence-transformers",
    "transformers",
    "langchain-classic",
    "langchain-community",
    "llama-index-core",
)

# One call: query, candidate texts -> (ranked indices of the top 10, raw scores or None).
RankFn = Callable[[str, Sequence[str]], tuple[list[int], list[float] | None]]


@dataclass
class System:
    name: str
    kind: str  # "peer" | "ragrerank"
    description: str
    build: Callable[[], RankFn]


@dataclass
class Inputs:
    queries: list[str]  # one per repetition, plus one warm-up query first
    candidates: list[list[str]]  # per query, the texts, best first-stage first
    mean_tokens: float
    mean_query_tokens: float


# -- systems ------------------------------------------------------------------------------


def langchain(model: str) -> RankFn:
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document

    reranker = CrossEncoderReranker(
        model=HuggingFaceCrossEncoder(model_name=model, model_kwargs={"device": "cpu"}),
        top_n=TOP_K,
    )
    docs: dict[tuple[str, ...], list[Document]] = {}

    def rank(query: str, texts: Sequence[str]) -> tuple[list[int], list[float] | None]:
        key = tuple(texts)
        if key not in docs:  # inputs are built before timing: a retriever returns Documents
            docs[key] = [Document(page_content=t, metadata={"i": i}) for i, t in enumerate(texts)]
        out = reranker.compress_documents(docs[key], query)
        return [int(d.metadata["i"]) for d in out], None

    return rank


def llama_index(model: str) -> RankFn:
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    reranker = SentenceTransformerRerank(model=model, top_n=TOP_K, device="cpu")
    nodes: dict[tuple[str, ...], list[TextNode]] = {}

    def rank(query: str, texts: Sequence[str]) -> tuple[list[int], list[float] | None]:
        key = tuple(texts)
        if key not in nodes:
            nodes[key] = [TextNode(text=t, id_=str(i)) for i, t in enumerate(texts)]
        # Fresh NodeWithScore wrappers: the postprocessor overwrites their scores.
        batch = [NodeWithScore(node=n, score=0.0) for n in nodes[key]]
        out = reranker.postprocess_nodes(batch, QueryBundle(query))
        return [int(n.node.node_id) for n in out], None

    return rank


def sentence_transformers_predict(model: str) -> RankFn:
    import numpy as np
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(model, device="cpu")

    def rank(query: str, texts: Sequence[str]) -> tuple[list[int], list[float] | None]:
        scores = ce.predict([(query, t) for t in texts], show_progress_bar=False)
        order = np.argsort(-scores, kind="stable")[:TOP_K]
        return [int(i) for i in order], None

    return rank


def ranked(reranker: Any, with_scores: bool = True) -> RankFn:
    """A `ragrerank.Reranker` as a `RankFn` (raw scores read from its trace)."""
    from ragrerank import Candidate

    cands: dict[tuple[str, ...], list[Candidate]] = {}

    def rank(query: str, texts: Sequence[str]) -> tuple[list[int], list[float] | None]:
        key = tuple(texts)
        if key not in cands:
            cands[key] = [Candidate(text=t, id=i) for i, t in enumerate(texts)]
        result = reranker.rerank(query, cands[key])
        if not with_scores:
            return [item.index for item in result], None
        scores = [0.0] * len(texts)
        for entry in result.trace.entries:
            scores[entry.index] = entry.score
        return [item.index for item in result], scores

    return rank


def ragrerank(model: str, **options: Any) -> RankFn:
    from ragrerank import CrossEncoderScorer, Reranker

    return ranked(Reranker(CrossEncoderScorer(model, **options), top_k=TOP_K))


def ragrerank_cascade(
    model: str, *, keep: int, max_length: int | None = None, cheap_model: str | None = None
) -> RankFn:
    """A cheap pass (the same model on truncated pairs, or ``cheap_model``) prunes to
    ``keep``; the full model in bf16 scores the survivors. Pruned candidates get rank
    scores below the survivors, so no drift is reported."""
    from ragrerank import CrossEncoderScorer, Reranker
    from ragrerank.composers.cascade import CascadeScorer

    scorer = CascadeScorer(
        CrossEncoderScorer(cheap_model or model, dtype="bfloat16", max_length=max_length),
        CrossEncoderScorer(model, dtype="bfloat16"),
        keep=keep,
    )
    return ranked(Reranker(scorer, top_k=TOP_K), with_scores=False)


def openvino(model: str, **options: Any) -> RankFn:
    """The OpenVINO backend; ``load_note`` says whether this load exported (and calibrated)
    or read a cached export, and how long that took (it is part of load + warm-up)."""
    from ragrerank import CrossEncoderScorer, Reranker

    scorer = CrossEncoderScorer(model, backend="openvino", **options)
    scorer.warm_up()
    rank = ranked(Reranker(scorer, top_k=TOP_K))
    fwd = scorer._forward  # the CompiledForward: export facts, not part of the timed calls
    what = "exported and calibrated" if options.get("dtype") == "int8" else "exported"
    note = f"{what} in {fwd.load_s:.0f} s" if fwd.exported else "export read from its cache"
    rank.load_note = note  # type: ignore[attr-defined]
    return rank


def torch_dynamic_int8(model: str) -> RankFn:
    """The fp32 scorer with every torch ``Linear`` of the loaded model swapped in place for
    ``torch.ao`` dynamic int8 (per-tensor weights, activations quantized per call from their
    own min/max); the cls_only forward shares those layers, its float32 head is kept."""
    import torch

    from ragrerank import CrossEncoderScorer, Reranker

    scorer = CrossEncoderScorer(model, dtype="float32")
    scorer.warm_up()
    torch.ao.quantization.quantize_dynamic(
        scorer._loaded.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
    )
    return ranked(Reranker(scorer, top_k=TOP_K))


def int8_systems(model: str) -> list[System]:
    """OpenVINO static int8 and bf16, and torch's dynamic int8 for contrast."""
    return [
        System(
            "ragrerank OpenVINO int8 (static)",
            "ragrerank",
            "CrossEncoderScorer(model, backend='openvino', dtype='int8'): NNCF static int8 "
            "(model_type=TRANSFORMER) calibrated once on the built-in 64-pair sample; pooler, "
            "classifier and last layer in floating point, cls_only; export and calibration "
            "are cached",
            lambda: openvino(model, dtype="int8"),
        ),
        System(
            "ragrerank OpenVINO bf16",
            "ragrerank",
            "CrossEncoderScorer(model, backend='openvino', dtype='bfloat16'): the fp32 IR run "
            "with bf16 inference precision, cls_only",
            lambda: openvino(model, dtype="bfloat16"),
        ),
        System(
            "torch dynamic int8 (torch.ao, uncalibrated)",
            "ragrerank",
            "CrossEncoderScorer(model, dtype='float32') with its Linear layers through "
            "torch.ao quantize_dynamic (qint8): activation ranges taken per call, per tensor, "
            "with no calibration",
            lambda: torch_dynamic_int8(model),
        ),
    ]


def own_calibration_system(model: str, inputs: Inputs) -> System:
    """Static int8 calibrated on the warm-up query's candidates (never timed): a user's own
    earlier candidates instead of the built-in sample."""
    pairs = [(inputs.queries[0], t) for t in inputs.candidates[0]]
    return System(
        "ragrerank OpenVINO int8 (static, own candidates)",
        "ragrerank",
        f"CrossEncoderScorer(model, backend='openvino', dtype='int8', calibration=pairs): "
        f"as above, calibrated on the {len(pairs)} (query, candidate) pairs of the warm-up "
        "query (not one of the timed ones)",
        lambda: openvino(model, dtype="int8", calibration=pairs),
    )


def compiled_system(model: str) -> System:
    return System(
        "ragrerank bf16 + torch.compile",
        "ragrerank",
        "CrossEncoderScorer(model, dtype='bfloat16', torch_compile=True): the fastest setting "
        "through inductor (compiled during the warm-up, not timed: see its load and warm-up time)",
        lambda: ragrerank(model, dtype="bfloat16", torch_compile=True),
    )


def cascade_systems(
    model: str, tokens: int, keep: int, cheap_model: str | None = None
) -> list[System]:
    out = [
        System(
            f"ragrerank bf16 cascade ({tokens}-token pass, keep {keep})",
            "ragrerank",
            f"CascadeScorer(cheap=CrossEncoderScorer(model, dtype='bfloat16', "
            f"max_length={tokens}), expensive=CrossEncoderScorer(model, dtype='bfloat16'), "
            f"keep={keep}): the same model on each pair's first {tokens} tokens prunes to "
            f"{keep}, which are scored in full",
            lambda: ragrerank_cascade(model, keep=keep, max_length=tokens),
        )
    ]
    if cheap_model:
        out.append(
            System(
                f"ragrerank bf16 cascade ({Path(cheap_model).name} -> model, keep {keep})",
                "ragrerank",
                f"CascadeScorer(cheap=CrossEncoderScorer({cheap_model!r}, dtype='bfloat16'), "
                f"expensive=CrossEncoderScorer(model, dtype='bfloat16'), keep={keep})",
                lambda: ragrerank_cascade(model, keep=keep, cheap_model=cheap_model),
            )
        )
    return out


def systems(model: str) -> list[System]:
    """Every system of the benchmark (``--systems`` picks some by name)."""
    return [
        System(
            PEERS[0],
            "peer",
            "langchain_classic CrossEncoderReranker(top_n=10) over langchain_community "
            "HuggingFaceCrossEncoder (sentence-transformers CrossEncoder, fp32)",
            lambda: langchain(model),
        ),
        System(
            PEERS[1],
            "peer",
            "llama_index.core SentenceTransformerRerank(top_n=10, device='cpu')",
            lambda: llama_index(model),
        ),
        System(
            PEERS[2],
            "peer",
            "sentence_transformers.CrossEncoder(model).predict(pairs), top 10 by argsort",
            lambda: sentence_transformers_predict(model),
        ),
        System(
            REFERENCE,
            "ragrerank",
            "Reranker(CrossEncoderScorer(model, dtype='float32'), top_k=10): exact, cls_only, "
            "length-sorted batches of 32; the reference for agreement and drift",
            lambda: ragrerank(model, dtype="float32"),
        ),
        System(
            DEFAULT,
            "ragrerank",
            "Reranker(CrossEncoderScorer(model), top_k=10): the defaults; dtype='auto' is "
            f"{resolve_dtype('auto', 'cpu')} on this machine's CPU, float32 head, cls_only",
            lambda: ragrerank(model),
        ),
        System(
            "ragrerank fp32, full last layer",
            "ragrerank",
            "CrossEncoderScorer(model, dtype='float32', cls_only=False): what cls_only saves",
            lambda: ragrerank(model, dtype="float32", cls_only=False),
        ),
        System(
            "ragrerank bf16, full last layer",
            "ragrerank",
            "CrossEncoderScorer(model, dtype='bfloat16', cls_only=False): what bf16 alone gives",
            lambda: ragrerank(model, dtype="bfloat16", cls_only=False),
        ),
        System(
            "ragrerank bf16, bf16 head",
            "ragrerank",
            "CrossEncoderScorer(model, dtype='bfloat16', float32_head=False): scores rounded "
            "to bf16 (what float32_head prevents)",
            lambda: ragrerank(model, dtype="bfloat16", float32_head=False),
        ),
        System(
            "ragrerank bf16 (fastest)",
            "ragrerank",
            "CrossEncoderScorer(model, dtype='bfloat16'): bf16 body, float32 head, cls_only",
            lambda: ragrerank(model, dtype="bfloat16"),
        ),
    ]


# -- inputs -------------------------------------------------------------------------------


def load_inputs(
    model: str, data: str | None, n_queries: int, max_candidates: int, tokens: int
) -> Inputs:
    """``n_queries`` SciFact test queries with their bm25s top ``max_candidates`` texts,
    each cut to ``tokens`` word pieces (topped up with other documents on tiny corpora)."""
    from transformers import AutoTokenizer

    from ragrerank.evaluation.datasets import load_beir

    ds = load_beir("scifact", "test", path=data)
    tok = AutoTokenizer.from_pretrained(model)
    judged = list(ds.queries)
    qids = [judged[k % len(judged)] for k in range(n_queries)]  # tiny sets: queries repeat
    corpus = {d: ds.text(d) for d in ds.corpus}
    first = bm25_topk(corpus, {q: ds.queries[q] for q in set(qids)}, max_candidates)
    order = list(corpus)
    texts: list[list[str]] = []
    for q in qids:
        ids = [d for d, _ in first[q]]
        seen = set(ids)
        ids += [d for d in order if d not in seen][: max_candidates - len(ids)]
        ids = [ids[k % len(ids)] for k in range(max_candidates)]
        pieces = tok([corpus[d] for d in ids], add_special_tokens=False, verbose=False)
        texts.append([tok.decode(p[:tokens]) for p in pieces["input_ids"]])
    n_tok = [len(p) for t in texts for p in tok(t, add_special_tokens=False)["input_ids"]]
    q_tok = [len(tok(ds.queries[q], add_special_tokens=False)["input_ids"]) for q in qids]
    return Inputs(
        queries=[ds.queries[q] for q in qids],
        candidates=texts,
        mean_tokens=statistics.fmean(n_tok),
        mean_query_tokens=statistics.fmean(q_tok),
    )


# -- measurement --------------------------------------------------------------------------


def measure(
    chosen: list[System], inputs: Inputs, counts: list[int], reps: int
) -> dict[str, dict[str, Any]]:
    """Warm up every (system, count), time ``reps`` interleaved repetitions, compare."""
    from tqdm.auto import tqdm

    fns = {}
    warm_s = {}
    for s in tqdm(chosen, desc="loading", unit="system"):
        start = time.perf_counter()
        fns[s.name] = s.build()
        note = getattr(fns[s.name], "load_note", None)
        if note:
            s.description += f" ({note})"
        for n in counts:  # warm-up: model load, first-call allocations, each shape once
            fns[s.name](inputs.queries[0], inputs.candidates[0][:n])
        warm_s[s.name] = time.perf_counter() - start
    outputs: dict[tuple[str, int], list[tuple[list[int], list[float] | None]]] = {}

    def call(name: str, n: int) -> Callable[[int], Any]:
        def run(rep: int) -> None:
            q = 1 + rep  # query 0 is the warm-up query
            outputs.setdefault((name, n), []).append(
                fns[name](inputs.queries[q], inputs.candidates[q][:n])
            )

        return run

    timed = {f"{s.name}@{n}": call(s.name, n) for s in chosen for n in counts}
    samples = interleaved(timed, reps)
    results: dict[str, dict[str, Any]] = {}
    for s in chosen:
        row: dict[str, Any] = {
            "kind": s.kind,
            "description": s.description,
            "load_and_warm_up_s": warm_s[s.name],
            "by_candidates": {},
        }
        for n in counts:
            point: dict[str, Any] = dict(latency_stats(samples[f"{s.name}@{n}"]))
            ref = outputs.get((REFERENCE, n))
            mine = outputs[(s.name, n)]
            if ref is not None and n >= TOP_K:
                agree = [topk_agreement(m[0], r[0], TOP_K) for m, r in zip(mine, ref, strict=True)]
                point["top10_agreement_mean"] = statistics.fmean(agree)
                point["top10_agreement_min"] = min(agree)
            if ref is not None and mine[0][1] is not None:
                drift, rel = 0.0, 0.0
                for (_, ms), (_, rs) in zip(mine, ref, strict=True):
                    assert ms is not None and rs is not None
                    d = max(abs(x - y) for x, y in zip(ms, rs, strict=True))
                    spread = max(rs) - min(rs)
                    drift, rel = max(drift, d), max(rel, d / spread if spread else 0.0)
                point["max_score_drift"] = drift
                point["max_score_drift_over_spread"] = rel
            row["by_candidates"][str(n)] = point
        results[s.name] = row
    return results


def cache_hits(model: str, inputs: Inputs, n: int, queries: int) -> dict[str, Any]:
    """`CachedScorer` over the bf16 scorer: a query's first call vs the same call again."""
    from ragrerank import CrossEncoderScorer, Reranker
    from ragrerank.composers.cache import CachedScorer

    rank = ranked(Reranker(CachedScorer(CrossEncoderScorer(model, dtype="bfloat16")), top_k=TOP_K))
    rank(inputs.queries[0], inputs.candidates[0][:n])  # warm-up
    miss, hit = [], []
    for q in range(1, 1 + queries):
        call = lambda q=q: rank(inputs.queries[q], inputs.candidates[q][:n])  # noqa: E731
        miss.append(time_ms(call))
        hit.append(time_ms(call))
    return {"candidates": n, "miss": latency_stats(miss), "hit": latency_stats(hit)}


def ratios(results: dict[str, dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    """p50 of each peer / p50 of each ragrerank setting, per candidate count."""
    peers = [n for n, r in results.items() if r["kind"] == "peer"]
    out: dict[str, Any] = {}
    for name, r in results.items():
        if r["kind"] != "ragrerank":
            continue
        out[name] = {
            peer: {
                str(n): results[peer]["by_candidates"][str(n)]["p50_ms"]
                / r["by_candidates"][str(n)]["p50_ms"]
                for n in counts
            }
            for peer in peers
        }
    return out


def target(name: str, m: dict[str, Any]) -> tuple[float, float]:
    """(speedup, agreement) a ragrerank setting must reach: the default's depends on the
    CPU (AMX or not), int8 settings have their own; any other setting gets the base bar."""
    if name == DEFAULT and "AMX-BF16" in (m.get("matrix_features") or []):
        return TARGET_SPEEDUP_AMX, TARGET_AGREEMENT
    if "int8" in name:
        return TARGET_SPEEDUP_INT8, TARGET_AGREEMENT_INT8
    return TARGET_SPEEDUP, TARGET_AGREEMENT


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """Does each ragrerank setting reach its target at the largest candidate count?"""
    n = str(max(report["inputs"]["candidates"]))
    out = {}
    for name, by_peer in report["ratios"].items():
        row = report["systems"][name]["by_candidates"][n]
        framework_peers = [p for p in by_peer if p in PEERS[:2]]
        speedup = min((by_peer[p][n] for p in framework_peers), default=None)
        agreement = row.get("top10_agreement_mean")
        want_speedup, want_agreement = target(name, report["machine"])
        out[name] = {
            "candidates": int(n),
            "min_speedup_vs_langchain_llamaindex": speedup,
            "top10_agreement_mean": agreement,
            "target_speedup": want_speedup,
            "target_agreement": want_agreement,
            "met": speedup is not None
            and speedup >= want_speedup
            and agreement is not None
            and agreement >= want_agreement,
        }
    return out


# -- output -------------------------------------------------------------------------------


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: p50 latency (band up to p95) against candidates per query, log scale, peers
    dashed. Right: each ragrerank setting's speedup over each peer at the largest count."""
    plt = pyplot()
    counts = report["inputs"]["candidates"]
    n = str(max(counts))
    names = list(report["ratios"])
    peers = list(next(iter(report["ratios"].values()))) if names else []
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(14, max(6.0, 0.3 * len(names) * len(peers) + 2.5))
    )
    colors = plt.get_cmap("tab20").colors
    markers = "osD^v<>Xph*"
    for k, (name, r) in enumerate(report["systems"].items()):
        pts = [r["by_candidates"][str(c)] for c in counts]
        style = "--" if r["kind"] == "peer" else "-"
        p50 = [p["p50_ms"] for p in pts]
        color = colors[(2 * k) % 20 + (2 * k) // 20]  # the strong shades first, then the light
        ax1.plot(counts, p50, style, marker=markers[k % len(markers)], color=color, label=name,
                 markerfacecolor="none" if k % 2 else color)  # fmt: skip
        ax1.fill_between(
            counts, p50, [p["p95_ms"] for p in pts], color=color, alpha=0.08, linewidth=0
        )
    ax1.set_xlabel("candidates per query")
    ax1.set_ylabel("ms per query, log scale (line: p50, band up to p95)")
    ax1.set_yscale("log")
    plain_log_ticks(ax1.yaxis, subs=(1, 2, 5))
    ax1.set_xticks(counts)
    ax1.set_title("Reranking latency vs candidates (dashed: peers)")
    legend_below(ax1, ncol=2, fontsize=7)
    rows = list(range(len(names)))
    height = 0.8 / max(1, len(peers))
    for j, peer in enumerate(peers):
        ys = [i + (j - (len(peers) - 1) / 2) * height for i in rows]
        values = [report["ratios"][s][peer][n] for s in names]
        bars = ax2.barh(ys, values, height, label=f"vs {peer}", color=f"C{j}")
        label_bars(ax2, bars, lambda v: f"{v:.2f}x")
    ax2.axvline(TARGET_SPEEDUP, color="red", ls=":", label=f"target {TARGET_SPEEDUP}x")
    if any("int8" in name for name in names):
        ax2.axvline(TARGET_SPEEDUP_INT8, color="purple", ls="-.",
                    label=f"int8 target {TARGET_SPEEDUP_INT8}x")  # fmt: skip
    ax2.axvline(1.0, color="black", lw=0.8, label="1x: as fast as the peer")
    ax2.set_yticks(rows, [wrap(s.replace("ragrerank ", ""), 26) for s in names], fontsize=8)
    ax2.invert_yaxis()
    top = max((v for by in report["ratios"].values() for p in by.values() for v in p.values()),
              default=TARGET_SPEEDUP)  # fmt: skip
    ax2.set_xlim(0, max(top, TARGET_SPEEDUP) * 1.15)
    ax2.set_xlabel(f"speedup at {n} candidates: peer p50 / ragrerank p50 (higher is faster)")
    ax2.set_title("ragrerank settings vs each peer")
    legend_below(ax2, ncol=2, fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def markdown(report: dict[str, Any]) -> str:
    inp = report["inputs"]
    counts = inp["candidates"]
    lines = [
        "# Cross-encoder reranking speed (same weights, same inputs, same process)",
        "",
    ]
    if report.get("quick"):
        lines += [QUICK_BANNER, ""]
    lines += [
        f"Model: `{report['model']}`. {inp['reps']} queries timed per point after a warm-up "
        f"at every point; systems interleaved (shuffled anew every repetition). Candidates: "
        f"SciFact test queries' bm25s top-{max(counts)} cut to {inp['tokens']} word pieces "
        f"(mean {inp['mean_tokens_per_candidate']:.0f}; queries {inp['mean_query_tokens']:.0f}); "
        f"every system returns its top {TOP_K}. Torch threads: "
        f"{report['machine'].get('torch_threads')}.",
        "",
        machine_line(report["machine"]),
        "",
    ]
    for n in counts:
        lines += [
            f"## {n} candidates",
            "",
            "| system | p50 ms | p95 ms | runs | top-10 agreement vs fp32 (mean / min) | "
            "max score drift (abs / of spread) |",
            "|---|---:|---:|---:|---|---|",
        ]
        for name, r in report["systems"].items():
            p = r["by_candidates"][str(n)]
            agree = (
                f"{p['top10_agreement_mean']:.3f} / {p['top10_agreement_min']:.2f}"
                if "top10_agreement_mean" in p
                else "-"
            )
            drift = (
                f"{p['max_score_drift']:.2g} / {p['max_score_drift_over_spread']:.1%}"
                if "max_score_drift" in p and name != REFERENCE
                else "-"
            )
            lines.append(
                f"| {name} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['runs']} | "
                f"{agree} | {drift} |"
            )
        lines.append("")
    peers = [p for p in PEERS if p in report["systems"]]
    lines += [
        "## Speedup (peer p50 / ragrerank p50)",
        "",
        "| ragrerank setting | "
        + " | ".join(f"vs {p} @ {n}" for p in peers for n in counts)
        + " |",
        "|---|" + "---:|" * (len(peers) * len(counts)),
    ]
    for name, by_peer in report["ratios"].items():
        cells = [f"{by_peer[p][str(n)]:.2f}x" for p in peers for n in counts]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Targets at {max(counts)} candidates, against the slower of the LangChain and "
        f"LlamaIndex ratios: the default >= {TARGET_SPEEDUP}x on AVX-512 BF16 CPUs and >= "
        f"{TARGET_SPEEDUP_AMX}x on AMX CPUs with top-10 agreement >= {TARGET_AGREEMENT}; the "
        f"best int8 setting >= {TARGET_SPEEDUP_INT8}x with agreement >= "
        f"{TARGET_AGREEMENT_INT8}; other settings are shown against {TARGET_SPEEDUP}x / "
        f"{TARGET_AGREEMENT}.",
        "",
    ]
    for name, v in report["verdict"].items():
        want = (
            f" (target {v['target_speedup']}x, {v['target_agreement']})"
            if "target_speedup" in v
            else ""
        )
        lines.append(
            f"- {name}: {fmt(v['min_speedup_vs_langchain_llamaindex'], '.2f')}x "
            f"(the slower of the two ratios), agreement "
            f"{fmt(v['top10_agreement_mean'])}{want}: **{'met' if v['met'] else 'not met'}**"
        )
    c = report["cache"]
    lines += [
        "",
        f"Score cache (`CachedScorer` over the bf16 scorer, {c['candidates']} candidates, "
        f"{c['miss']['runs']} queries): first call p50 {c['miss']['p50_ms']:.1f} ms, the same "
        f"(query, documents) again p50 {c['hit']['p50_ms']:.2f} ms. Only repeated pairs "
        "benefit (the same query over overlapping candidates, retries, pagination); the "
        "tables above use a new query every call.",
    ]
    lines += ["", "Systems:", ""]
    lines += [
        f"- **{name}**: {r['description']} (load + warm-up {r['load_and_warm_up_s']:.0f} s)"
        for name, r in report["systems"].items()
    ]
    lines += [
        "",
        "Agreement and drift are measured on the timed calls themselves. Drift is the largest "
        "|fast score - fp32 score| over all pairs (raw logits), and that difference over the "
        "query's fp32 score spread (max - min). Peers return only their top 10 (scores after "
        "sentence-transformers' sigmoid), so they get agreement but no drift.",
        "",
        "![latency vs candidates](speed.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="cross-encoder folder (default: MiniLM + seeded head)")
    parser.add_argument("--candidates", default="20,50,100", help="comma-separated counts")
    parser.add_argument("--reps", type=int, default=20, help="timed queries per point")
    parser.add_argument("--tokens", type=int, default=200, help="word pieces per candidate")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--cascade-tokens", type=int, default=64, help="cascade: cheap pass length")
    parser.add_argument("--cascade-keep", type=int, default=30, help="cascade: survivors")
    parser.add_argument("--cheap-model", help="also a cascade with this model as the cheap pass")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the torch.compile row (off with --quick)"
    )
    parser.add_argument("--systems", help="comma-separated substrings: run only matching systems")
    add_run_options(parser, "2 reps, 5 and 10 candidates of 64 tokens")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.quick:
        args.reps, args.candidates, args.tokens = 2, "5,10", 64
    counts = sorted({int(x) for x in args.candidates.split(",") if x.strip()})
    if not counts or counts[0] < 1 or args.reps < 1:
        parser.error("--candidates needs counts >= 1 and --reps >= 1")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.model:
        model = args.model
    else:
        from ragrerank.utils.local_models import minilm_cross_encoder

        model = minilm_cross_encoder()
    chosen = (
        systems(model)
        + cascade_systems(model, args.cascade_tokens, args.cascade_keep, args.cheap_model)
        + int8_systems(model)
    )
    if not (args.quick or args.no_compile):  # compiling takes tens of seconds
        chosen.append(compiled_system(model))
    inputs = load_inputs(model, args.data, args.reps + 1, max(counts), args.tokens)
    chosen.append(own_calibration_system(model, inputs))
    if args.systems:
        wanted = [w.strip().lower() for w in args.systems.split(",")]
        chosen = [s for s in chosen if any(w in s.name.lower() for w in wanted)]
        if REFERENCE not in [s.name for s in chosen]:  # agreement needs the fp32 reference
            chosen.insert(0, next(s for s in systems(model) if s.name == REFERENCE))
    results = measure(chosen, inputs, counts, args.reps)
    report: dict[str, Any] = {
        "machine": machine(*PACKAGES),
        "model": model if args.model else "all-MiniLM-L6-v2 body + seeded head (untrained)",
        "quick": args.quick,
        "inputs": {
            "candidates": counts,
            "reps": args.reps,
            "tokens": args.tokens,
            "mean_tokens_per_candidate": inputs.mean_tokens,
            "mean_query_tokens": inputs.mean_query_tokens,
            "top_k": TOP_K,
        },
        "systems": results,
    }
    report["cache"] = cache_hits(model, inputs, max(counts), min(3, args.reps))
    report["ratios"] = ratios(results, counts)
    report["verdict"] = verdict(report)
    write_results("speed", report, markdown(report), lambda p: plot(report, p), args.out)
    return report


if __name__ == "__main__":
    main()
