"""Scorer backends, one module or subpackage per family; each implements `ragrerank.Scorer`.

- ``cross_encoder``: local sequence-classification rerankers (transformers / sentence-transformers).
- ``colbert``: ColBERT late interaction over stored document vectors.
- ``generative``: local yes/no-token rerankers (decoder-only and MonoT5-style).
- ``remote``: hosted rerank APIs (Cohere).
- ``llm``: listwise re-ranking by a LangChain chat model.
"""

from __future__ import annotations

from .colbert import ColBERTScorer
from .cross_encoder import CrossEncoderScorer
from .generative import GenerativeScorer
from .llm import ListwiseLLMScorer
from .remote import CohereError, CohereScorer

__all__ = [
    "CohereError",
    "CohereScorer",
    "ColBERTScorer",
    "CrossEncoderScorer",
    "GenerativeScorer",
    "ListwiseLLMScorer",
]
