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

from benchmarks.common import (
    ROOT,
    fmt,
    label_bars,
    legend_below,
    machine,
    machine_line,
    portable_command,
    portable_path,
    pyplot,
    save_figure,
    timed,
    write_results,
)

MODELS = ROOT / "models"
FIRST_STAGES = ("bm25", "hybrid")

# name -> (folder under models/, backend)
SYSTEMS = {
    "CE fine-tuned (MiniLM, 6 layers)": ("ce-minilm-scifact", "cross-encoder"),
    "CE fine-tuned, deep negatives (MiniLM, 6 layers)": ("ce-minilm-scifact-deep", "cross-encoder"),
    # The CE above, then the real training queries only, the checkpoint chosen on validation.
    "CE, then real queries (MiniLM, 6 layers)": ("ce-minilm-scifact-real", "cross-encoder"),
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
    """Left: test nDCG@10 per system (horizontal bars from 0, values written on them; one
    colour per system, as in the right panel). Right: each run's validation curve."""
    plt = pyplot()
    from matplotlib.patches import Patch

    stages = report["first_stages"]
    names = list(report["quality"][stages[0]])
    colors = {n: f"C{k}" for k, n in enumerate(n for n in names if n != "first stage")}
    colors["first stage"] = "grey"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.45 * len(names) * len(stages) + 3.5))
    height = 0.8 / len(stages)
    rows = list(range(len(names)))
    hatches = [("", "//", "..", "xx", "\\\\")[k % 5] for k in range(len(stages))]
    for k, stage in enumerate(stages):
        values = [report["quality"][stage].get(n, {}).get("nDCG@10", 0.0) for n in names]
        ys = [i + (k - (len(stages) - 1) / 2) * height for i in rows]
        bars = ax1.barh(ys, values, height, color=[colors[n] for n in names],
                        hatch=hatches[k], edgecolor="white")  # fmt: skip
        label_bars(ax1, bars, ".3f", fontsize=8)
    labels = ["first stage alone\n(no reranking)" if n == "first stage" else n for n in names]
    ax1.set_yticks(rows, [n.replace(" (", "\n(") for n in labels], fontsize=8)
    ax1.invert_yaxis()
    handles: list[Any] = [
        ax1.axvline(
            0.74, color="black", linestyle="--", linewidth=0.8, label="target: nDCG@10 0.74"
        )
    ]
    if len(stages) > 1:  # bars are coloured by system; the hatch tells the first stage
        handles += [
            Patch(facecolor="lightgrey", hatch=h, edgecolor="white", label=f"reranking {s} top-100")
            for s, h in zip(stages, hatches, strict=False)
        ]
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("nDCG@10 (SciFact test, 300 queries)")
    ax1.set_title(f"Test quality, reranking the {' / '.join(stages)} top-100")
    legend_below(ax1, ncol=len(handles), handles=handles)
    for name, info in report["training"].items():
        val = info.get("validation") or []
        if not val:
            continue
        steps, ndcg = [v["step"] for v in val], [v["ndcg@10"] for v in val]
        best = max(range(len(val)), key=lambda i: ndcg[i])
        label = f"{name}: best {ndcg[best]:.3f} at step {steps[best]}"
        ax2.plot(steps, ndcg, "o-", color=colors.get(name, "black"), label=label)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("validation nDCG@10 (held-out train queries)")
    ax2.set_title("Validation during training (not comparable to test)")
    legend_below(ax2, ncol=1)
    fig.tight_layout()
    save_figure(fig, path)


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
        command = portable_command(str(t["command"]))  # no machine paths in a report
        lines += [f"- {name}{after}:", "", "  ```", f"  {command}", "  ```"]
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
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.evaluation.first_stage import first_stage_run
    from ragrerank.evaluation.runner import evaluate

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
        # Recorded as typed on the training machine; the report reads from the repo root.
        for key, portable in (("command", portable_command), ("base_model", portable_path)):
            if isinstance(training[name][key], str):
                training[name][key] = portable(training[name][key])
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
