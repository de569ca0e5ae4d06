"""Training: fine-tune cross-encoders and ColBERT models, distil a teacher into a student.

Needs the ``local`` extra (torch, transformers) plus ``qdrant`` for mining and ``eval``
for validation. ``ragrerank train ...`` is the command line.
"""

from __future__ import annotations

from .config import Sample, TrainConfig, TrainResult
from .cross_encoder import check_encoder, load_cross_encoder, train_cross_encoder
from .data import (
    TrainingExample,
    TrainingSet,
    load_beir_training,
    load_jsonl_training,
    load_training_data,
)
from .log import plot_training
from .loop import fill_negatives
from .mining import mine_negatives
from .validation import validate

__all__ = [
    "Sample",
    "TrainConfig",
    "TrainResult",
    "TrainingExample",
    "TrainingSet",
    "check_encoder",
    "fill_negatives",
    "load_beir_training",
    "load_cross_encoder",
    "load_jsonl_training",
    "load_training_data",
    "mine_negatives",
    "plot_training",
    "train_cross_encoder",
    "validate",
]
