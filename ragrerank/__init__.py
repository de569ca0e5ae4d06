"""ragrerank: fast, correct second-stage re-ranking for RAG and search pipelines."""

from __future__ import annotations

from .cohere import CohereError, CohereScorer
from .colbert import ColBERTScorer
from .cross_encoder import CrossEncoderScorer
from .errors import InvalidScoresError, MissingDependencyError, RagRerankError, ScorerError
from .normalize import normalize_scores
from .rag.context import AssembledContext, ChatContextSelector, ContextAssembler
from .rag.pipeline import PipelineResult, RagPipeline
from .reranker import Reranker
from .retrieval.bm25 import BM25Encoder
from .retrieval.qdrant import IndexReport, QdrantRetriever
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
    "InvalidScoresError",
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
