"""The bounded in-process cache of document vectors (ColBERT token vectors, bi-encoder
embeddings), keyed by model fingerprint and text hash, and `cached_encode`: the texts of one
call from the cache, else encoded (identical texts once) and cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["DocumentVectorCache", "Encode", "cached_encode"]

Encode = Callable[[list[str]], tuple[list[np.ndarray], list[bool]]]
"""Encode texts: one float32 array and one truncated flag per text."""


class DocumentVectorCache:
    """Thread-safe LRU of document vectors (token vectors or one embedding), bounded in bytes.

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


def cached_encode(
    cache: DocumentVectorCache, fingerprint: str, texts: Sequence[str], encode: Encode
) -> tuple[list[np.ndarray], list[bool], list[bool]]:
    """Vectors of ``texts`` from ``cache`` where present, else from ``encode`` (identical
    texts encoded once) and then cached.

    Returns:
        Per text: its vectors, whether encoding truncated it and whether it came from the
        cache.
    """
    n = len(texts)
    vectors: list[np.ndarray | None] = [None] * n
    truncated = [False] * n
    hits = [False] * n
    if cache.max_bytes:
        for i, text in enumerate(texts):
            hit = cache.get(cache.key(fingerprint, text))
            if hit is not None:
                vectors[i], truncated[i] = hit
                hits[i] = True
    todo = [i for i in range(n) if not hits[i]]
    if todo:
        unique = list(dict.fromkeys(texts[i] for i in todo))
        encoded, cut = encode(unique)
        by_text = dict(zip(unique, zip(encoded, cut, strict=True), strict=True))
        for i in todo:
            vectors[i], truncated[i] = by_text[texts[i]]
        if cache.max_bytes:
            for text, (vec, was_cut) in by_text.items():
                cache.put(cache.key(fingerprint, text), vec, was_cut)
    return [v for v in vectors if v is not None], truncated, hits
