"""First-stage retrieval: Qdrant (dense, BM25 sparse, hybrid RRF), BM25 encoding, and the
ColBERT multivector store whose document vectors the ColBERT scorer reads."""

from __future__ import annotations

from .bm25 import BM25Encoder, SparseTerms
from .colbert_store import QdrantColBERTStore, colbert_query, ensure_colbert_collection
from .qdrant import CollectionOptions, IndexReport, QdrantRetriever, RetrievalMode, point_id

__all__ = [
    "BM25Encoder",
    "CollectionOptions",
    "IndexReport",
    "QdrantColBERTStore",
    "QdrantRetriever",
    "RetrievalMode",
    "SparseTerms",
    "colbert_query",
    "ensure_colbert_collection",
    "point_id",
]
