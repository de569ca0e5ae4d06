"""Local cross-encoder backend (any transformers sequence-classification reranker):
``scorer`` (`CrossEncoderScorer`: options, tokenization, batching), ``loading`` (model,
tokenizer and loading rules), ``fast_forward`` (cls_only, float32 head, torch.compile), ``openvino`` (the OpenVINO backend:
export, static int8 calibration on ``calibration``'s sample, cache)."""

from __future__ import annotations

from .scorer import CrossEncoderScorer

__all__ = ["CrossEncoderScorer"]
