"""Where each candidate's document vectors come from, for one `ColBERTScorer` call.

In order: ``candidate.metadata[vectors_key]``, a `DocumentVectorStore` (by candidate id; a
store may score on its server instead), the in-process `DocumentVectorCache`, else encoded
on the fly (identical texts once) and cached. `VectorLookup` records the source and the
truncation of each candidate and turns them into the score trace notes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...types import Candidate, ScoreOutput
from ...utils.vector_cache import DocumentVectorCache, Encode, cached_encode
from .vectors import DocumentVectorStore

if TYPE_CHECKING:
    import torch

__all__ = ["VectorLookup", "VectorSource"]

VectorSource = Literal["metadata", "store", "cache", "encoded"]
Check = Callable[[object, str], np.ndarray]


class VectorLookup:
    """Per-candidate vectors (or server scores), their sources and truncation, for one call."""

    def __init__(self, candidates: Sequence[Candidate], check: Check) -> None:
        self.candidates = candidates
        self.check = check
        n = len(candidates)
        self.vectors: list[np.ndarray | None] = [None] * n
        self.scores: list[float | None] = [None] * n
        self.source: list[VectorSource | None] = [None] * n
        self.truncated: set[int] = set()

    def from_metadata(self, key: str) -> None:
        for i, cand in enumerate(self.candidates):
            raw = cand.metadata.get(key) if cand.metadata else None
            if raw is not None:
                self.vectors[i] = self.check(raw, f"candidate {i}: metadata[{key!r}]")
                self.source[i] = "metadata"

    def from_store(self, store: DocumentVectorStore, q_vectors: torch.Tensor) -> None:
        cands = self.candidates
        wanted = [i for i, c in enumerate(cands) if self.source[i] is None and c.id is not None]
        ids = list(dict.fromkeys(cands[i].id for i in wanted))
        if not ids:
            return
        if store.scores_on_server:
            found_scores = store.server_scores(q_vectors.cpu().numpy(), ids)
            for i in wanted:
                value = found_scores.get(cands[i].id)
                if value is not None:
                    self.scores[i] = float(value)
                    self.source[i] = "store"
            return
        found = store.fetch_vectors(ids)
        for i in wanted:
            vec = found.get(cands[i].id)
            if vec is not None:
                self.vectors[i] = self.check(vec, f"candidate {i} (id={cands[i].id!r}): store")
                self.source[i] = "store"

    def from_cache_or_encoded(
        self, cache: DocumentVectorCache, fingerprint: str, encode: Encode
    ) -> None:
        """Fill the candidates still without vectors from the cache, else encode (and cache)."""
        missing = [i for i in range(len(self.candidates)) if self.source[i] is None]
        if not missing:
            return
        texts = [self.candidates[i].text for i in missing]
        vectors, cut, hits = cached_encode(cache, fingerprint, texts, encode)
        for i, vec, was_truncated, hit in zip(missing, vectors, cut, hits, strict=True):
            self.vectors[i] = vec
            self.source[i] = "cache" if hit else "encoded"
            if was_truncated:
                self.truncated.add(i)

    def unscored(self) -> list[int]:
        """Candidates to score in-process (all but those the store scored)."""
        return [i for i in range(len(self.candidates)) if self.scores[i] is None]

    def output(self, *, query_truncated: bool) -> ScoreOutput:
        """The scores (0.0 for documents without vectors) and the trace notes."""
        n = len(self.candidates)
        empty = [i for i, v in enumerate(self.vectors) if v is not None and v.shape[0] == 0]
        for i in empty:
            self.scores[i] = 0.0
        kinds: tuple[VectorSource, ...] = ("metadata", "store", "cache", "encoded")
        notes: dict[str, Any] = {"vector_sources": {s: self.source.count(s) for s in kinds}}
        encoded = [i for i in range(n) if self.source[i] == "encoded"]
        if encoded:
            notes["encoded_on_the_fly"] = encoded
        if empty:
            notes["empty_documents"] = empty
        if query_truncated:
            notes["query_truncated"] = True
        return ScoreOutput(
            [float(s) for s in self.scores],  # type: ignore[arg-type]
            truncated=frozenset(self.truncated),
            notes=notes,
        )
