"""Local cross-encoder backend (any transformers sequence-classification reranker):
``scorer`` (`CrossEncoderScorer`: options, tokenization, batching), ``loading`` (model,
tokenizer and loading rules), ``fast_forward`` (cls_only, float32 head, torch.compile)."""

from __future__ import annotations

from .scorer import CrossEncoderScorer

__all__ = ["CrossEncoderScorer"]
