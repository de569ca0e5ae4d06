"""Composers: scorers built from other scorers (cascade, fusion, cache, metadata boost, max
passage, learned ranker).

Each wraps one or more `ragrerank.Scorer` objects and is itself a scorer, so a `Reranker`,
the adapters and the score trace work on it unchanged.
"""

from __future__ import annotations

from .boost import MetadataBoostScorer
from .cache import CachedScorer
from .cascade import CascadeScorer
from .fusion import FusionScorer
from .learned import LearnedRanker
from .max_passage import MaxPassageScorer

__all__ = [
    "CachedScorer",
    "CascadeScorer",
    "FusionScorer",
    "LearnedRanker",
    "MaxPassageScorer",
    "MetadataBoostScorer",
]
