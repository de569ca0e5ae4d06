"""Stored document vectors: the metadata key, storage quantization, the bounded in-process
cache and the `DocumentVectorStore` protocol (implemented by `ragrerank.retrieval.colbert_store`).

None of this is in sentence-transformers (its MultiVectorEncoder encodes; storing, caching
and fetching vectors by candidate id is ours).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

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


class DocumentVectorCache:
    """Thread-safe LRU of document token vectors, bounded in bytes.

    Keys are ``(model fingerprint, sha256 of the document text)``, so one cache can be
    shared by several scorers. An entry larger than ``max_bytes`` is not stored.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[str, bytes], tuple[np.ndarray, bool]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(fingerprint: str, text: str) -> tuple[str, bytes]:
        return fingerprint, hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: tuple[str, bytes]) -> tuple[np.ndarray, bool] | None:
        """Vectors and truncated flag for ``key``, or None."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple[str, bytes], vectors: np.ndarray, truncated: bool) -> None:
        size = int(vectors.nbytes)
        if size > self.max_bytes:
            return
        vectors = np.array(vectors, dtype=np.float32, copy=True)
        vectors.setflags(write=False)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= int(old[0].nbytes)
            self._data[key] = (vectors, truncated)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (evicted, _) = self._data.popitem(last=False)
                self._bytes -= int(evicted.nbytes)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)


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
