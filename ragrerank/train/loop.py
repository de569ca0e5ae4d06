"""The training loop shared by every trainer: sampling, AdamW + warmup, bf16 autocast,
validation nDCG@10 on held-out queries, best-checkpoint saving, log file and plot."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import require
from ..utils.jsonio import write_json
from .data import TrainingExample, TrainingSet

if TYPE_CHECKING:
    import torch

__all__ = [
    "Sample",
    "TrainConfig",
    "TrainResult",
    "fill_negatives",
    "first_stage_ndcg10",
    "fit",
    "ndcg10",
    "plot_training",
    "validate",
]

logger = logging.getLogger(__name__)

LOG_FILE = "train_log.json"
PLOT_FILE = "train_plot.png"
LOSSES = ("listwise", "pairwise", "bce", "margin_mse")


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by the trainers.

    Args:
        loss: ``"listwise"`` (softmax cross-entropy, positive vs. its negatives),
            ``"pairwise"`` (logistic loss on positive-negative score differences),
            ``"bce"`` (pointwise) or ``"margin_mse"`` (distillation, needs teacher scores).
        epochs: passes over the training (query, positive) pairs.
        batch_size: queries per optimizer step.
        negatives: negatives per query and step, sampled from its mined list.
        lr: peak learning rate (AdamW), reached after ``warmup`` x total steps, then linear
            decay to 0 at the end (the end is re-estimated from ``time_budget_min``).
        max_length: tokens per (query, document) pair; documents are truncated.
        bf16: bfloat16 autocast (fast on CPUs with AMX / AVX-512 BF16); weights stay fp32.
        eval_every: validate every N steps as well as after each epoch (0: epochs only).
        max_steps: stop after this many steps.
        time_budget_min: stop (and validate) when this much wall time has passed.
        seed: seeds torch, numpy and the sampler; a rerun repeats the run.
    """

    loss: str = "listwise"
    epochs: int = 1
    batch_size: int = 16
    negatives: int = 7
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = 256
    bf16: bool = True
    eval_every: int = 0
    max_steps: int | None = None
    time_budget_min: float | None = None
    grad_clip: float = 1.0
    seed: int = 0
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "negatives", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup!r}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps!r}")
        if self.time_budget_min is not None and not self.time_budget_min > 0:
            raise ValueError(f"time_budget_min must be > 0, got {self.time_budget_min!r}")


@dataclass(frozen=True)
class Sample:
    """One query's training group: ``texts[0]`` is the positive, the rest negatives."""

    query: str
    texts: tuple[str, ...]
    teacher: tuple[float, ...] | None = None


class Task(Protocol):
    """What a trainer plugs into `fit`."""

    def named_parameters(self) -> Any: ...

    def train_mode(self, on: bool) -> None: ...

    def loss(self, samples: Sequence[Sample], loss: str) -> torch.Tensor: ...

    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...

    def save(self, out: Path) -> None: ...


@dataclass
class TrainResult:
    """What `fit` did; the same facts are in ``<out>/train_log.json``."""

    out: Path
    steps: int
    wall_time_s: float
    best_step: int | None
    best_ndcg10: float | None
    first_stage_ndcg10: float | None = None
    losses: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "epochs"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fill_negatives(data: TrainingSet, n: int, seed: int = 0) -> TrainingSet:
    """Pad each example's negatives to at least ``n`` with random corpus documents.

    Random documents never include the query's judged positives. Deterministic for a seed.
    Raises `ValueError` when the corpus has no document that could be a negative.
    """
    rng = random.Random(seed)
    ids = sorted(data.dataset.corpus)
    examples = []
    for ex in data.examples:
        if len(ex.negatives) >= n:
            examples.append(ex)
            continue
        banned = {*ex.positives, *ex.negatives}
        banned.update(d for d, r in data.dataset.qrels.get(ex.query_id, {}).items() if r > 0)
        pool = [d for d in ids if d not in banned]
        if not pool and not ex.negatives:
            raise ValueError(
                f"query {ex.query_id!r}: no negative documents (the corpus holds only its "
                "positives); add negatives or a larger corpus"
            )
        extra = rng.sample(pool, min(len(pool), n - len(ex.negatives)))
        examples.append(replace(ex, negatives=(*ex.negatives, *extra)))
    return data.with_examples(examples)


def _pairs(data: TrainingSet) -> list[tuple[TrainingExample, str]]:
    return [(ex, p) for ex in data.examples for p in ex.positives]


def _sample(
    ex: TrainingExample,
    positive: str,
    data: TrainingSet,
    n: int,
    rng: random.Random,
    teacher: Mapping[str, Mapping[str, float]] | None,
) -> Sample:
    negs = list(ex.negatives)
    chosen = rng.sample(negs, n) if len(negs) >= n else [*negs, *rng.choices(negs, k=n - len(negs))]
    ids = [positive, *chosen]
    scores = None
    if teacher is not None:
        table = teacher[ex.query_id]
        scores = tuple(float(table[d]) for d in ids)
    return Sample(ex.query, tuple(data.text(d) for d in ids), scores)


def ndcg10(val: TrainingSet, run: Mapping[str, Mapping[str, float]]) -> float:
    """Mean nDCG@10 (ir_measures) of ``run`` (``{query id: {doc id: score}}``) on ``val``."""
    ir_measures: Any = require("ir_measures", "eval")
    measure = ir_measures.parse_measure("nDCG@10")
    return float(ir_measures.calc_aggregate([measure], val.qrels(), run)[measure])


def first_stage_ndcg10(val: TrainingSet) -> float | None:
    """nDCG@10 of the first stage's own order over the validation candidates (what a
    reranker must beat); None unless every validation query carries its mined ranking.
    Candidates the first stage did not return (inserted positives) rank last, in the
    relevance-blind order of `TrainingExample.ranked_candidate_ids`."""
    if not val.examples or not all(ex.first_stage for ex in val.examples):
        return None
    run = {
        ex.query_id: {d: -float(i) for i, d in enumerate(ex.ranked_candidate_ids())}
        for ex in val.examples
    }
    return ndcg10(val, run)


def validate(task: Task, val: TrainingSet, *, show_progress: bool = False) -> float:
    """Mean nDCG@10 of ``task`` reranking each validation query's positives plus its
    mined negatives (the positives are always among the candidates)."""
    from tqdm.auto import tqdm

    task.train_mode(False)
    run: dict[str, dict[str, float]] = {}
    for ex in tqdm(val.examples, desc="validation", unit="q", leave=False,
                   disable=not show_progress):  # fmt: skip
        ids = ex.candidate_ids()
        scores = task.score(ex.query, [val.text(d) for d in ids])
        run[ex.query_id] = dict(zip(ids, scores, strict=True))
    return ndcg10(val, run)


def fit(
    task: Task,
    train: TrainingSet,
    val: TrainingSet | None,
    out: str | Path,
    config: TrainConfig,
    *,
    info: Mapping[str, Any] | None = None,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
) -> TrainResult:
    """Train ``task`` on ``train``; validate on ``val`` and keep the best checkpoint in ``out``.

    Without ``val`` the last model is saved. ``info`` is stored in the log file.
    """
    import torch
    from tqdm.auto import tqdm

    if config.loss == "margin_mse" and teacher is None:
        raise ValueError("loss 'margin_mse' needs teacher scores (see ragrerank.train.distill)")
    missing = [ex.query_id for ex in train.examples if not ex.negatives]
    if missing:
        raise ValueError(
            f"{len(missing)} training queries have no negatives (e.g. {missing[0]!r}); "
            "mine them first (mine_negatives) or pad them (fill_negatives)"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    rng = random.Random(config.seed)
    pairs = _pairs(train)
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    planned = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        planned = min(planned, config.max_steps)
    budget = None if config.time_budget_min is None else config.time_budget_min * 60.0
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in task.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16)
    start = time.perf_counter()
    result = TrainResult(out, 0, 0.0, None, None)
    val_seconds = 0.0

    def run_validation(step: int, epoch: float) -> None:
        nonlocal val_seconds
        if val is None:
            return
        t0 = time.perf_counter()
        with autocast:
            ndcg = validate(task, val, show_progress=config.show_progress)
        val_seconds = time.perf_counter() - t0
        result.validation.append({"step": step, "epoch": round(epoch, 3), "ndcg@10": ndcg})
        improved = result.best_ndcg10 is None or ndcg > result.best_ndcg10
        if improved:
            result.best_ndcg10, result.best_step = ndcg, step
            task.save(out)
        logger.info(
            "step %d (epoch %.2f): val nDCG@10 %.4f%s (%.0fs)",
            step,
            epoch,
            ndcg,
            " best, saved" if improved else "",
            val_seconds,
        )
        _write_log(out, result, config, train, val, info, start)

    if val is not None:
        result.first_stage_ndcg10 = first_stage_ndcg10(val)
        if result.first_stage_ndcg10 is not None:
            logger.info(
                "first stage's own val nDCG@10 %.4f (the baseline to beat)",
                result.first_stage_ndcg10,
            )
    run_validation(0, 0.0)
    step = 0
    stop = False
    bar = tqdm(total=planned, desc=f"training ({config.loss})", unit="step",
               disable=not config.show_progress)  # fmt: skip
    for epoch in range(config.epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for b in range(steps_per_epoch):
            batch = [pairs[i] for i in order[b * config.batch_size : (b + 1) * config.batch_size]]
            samples = [_sample(ex, pos, train, config.negatives, rng, teacher) for ex, pos in batch]
            total = _estimated_total(
                planned, step, time.perf_counter() - start, budget, val_seconds
            )
            lr = config.lr * _lr_factor(step, total, config.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            task.train_mode(True)
            with autocast:
                loss = task.loss(samples, config.loss)
            loss.backward()  # type: ignore[no-untyped-call]
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(
                    [p for g in optimizer.param_groups for p in g["params"]], config.grad_clip
                )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = float(loss.detach().float())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {step}; lower the lr")
            result.losses.append({"step": step, "loss": value, "lr": lr})
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", best=_fmt(result.best_ndcg10))
            elapsed = time.perf_counter() - start
            if config.max_steps is not None and step >= config.max_steps:
                result.stopped_by, stop = "max_steps", True
            elif budget is not None and elapsed + val_seconds >= budget:
                result.stopped_by, stop = "time_budget", True
            if stop:
                break
            if config.eval_every and step % config.eval_every == 0 and b != steps_per_epoch - 1:
                run_validation(step, epoch + (b + 1) / steps_per_epoch)
        run_validation(step, epoch + (1.0 if not stop else (b + 1) / steps_per_epoch))
        if stop:
            break
    bar.close()
    if val is None:
        task.save(out)
    result.steps = step
    result.wall_time_s = time.perf_counter() - start
    _write_log(out, result, config, train, val, info, start)
    plot_training(out / LOG_FILE, out / PLOT_FILE)
    return result


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _estimated_total(
    planned: int, step: int, elapsed: float, budget: float | None, val_seconds: float
) -> int:
    """Total steps the run will make: planned, or fewer when the time budget ends it first."""
    if budget is None or step < 3:
        return planned
    per_step = elapsed / step
    return max(step + 1, min(planned, int((budget - val_seconds) / per_step)))


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(warmup * total))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def _write_log(
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
