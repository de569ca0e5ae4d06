"""`RagPipeline`: retrieve -> rerank -> assemble in one call, for framework-free apps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..reranker import Reranker
from ..scorer import Scorer, validate_query
from ..types import Document, RerankResult
from .context import AssembledContext, ContextAssembler, conversation_query

__all__ = ["PipelineResult", "RagPipeline", "Retriever"]


@runtime_checkable
class Retriever(Protocol):
    """Anything with ``retrieve(query, top_n=...)`` returning texts or `Candidate` objects.

    `ragrerank.QdrantRetriever` is one; an ``aretrieve`` method is used when present.
    """

    def retrieve(self, query: str, *, top_n: int) -> Sequence[Document]: ...


@dataclass(frozen=True)
class PipelineResult:
    """Everything a caller may want to show or log for one query.

    Attributes:
        query: the query.
        candidates: what the retriever returned, in its order.
        reranked: the `RerankResult` (kept items and the trace).
        context: the `AssembledContext` built from the kept items.
        timings_ms: milliseconds per step: ``retrieve``, ``rerank``, ``assemble``, ``total``.
    """

    query: str
    candidates: tuple[Document, ...]
    reranked: RerankResult
    context: AssembledContext
    timings_ms: Mapping[str, float] = field(default_factory=dict)


class RagPipeline:
    """Retrieve ``top_n`` candidates, rerank them, pack the best into a cited context.

    Args:
        retriever: a `Retriever` (e.g. `QdrantRetriever`).
        reranker: a `Reranker`, or a scorer (wrapped with ``top_k=None``, ``softmax``).
        assembler: the `ContextAssembler`; default: 2,000-token budget.
        top_n: candidates to retrieve per query.
        retrieve_kwargs: extra keyword arguments for ``retrieve`` (e.g. ``mode="hybrid"``).
    """

    def __init__(
        self,
        retriever: Retriever,
        reranker: Reranker | Scorer,
        assembler: ContextAssembler | None = None,
        *,
        top_n: int = 50,
        retrieve_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(retriever, Retriever):
            raise TypeError(
                f"retriever must have retrieve(query, top_n=...), got {type(retriever).__name__}"
            )
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive int, got {top_n!r}")
        self.retriever = retriever
        self.reranker = Reranker.of(reranker)
        self.assembler = ContextAssembler() if assembler is None else assembler
        self.top_n = top_n
        self.retrieve_kwargs = dict(retrieve_kwargs or {})

    def __repr__(self) -> str:
        return (
            f"RagPipeline(retriever={type(self.retriever).__name__}, reranker={self.reranker!r}, "
            f"assembler={self.assembler!r}, top_n={self.top_n})"
        )

    def run(self, query: str) -> PipelineResult:
        """Retrieve, rerank and assemble context for ``query``."""
        validate_query(query)
        t0 = time.perf_counter()
        candidates = tuple(self.retriever.retrieve(query, top_n=self.top_n, **self.retrieve_kwargs))
        t1 = time.perf_counter()
        reranked = self.reranker.rerank(query, candidates)
        t2 = time.perf_counter()
        context = self.assembler.assemble(reranked)
        t3 = time.perf_counter()
        return PipelineResult(query, candidates, reranked, context, _timings(t0, t1, t2, t3))

    async def arun(self, query: str) -> PipelineResult:
        """Async `run`: retrieval, scoring and assembly never block the event loop."""
        validate_query(query)
        t0 = time.perf_counter()
        aretrieve = getattr(self.retriever, "aretrieve", None)
        kwargs = {"top_n": self.top_n, **self.retrieve_kwargs}
        if aretrieve is not None:
            found = await aretrieve(query, **kwargs)
        else:
            found = await asyncio.to_thread(self.retriever.retrieve, query, **kwargs)
        candidates = tuple(found)
        t1 = time.perf_counter()
        reranked = await self.reranker.arerank(query, candidates)
        t2 = time.perf_counter()
        context = await asyncio.to_thread(self.assembler.assemble, reranked)
        t3 = time.perf_counter()
        return PipelineResult(query, candidates, reranked, context, _timings(t0, t1, t2, t3))

    def run_chat(self, turns: Sequence[Mapping[str, Any]], *, window: int = 3) -> PipelineResult:
        """`run` with the query built from the last ``window`` user turns."""
        return self.run(conversation_query(turns, window=window))

    async def arun_chat(
        self, turns: Sequence[Mapping[str, Any]], *, window: int = 3
    ) -> PipelineResult:
        """Async `run_chat`."""
        return await self.arun(conversation_query(turns, window=window))


def _timings(t0: float, t1: float, t2: float, t3: float) -> dict[str, float]:
    return {
        "retrieve": (t1 - t0) * 1000.0,
        "rerank": (t2 - t1) * 1000.0,
        "assemble": (t3 - t2) * 1000.0,
        "total": (t3 - t0) * 1000.0,
    }
