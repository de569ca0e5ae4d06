"""ragrerank: fast, correct second-stage re-ranking for RAG and search pipelines."""

from __future__ import annotations

from importlib import metadata as _metadata

from .calibrator import Calibrator
from .composers import (
    CachedScorer,
    CascadeScorer,
    FusionScorer,
    LearnedRanker,
    MaxPassageScorer,
    MetadataBoostScorer,
)
from .errors import InvalidScoresError, MissingDependencyError, RagRerankError, ScorerError
from .evaluation import evaluate
from .evaluation.taxonomy import failure_taxonomy
from .feedback import FeedbackLog, Interleaver, Propensity, SwapRandomizer
from .normalize import normalize_scores
from .rag import (
    AssembledContext,
    ChatContextSelector,
    ContextAssembler,
    PipelineResult,
    RagPipeline,
)
from .reranker import Reranker
from .retrieval import (
    BM25Encoder,
    CollectionOptions,
    IndexReport,
    QdrantColBERTStore,
    QdrantRetriever,
)
from .scorer import BaseScorer, DetailedScorer, Scorer, TokenizingScorer
from .scorers.bi_encoder import BiEncoderScorer
from .scorers.colbert import ColBERTScorer
from .scorers.cross_encoder import CrossEncoderScorer
from .scorers.generative import GenerativeScorer
from .scorers.lexical import BM25Scorer
from .scorers.llm import ListwiseLLMScorer
from .scorers.remote import CohereError, CohereScorer, RemoteRerankError, RemoteRerankScorer
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
    "BM25Scorer",
    "BiEncoderScorer",
    "BaseScorer",
    "CachedScorer",
    "Calibrator",
    "Candidate",
    "CascadeScorer",
    "ChatContextSelector",
    "CollectionOptions",
    "ContextAssembler",
    "CohereError",
    "CohereScorer",
    "ColBERTScorer",
    "CrossEncoderScorer",
    "GenerativeScorer",
    "DetailedScorer",
    "Document",
    "FeedbackLog",
    "FusionScorer",
    "IndexReport",
    "Interleaver",
    "LearnedRanker",
    "InvalidScoresError",
    "ListwiseLLMScorer",
    "MetadataBoostScorer",
    "MaxPassageScorer",
    "MissingDependencyError",
    "PipelineResult",
    "Propensity",
    "QdrantColBERTStore",
    "QdrantRetriever",
    "RagPipeline",
    "RagRerankError",
    "RemoteRerankError",
    "RemoteRerankScorer",
    "RerankResult",
    "RerankedItem",
    "Reranker",
    "ScoreOutput",
    "ScoreTrace",
    "Scorer",
    "ScorerError",
    "SwapRandomizer",
    "TokenizingScorer",
    "TraceEntry",
    "__version__",
    "evaluate",
    "failure_taxonomy",
    "normalize_scores",
]
