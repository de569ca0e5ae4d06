"""What `QdrantRetriever.retrieve` asks Qdrant and what it makes of the answer: argument
checks, one ``QueryRequest`` per query (dense, BM25 sparse, or both fused by Qdrant's RRF)
and `Candidate` objects from the returned points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...scorer import validate_query
from ...types import Candidate
from ..bm25 import BM25Encoder
from .schema import DENSE, SPARSE, qdrant_models

if TYPE_CHECKING:
    from qdrant_client import models

__all__ = ["MODES", "RetrievalMode", "check_retrieval", "query_requests", "to_candidate"]

RetrievalMode = Literal["dense", "sparse", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")


def check_retrieval(
    queries: Sequence[str],
    *,
    top_n: int,
    mode: str,
    prefetch_limit: int | None,
    has_dense: bool,
) -> int:
    """Raise `ValueError` on a bad argument; return the prefetch limit (default ``top_n``)."""
    if isinstance(queries, str):
        raise ValueError("queries must be a sequence of str, not a single str")
    for i, q in enumerate(queries):
        try:
            validate_query(q)
        except ValueError as exc:
            raise ValueError(f"query {i}: {exc}") from None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise ValueError(f"top_n must be a positive int, got {top_n!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode != "sparse" and not has_dense:
        raise ValueError(
            f"mode={mode!r} needs a dense model; this retriever has none "
            "(dense_model=None): use mode='sparse'"
        )
    limit = top_n if prefetch_limit is None else prefetch_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"prefetch_limit must be a positive int, got {prefetch_limit!r}")
    return limit


def query_requests(
    queries: Sequence[str],
    dense: np.ndarray | None,
    bm25: BM25Encoder,
    *,
    mode: str,
    top_n: int,
    limit: int,
    query_filter: models.Filter | None,
) -> list[Any]:
    """One ``QueryRequest`` per query; ``dense`` holds the query embeddings (not for
    ``"sparse"``). A hybrid query of stopwords only (no BM25 terms) falls back to dense."""
    m = qdrant_models()
    common = {"filter": query_filter, "with_payload": True, "limit": top_n}
    out = []
    for i, q in enumerate(queries):
        sparse = bm25.encode_query(q)
        sparse_vec = m.SparseVector(indices=sparse.indices, values=sparse.values)
        if mode == "dense" or (mode == "hybrid" and not sparse.indices):
            assert dense is not None
            out.append(m.QueryRequest(query=dense[i].tolist(), using=DENSE, **common))
        elif mode == "sparse":
            out.append(m.QueryRequest(query=sparse_vec, using=SPARSE, **common))
        else:
            assert dense is not None
            prefetch = [
                m.Prefetch(query=dense[i].tolist(), using=DENSE, limit=limit, filter=query_filter),
                m.Prefetch(query=sparse_vec, using=SPARSE, limit=limit, filter=query_filter),
            ]
            fusion = m.FusionQuery(fusion=m.Fusion.RRF)
            out.append(m.QueryRequest(prefetch=prefetch, query=fusion, **common))
    return out


def to_candidate(point: Any) -> Candidate:
    """A returned point as a `Candidate` (score = its first-stage score)."""
    payload = point.payload or {}
    return Candidate(
        text=payload.get("text", ""),
        id=payload.get("doc_id"),
        metadata=payload.get("metadata") or {},
        score=float(point.score),
    )
