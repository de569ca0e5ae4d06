"""ColBERT late interaction: MaxSim over per-token vectors, document vectors computed once
and stored (Candidate metadata, a Qdrant multivector collection or the bounded cache).

``scorer`` (`ColBERTScorer`: scoring), ``lookup`` (where each candidate's vectors come from,
trace notes), ``layouts`` (which layout, what its config says), ``checkpoints`` (loading,
our loading rules), ``encoder`` (encoding through sentence-transformers'
``MultiVectorEncoder``), ``maxsim`` (the MaxSim arithmetic), ``vectors`` (quantization, the
bounded cache, the `DocumentVectorStore` protocol).
"""

from __future__ import annotations

from .maxsim import maxsim_scores
from .scorer import ColBERTScorer
from .vectors import (
    METADATA_KEY,
    DocumentVectorCache,
    DocumentVectorStore,
    dequantize_vectors,
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
