"""Local cross-encoder backend (any transformers sequence-classification reranker)."""

from __future__ import annotations

from .scorer import CrossEncoderScorer

__all__ = ["CrossEncoderScorer"]
