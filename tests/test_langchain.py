"""LangChain adapter inside ContextualCompressionRetriever over an embedded Qdrant store."""

from __future__ import annotations

import copy

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document

from langchain_ragrerank import RagRerank
from ragrerank import Reranker
from tests.conftest import SCIENCE_DOCS, KeywordScorer


@pytest.fixture(scope="module")
def vector_retriever(minilm: str):  # type: ignore[no-untyped-def]
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore

    embeddings = HuggingFaceEmbeddings(model_name=minilm, model_kwargs={"device": "cpu"})
    docs = [
        Document(
            page_content=t,
            metadata={"source": f"doc{i}", "n": i},
            id=f"00000000-0000-0000-0000-00000000000{i}",
        )
        for i, t in enumerate(SCIENCE_DOCS)
    ]
    store = QdrantVectorStore.from_documents(
        docs, embeddings, location=":memory:", collection_name="lc", ids=[d.id for d in docs]
    )
    return store.as_retriever(search_kwargs={"k": 6})


def _check(docs: list[Document]) -> None:
    assert len(docs) == 2
    assert docs[0].page_content.startswith(("Aspirin reduces", "Low-dose aspirin"))
    for d in docs:
        assert {"source", "n", "relevance_score", "rerank_score", "_id"} <= set(d.metadata)
        assert type(d.metadata["relevance_score"]) is float
    assert docs[0].metadata["relevance_score"] >= docs[1].metadata["relevance_score"]


def test_invoke_in_contextual_compression_retriever(vector_retriever) -> None:  # type: ignore[no-untyped-def]
    retriever = ContextualCompressionRetriever(
        base_compressor=RagRerank(KeywordScorer(), top_n=2), base_retriever=vector_retriever
    )
    _check(retriever.invoke("aspirin heart attack prevention"))


async def test_ainvoke_in_contextual_compression_retriever(vector_retriever) -> None:  # type: ignore[no-untyped-def]
    retriever = ContextualCompressionRetriever(
        base_compressor=RagRerank(Reranker(KeywordScorer(), normalize="minmax"), top_n=2),
        base_retriever=vector_retriever,
    )
    docs = await retriever.ainvoke("aspirin heart attack prevention")
    _check(docs)
    assert docs[0].metadata["relevance_score"] == 1.0  # minmax normalization was applied


def test_compressor_returns_new_documents_and_keeps_ids(tiny_ce: str) -> None:
    from ragrerank import CrossEncoderScorer

    docs = [
        Document(page_content=t, metadata={"k": i}, id=str(i)) for i, t in enumerate(SCIENCE_DOCS)
    ]
    before = copy.deepcopy(docs)
    out = RagRerank(CrossEncoderScorer(tiny_ce, dtype="float32"), top_n=None).compress_documents(
        docs, "aspirin"
    )
    assert docs == before
    assert sorted(d.id for d in out) == sorted(d.id for d in docs)
    assert all(o is not d for o in out for d in docs)
    assert all(o.metadata["k"] == int(o.id) for o in out)  # type: ignore[arg-type]


def test_needs_reranker_or_scorer() -> None:
    with pytest.raises(ValueError, match="Reranker or Scorer"):
        RagRerank()
    assert RagRerank(scorer=KeywordScorer(), top_n=1, normalize=None).reranker.normalize is None


@pytest.mark.parametrize("bad", ["plain text", None, {"page_content": "x"}])
async def test_non_documents_raise_type_error_naming_index_and_type(bad: object) -> None:
    compressor = RagRerank(KeywordScorer(), top_n=2)
    docs = [Document(page_content="aspirin"), bad]
    message = rf"documents\[1\]: expected a langchain Document, got {type(bad).__name__}"
    with pytest.raises(TypeError, match=message):
        compressor.compress_documents(docs, "aspirin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        await compressor.acompress_documents(docs, "aspirin")  # type: ignore[arg-type]


async def test_ranked_fields_pass_through_and_documents_stay_untouched() -> None:
    from tests.test_fields import RecordingScorer

    docs = [
        Document(page_content="tower in Paris", metadata={"title": "Heart attack"}, id="a"),
        Document(page_content="heart", metadata={"title": "Eiffel"}, id="b"),
    ]
    before = copy.deepcopy(docs)
    scorer = RecordingScorer()
    compressor = RagRerank(scorer, top_n=None, text_template="{title}\n{text}", normalize=None)
    for out in (
        compressor.compress_documents(docs, "heart attack"),
        await compressor.acompress_documents(docs, "heart attack"),
    ):
        assert [d.id for d in out] == ["a", "b"]  # the title made "a" the best
        assert [d.page_content for d in out] == ["tower in Paris", "heart"]
        assert out[0].metadata["rerank_score"] == 2.0 and out[0].metadata["title"] == "Heart attack"
    assert scorer.seen == [["Heart attack\ntower in Paris", "Eiffel\nheart"]] * 2
    assert docs == before
    with pytest.raises(ValueError, match=r"document 0 \(id='x'\): missing field 'title'"):
        compressor.compress_documents([Document(page_content="t", id="x")], "q")


async def test_feedback_log_id_rides_on_each_document(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ragrerank import FeedbackLog

    docs = [
        Document(page_content=t, metadata={"k": i}, id=f"d{i}") for i, t in enumerate(SCIENCE_DOCS)
    ]
    before = copy.deepcopy(docs)
    with FeedbackLog(tmp_path / "f.db") as log:
        compressor = RagRerank(KeywordScorer(), top_n=2, feedback=log)
        out = compressor.compress_documents(docs, "aspirin heart attack")
        aout = await compressor.acompress_documents(docs, "aspirin heart attack")
        first, second = list(log.impressions())
        log.click(out[0].metadata["ragrerank_impression_id"], str(out[0].id))
        assert log.counts()["click"] == 1
    assert docs == before
    assert {d.metadata["ragrerank_impression_id"] for d in out} == {first.impression_id}
    assert {d.metadata["ragrerank_impression_id"] for d in aout} == {second.impression_id}
    assert first.doc_ids == tuple(d.id for d in docs)
    plain = RagRerank(KeywordScorer(), top_n=2).compress_documents(docs, "aspirin heart attack")
    assert "ragrerank_impression_id" not in plain[0].metadata
    assert [d.id for d in plain] == [d.id for d in out]
