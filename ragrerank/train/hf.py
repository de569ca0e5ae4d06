"""What ragrerank adds to the sentence-transformers / Hugging Face trainers, on their
extension points: training arguments from a `TrainConfig`, a time budget whose learning-rate
decay is fitted to it, validation against the first stage's own baseline (an evaluator),
keeping the best model, and the run's record (``train_log.json``, ``train_plot.png``).

`run_trainer` is the one place a trainer is built and run; the cross-encoder and ColBERT
trainers hand it their model, dataset, loss and scoring function.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import require
from .config import TrainConfig, TrainResult
from .data import TrainingSet
from .distributed import agreed, ddp_backend, process_state
from .log import LOG_FILE, PLOT_FILE, plot_training, write_log
from .tracking import (
    TENSORBOARD_DIR,
    check_trackers,
    log_model_folder,
    mlflow_run,
    tracker_callbacks,
    trainer_report_to,
)
from .validation import first_stage_ndcg10, validation_run

__all__ = ["CHECKPOINTS", "METRIC", "require_trainer", "run_trainer"]

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
METRIC = "val_ndcg@10"

ScoreFn = Callable[[Any, str, Sequence[str]], list[float]]
SaveFn = Callable[[Any, Path], None]


def require_trainer() -> None:
    """The packages every trainer needs, each named with the extra that installs it."""
    require("sentence_transformers", "local")
    require("accelerate", "train")
    require("datasets", "train")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _linear(step: int, *, warmup: int, total: int) -> float:
    """transformers' linear warmup-then-decay factor, with a total that may be re-fitted."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _validation_evaluator(val: TrainingSet, score: ScoreFn, show_progress: bool) -> Any:
    """A sentence-transformers evaluator: nDCG@10 (ir_measures) of the model reranking each
    validation query's candidates, the number `ragrerank eval` would compute."""
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    class ValidationEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.primary_metric = METRIC
            self.greater_is_better = True

        def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1,
                     steps: int = -1) -> dict[str, float]:  # fmt: skip
            value = validation_run(
                lambda q, texts: score(model, q, texts), val, show_progress=show_progress
            )
            return {METRIC: value}

    return ValidationEvaluator()


def _callback(
    result: TrainResult,
    config: TrainConfig,
    *,
    steps_per_epoch: int,
    planned: int,
    save: SaveFn,
    write: Callable[[], None],
    has_val: bool,
) -> Any:
    from transformers import TrainerCallback

    budget = None if config.time_budget_min is None else config.time_budget_min * 60.0

    class RunRecord(TrainerCallback):
        """Stops at the time budget (re-fitting the decay to it), records losses and
        validations, saves the best model to ``out``."""

        def __init__(self) -> None:
            self.start = time.perf_counter()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = state.global_step
            if budget is None or step < 3:
                return
            # validations included: their time is spread over the steps between them
            per_step = agreed(time.perf_counter() - self.start) / step
            total = max(step + 1, min(planned, int(budget / per_step)))
            scheduler = kw.get("lr_scheduler")
            if scheduler is not None and hasattr(scheduler, "lr_lambdas"):
                warm = max(1, int(config.warmup * total))
                scheduler.lr_lambdas = [partial(_linear, warmup=warm, total=total)] * len(
                    scheduler.lr_lambdas
                )

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = state.global_step
            # Every process must stop at the same step: the first one's clock decides.
            elapsed = 0.0 if budget is None else agreed(time.perf_counter() - self.start)
            if config.max_steps is not None and step >= config.max_steps:
                result.stopped_by = "max_steps"
            elif budget is not None and elapsed >= budget and step < planned:
                result.stopped_by = "time_budget"
                control.should_training_stop = True
            if has_val and (control.should_training_stop or step >= state.max_steps):
                control.should_evaluate = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            value = float(logs["loss"])
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss is {value} at step {state.global_step}; lower the lr"
                )
            result.losses.append({
                "step": state.global_step,
                "loss": value,
                "lr": float(logs.get("learning_rate", 0.0)),
            })  # fmt: skip

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None,
                        **kw: Any) -> None:  # fmt: skip
            key = f"eval_{METRIC}"
            if not metrics or key not in metrics or not state.is_world_process_zero:
                return
            step, ndcg = state.global_step, float(metrics[key])
            if result.validation and result.validation[-1]["step"] == step:
                return  # the trainer's own schedule and the final one can meet
            epoch = round(step / steps_per_epoch, 3)
            result.validation.append({"step": step, "epoch": epoch, "ndcg@10": ndcg})
            improved = result.best_ndcg10 is None or ndcg > result.best_ndcg10
            if improved:
                result.best_ndcg10, result.best_step = ndcg, step
                save(kw["model"], result.out)
            logger.info("step %d (epoch %.2f): val nDCG@10 %.4f%s", step, epoch, ndcg,
                        " best, saved" if improved else "")  # fmt: skip
            write()

    return RunRecord()


def run_trainer(
    *,
    trainer_cls: Any,
    args_cls: Any,
    model: Any,
    dataset: Any,
    loss: Any,
    train: TrainingSet,
    val: TrainingSet | None,
    out: str | Path,
    config: TrainConfig,
    score: ScoreFn,
    save: SaveFn,
    info: Mapping[str, Any] | None = None,
    args_overrides: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` with ``trainer_cls`` (a sentence-transformers trainer) on ``dataset``.

    ``dataset`` holds all epochs in order (each epoch's negatives drawn afresh), so the
    trainer runs one pass over it. Validation runs before training, every ``eval_every``
    steps (else once per epoch) and at the end; the best model is saved in ``out`` with
    ``save`` (without ``val``: the last one). Resumable trainer checkpoints live in
    ``out/checkpoints`` while training runs (`TrainConfig.resume` continues from them) and
    are removed when it ends.

    Steps per epoch follow from the dataset (``config.epochs`` equal parts) and the batch
    (``args_overrides`` may set ``per_device_train_batch_size`` in rows); under ``torchrun``
    / ``accelerate launch`` each of N processes takes 1/N of them, and only the first writes
    ``out`` (model, log, plot) and reports to the trackers (`ragrerank.train.tracking`).
    """
    check_trackers(config.report_to)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    processes = int(process_state().num_processes)
    batch = int(dict(args_overrides or {}).get("per_device_train_batch_size", config.batch_size))
    rows_per_epoch = len(dataset) // config.epochs
    steps_per_epoch = max(1, -(-rows_per_epoch // (batch * config.gradient_accumulation)))
    steps_per_epoch = -(-steps_per_epoch // processes)
    effective = config.batch_size * config.gradient_accumulation * processes  # queries per step
    info = {**dict(info or {}), "processes": processes, "effective_batch_size": effective}
    planned = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        planned = min(planned, config.max_steps)
    eval_steps = config.eval_every or steps_per_epoch
    result = TrainResult(out, 0, 0.0, None, None)
    start = time.perf_counter()
    evaluator = None

    def write() -> None:
        write_log(out, result, config, train, val, info, start)

    if val is not None:
        result.first_stage_ndcg10 = first_stage_ndcg10(val)
        if result.first_stage_ndcg10 is not None:
            logger.info("first stage's own val nDCG@10 %.4f (the baseline to beat)",
                        result.first_stage_ndcg10)  # fmt: skip
        evaluator = _validation_evaluator(val, score, config.show_progress)
    kwargs: dict[str, Any] = dict(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup,
        lr_scheduler_type="linear",
        max_grad_norm=config.grad_clip,
        num_train_epochs=1,
        max_steps=planned,
        bf16=config.use_bf16,
        logging_strategy="steps",
        logging_steps=1,
        eval_strategy="steps" if val is not None else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=1,
        seed=config.seed,
        data_seed=config.seed,
        report_to=trainer_report_to(config.report_to),
        run_name=out.name,
        disable_tqdm=not config.show_progress,
        dataloader_num_workers=0,
        use_cpu=not _cuda(),
        ddp_backend=ddp_backend(),
    )
    kwargs.update(args_overrides or {})
    args = args_cls(**kwargs)
    record = _callback(
        result,
        config,
        steps_per_epoch=steps_per_epoch,
        planned=planned,
        save=save,
        write=write,
        has_val=val is not None,
    )
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=[record, *tracker_callbacks(config.report_to, out)],
    )
    main = trainer.is_world_process_zero()
    with mlflow_run(config, out, main=main, info=info) as tracked:
        if evaluator is not None and not config.resume:
            trainer.evaluate()  # step 0: the untrained model's validation
        trainer.train(resume_from_checkpoint=True if config.resume else None)
        result.steps = int(trainer.state.global_step)  # stopped_by: set by the callback
        result.wall_time_s = time.perf_counter() - start
        if main:
            if val is None:
                save(trainer.model, out)
            write()
            plot_training(out / LOG_FILE, out / PLOT_FILE)
            if tracked:
                log_model_folder(out, skip=(CHECKPOINTS, TENSORBOARD_DIR))
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return result
