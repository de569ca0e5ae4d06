"""First-stage retrieval on Qdrant (`.retriever`)."""

from __future__ import annotations

from .retriever import (
    DEFAULT_DENSE_MODEL,
    IndexReport,
    MultiVectorEncoder,
    QdrantRetriever,
    RetrievalMode,
    point_id,
)

__all__ = [
    "DEFAULT_DENSE_MODEL",
    "IndexReport",
    "MultiVectorEncoder",
    "QdrantRetriever",
    "RetrievalMode",
    "point_id",
]
