"""ragrerank: fast, correct second-stage re-ranking for RAG and search pipelines."""

from __future__ import annotations

from importlib import metadata as _metadata

from .bm25 import BM25Encoder
from .cohere import CohereError, CohereScorer
from .colbert import ColBERTScorer
from .context import AssembledContext, ChatContextSelector, ContextAssembler
from .cross_encoder import CrossEncoderScorer
from .errors import MissingDependencyError, RagRerankError, ScorerError
from .normalize import normalize_scores
from .pipeline import PipelineResult, RagPipeline
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

try:
    __version__ = _metadata.version("ragrerank")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AssembledContext",
    "BM25Encoder",
    "BaseScorer",
    "Candidate",
    "ChatContextSelector",
    "ContextAssembler",
    "CohereError",
    "CohereScorer",
    "ColBERTScorer",
    "CrossEncoderScorer",
    "DetailedScorer",
    "Document",
    "IndexReport",
    "MissingDependencyError",
    "PipelineResult",
    "QdrantRetriever",
    "RagPipeline",
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
