"""Training: fine-tune cross-encoders and ColBERT models, distil a teacher into a student.

Needs the ``train`` extra (sentence-transformers' trainers on ``accelerate`` and
``datasets``, plus the ``qdrant`` first stage for mining and ``eval`` for validation). ``ragrerank train ...`` is the command line.
"""

from __future__ import annotations

from .config import TrainConfig, TrainResult
from .cross_encoder import check_encoder, load_cross_encoder, train_cross_encoder
from .data import (
    TrainingExample,
    TrainingSet,
    add_title_queries,
    load_beir_training,
    load_jsonl_training,
    load_training_data,
)
from .feedback import feedback_dataset
from .log import plot_training
from .mining import mine_negatives
from .ranker import FoldMember, RankingTable, ranking_table, train_ranker
from .ranker_fit import RankerFit, fit_ranker
from .rows import fill_negatives
from .validation import validation_run

__all__ = [
    "FoldMember",
    "RankerFit",
    "RankingTable",
    "feedback_dataset",
    "fit_ranker",
    "ranking_table",
    "train_ranker",
    "TrainConfig",
    "TrainResult",
    "TrainingExample",
    "TrainingSet",
    "add_title_queries",
    "check_encoder",
    "fill_negatives",
    "load_beir_training",
    "load_cross_encoder",
    "load_jsonl_training",
    "load_training_data",
    "mine_negatives",
    "plot_training",
    "train_cross_encoder",
    "validation_run",
]
