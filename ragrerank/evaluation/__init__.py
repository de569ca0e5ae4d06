"""Evaluation: BEIR data sets, the rerankers config file, `evaluate` (first stage + rerankers,
metrics, score caches) and its report."""

from __future__ import annotations

from .config import BACKENDS, RerankerSpec, build_scorer, load_config, load_rerankers
from .datasets import BeirDataset, data_dir, load_beir
from .first_stage import first_stage_run
from .metrics import SystemResult
from .report import EvalReport
from .runner import evaluate

__all__ = [
    "BACKENDS",
    "BeirDataset",
    "EvalReport",
    "RerankerSpec",
    "SystemResult",
    "build_scorer",
    "data_dir",
    "evaluate",
    "first_stage_run",
    "load_beir",
    "load_config",
    "load_rerankers",
]
