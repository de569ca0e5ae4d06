"""After reranking: context assembly under a token budget (with citations and chat-history
awareness) and `RagPipeline`, retrieve -> rerank -> assemble in one call."""

from __future__ import annotations

from .context import (
    AssembledContext,
    ChatContext,
    ChatContextSelector,
    ContextAssembler,
    ContextItem,
    DroppedItem,
    conversation_query,
    count_tokens,
)
from .pipeline import PipelineResult, RagPipeline, Retriever

__all__ = [
    "AssembledContext",
    "ChatContext",
    "ChatContextSelector",
    "ContextAssembler",
    "ContextItem",
    "DroppedItem",
    "PipelineResult",
    "RagPipeline",
    "Retriever",
    "conversation_query",
    "count_tokens",
]
