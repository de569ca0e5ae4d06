"""Stored document vectors: the metadata key, storage quantization, the bounded in-process
cache (`ragrerank.utils.vector_cache`, shared with `ragrerank.BiEncoderScorer`) and the
`DocumentVectorStore` protocol (implemented by `ragrerank.retrieval.colbert_store`).

None of this is in sentence-transformers (its MultiVectorEncoder encodes; storing, caching
and fetching vectors by candidate id is ours).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ...utils.vector_cache import DocumentVectorCache
from .maxsim import as_float32

__all__ = [
    "METADATA_KEY",
    "DocumentVectorCache",
    "DocumentVectorStore",
    "dequantize_vectors",
    "check_vectors",
    "quantize_vectors",
]

METADATA_KEY = "colbert_vectors"
"""Default `Candidate.metadata` key for a document's stored token vectors ``[n_tokens, dim]``."""


def quantize_vectors(
    vectors: np.ndarray, dtype: Literal["float32", "float16", "uint8"]
) -> np.ndarray:
    """Compress L2-normalized token vectors for storage.

    ``uint8`` is symmetric scalar quantization of ``[-1, 1]``: ``round(x * 127) + 128``
    (no per-vector scale to store, since normalized components lie in ``[-1, 1]``).
    """
    v = np.asarray(vectors, dtype=np.float32)
    if dtype == "float32":
        return v
    if dtype == "float16":
        return v.astype(np.float16)
    if dtype == "uint8":
        codes: np.ndarray = (np.clip(np.rint(v * 127.0), -127, 127) + 128).astype(np.uint8)
        return codes
    raise ValueError(f"dtype must be 'float32', 'float16' or 'uint8', got {dtype!r}")


def dequantize_vectors(vectors: Any, dtype: Literal["float32", "float16", "uint8"]) -> np.ndarray:
    """Inverse of `quantize_vectors` (float32 output)."""
    v = np.asarray(vectors, dtype=np.float32)
    if dtype == "uint8":
        return (v - 128.0) / 127.0
    if dtype in ("float32", "float16"):
        return v
    raise ValueError(f"dtype must be 'float32', 'float16' or 'uint8', got {dtype!r}")


def check_vectors(raw: object, dim: int, where: str, model: str) -> np.ndarray:
    """Stored vectors as float32 ``[n_tokens, dim]``, or a ValueError naming ``where``."""
    try:
        arr = as_float32(raw)  # torch tensors of any float dtype (bf16 too) via .float()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{where}: stored vectors must be a numeric array [n_tokens, dim]"
        ) from None
    if arr.ndim != 2 or (arr.shape[0] > 0 and arr.shape[1] != dim):
        raise ValueError(
            f"{where}: stored vectors have shape {arr.shape}, but {model} "
            f"produces {dim}-dimensional token vectors ([n_tokens, {dim}])"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: stored vectors contain NaN or infinity")
    return arr


@runtime_checkable
class DocumentVectorStore(Protocol):
    """Where stored document vectors live (e.g. `ragrerank.retrieval.colbert_store.QdrantColBERTStore`).

    ``scores_on_server`` stores compute MaxSim themselves (`server_scores`); others return
    vectors (`fetch_vectors`) and the scorer computes MaxSim in-process. Ids without stored
    vectors are simply absent from the returned mapping.
    """

    scores_on_server: bool

    def check(self, dim: int) -> None: ...

    def fetch_vectors(self, ids: Sequence[Hashable]) -> Mapping[Hashable, np.ndarray]: ...

    def server_scores(
        self, query_vectors: np.ndarray, ids: Sequence[Hashable]
    ) -> Mapping[Hashable, float]: ...
