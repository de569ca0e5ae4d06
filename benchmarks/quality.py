"""Reranking quality on SciFact test: first stages and rerankers, next to published anchors.

Run: ``python -m benchmarks.quality`` (writes benchmarks/results/quality.{md,json,png});
``--quick`` is a smoke run (2 queries over a 100-document subset, depth 20).

First stages (Qdrant embedded, top 100): BM25, dense (all-MiniLM-L6-v2), hybrid (RRF).
The rerankers of ``benchmarks/configs/scifact.toml`` (optional models are skipped until
they exist) rerank the top 100 of the best first stage: the one with the highest R@100
(the ceiling of any reranker on its candidates), nDCG@10 breaking ties. Everything goes
through `ragrerank.evaluation.runner.evaluate`, whose caches (first-stage runs, the Qdrant index,
reranker scores; ``--cache``, default ``~/.cache/ragrerank/eval``) make reruns cheap: only
new or retrained rerankers are scored again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from benchmarks.common import (
    QUICK_BANNER,
    ROOT,
    add_run_options,
    label_bars,
    legend_below,
    machine,
    machine_line,
    pyplot,
    save_figure,
    wrap,
    write_results,
)

CONFIG = ROOT / "benchmarks" / "configs" / "scifact.toml"
FIRST_STAGES = ("bm25", "dense", "hybrid")
# Published SciFact test nDCG@10 (BM25 top-100 for the reranker rows), for context: other
# implementations, models and first stages, so they bracket rather than match our rows.
ANCHORS = {
    "BM25 (BEIR paper, Anserini)": 0.665,
    "BM25 + CE ms-marco-MiniLM-L-6-v2, top 100 (BEIR paper)": 0.688,
    "ColBERTv2 (Santhanam et al. 2022)": 0.693,
}


def pick_first_stage(stages: dict[str, dict[str, float]]) -> str:
    """The first stage with the highest R@100, then nDCG@10."""
    return max(stages, key=lambda s: (round(stages[s]["R@100"], 6), stages[s]["nDCG@10"]))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragrerank.evaluation.config import load_rerankers
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.evaluation.runner import evaluate

    ds = load_beir("scifact", "test", path=args.data)
    if args.quick:
        ds = ds.subset(2, 100)
    query_ids = list(ds.queries)[: args.queries] if args.queries else None
    common: dict[str, Any] = {
        "candidates": args.candidates,
        "query_ids": query_ids,
        "cache_dir": args.cache,
        "dense_model": args.dense_model,
        "show_progress": not args.no_progress,
    }
    stages: dict[str, dict[str, Any]] = {}
    for stage in args.first_stages:
        report = evaluate(ds, {}, first_stage=stage, latency_queries=0, **common)
        stages[stage] = dict(report.systems[report.first_stage_name].metrics)
    best = args.rerank_first_stage or pick_first_stage(stages)
    rerankers = load_rerankers(args.config)
    report = evaluate(
        ds,
        rerankers,
        first_stage=best,
        latency_queries=args.latency_queries,
        **common,
    )
    systems: dict[str, Any] = {}
    for name, r in report.systems.items():
        if name == report.first_stage_name:
            continue
        systems[name] = {
            "first_stage": best,
            "metrics": r.metrics,
            "first_stage_R@100": stages.get(best, {}).get("R@100", r.metrics["R@100"]),
            "lift_at_3": r.lift_at_3,
            "wins": r.wins,
            "losses": r.losses,
            "ties": r.ties,
            "latency_ms": r.latency_ms,
        }
    skipped = [spec_name for spec_name in _config_names(args.config) if spec_name not in rerankers]
    return {
        "machine": machine("qdrant-client", "sentence-transformers", "ir-measures"),
        "quick": args.quick,
        "dataset": "scifact",
        "split": "test",
        "n_queries": report.n_queries,
        "n_docs": len(ds.corpus),
        "candidates": args.candidates,
        "config": _display_path(args.config),
        "first_stages": stages,
        "rerank_first_stage": best,
        "rerankers": systems,
        "skipped_optional": skipped,
        "anchors": ANCHORS,
        "evaluation": report.to_dict(),
    }


def _config_names(path: str | Path) -> list[str]:
    from ragrerank.evaluation.config import load_config

    return [s.name for s in load_config(path)]


def _display_path(path: str | Path) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def markdown(report: dict[str, Any]) -> str:
    depth = report["candidates"]
    best = report["rerank_first_stage"]
    lines = ["# Reranking quality: SciFact test", ""]
    if report.get("quick"):
        lines += [QUICK_BANNER, ""]
    lines += [
        f"{report['n_queries']} queries, {report['n_docs']} documents. First stages: Qdrant "
        f"embedded, top {depth}. Rerankers ({report['config']}) rerank the top {depth} of the "
        f"first stage with the highest R@{depth} (**{best}**). Metrics by ir_measures. "
        "Command: `python -m benchmarks.quality`.",
        "",
        f"| system | nDCG@10 | R@{depth} of its first stage | lift@3 | W/L/T vs first stage "
        "| p50 ms / query |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for stage, m in report["first_stages"].items():
        lines.append(
            f"| first stage: {stage} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} | - | - | - |"
        )
    for name, r in report["rerankers"].items():
        lat = r["latency_ms"] or {}
        p50 = f"{lat['p50']:.0f}" if "p50" in lat else "-"
        lines.append(
            f"| {best} + {name} | {r['metrics']['nDCG@10']:.4f} | {r['first_stage_R@100']:.4f} | "
            f"{r['lift_at_3']:+.4f} | {r['wins']}/{r['losses']}/{r['ties']} | {p50} |"
        )
    lines += ["", "Published anchors (SciFact test nDCG@10):", ""]
    lines += [f"- {name}: {value:.3f}" for name, value in report["anchors"].items()]
    if report["skipped_optional"]:
        lines += [
            "",
            "Not run (optional models not trained yet): "
            + ", ".join(report["skipped_optional"])
            + ".",
        ]
    lines += [
        "",
        f"R@{depth} is the recall of the reranked candidate list: reranking only reorders it, "
        "so it caps what any reranker can reach. lift@3 = nDCG@3 minus the first stage's; "
        "W/L/T counts queries whose nDCG@10 rose / fell / stayed. Latency is scoring time per "
        f"query for {depth} candidates, measured while scoring (cached scores keep their "
        "original time), on a shared machine: see speed.md for controlled timings. The "
        "anchors come from other implementations (Anserini BM25, the original ColBERTv2), so "
        "they bracket rather than reproduce our rows.",
        "",
        machine_line(report["machine"]),
        "",
        "![quality](quality.png)",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """nDCG@10 of every first stage and reranker, with the R@depth of the candidates it
    ranks (its ceiling), from 0, values written; published anchors as reference lines."""
    plt = pyplot()
    best = report["rerank_first_stage"]
    depth = report["candidates"]
    labels = [f"first stage: {s}" for s in report["first_stages"]]
    ndcg = [m["nDCG@10"] for m in report["first_stages"].values()]
    recall = [m["R@100"] for m in report["first_stages"].values()]
    for name, r in report["rerankers"].items():
        labels.append(f"{best} + {name}")
        ndcg.append(r["metrics"]["nDCG@10"])
        recall.append(r["first_stage_R@100"])
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(labels) + 2.5))
    rows = list(range(len(labels)))
    bars = ax.barh([y - 0.2 for y in rows], ndcg, 0.4, label="nDCG@10")
    label_bars(ax, bars, ".3f")
    bars = ax.barh([y + 0.2 for y in rows], recall, 0.4, alpha=0.5,
                   label=f"R@{depth} of the candidates (what reranking can reach)")  # fmt: skip
    label_bars(ax, bars, ".3f")
    if report["rerankers"]:  # first stages above the line, rerankers of `best` below
        ax.axhline(len(report["first_stages"]) - 0.5, color="black", lw=0.6)
    styles = ("--", ":", "-.")
    for k, (name, value) in enumerate(report["anchors"].items()):
        ax.axvline(value, color=f"C{k + 2}", ls=styles[k % 3], lw=1, label=f"{name}: {value}")
    ax.set_yticks(rows, [wrap(label, 56) for label in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel(f"SciFact test, {report['n_queries']} queries")
    ax.set_title(
        f"Reranking quality: {best} top {depth} reranked (published anchors: vertical lines)"
    )
    legend_below(ax, ncol=2, fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(CONFIG), help="reranker config (TOML/JSON)")
    parser.add_argument("--candidates", type=int, default=100, help="first-stage depth")
    parser.add_argument("--queries", type=int, help="only the first N queries")
    parser.add_argument(
        "--first-stages", default=",".join(FIRST_STAGES), help="comma-separated first stages"
    )
    parser.add_argument("--rerank-first-stage", help="rerank this first stage (default: best)")
    parser.add_argument("--cache", help="evaluate's cache folder (default ~/.cache/ragrerank/eval)")
    parser.add_argument("--dense-model", help="dense first-stage model (default all-MiniLM-L6-v2)")
    parser.add_argument("--latency-queries", type=int, default=0, help="latency sweep queries")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_run_options(parser, "2 queries, 100 documents, depth 20")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args.first_stages = [s.strip() for s in args.first_stages.split(",") if s.strip()]
    if args.quick:
        args.candidates = min(args.candidates, 20)
    report = run(args)
    write_results("quality", report, markdown(report), lambda p: plot(report, p), args.out)
    return report


if __name__ == "__main__":
    main()
