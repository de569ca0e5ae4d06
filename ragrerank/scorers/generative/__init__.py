"""Local generative pointwise rerankers (yes/no token logits): ``scorer`` (`GenerativeScorer`),
``loading`` (decoders via sentence-transformers' LogitScore, T5 via transformers),
``template`` (prompt templates, the folder's settings, document-only truncation)."""

from __future__ import annotations

from .scorer import GenerativeScorer

__all__ = ["GenerativeScorer"]
