"""The training loop shared by every trainer (`fit`): negatives sampling, AdamW with
linear warmup and decay, bf16 autocast, validation after each epoch (and every
``eval_every`` steps) keeping the best checkpoint, the step and time budgets, progress and
the log."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import Sample, Task, TrainConfig, TrainResult
from .data import TrainingExample, TrainingSet
from .log import LOG_FILE, PLOT_FILE, plot_training, write_log
from .validation import first_stage_ndcg10, validate

__all__ = ["fill_negatives", "fit", "seed_everything"]

logger = logging.getLogger(__name__)


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
        write_log(out, result, config, train, val, info, start)

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
    write_log(out, result, config, train, val, info, start)
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
