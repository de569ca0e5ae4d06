"""ragrerank: fast, correct second-stage re-ranking for RAG and search pipelines."""

from __future__ import annotations

from .bm25 import BM25Encoder
from .cross_encoder import CrossEncoderScorer
from .errors import MissingDependencyError, RagRerankError, ScorerError
from .normalize import normalize_scores
from .qdrant import IndexReport, QdrantRetriever
from .reranker import Reranker
from .scorer import BaseScorer, DetailedScorer, Scorer
from .types import (
    Candidate,
    Document,
    RerankedItem,
    RerankResult,
    ScoreOutput,
    ScoreTrace,
    TraceEntry,
)

__version__ = "0.1.0"

__all__ = [
    "BM25Encoder",
    "BaseScorer",
    "Candidate",
    "CrossEncoderScorer",
    "DetailedScorer",
    "Document",
    "IndexReport",
    "MissingDependencyError",
    "QdrantRetriever",
    "RagRerankError",
    "RerankResult",
    "RerankedItem",
    "Reranker",
    "ScoreOutput",
    "ScoreTrace",
    "Scorer",
    "ScorerError",
    "TraceEntry",
    "__version__",
    "normalize_scores",
]
