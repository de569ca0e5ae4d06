"""Validation of a training run: nDCG@10 (``ir_measures``) of the task reranking each
held-out query's candidates, and of the first stage's own order (the baseline to beat)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import require
from .data import TrainingSet

__all__ = ["first_stage_ndcg10", "ndcg10", "validation_run"]


def ndcg10(val: TrainingSet, run: Mapping[str, Mapping[str, float]]) -> float:
    """Mean nDCG@10 (ir_measures) of ``run`` (``{query id: {doc id: score}}``) on ``val``."""
    ir_measures: Any = require("ir_measures", "eval")
    measure = ir_measures.parse_measure("nDCG@10")
    return float(ir_measures.calc_aggregate([measure], val.qrels(), run)[measure])


def first_stage_ndcg10(val: TrainingSet) -> float | None:
    """nDCG@10 of the first stage's own order over the validation candidates (what a
    reranker must beat); None unless every validation query carries its mined ranking.
    Candidates the first stage did not return (inserted positives) rank last, in the
    relevance-blind order of `TrainingExample.ranked_candidate_ids`."""
    if not val.examples or not all(ex.first_stage for ex in val.examples):
        return None
    run = {
        ex.query_id: {d: -float(i) for i, d in enumerate(ex.ranked_candidate_ids())}
        for ex in val.examples
    }
    return ndcg10(val, run)


def validation_run(
    score: Callable[[str, Sequence[str]], Sequence[float]],
    val: TrainingSet,
    *,
    show_progress: bool = False,
) -> float:
    """Mean nDCG@10 of ``score(query, texts)`` reranking each validation query's positives
    plus its mined negatives (the positives are always among the candidates)."""
    from tqdm.auto import tqdm

    run: dict[str, dict[str, float]] = {}
    for ex in tqdm(val.examples, desc="validation", unit="q", leave=False,
                   disable=not show_progress):  # fmt: skip
        ids = ex.candidate_ids()
        scores = [float(s) for s in score(ex.query, [val.text(d) for d in ids])]
        run[ex.query_id] = dict(zip(ids, scores, strict=True))
    return ndcg10(val, run)
