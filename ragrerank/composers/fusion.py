"""`FusionScorer`: reciprocal-rank fusion of several scorers and, optionally, the first stage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..scorer import (
    BaseScorer,
    Scorer,
    ascore_output,
    check_scores,
    fingerprint,
    score_output,
    scorer_name,
    validate_query,
)
from ..types import Candidate, ScoreOutput
from .rrf import check_weight, ranks, reciprocal_rank_fusion

__all__ = ["FusionScorer", "member_scorers"]


def member_scorers(scorers: object, what: str) -> list[Scorer]:
    """``scorers`` as a list; `ValueError` unless a non-empty sequence, `TypeError` naming
    the index of one that does not implement `ragrerank.Scorer`."""
    if isinstance(scorers, (str, bytes)) or not isinstance(scorers, Sequence) or not scorers:
        raise ValueError(f"{what} must be a non-empty sequence of ragrerank.Scorer")
    for i, s in enumerate(scorers):
        if not isinstance(s, Scorer):
            raise TypeError(f"{what}[{i}] must implement ragrerank.Scorer, got {type(s).__name__}")
    return list(scorers)


class FusionScorer(BaseScorer):
    """Blend several rankings with weighted reciprocal-rank fusion (RRF).

    Each candidate scores ``sum_i weights[i] / (k + rank_i)``, where ``rank_i`` is its
    1-based rank under ``scorers[i]`` (ties keep input order). With ``first_stage > 0``
    the input order, i.e. the retriever's ranking, is one more ranking with that weight.
    Ranks need no score calibration, so cross-encoder logits, MaxSim sums and Cohere
    relevance scores mix safely; the fused score is a rank blend, not a probability.

    Member scorers run one after another (sync) or concurrently (async). Truncation is
    the union of the members'; their notes are kept under ``fusion_notes``, and their
    per-candidate details under ``details["fusion"][label]`` (label ``"<i>:<member name>"``).

    Args:
        scorers: the member scorers (at least one).
        weights: one weight >= 0 per scorer (default: all 1.0; at least one > 0).
        first_stage: weight of the input (retriever) order; 0 leaves it out.
        k: the RRF constant (> 0); larger flattens the difference between ranks.
    """

    def __init__(
        self,
        scorers: Sequence[Scorer],
        *,
        weights: Sequence[float] | None = None,
        first_stage: float = 0.0,
        k: float = 60.0,
    ) -> None:
        scorers = member_scorers(scorers, "scorers")
        if weights is None:
            weights = [1.0] * len(scorers)
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
            raise ValueError(f"weights must be a sequence of numbers, got {weights!r}")
        if len(weights) != len(scorers):
            raise ValueError(f"got {len(weights)} weights for {len(scorers)} scorers")
        self.scorers = list(scorers)
        self.weights = [check_weight(w, f"weights[{i}]") for i, w in enumerate(weights)]
        self.first_stage = check_weight(first_stage, "first_stage")
        if not any(self.weights):
            raise ValueError("at least one scorer needs a weight > 0")
        self.k = check_weight(k, "k")
        if self.k == 0:
            raise ValueError("k must be > 0")

    @property
    def name(self) -> str:
        parts = [f"{scorer_name(s)}*{w:g}" for s, w in zip(self.scorers, self.weights, strict=True)]
        if self.first_stage:
            parts.append(f"first_stage*{self.first_stage:g}")
        return f"FusionScorer({' + '.join(parts)}, k={self.k:g})"

    def __repr__(self) -> str:
        return (
            f"FusionScorer({self.scorers!r}, weights={self.weights!r}, "
            f"first_stage={self.first_stage!r}, k={self.k!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.FusionScorer",
            "scorers": [fingerprint(s) for s in self.scorers],
            "weights": self.weights,
            "first_stage": self.first_stage,
            "k": self.k,
        }

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        return self._fuse(candidates, [score_output(s, query, candidates) for s in self.scorers])

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        outputs = await asyncio.gather(*(ascore_output(s, query, candidates) for s in self.scorers))
        return self._fuse(candidates, list(outputs))

    def _fuse(self, candidates: Sequence[Candidate], outputs: list[ScoreOutput]) -> ScoreOutput:
        n = len(candidates)
        rankings = [list(range(1, n + 1))]  # the first stage: the input order
        truncated: set[int] = set()
        notes: dict[str, Any] = {}
        details: dict[int, dict[str, Any]] = {}
        for i, (scorer, out) in enumerate(zip(self.scorers, outputs, strict=True)):
            label = f"{i}:{scorer_name(scorer)}"
            rankings.append(ranks(check_scores(out.scores, n, label)))
            truncated.update(out.truncated)
            if out.notes:
                notes[label] = dict(out.notes)
            for j, d in out.details.items():
                details.setdefault(j, {"fusion": {}})["fusion"][label] = dict(d)
        fused = reciprocal_rank_fusion(rankings, [self.first_stage, *self.weights], self.k)
        notes_out = {"fusion_notes": notes} if notes else {}
        return ScoreOutput(fused, frozenset(truncated), notes_out, details)
