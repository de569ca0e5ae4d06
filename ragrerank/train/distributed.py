"""Training on several processes (``torchrun`` / ``accelerate launch``): the process group
everyone shares, and values the processes must agree on."""

from __future__ import annotations

import os
from typing import Any

from ..errors import require

__all__ = ["agreed", "ddp_backend", "process_state"]


def ddp_backend() -> str | None:
    """The process group's backend: None (accelerate's choice: NCCL) on GPUs, gloo on CPUs
    when launched on several processes, None for one process."""
    import torch

    if torch.cuda.is_available() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    return "gloo"


def process_state() -> Any:
    """accelerate's `PartialState` for this process, set up on first use with `ddp_backend`
    (on CPUs accelerate's default, ``cpu=False``, would leave ``torchrun``'s processes
    unconnected, each training alone). The trainers' `TrainingArguments` set it up alike."""
    require("accelerate", "train")
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), backend=ddp_backend())


def agreed(value: float) -> float:
    """``value`` as the first process has it (all processes call this together); ``value``
    itself when training on one process. For decisions every process must take alike, such
    as stopping at a time budget."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    tensor = _tensor(value)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _tensor(value: float) -> Any:
    """A one-element float64 tensor on the device the process group communicates on."""
    import torch
    import torch.distributed as dist

    device = "cpu"
    if dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    return torch.tensor([value], dtype=torch.float64, device=device)
