"""`BM25Scorer`: Lucene BM25 of the query against each candidate, a cheap lexical member for
`ragrerank.FusionScorer` or the learned ranker (not a strong reranker alone).

Terms are `ragrerank.utils.terms.TermTokenizer`'s, the same as the first stage's
`ragrerank.BM25Encoder`. The score of a document ``d`` is, over the query's distinct terms
``t`` found in ``d``, ``idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))`` with
``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``: bm25s ``method="lucene"``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...scorer import BaseScorer, config_parameters, validate_query
from ...types import Candidate, ScoreOutput, check_text
from ...utils.terms import TermTokenizer, check_bm25_parameters

__all__ = ["BM25Scorer"]


@dataclass(frozen=True)
class _Statistics:
    """What IDF and length normalization are computed from."""

    documents: int
    avg_length: float
    frequencies: Mapping[str, int]  # term -> number of documents that hold it


class BM25Scorer(BaseScorer):
    """BM25 scores of candidates, with IDF and average length from the candidates
    themselves (default) or from a corpus given once.

    A document that shares no term with the query scores 0.0, as does every document for
    a query of stopwords only. Scores are plain floats.

    Args:
        k1: term-frequency saturation (``>= 0``).
        b: document-length normalization (0 to 1; 0 disables it).
        corpus: texts to take N, document frequencies and the average length from, fitted
            here once; then a candidate's score equals its full-corpus BM25 score (query
            terms the corpus lacks count nothing, as in bm25s). Default: the candidates of
            each call are the collection.
        language: Snowball stemmer language (``ragrerank[bm25]``); None: no stemming.
        stopwords: words dropped before stemming; default Lucene's English list.

    Raises:
        ValueError: bad ``k1``/``b``, an empty corpus, or a corpus text that is not a str
            (naming its index).
    """

    def __init__(
        self,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        corpus: Iterable[str] | None = None,
        language: str | None = "english",
        stopwords: Iterable[str] | None = None,
    ) -> None:
        self.k1, self.b = check_bm25_parameters(k1, b)
        self.terms = TermTokenizer(language=language, stopwords=stopwords)
        self._stats: _Statistics | None = None
        self._corpus_sha256: str | None = None
        if corpus is not None:
            self._fit(corpus)

    def _fit(self, corpus: Iterable[str]) -> None:
        if isinstance(corpus, str):
            raise ValueError("corpus must be a collection of texts, not a single str")
        digest = hashlib.sha256()
        frequencies: Counter[str] = Counter()
        total = documents = 0
        for i, text in enumerate(corpus):
            check_text(text, f"corpus[{i}]")
            digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
            tokens = self.terms.tokenize(text)
            frequencies.update(set(tokens))
            total += len(tokens)
            documents += 1
        if not documents:
            raise ValueError("corpus must hold at least one text")
        self._stats = _Statistics(documents, total / documents, dict(frequencies))
        self._corpus_sha256 = digest.hexdigest()

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "BM25Scorer"

    @property
    def corpus_size(self) -> int | None:
        """Documents of the fitted corpus (None: statistics from each call's candidates)."""
        return None if self._stats is None else self._stats.documents

    def __repr__(self) -> str:
        source = "candidates" if self._stats is None else f"corpus of {self._stats.documents}"
        return (
            f"BM25Scorer(k1={self.k1}, b={self.b}, statistics={source}, "
            f"language={self.terms.language!r}, stopwords={len(self.terms.stopwords)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Constructor arguments as plain data; a fitted corpus appears as its size and hash
        (for fingerprints; pass it again to `from_dict`)."""
        corpus = None
        if self._stats is not None:
            corpus = {"documents": self._stats.documents, "sha256": self._corpus_sha256}
        return {
            "type": "ragrerank.BM25Scorer",
            "init_parameters": {
                "k1": self.k1,
                "b": self.b,
                "language": self.terms.language,
                "stopwords": sorted(self.terms.stopwords),
            },
            "resolved": {"corpus": corpus, "tokenizer": self.terms.config()},
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, corpus: Iterable[str] | None = None
    ) -> BM25Scorer:
        """Rebuild a scorer from `to_dict` output; a scorer fitted on a corpus needs the same
        ``corpus`` again (a different one is a ValueError)."""
        scorer = cls(**config_parameters(data, "BM25Scorer"), corpus=corpus)
        expected = (data.get("resolved") or {}).get("corpus")
        got = scorer.to_dict()["resolved"]["corpus"]
        if expected != got:
            raise ValueError(f"BM25Scorer config was fitted on corpus {expected}, got {got}")
        return scorer

    # -- scoring -----------------------------------------------------------------------------

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        query_terms = list(dict.fromkeys(self.terms.tokenize(query)))
        counts = [Counter(self.terms.tokenize(c.text)) for c in candidates]
        stats = self._stats or _candidate_statistics(counts, query_terms)
        notes = {
            "statistics": "candidates" if self._stats is None else "corpus",
            "query_terms": len(query_terms),
        }
        idf = {
            t: math.log(1.0 + (stats.documents - df + 0.5) / (df + 0.5))
            for t in query_terms
            if (df := stats.frequencies.get(t, 0)) > 0
        }
        scores = [self._score(tf, idf, stats.avg_length) for tf in counts]
        return ScoreOutput(scores, notes=notes)

    def _score(self, tf: Counter[str], idf: Mapping[str, float], avg_length: float) -> float:
        matched = [t for t in idf if t in tf]
        if not matched:
            return 0.0
        norm = self.k1 * (1.0 - self.b + self.b * sum(tf.values()) / avg_length)
        return float(sum(idf[t] * tf[t] / (tf[t] + norm) for t in matched))


def _candidate_statistics(counts: Sequence[Counter[str]], terms: Sequence[str]) -> _Statistics:
    """The candidates as the collection (document frequencies of the query terms only)."""
    total = sum(sum(tf.values()) for tf in counts)
    frequencies = {t: sum(1 for tf in counts if t in tf) for t in terms}
    return _Statistics(len(counts), total / len(counts) if counts else 0.0, frequencies)
