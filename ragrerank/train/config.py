"""What the trainers take and give: `TrainConfig` (loss, schedule, budget, tracking) and
`TrainResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LOSSES", "REPORTERS", "TrainConfig", "TrainResult"]

#: Cross-encoder losses (sentence-transformers' implementations, see docs/training.md).
LOSSES = ("listwise", "lambda", "pairwise", "bce", "mnrl", "cached-mnrl", "margin_mse")
#: Experiment trackers ``report_to`` accepts (the Hugging Face trainer's integrations).
REPORTERS = ("mlflow", "tensorboard")


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by the trainers.

    Args:
        loss: ``"listwise"`` (softmax cross-entropy, positive vs. its negatives),
            ``"lambda"`` (LambdaLoss, NDCG-weighted pairs), ``"pairwise"`` (RankNet),
            ``"bce"`` (pointwise), ``"mnrl"`` / ``"cached-mnrl"`` (the hard negatives plus
            other queries' documents of the batch) or ``"margin_mse"`` (distillation, needs
            teacher scores).
        epochs: passes over the training (query, positive) pairs; each draws fresh negatives.
        batch_size: queries per optimizer step (per process).
        negatives: negatives per query and step, sampled from its mined list.
        lr: peak learning rate (AdamW), reached after ``warmup`` x total steps, then linear
            decay to 0 at the end (the end is re-estimated from ``time_budget_min``).
        max_length: tokens per (query, document) pair; documents are truncated.
        bf16: bfloat16 autocast (weights stay fp32); None (the default): where the training
            device multiplies bf16 natively (`use_bf16`: AMX or AVX-512 BF16 CPUs, CUDA
            compute capability >= 8), as ``dtype="auto"`` decides. Elsewhere bf16 is
            emulated: on an AVX2-only CPU a forward pass takes about 6x the fp32 time.
        eval_every: validate every N steps as well as after each epoch (0: epochs only).
        max_steps: stop after this many steps.
        time_budget_min: stop (and validate) when this much wall time has passed.
        seed: seeds torch, numpy and the sampler; a rerun repeats the run.
        gradient_accumulation: batches per optimizer step.
        report_to: experiment trackers (``"mlflow"``, ``"tensorboard"``; see
            `ragrerank.train.tracking`).
        resume: continue from the checkpoint a stopped run left in ``<out>/checkpoints``.
    """

    loss: str = "listwise"
    epochs: int = 1
    batch_size: int = 16
    negatives: int = 7
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = 256
    bf16: bool | None = None
    eval_every: int = 0
    max_steps: int | None = None
    time_budget_min: float | None = None
    grad_clip: float = 1.0
    seed: int = 0
    show_progress: bool = True
    gradient_accumulation: int = 1
    report_to: tuple[str, ...] = ()
    resume: bool = False

    @property
    def use_bf16(self) -> bool:
        """``bf16``, or for None whether `resolve_dtype` picks bfloat16 for the training
        device (torch's default: a GPU when one is visible, else the CPU)."""
        if self.bf16 is not None:
            return self.bf16
        from ..utils.hardware import resolve_dtype

        return resolve_dtype("auto", None) == "bfloat16"

    def __post_init__(self) -> None:
        if self.bf16 is not None and not isinstance(self.bf16, bool):
            raise ValueError(f"bf16 must be True, False or None (auto), got {self.bf16!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "negatives", "max_length", "gradient_accumulation"):
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
        unknown = [r for r in self.report_to if r not in REPORTERS]
        if isinstance(self.report_to, str) or unknown:
            raise ValueError(f"report_to must be a tuple of {REPORTERS}, got {self.report_to!r}")


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
