"""Distillation: a teacher (any `Scorer`) teaches a fast student with Margin-MSE.

The teacher scores each training query's positive and its first mined negatives once;
the scores are cached on disk keyed by the teacher's fingerprint and the data digest, so
a rerun (or a second student) never calls the teacher again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..scorer import Scorer, check_scores, fingerprint, score_output, scorer_name
from ..types import Candidate
from ..utils.jsonio import read_json, write_json
from .config import TrainConfig, TrainResult
from .data import TrainingSet
from .mining import default_cache
from .validation import ndcg10

__all__ = ["distill", "teacher_scores"]

logger = logging.getLogger(__name__)

STUDENTS = ("cross-encoder", "colbert")


def _limit_negatives(data: TrainingSet, negatives: int | None) -> TrainingSet:
    if negatives is None:
        return data
    if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 1:
        raise ValueError(f"negatives must be an int >= 1, got {negatives!r}")
    return data.with_examples(
        [replace(ex, negatives=ex.negatives[:negatives]) for ex in data.examples]
    )


def teacher_scores(
    teacher: Scorer,
    data: TrainingSet,
    *,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> dict[str, dict[str, float]]:
    """``{query id: {doc id: teacher score}}`` for every positive and negative of ``data``.

    The teacher sees each query's candidates as `Candidate`s (text and corpus id) in
    first-stage order (`TrainingExample.ranked_candidate_ids`), as it would when serving.

    Computed once per (teacher fingerprint, data digest) and cached as JSON; progress is
    saved as it goes, so an interrupted run resumes. A teacher that returns a wrong
    number of scores (or a NaN) raises `ValueError` at its first query.
    """
    if not isinstance(teacher, Scorer):
        raise TypeError(f"teacher must implement ragrerank.Scorer, got {type(teacher).__name__}")
    from tqdm.auto import tqdm

    root = Path(cache_dir) if cache_dir is not None else default_cache()
    # "r": candidates in first-stage order (earlier caches saw positives first).
    path = root / "teacher" / f"{fingerprint(teacher)}-{data.digest()}-r.json"
    stored = read_json(path)
    table: dict[str, dict[str, float]] = stored if isinstance(stored, dict) else {}
    todo = [ex for ex in data.examples if ex.query_id not in table]
    name = scorer_name(teacher)
    if not todo:
        logger.info("teacher scores for %d queries from cache %s", len(table), path)
    for n, ex in enumerate(tqdm(todo, desc="teacher scores", unit="q",
                                disable=not show_progress), 1):  # fmt: skip
        ids = ex.ranked_candidate_ids()
        candidates = [Candidate(data.text(d), id=d) for d in ids]
        raw = score_output(teacher, ex.query, candidates).scores
        scores = check_scores(raw, len(ids), f"teacher {name}")
        table[ex.query_id] = dict(zip(ids, scores, strict=True))
        if n % 50 == 0 or n == len(todo):
            write_json(path, table)
    return {ex.query_id: table[ex.query_id] for ex in data.examples}


def distill(
    teacher: Scorer,
    train: TrainingSet,
    out: str | Path,
    *,
    student: str = "cross-encoder",
    base_model: str | Path | None = None,
    num_layers: int | None = 3,
    val: TrainingSet | None = None,
    config: TrainConfig | None = None,
    teacher_negatives: int | None = 15,
    cache_dir: str | Path | None = None,
    dim: int = 128,
    query_length: int = 32,
    info: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train a ``student`` (``"cross-encoder"`` or ``"colbert"``) on ``teacher``'s margins.

    The student starts from ``base_model``'s first ``num_layers`` layers (None: all).
    Each training query's positive and first ``teacher_negatives`` mined negatives are
    scored by the teacher before training starts (cached). With ``val`` the teacher's
    own validation nDCG@10 is logged next to the student's.
    """
    if student not in STUDENTS:
        raise ValueError(f"student must be one of {STUDENTS}, got {student!r}")
    config = config if config is not None else TrainConfig(loss="margin_mse")
    if config.loss != "margin_mse":
        raise ValueError(f"distillation uses loss='margin_mse', got {config.loss!r}")
    train = _limit_negatives(train, teacher_negatives)
    empty = [ex.query_id for ex in train.examples if not ex.negatives]
    if empty:
        raise ValueError(
            f"{len(empty)} training queries have no negatives to distil on (e.g. {empty[0]!r}); "
            "mine negatives first"
        )
    show = config.show_progress
    table = teacher_scores(teacher, train, cache_dir=cache_dir, show_progress=show)
    log: dict[str, Any] = {
        "teacher": scorer_name(teacher),
        "teacher_fingerprint": fingerprint(teacher),
        "teacher_negatives": teacher_negatives,
        "student": student,
        **dict(info or {}),
    }
    if val is not None:
        val_table = teacher_scores(teacher, val, cache_dir=cache_dir, show_progress=show)
        log["teacher_val_ndcg@10"] = ndcg10(val, val_table)
        logger.info("teacher val nDCG@10 %.4f", log["teacher_val_ndcg@10"])
    if student == "colbert":
        from .colbert import train_colbert

        return train_colbert(
            train,
            out,
            base_model=base_model,
            val=val,
            config=config,
            dim=dim,
            query_length=query_length,
            num_layers=num_layers,
            teacher=table,
            info=log,
        )
    from .cross_encoder import train_cross_encoder

    return train_cross_encoder(
        train,
        out,
        base_model=base_model,
        val=val,
        config=config,
        num_layers=num_layers,
        teacher=table,
        info=log,
    )
