"""`BiEncoderScorer`: cosine similarity of sentence-transformers embeddings, a cheap dense
member for `ragrerank.FusionScorer` or the learned ranker (not a strong reranker alone).

Encoding is `DenseEncoder`'s (the first stage's, `encoder.py`); document embeddings are kept
in the bounded `ragrerank.utils.vector_cache.DocumentVectorCache` (shared with ColBERT).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...scorer import BaseScorer, config_parameters, fingerprint, validate_query
from ...types import Candidate, ScoreOutput
from ...utils.hardware import resolve_dtype
from ...utils.vector_cache import DocumentVectorCache, cached_encode
from .encoder import DenseEncoder

__all__ = ["BiEncoderScorer"]

logger = logging.getLogger(__name__)


class BiEncoderScorer(BaseScorer):
    """Score each candidate by the cosine of its embedding with the query's.

    Scores equal ``util.cos_sim(model.encode(query, normalize_embeddings=True),
    model.encode(documents, normalize_embeddings=True))`` in float32 (query and document
    prompts applied as ``encode_query``/``encode_document`` do). The model loads once, on
    first use (or `warm_up`), thread-safely.

    Args:
        model: hub name or local folder of a sentence-transformers model (which is which,
            and the errors: `ragrerank.utils.model_source`).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        batch_size: texts per forward pass.
        max_length: tokens per text; default: the model's ``max_seq_length``. Longer
            documents are cut (counted in `ScoreOutput.truncated` and warned once); a cut
            query is noted in the trace (``query_truncated``).
        dtype: ``"float32"`` (default: bf16 dense top-10 agreement with float32 measured
            below 0.99), ``"auto"``, ``"bfloat16"``, ``"float16"`` or None (as
            `CrossEncoderScorer`). Embeddings are normalized in float32 whatever the dtype.
        cache_max_bytes: bound of the in-process cache of document embeddings (keyed by
            this scorer's fingerprint and the text's sha256); 0 disables it.

    Raises:
        ValueError: a bad option, naming it.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        dtype: str | None = "float32",
        cache_max_bytes: int = 64 * 2**20,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.encoder = DenseEncoder(
            self.model_name, device=device, dtype=dtype, max_length=max_length
        )
        self.cache = DocumentVectorCache(cache_max_bytes)
        self._cache_key: str | None = None
        self._load_lock = threading.Lock()
        self._warned_truncation = False

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"BiEncoderScorer({self.model_name})"

    @property
    def resolved_dtype(self) -> str | None:
        """The dtype the model runs in (``"auto"`` resolved for ``device``)."""
        if self.encoder.loaded:
            return self.encoder.dtype
        return resolve_dtype(self.dtype, self.device)

    def __repr__(self) -> str:
        return (
            f"BiEncoderScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r} ({self.resolved_dtype}), batch_size={self.batch_size}, "
            f"max_length={self.max_length}, cache_max_bytes={self.cache.max_bytes})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments (see `from_dict`)."""
        return {
            "type": "ragrerank.BiEncoderScorer",
            "init_parameters": {
                "model": self.model_name,
                "device": self.device,
                "batch_size": self.batch_size,
                "max_length": self.max_length,
                "dtype": self.dtype,
                "cache_max_bytes": self.cache.max_bytes,
            },
            # What "auto" chose here: part of the fingerprint, so caches never mix dtypes.
            "resolved": {"dtype": self.resolved_dtype},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BiEncoderScorer:
        """Rebuild a scorer from `to_dict` output."""
        return cls(**config_parameters(data, "BiEncoderScorer"))

    # -- scoring -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model now (otherwise on first use). Idempotent and thread-safe."""
        self._key()

    def _key(self) -> str:
        """The cache key prefix: this scorer's fingerprint once loaded (its dtype resolved,
        a local folder's files included)."""
        if self._cache_key is None:
            with self._load_lock:
                if self._cache_key is None:
                    self.encoder.load()
                    self._cache_key = fingerprint(self)
        return self._cache_key

    def _encode_documents(self, texts: list[str]) -> tuple[list[np.ndarray], list[bool]]:
        vectors, truncated = self.encoder.encode(texts, query=False, batch_size=self.batch_size)
        return list(vectors), truncated

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        key = self._key()
        q_vector, q_cut = self.encoder.encode([query], query=True, batch_size=1)
        texts = [c.text for c in candidates]
        vectors, cut, hits = cached_encode(self.cache, key, texts, self._encode_documents)
        # One dot per document: a score never depends on which other candidates came along
        # (a matrix product's blocking changes with the row count).
        cosines = [float(np.dot(v, q_vector[0])) for v in vectors]
        truncated = frozenset(i for i, c in enumerate(cut) if c)
        if truncated and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: %d of %d documents exceed max_length=%s tokens and were truncated "
                "(counted in each trace; warned once per scorer)",
                self.name,
                len(truncated),
                len(texts),
                self.encoder.load().max_seq_length,
            )
        notes: dict[str, Any] = {"dtype": self.resolved_dtype, "cache_hits": sum(hits)}
        if q_cut[0]:
            notes["query_truncated"] = True
        return ScoreOutput(cosines, truncated=truncated, notes=notes)
