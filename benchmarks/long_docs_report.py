"""Markdown and plot of ``benchmarks.long_docs`` (``long_docs.md`` / ``long_docs.png``), also
used by ``python -m benchmarks.run --render-only``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import QUICK_BANNER, legend_below, machine_line, pyplot, save_figure

POSITIONS = ("start", "middle", "end")
CE_COMMAND = (
    "ragrerank train cross-encoder ... --out models/ce-minilm-scifact-deep (docs/training.md), "
    "then python -m benchmarks.long_docs --ce-model models/ce-minilm-scifact-deep"
)


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
            "Interleaved, "
            f"{next(iter(lat['by_chunks'].values()))['runs']} runs each; few runs, so "
            "indicative (the load average at start is on the machine line).",
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
        f"{m.get('load_average')} at start).",
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
            # Right of the p50 point, a little below: the p95 line runs just above it.
            ax2.annotate(f"{v:.0f}", (k, v), xytext=(7, -5), textcoords="offset points",
                         ha="left", va="center", fontsize=8)  # fmt: skip
        ax2.set_xticks(ks, [str(k) for k in ks])
        ax2.set_xlim(0, max(ks) * 1.15)  # room for the last point's label
        ax2.set_ylim(0, max(p95) * 1.15)
        ax2.set_xlabel("windows per document (240 tokens, stride 180)")
        ax2.set_ylabel("ms per query (p50 and p95)")
        ax2.set_title(f"ColBERT MaxP latency, {lat['candidates_per_query']} candidates, on the fly")
        legend_below(ax2, ncol=2, below=0.45)
    fig.tight_layout()
    save_figure(fig, path)
