"""Evaluation: BEIR data sets, the rerankers config file, `evaluate` (first stage + rerankers,
metrics, score caches, failure taxonomy) and its report."""

from __future__ import annotations

from .config import BACKENDS, RerankerSpec, build_scorer, load_config, load_rerankers
from .datasets import BeirDataset, data_dir, load_beir
from .first_stage import first_stage_run
from .metrics import SystemResult
from .report import EvalReport
from .runner import evaluate
from .taxonomy import QueryOutcome, failure_taxonomy

__all__ = [
    "BACKENDS",
    "BeirDataset",
    "EvalReport",
    "QueryOutcome",
    "RerankerSpec",
    "SystemResult",
    "build_scorer",
    "data_dir",
    "evaluate",
    "failure_taxonomy",
    "first_stage_run",
    "load_beir",
    "load_config",
    "load_rerankers",
]
