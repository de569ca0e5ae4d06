"""LlamaIndex adapter in a query engine over an embedded Qdrant vector store."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import Document, NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.ragrerank import RagRerank

from tests.conftest import SCIENCE_DOCS, KeywordScorer


class Collect(BaseEventHandler):
    events: list[Any] = []  # noqa: RUF012 - pydantic field

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def embed_model(minilm: str):  # type: ignore[no-untyped-def]
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    Settings.llm = None
    model = HuggingFaceEmbedding(model_name=minilm, device="cpu")
    Settings.embed_model = model
    return model


def _documents() -> list[Document]:
    return [
        Document(text=t, metadata={"source": f"doc{i}"}, doc_id=f"d{i}")
        for i, t in enumerate(SCIENCE_DOCS)
    ]


def _check(source_nodes: list[NodeWithScore]) -> None:
    assert len(source_nodes) == 2
    assert "aspirin" in source_nodes[0].node.get_content().lower()
    for n in source_nodes:
        assert isinstance(n.score, float)
        assert "retrieval_score" in n.node.metadata and "source" in n.node.metadata
        assert "retrieval_score" in n.node.excluded_llm_metadata_keys
    assert source_nodes[0].score >= source_nodes[1].score  # type: ignore[operator]


def test_query_engine_sync_emits_rerank_events(embed_model) -> None:  # type: ignore[no-untyped-def]
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    handler = Collect()
    handler.events = []
    get_dispatcher().add_event_handler(handler)
    store = QdrantVectorStore(client=QdrantClient(":memory:"), collection_name="li")
    index = VectorStoreIndex.from_documents(
        _documents(), storage_context=StorageContext.from_defaults(vector_store=store)
    )
    engine = index.as_query_engine(
        similarity_top_k=6, node_postprocessors=[RagRerank(KeywordScorer(), top_n=2)]
    )
    response = engine.query("aspirin heart attack prevention")
    _check(response.source_nodes)
    kinds = [type(e) for e in handler.events]
    assert ReRankStartEvent in kinds and ReRankEndEvent in kinds


async def test_query_engine_async(embed_model) -> None:  # type: ignore[no-untyped-def]
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import AsyncQdrantClient

    store = QdrantVectorStore(aclient=AsyncQdrantClient(":memory:"), collection_name="li_async")
    index = VectorStoreIndex.from_documents(
        _documents(),
        storage_context=StorageContext.from_defaults(vector_store=store),
        use_async=True,
    )
    engine = index.as_query_engine(
        similarity_top_k=6,
        node_postprocessors=[RagRerank(KeywordScorer(), top_n=2)],
        use_async=True,
    )
    response = await engine.aquery("aspirin heart attack prevention")
    _check(response.source_nodes)


async def test_postprocessor_never_mutates_nodes(tiny_ce: str) -> None:
    from ragrerank import CrossEncoderScorer

    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"k": i}), score=0.0 + i)
        for i, t in enumerate(SCIENCE_DOCS)
    ]
    before = copy.deepcopy(nodes)
    post = RagRerank(CrossEncoderScorer(tiny_ce, dtype="float32"), top_n=None)
    for out in (
        post.postprocess_nodes(nodes, query_str="aspirin"),
        await post.apostprocess_nodes(nodes, query_bundle=QueryBundle("aspirin")),
    ):
        assert [n.model_dump() for n in nodes] == [n.model_dump() for n in before]
        assert sorted(n.node.node_id for n in out) == sorted(n.node.node_id for n in nodes)
        assert all(n.node.metadata["retrieval_score"] == float(n.node.metadata["k"]) for n in out)
    # a retriever score of 0.0 is kept as 0.0, not dropped as missing
    assert any(n.node.metadata["retrieval_score"] == 0.0 for n in out)


def test_missing_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a query"):
        RagRerank(KeywordScorer()).postprocess_nodes([NodeWithScore(node=TextNode(text="a"))])


def _nodes(*scores: float | None) -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=f"aspirin {i}", id_=f"n{i}"), score=s)
        for i, s in enumerate(scores)
    ]


def test_non_finite_node_score_is_refused_naming_the_node() -> None:
    with pytest.raises(ValueError, match=r"document 1 \(id='n1'\): first-stage score must be a"):
        RagRerank(KeywordScorer()).postprocess_nodes(_nodes(1.0, math.inf), query_str="aspirin")


def test_top_n_zero_keeps_nothing_and_is_reported_as_zero() -> None:
    handler = Collect()
    handler.events = []
    get_dispatcher().add_event_handler(handler)
    out = RagRerank(KeywordScorer(), top_n=0).postprocess_nodes(
        _nodes(0.5, 0.2), query_str="aspirin"
    )
    assert out == []
    (start,) = [e for e in handler.events if isinstance(e, ReRankStartEvent)]
    assert start.top_n == 0


@pytest.mark.parametrize("bad", ["plain text", None, TextNode(text="a node without a score")])
async def test_non_nodes_raise_type_error_naming_index_and_type(bad: object) -> None:
    post = RagRerank(KeywordScorer())
    nodes = [*_nodes(1.0), bad]
    message = rf"nodes\[1\]: expected a NodeWithScore, got {type(bad).__name__}"
    with pytest.raises(TypeError, match=message):
        post.postprocess_nodes(nodes, query_str="aspirin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        await post.apostprocess_nodes(nodes, query_str="aspirin")  # type: ignore[arg-type]


async def test_ranked_fields_pass_through_and_nodes_stay_untouched() -> None:
    from llama_index.core.schema import MetadataMode

    from tests.test_fields import RecordingScorer

    nodes = [
        NodeWithScore(node=TextNode(text="tower", id_="a", metadata={"title": "heart"}), score=1.0),
        NodeWithScore(node=TextNode(text="heart", id_="b", metadata={"title": "x"}), score=2.0),
    ]
    before = copy.deepcopy(nodes)
    scorer = RecordingScorer()
    post = RagRerank(
        scorer, top_n=None, metadata_mode=MetadataMode.NONE, rank_fields=["title", "text"]
    )
    for out in (
        post.postprocess_nodes(nodes, query_str="heart tower"),
        await post.apostprocess_nodes(nodes, query_bundle=QueryBundle("heart tower")),
    ):
        assert [n.node.get_content() for n in out] == ["tower", "heart"]
        assert out[0].node.metadata["rerank_score"] == 2.0
    assert scorer.seen == [["title: heart\ntext: tower", "title: x\ntext: heart"]] * 2
    assert [n.model_dump() for n in nodes] == [n.model_dump() for n in before]


async def test_feedback_log_id_rides_on_each_node_hidden_from_the_llm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.schema import MetadataMode

    from ragrerank import FeedbackLog

    nodes = _nodes(0.5, 0.2, 0.1)
    before = copy.deepcopy(nodes)
    with FeedbackLog(tmp_path / "f.db") as log:
        post = RagRerank(KeywordScorer(), top_n=2, feedback=log)
        out = post.postprocess_nodes(nodes, query_str="aspirin 1")
        aout = await post.apostprocess_nodes(nodes, query_str="aspirin 1")
        first, second = list(log.impressions())
        log.click(out[0].node.metadata["ragrerank_impression_id"], out[0].node.node_id)
        assert log.counts()["click"] == 1
    assert [n.node.metadata for n in nodes] == [n.node.metadata for n in before]
    assert {n.node.metadata["ragrerank_impression_id"] for n in out} == {first.impression_id}
    assert {n.node.metadata["ragrerank_impression_id"] for n in aout} == {second.impression_id}
    assert first.doc_ids == ("n0", "n1", "n2") and first.positions[1] == 1
    for n in out:
        assert first.impression_id not in n.node.get_content(metadata_mode=MetadataMode.LLM)
        assert first.impression_id not in n.node.get_content(metadata_mode=MetadataMode.EMBED)
    plain = RagRerank(KeywordScorer(), top_n=2).postprocess_nodes(nodes, query_str="aspirin 1")
    assert "ragrerank_impression_id" not in plain[0].node.metadata
