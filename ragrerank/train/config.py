"""What the shared training loop takes and gives: `TrainConfig` (loss, schedule, budget),
a training `Sample`, the `Task` a trainer plugs in, and `TrainResult`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

__all__ = ["LOSSES", "Sample", "Task", "TrainConfig", "TrainResult"]

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
