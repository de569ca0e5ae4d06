"""LlamaIndex node postprocessor backed by ragrerank."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from ragrerank import Candidate, Reranker, RerankResult, Scorer

__all__ = ["IMPRESSION_KEY", "RagRerank"]

IMPRESSION_KEY = "ragrerank_impression_id"
"""The metadata key of the feedback log's impression id on each returned node."""

dispatcher = get_dispatcher(__name__)


class RagRerank(BaseNodePostprocessor):
    """Rerank retrieved nodes with a ragrerank `Reranker` (or a scorer plus options).

    Returns new `NodeWithScore` objects whose ``score`` is the normalized rerank score;
    the retriever's score is kept in node metadata as ``retrieval_score`` (and the raw
    rerank score as ``rerank_score``, and the scorer's details for that node: its trace
    entry's ``details``, e.g. `MaxPassageScorer`'s ``best_chunk``), all hidden from the LLM
    and embedding text.
    Input nodes are never modified. With ``feedback=FeedbackLog(...)`` each result is logged
    and every returned node carries its impression id as (hidden) metadata
    ``ragrerank_impression_id``: pass it to the log's ``click`` with the node's id.

    Args:
        reranker: a `Reranker`, or a scorer that ``options`` turn into one.
        top_n: nodes to keep; None keeps all.
        metadata_mode: which node text the scorer sees.
        **options: `Reranker` options when ``reranker`` is a scorer (``normalize``,
            ``fallback``, ``feedback``, ``rank_fields=["title", "text"]``...: ``text`` is the node's
            content under ``metadata_mode``, so pass ``MetadataMode.NONE`` to keep metadata
            from appearing twice), and LlamaIndex's ``callback_manager``.

    Raises:
        ValueError: neither a reranker nor a scorer was given.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Reranker = Field(description="The ragrerank Reranker.")
    top_n: int | None = Field(default=2, description="Nodes to keep; None keeps all.")
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.EMBED, description="Which node text the scorer sees."
    )

    def __init__(
        self,
        reranker: Reranker | Scorer | None = None,
        *,
        top_n: int | None = 2,
        metadata_mode: MetadataMode = MetadataMode.EMBED,
        **options: Any,
    ) -> None:
        if reranker is None:
            reranker = options.pop("scorer", None)
        if reranker is None:
            raise ValueError("pass a ragrerank Reranker or Scorer")
        callback_manager = options.pop("callback_manager", None)
        extra = {} if callback_manager is None else {"callback_manager": callback_manager}
        super().__init__(
            reranker=Reranker.of(reranker, **options),
            top_n=top_n,
            metadata_mode=metadata_mode,
            **extra,
        )

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's serialization name."""
        return "RagRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._start(nodes, query_bundle)
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._payload(nodes, query)
        ) as ev:
            out = _to_nodes(
                nodes, self.reranker.rerank(query, self._candidates(nodes), top_k=self.top_n)
            )
            ev.on_end(payload={EventPayload.NODES: out})
        dispatcher.event(ReRankEndEvent(nodes=out))
        return out

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._start(nodes, query_bundle)
        with self.callback_manager.event(
            CBEventType.RERANKING, payload=self._payload(nodes, query)
        ) as ev:
            result = await self.reranker.arerank(query, self._candidates(nodes), top_k=self.top_n)
            out = _to_nodes(nodes, result)
            ev.on_end(payload={EventPayload.NODES: out})
        dispatcher.event(ReRankEndEvent(nodes=out))
        return out

    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("RagRerank needs a query: pass query_bundle or query_str")
        for i, n in enumerate(nodes):
            if not isinstance(n, NodeWithScore):
                raise TypeError(f"nodes[{i}]: expected a NodeWithScore, got {type(n).__name__}")
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=len(nodes) if self.top_n is None else self.top_n,
                model_name=self._model_name,
            )
        )
        return query_bundle.query_str

    @property
    def _model_name(self) -> str:
        return repr(self.reranker.scorer)

    def _payload(self, nodes: list[NodeWithScore], query: str) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self._model_name,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: self.top_n,
        }

    def _candidates(self, nodes: list[NodeWithScore]) -> list[Candidate]:
        return [
            Candidate(
                text=n.node.get_content(metadata_mode=self.metadata_mode),
                id=n.node.node_id,
                metadata=n.node.metadata,
                score=n.score,
            )
            for n in nodes
        ]


_ADDED_KEYS = ["retrieval_score", "rerank_score"]


def _to_nodes(nodes: list[NodeWithScore], result: RerankResult) -> list[NodeWithScore]:
    logged = {} if result.impression_id is None else {IMPRESSION_KEY: result.impression_id}
    out = []
    for item in result:
        original = nodes[item.index]
        node = original.node.model_copy()
        details = result.trace.entries[item.index].details
        node.metadata = {
            **original.node.metadata,
            **details,
            "retrieval_score": original.score,
            "rerank_score": item.score,
            **logged,
        }
        added = [*_ADDED_KEYS, *details, *logged]
        node.excluded_llm_metadata_keys = _merge(node.excluded_llm_metadata_keys, added)
        node.excluded_embed_metadata_keys = _merge(node.excluded_embed_metadata_keys, added)
        out.append(NodeWithScore(node=node, score=item.normalized_score))
    return out


def _merge(keys: list[str], added: list[str]) -> list[str]:
    return [*keys, *(k for k in added if k not in keys)]
