"""ColBERT late interaction: MaxSim over per-token vectors, document vectors computed once
and stored (Candidate metadata, a Qdrant multivector collection or the bounded cache)."""

from __future__ import annotations

from .scorer import (
    METADATA_KEY,
    ColBERTScorer,
    DocumentVectorCache,
    DocumentVectorStore,
    dequantize_vectors,
    maxsim_scores,
    quantize_vectors,
)

__all__ = [
    "METADATA_KEY",
    "ColBERTScorer",
    "DocumentVectorCache",
    "DocumentVectorStore",
    "dequantize_vectors",
    "maxsim_scores",
    "quantize_vectors",
]
