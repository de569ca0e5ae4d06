"""`CascadeScorer`: a cheap scorer prunes, an expensive one re-scores the survivors."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from ..scorer import (
    BaseScorer,
    Scorer,
    check_scores,
    fingerprint,
    score_order,
    score_output,
    scorer_name,
    validate_query,
)
from ..types import Candidate, ScoreOutput

__all__ = ["CascadeScorer"]


class CascadeScorer(BaseScorer):
    """Two-stage scoring: ``cheap`` scores every candidate, ``expensive`` only the best.

    ``keep`` is how many candidates survive the cheap pass: an int (``>= 1``) or a
    fraction in ``(0, 1]`` of the candidates (rounded up). When there are no more
    candidates than survivors, the cheap pass is skipped.

    Every candidate still gets a score, so no document is lost: survivors get the
    expensive score; pruned candidates get scores strictly below the lowest survivor,
    in their cheap-pass order (``lowest - 1``, ``lowest - 2``, ...). Pruned scores are
    therefore ranks, not model scores; the output notes count survivors and pruned, on top
    of both scorers' own notes (the expensive one's win a clash), e.g. ``listwise_llm``.
    Per-candidate details (`ScoreOutput.details`) are merged the same way.

    Args:
        cheap: scores every candidate (a small model, a short ``max_length``, ColBERT).
        expensive: re-scores the best ``keep`` of the cheap pass.
        keep: survivors of the cheap pass: an int, or a fraction of the candidates.
    """

    def __init__(self, cheap: Scorer, expensive: Scorer, *, keep: int | float = 30) -> None:
        for name, s in (("cheap", cheap), ("expensive", expensive)):
            if not isinstance(s, Scorer):
                raise TypeError(f"{name} must implement ragrerank.Scorer, got {type(s).__name__}")
        given: object = keep  # numpy scalars too
        if isinstance(given, bool) or not isinstance(given, numbers.Real):
            raise ValueError(f"keep must be an int >= 1 or a fraction in (0, 1], got {keep!r}")
        keep = int(given) if isinstance(given, numbers.Integral) else float(given)
        if isinstance(keep, int) and keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        if isinstance(keep, float) and not 0.0 < keep <= 1.0:
            raise ValueError(f"a fractional keep must be in (0, 1], got {keep!r}")
        self.cheap = cheap
        self.expensive = expensive
        self.keep = keep

    @property
    def name(self) -> str:
        cheap, expensive = scorer_name(self.cheap), scorer_name(self.expensive)
        return f"CascadeScorer({cheap} -> {expensive}, keep={self.keep})"

    def __repr__(self) -> str:
        return f"CascadeScorer({self.cheap!r}, {self.expensive!r}, keep={self.keep!r})"

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.CascadeScorer",
            "cheap": fingerprint(self.cheap),
            "expensive": fingerprint(self.expensive),
            "keep": self.keep,
        }

    def survivors(self, n: int) -> int:
        """How many of ``n`` candidates reach the expensive scorer."""
        k = math.ceil(self.keep * n) if isinstance(self.keep, float) else self.keep
        return max(1, min(n, k)) if n else 0

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        n = len(candidates)
        k = self.survivors(n)
        if k == n:
            out = score_output(self.expensive, query, candidates)
            scores = check_scores(out.scores, n, "expensive scorer")
            notes = {**out.notes, "cascade_survivors": n, "cascade_pruned": 0}
            return ScoreOutput(scores, out.truncated, notes, out.details)
        cheap_out = score_output(self.cheap, query, candidates)
        cheap = check_scores(cheap_out.scores, n, "cheap scorer")
        order = score_order(cheap)
        kept, pruned = order[:k], order[k:]
        out = score_output(self.expensive, query, [candidates[i] for i in kept])
        best = check_scores(out.scores, k, "expensive scorer")
        scores = [0.0] * n
        for i, s in zip(kept, best, strict=True):
            scores[i] = s
        floor = min(best)
        for rank, i in enumerate(pruned, 1):
            scores[i] = floor - float(rank)
        truncated = frozenset(kept[j] for j in out.truncated)
        notes = {**cheap_out.notes, **out.notes, "cascade_survivors": k, "cascade_pruned": n - k}
        details = {i: dict(d) for i, d in cheap_out.details.items()}
        for j, d in out.details.items():
            details[kept[j]] = {**details.get(kept[j], {}), **d}
        return ScoreOutput(scores, truncated, notes, details)
