"""Hard-negative mining with the project's own first stage (Qdrant BM25 / dense / hybrid)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..evaluation.first_stage import first_stage_run
from ..utils.local_models import cache_dir
from .data import TrainingSet

__all__ = ["default_cache", "mine_negatives"]

logger = logging.getLogger(__name__)


def default_cache() -> Path:
    """Training cache root: ``~/.cache/ragrerank/train`` (or ``$RAGRERANK_CACHE/train``)."""
    return cache_dir() / "train"


def mine_negatives(
    data: TrainingSet,
    *,
    method: str = "bm25",
    depth: int = 30,
    keep_given: bool = True,
    cache_dir: str | Path | None = None,
    dense_model: str | Path | Any = None,
    show_progress: bool = True,
) -> TrainingSet:
    """A copy of ``data`` whose negatives are each query's first-stage top ``depth``.

    Judged documents with relevance > 0 are never negatives. ``method`` is ``"bm25"``,
    ``"dense"`` or ``"hybrid"``; runs and the Qdrant index are cached on disk (keyed by
    corpus content, split, method, depth and dense model), so a rerun does not re-mine.
    With ``keep_given`` the example's existing negatives come first.
    """
    if method not in ("bm25", "dense", "hybrid"):
        raise ValueError(f"method must be 'bm25', 'dense' or 'hybrid', got {method!r}")
    ds = data.dataset
    root = Path(cache_dir) if cache_dir is not None else default_cache()
    qids = [ex.query_id for ex in data.examples]
    runs = first_stage_run(
        ds,
        ds.split,
        method,
        depth,
        root,
        query_ids=[q for q in qids if q in ds.queries],
        dense_model=dense_model,
        show_progress=show_progress,
    )
    examples = []
    empty = 0
    for ex in data.examples:
        judged = {d for d, rel in ds.qrels.get(ex.query_id, {}).items() if rel > 0}
        judged.update(ex.positives)
        ranking = tuple(str(c.id) for c in runs.get(ex.query_id, []))
        mined = [d for d in ranking if d not in judged]
        given = list(ex.negatives) if keep_given else []
        negatives = tuple(dict.fromkeys([*given, *mined]))
        empty += not negatives
        examples.append(replace(ex, negatives=negatives, first_stage=ranking))
    if empty:
        logger.warning("%d of %d queries have no negative after mining", empty, len(examples))
    logger.info(
        "mined %s top-%d negatives for %d queries (%.1f per query)",
        method,
        depth,
        len(examples),
        sum(len(e.negatives) for e in examples) / len(examples),
    )
    return data.with_examples(examples)
