"""Remote reranking APIs. Cohere today; every remote backend shares one HTTP policy layer."""

from __future__ import annotations

from .cohere import CohereError, CohereScorer

__all__ = ["CohereError", "CohereScorer"]
