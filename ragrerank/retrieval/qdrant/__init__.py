"""First-stage retrieval on Qdrant: dense, BM25 sparse and hybrid (RRF), optional ColBERT.

One collection holds per document a dense vector ``"dense"`` (a sentence-transformers
bi-encoder), a sparse BM25 vector ``"bm25"`` (weights from `ragrerank.retrieval.bm25`, IDF applied
by Qdrant) and, when a multivector encoder is given, a ColBERT multivector ``"colbert"``.
Results are `Candidate` objects ready for `Reranker.rerank`.

`QdrantRetriever` (`.retriever`) composes `.encoders` (the dense model), `.schema` (vector
names, point ids, collection creation and checks), `.indexing`, `.search` and `.engine` (where
the collection lives: qdrant-client for a server, `.edge` for the embedded qdrant-edge engine,
with `.edge_convert` translating qdrant-client's models to it); `.options` holds
`CollectionOptions` (sharding, replication, on-disk storage, quantization, HNSW).
"""

from __future__ import annotations

from .encoders import MultiVectorEncoder
from .indexing import IndexReport
from .options import CollectionOptions, Quantization
from .retriever import DEFAULT_DENSE_MODEL, QdrantRetriever
from .schema import point_id
from .search import RetrievalMode

__all__ = [
    "DEFAULT_DENSE_MODEL",
    "CollectionOptions",
    "IndexReport",
    "MultiVectorEncoder",
    "Quantization",
    "QdrantRetriever",
    "RetrievalMode",
    "point_id",
]
