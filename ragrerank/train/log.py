"""The record of a training run: ``<out>/train_log.json`` (settings, data, losses,
validation, machine) and its plot ``<out>/train_plot.png``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..utils.jsonio import write_json
from .config import TrainConfig, TrainResult
from .data import TrainingSet

__all__ = ["LOG_FILE", "PLOT_FILE", "plot_training", "write_log"]

LOG_FILE = "train_log.json"
PLOT_FILE = "train_plot.png"


def write_log(
    out: Path,
    result: TrainResult,
    config: TrainConfig,
    train: TrainingSet,
    val: TrainingSet | None,
    info: Mapping[str, Any] | None,
    start: float,
) -> None:
    from ..evaluation.report import machine_info

    data = {
        **dict(info or {}),
        "config": asdict(config),
        "precision": "bf16 autocast" if config.use_bf16 else "fp32",
        "train_source": train.source,
        "train_queries": len(train.examples),
        "train_pairs": sum(len(ex.positives) for ex in train.examples),
        "skipped_without_positive": train.skipped,
        "val_queries": 0 if val is None else len(val.examples),
        "val_query_ids": [] if val is None else [ex.query_id for ex in val.examples],
        "steps": result.steps or (result.losses[-1]["step"] if result.losses else 0),
        "wall_time_s": round(result.wall_time_s or time.perf_counter() - start, 1),
        "stopped_by": result.stopped_by,
        "best_step": result.best_step,
        "best_val_ndcg@10": result.best_ndcg10,
        "first_stage_val_ndcg@10": result.first_stage_ndcg10,
        "validation": result.validation,
        "losses": result.losses,
        "machine": machine_info(),
    }
    write_json(out / LOG_FILE, data, indent=1)


def plot_training(log_path: str | Path, png_path: str | Path) -> Path:
    """Loss (smoothed) and validation nDCG@10 against steps, from a ``train_log.json``."""
    from ..evaluation.report import pyplot

    log = json.loads(Path(log_path).read_text(encoding="utf-8"))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    losses = log.get("losses", [])
    if losses:
        steps = [x["step"] for x in losses]
        values = [x["loss"] for x in losses]
        window = max(1, len(values) // 20)
        smooth = [
            sum(values[max(0, i - window + 1) : i + 1])
            / len(values[max(0, i - window + 1) : i + 1])
            for i in range(len(values))
        ]
        ax.plot(steps, values, color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.plot(steps, smooth, color="tab:blue", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({log.get('config', {}).get('loss', '')})", color="tab:blue")
    val = log.get("validation", [])
    if val:
        ax2 = ax.twinx()
        ax2.plot([x["step"] for x in val], [x["ndcg@10"] for x in val], "o-",
                 color="tab:orange", label="val nDCG@10")  # fmt: skip
        baseline = log.get("first_stage_val_ndcg@10")
        if baseline is not None:
            ax2.axhline(baseline, color="tab:gray", ls=":", label="first stage (val)")
        ax2.set_ylabel("validation nDCG@10", color="tab:orange")
    ax.set_title(f"{log.get('kind', 'training')}: {Path(log_path).parent.name}")
    fig.tight_layout()
    png = Path(png_path)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
