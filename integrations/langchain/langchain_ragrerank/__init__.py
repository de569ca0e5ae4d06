"""LangChain document compressor backed by ragrerank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict

from ragrerank import Candidate, Reranker, RerankResult, Scorer

__all__ = ["IMPRESSION_KEY", "RagRerank"]

IMPRESSION_KEY = "ragrerank_impression_id"
"""The metadata key of the feedback log's impression id on each returned document."""


class RagRerank(BaseDocumentCompressor):
    """Rerank retrieved documents with a ragrerank `Reranker` (or a scorer plus options).

    Works as ``base_compressor`` of ``ContextualCompressionRetriever``. Each returned
    document is a new `Document` with the original metadata plus ``relevance_score``
    (normalized), ``rerank_score`` (raw) and the scorer's details for that document (its
    trace entry's ``details``, e.g. `MaxPassageScorer`'s ``best_chunk``); inputs are never
    modified. Other keyword arguments are `Reranker` options, e.g.
    ``text_template="{title}\\n{text}"`` or ``rank_fields=[...]`` (``text`` is
    ``page_content``, other names metadata keys). With ``feedback=FeedbackLog(...)`` each
    result is logged and every returned document carries its impression id as metadata
    ``ragrerank_impression_id`` (pass it to the log's ``click`` with the document's id).

    Args:
        reranker: a `Reranker`, or a scorer that ``options`` turn into one.
        top_n: documents to keep; None keeps all.
        **options: `Reranker` options when ``reranker`` is a scorer (``normalize``,
            ``fallback``, ``feedback``, ...).

    Raises:
        ValueError: neither a reranker nor a scorer was given.

    Example:
        ``RagRerank(CrossEncoderScorer("cross-encoder/ms-marco-MiniLM-L-6-v2"), top_n=3)``
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Reranker
    top_n: int | None = 3

    def __init__(
        self,
        reranker: Reranker | Scorer | None = None,
        *,
        top_n: int | None = 3,
        **options: Any,
    ) -> None:
        if reranker is None:
            reranker = options.pop("scorer", None)
        if reranker is None:
            raise ValueError("pass a ragrerank Reranker or Scorer")
        super().__init__(reranker=Reranker.of(reranker, **options), top_n=top_n)

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The best ``top_n`` documents for ``query``, best first, as new `Document`s.

        Raises:
            TypeError: an input is not a `Document` (its index is named).
        """
        docs = list(documents)
        return _to_documents(
            docs, self.reranker.rerank(query, _to_candidates(docs), top_k=self.top_n)
        )

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """`compress_documents` for async code, through `Reranker.arerank`."""
        docs = list(documents)
        result = await self.reranker.arerank(query, _to_candidates(docs), top_k=self.top_n)
        return _to_documents(docs, result)


def _to_candidates(docs: list[Document]) -> list[Candidate]:
    for i, d in enumerate(docs):
        if not isinstance(d, Document):
            raise TypeError(
                f"documents[{i}]: expected a langchain Document, got {type(d).__name__}"
            )
    return [Candidate(text=d.page_content, id=d.id, metadata=d.metadata) for d in docs]


def _to_documents(docs: list[Document], result: RerankResult) -> list[Document]:
    logged = {} if result.impression_id is None else {IMPRESSION_KEY: result.impression_id}
    return [
        docs[item.index].model_copy(
            update={
                "metadata": {
                    **docs[item.index].metadata,
                    **result.trace.entries[item.index].details,
                    "relevance_score": item.normalized_score,
                    "rerank_score": item.score,
                    **logged,
                }
            }
        )
        for item in result
    ]
