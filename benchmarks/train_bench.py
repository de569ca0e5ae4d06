"""Trained rerankers on SciFact test: quality over BM25 / hybrid top-100, speed, training cost.

Run: ``python -m benchmarks.train_bench`` (writes benchmarks/results/training.{md,json,png}).
Models are the folders written by ``ragrerank train`` (see docs/training.md for the exact
commands; each folder's ``train_log.json`` holds its command, wall time and validation
curve). Missing model folders are skipped. Only the test split is used here; training
used the train split (validation: held-out train queries).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, fmt, machine, machine_line, pyplot, timed, write_results

MODELS = ROOT / "models"
FIRST_STAGES = ("bm25", "hybrid")

# name -> (folder under models/, backend)
SYSTEMS = {
    "CE fine-tuned (MiniLM, 6 layers)": ("ce-minilm-scifact", "cross-encoder"),
    "CE fine-tuned, deep negatives (MiniLM, 6 layers)": ("ce-minilm-scifact-deep", "cross-encoder"),
    "ColBERT fine-tuned (MiniLM, 128-d)": ("colbert-minilm-scifact", "colbert"),
    "CE student (3 layers, distilled)": ("ce-student-l3-scifact", "cross-encoder"),
}


def load_scorer(path: Path, backend: str, log: dict[str, Any]) -> Any:
    from ragrerank import ColBERTScorer, CrossEncoderScorer

    if backend == "colbert":
        # A large in-process cache: each document is encoded once, as with stored vectors.
        return ColBERTScorer(path, device="cpu", cache_max_bytes=4 << 30)
    return CrossEncoderScorer(
        path, device="cpu", dtype="bfloat16", max_length=int(log["config"]["max_length"])
    )


def speed(
    scorers: dict[str, Any], backends: dict[str, str], ds: Any, runs: dict[str, list[Any]], n: int
) -> dict[str, Any]:
    """p50 ms to score 100 candidates per query; ColBERT with stored vectors (metadata)."""
    from ragrerank import Candidate

    qids = list(runs)[: n + 1]
    texts = [ds.queries[q] for q in qids]
    out: dict[str, Any] = {}
    for name, scorer in scorers.items():
        cands = {ds.queries[q]: runs[q] for q in qids}
        label = name
        if backends[name] == "colbert":
            label = f"{name}, stored vectors"
            for text, cs in cands.items():
                vectors = scorer.encode_documents([c.text for c in cs])
                cands[text] = [
                    Candidate(c.text, id=c.id, metadata={"colbert_vectors": v})
                    for c, v in zip(cs, vectors, strict=True)
                ]
        out[label] = timed(lambda t, s=scorer, c=cands: s.score_candidates(t, c[t]), texts)
    return out


def distillation(report: dict[str, Any], student: str) -> dict[str, Any]:
    """The student's validation and test quality and speed next to its teacher's (the
    system whose model folder the teacher was loaded from, when it was benchmarked too)."""
    t = report["training"][student]
    out: dict[str, Any] = {
        "teacher": t["teacher"],
        "teacher_val": t["teacher_val_ndcg@10"],
        "student_val": t["best_val_ndcg@10"],
    }
    folders = {name: folder for name, (folder, _) in SYSTEMS.items()}
    # The teacher is recorded by name, e.g. "CrossEncoderScorer(models/ce-minilm-scifact)".
    inner = re.search(r"\(([^()]*)\)\s*$", str(t["teacher"]))
    teacher_folder = Path(inner.group(1) if inner else str(t["teacher"])).name
    teachers = [n for n in report["training"] if n != student and folders[n] == teacher_folder]
    if not teachers:
        return out
    teacher, stage = teachers[0], report["first_stages"][0]
    quality = report["quality"][stage]
    out["teacher_system"] = teacher
    out["teacher_test"] = quality[teacher]["nDCG@10"]
    out["student_test"] = quality[student]["nDCG@10"]
    out["quality_kept"] = out["student_test"] / out["teacher_test"]
    out["teacher_p50_ms"] = report["speed"][teacher]["p50_ms"]
    out["student_p50_ms"] = report["speed"][student]["p50_ms"]
    out["speedup"] = out["teacher_p50_ms"] / out["student_p50_ms"]
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    stages = report["first_stages"]
    names = list(report["quality"][stages[0]])
    width = 0.8 / len(stages)
    for k, stage in enumerate(stages):
        values = [report["quality"][stage].get(n, {}).get("nDCG@10", 0.0) for n in names]
        xs = [i + (k - (len(stages) - 1) / 2) * width for i in range(len(names))]
        bars = ax1.bar(xs, values, width, label=f"{stage} top-100")
        ax1.bar_label(bars, fmt="%.3f", fontsize=7)
    ax1.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    ax1.axhline(0.74, color="grey", linestyle="--", linewidth=0.8, label="target 0.74")
    ax1.set_ylim(0.5, 0.85)
    ax1.set_ylabel("nDCG@10 (SciFact test, 300 queries)")
    ax1.legend(fontsize=8)
    for name, info in report["training"].items():
        val = info.get("validation", [])
        if val:
            ax2.plot([v["step"] for v in val], [v["ndcg@10"] for v in val], "o-", label=name)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("validation nDCG@10 (held-out train queries)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(report: dict[str, Any]) -> str:
    stages = report["first_stages"]
    lines = [
        "# Training on SciFact: fine-tuned and distilled rerankers",
        "",
        machine_line(report["machine"]),
        "",
        "Trained on the SciFact **train** split only (validation: held-out train queries); "
        "evaluated on the 300 **test** queries, reranking the first stage's top 100.",
        "",
        "## Quality (nDCG@10, test)",
        "",
        "| system | " + " | ".join(f"{s} top-100" for s in stages) + " | best val nDCG@10 |",
        "| --- | " + " | ".join("---:" for _ in stages) + " | ---: |",
    ]
    names = list(report["quality"][stages[0]])
    for name in names:
        cells = [f"{report['quality'][s].get(name, {}).get('nDCG@10', float('nan')):.4f}"
                 for s in stages]  # fmt: skip
        val = report["training"].get(name, {}).get("best_val_ndcg@10")
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {'-' if val is None else f'{val:.4f}'} |"
        )
    lines += [
        "",
        "First-stage rows are the candidates before reranking. Validation nDCG@10 reranks each "
        "held-out query's mined candidates (`--mine-depth` of its command) plus its positives, "
        "so it is not comparable to test; the first stage's own validation nDCG@10 on the same "
        "candidates is in the training table.",
        "",
        "## Speed: scoring 100 candidates per query (p50 ms)",
        "",
        "| system | p50 ms | p95 ms | runs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, t in report["speed"].items():
        lines.append(f"| {name} | {t['p50_ms']:.0f} | {t['p95_ms']:.0f} | {t['runs']} |")
    lines += [
        "",
        "Cross-encoders run in bfloat16 at their training length; ColBERT encodes only the "
        "query (document vectors stored beforehand, passed in `Candidate.metadata`).",
        "",
        "## Training runs",
        "",
        "| model | kind | steps | stopped by | train wall time | mining | parameters "
        "| first stage val | best val |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in report["training"].items():
        fs_val = t.get("first_stage_val_ndcg@10")
        lines.append(
            f"| {name} | {t['kind']} | {t['steps']} | {t['stopped_by']} | "
            f"{t['wall_time_s'] / 60:.1f} min | {t.get('mining_s', 0) / 60:.1f} min | "
            f"{t.get('parameters', 0) / 1e6:.1f} M | {fmt(fs_val, '.4f')} | "
            f"{fmt(t.get('best_val_ndcg@10'), '.4f')} |"
        )
    lines += ["", "Reproduce (from the repository root; mining and teacher scores are cached):", ""]
    for name, t in report["training"].items():
        base = str(t.get("base_model", ""))
        after = f" (base `{base}`, trained first)" if base.startswith("models/") else ""
        lines += [f"- {name}{after}:", "", "  ```", f"  {t['command']}", "  ```"]
    if report.get("distillation"):
        d = report["distillation"]
        lines += [
            "",
            "## Distillation",
            "",
            f"Teacher: {d['teacher']} (validation nDCG@10 {d['teacher_val']:.4f}); student "
            f"validation nDCG@10 {d['student_val']:.4f}.",
        ]
        if d.get("teacher_system"):
            lines += [
                "",
                f"On test ({stages[0]} top-100): the student keeps "
                f"{d['quality_kept']:.1%} of the teacher's nDCG@10 "
                f"({d['student_test']:.4f} vs {d['teacher_test']:.4f}) and scores 100 "
                f"candidates {d['speedup']:.2f}x faster (p50 {d['student_p50_ms']:.0f} ms vs "
                f"{d['teacher_p50_ms']:.0f} ms).",
            ]
    lines += ["", "![quality and validation curves](training.png)", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(MODELS), help="folder holding the model folders")
    parser.add_argument("--speed-queries", type=int, default=5)
    parser.add_argument(
        "--first-stages", default=",".join(FIRST_STAGES), help="comma-separated: bm25,hybrid"
    )
    parser.add_argument("--systems", help="comma-separated model folder names (default: all)")
    parser.add_argument("--out", help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ragrerank.datasets import load_beir
    from ragrerank.evaluate import evaluate, first_stage_run

    started = time.perf_counter()
    ds = load_beir("scifact", "test")
    scorers: dict[str, Any] = {}
    backends: dict[str, str] = {}
    training: dict[str, Any] = {}
    wanted = set(args.systems.split(",")) if args.systems else None
    stages = [s for s in args.first_stages.split(",") if s]
    for name, (folder, backend) in SYSTEMS.items():
        if wanted is not None and folder not in wanted:
            continue
        path = Path(args.models) / folder
        log_path = path / "train_log.json"
        if not log_path.is_file():
            print(f"skipped {name}: no {log_path}")
            continue
        log = json.loads(log_path.read_text())
        scorers[name] = load_scorer(path, backend, log)
        backends[name] = backend
        keep = ("kind", "steps", "stopped_by", "wall_time_s", "mining_s", "parameters",
                "best_step", "best_val_ndcg@10", "validation", "command", "config",
                "teacher", "teacher_val_ndcg@10", "num_layers", "base_model",
                "first_stage_val_ndcg@10")  # fmt: skip
        training[name] = {k: log.get(k) for k in keep}
    report: dict[str, Any] = {
        "machine": machine(),
        "first_stages": stages,
        "quality": {},
        "training": training,
    }
    for stage in stages:
        result = evaluate(ds, scorers, split="test", first_stage=stage, candidates=100,
                          latency_queries=0)  # fmt: skip
        report["quality"][stage] = {
            name.replace(f"first stage ({stage})", "first stage"): dict(s.metrics)
            for name, s in result.systems.items()
        }
    runs = first_stage_run(ds, "test", stages[0], 100, show_progress=False)
    report["speed"] = speed(scorers, backends, ds, runs, args.speed_queries)
    students = [n for n, t in training.items() if t.get("teacher_val_ndcg@10") is not None]
    if students:
        report["distillation"] = distillation(report, students[0])
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    write_results("training", report, markdown(report), lambda p: plot(report, p), args.out)


if __name__ == "__main__":
    main()
