"""BM25 term weighting for sparse vectors (Qdrant applies the IDF half).

Terms are those of `ragrerank.utils.terms.TermTokenizer` (lowercased, ``\\b\\w\\w+\\b``,
Lucene's English stopwords removed, Snowball-stemmed with PyStemmer; `ragrerank.BM25Scorer`
counts the same ones). Term ids are the first 4 bytes of the BLAKE2b hash of the stem: stable
across processes and machines, no vocabulary to store or ship, and new documents can add new terms freely. With ~10^5 distinct stems a
collision costs at most a handful of merged rare terms (expected pairs n^2 / 2^33).

Document vectors carry the Lucene BM25 term-frequency part
``tf / (tf + k1 * (1 - b + b * dl / avgdl))``; query vectors carry weight 1 per distinct
term. A sparse vector with ``modifier=IDF`` in Qdrant multiplies each query term by
``ln(1 + (N - df + 0.5) / (df + 0.5))``, which completes BM25 exactly as bm25s
``method="lucene"`` computes it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..utils.terms import ENGLISH_STOPWORDS, TermTokenizer, check_bm25_parameters

__all__ = ["ENGLISH_STOPWORDS", "BM25Encoder", "SparseTerms"]


@dataclass(frozen=True)
class SparseTerms:
    """A sparse vector: term ids (sorted, unique) and their weights."""

    indices: list[int]
    values: list[float]


class BM25Encoder:
    """Tokenize, stem and weight text for BM25 sparse retrieval.

    Args:
        k1: term-frequency saturation.
        b: document-length normalization strength (0 disables it).
        avg_doc_length: average document length in tokens; when ``None`` pass it to
            `encode_documents` (`QdrantRetriever` measures it on the first documents it
            indexes and stores it with the collection).
        language: Snowball stemmer language (PyStemmer); ``None`` disables stemming.
        stopwords: words removed before stemming; default `ENGLISH_STOPWORDS`.
    """

    def __init__(
        self,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        avg_doc_length: float | None = None,
        language: str | None = "english",
        stopwords: Iterable[str] | None = None,
    ) -> None:
        self.k1, self.b = check_bm25_parameters(k1, b)
        if avg_doc_length is not None and not avg_doc_length > 0:
            raise ValueError(f"avg_doc_length must be > 0, got {avg_doc_length!r}")
        self.avg_doc_length = None if avg_doc_length is None else float(avg_doc_length)
        self.terms = TermTokenizer(language=language, stopwords=stopwords)
        self.language = language
        self.stopwords = self.terms.stopwords

    def __repr__(self) -> str:
        return (
            f"BM25Encoder(k1={self.k1}, b={self.b}, avg_doc_length={self.avg_doc_length}, "
            f"language={self.language!r}, stopwords={len(self.stopwords)})"
        )

    def tokenizer_config(self) -> dict[str, Any]:
        """What must match between indexing and querying (stored with the collection)."""
        return {**self.terms.config(), "hash": "blake2b-32"}

    def config(self) -> dict[str, Any]:
        """Weighting and tokenizer parameters as plain data."""
        return {
            "k1": self.k1,
            "b": self.b,
            "avg_doc_length": self.avg_doc_length,
            **self.tokenizer_config(),
        }

    # -- tokens -----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """Lowercase, split, drop stopwords, stem (`TermTokenizer.tokenize`)."""
        return self.terms.tokenize(text)

    @staticmethod
    def term_id(token: str) -> int:
        """Stable unsigned 32-bit id of a token."""
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest()
        return int.from_bytes(digest, "little")

    # -- weighting --------------------------------------------------------------------------

    def mean_length(self, texts: Sequence[str]) -> float:
        """Average token count of ``texts`` after stopword removal (at least 1.0)."""
        if not texts:
            raise ValueError("mean_length needs at least one text")
        lengths = [len(self.tokenize(t)) for t in texts]
        return max(sum(lengths) / len(lengths), 1.0)

    def encode_documents(
        self, texts: Sequence[str], *, avg_doc_length: float | None = None
    ) -> list[SparseTerms]:
        """BM25 term-frequency weights per document.

        ``avg_doc_length`` overrides the encoder's; one of them must be set.
        """
        avgdl = self.avg_doc_length if avg_doc_length is None else float(avg_doc_length)
        if avgdl is None or not avgdl > 0:
            raise ValueError(f"avg_doc_length must be set and > 0, got {avgdl!r}")
        return [self._weights(Counter(self.tokenize(t)), avgdl) for t in texts]

    def _weights(self, tf: Mapping[str, int], avgdl: float) -> SparseTerms:
        dl = sum(tf.values())
        norm = self.k1 * (1.0 - self.b + self.b * dl / avgdl)
        merged: dict[int, float] = {}
        for token, count in tf.items():
            tid = self.term_id(token)
            merged[tid] = merged.get(tid, 0.0) + count  # hash collisions add up like one term
        ids = sorted(merged)
        return SparseTerms(ids, [float(merged[i] / (merged[i] + norm)) for i in ids])

    def encode_query(self, text: str) -> SparseTerms:
        """Distinct term ids of ``text``, weight 1 each (Qdrant's IDF completes BM25)."""
        ids = sorted({self.term_id(t) for t in self.tokenize(text)})
        return SparseTerms(ids, [1.0] * len(ids))
