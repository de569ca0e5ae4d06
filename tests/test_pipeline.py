"""RagPipeline: retrieve -> rerank -> assemble, sync and async."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from ragrerank import Candidate, Reranker
from ragrerank.rag.context import ContextAssembler
from ragrerank.rag.pipeline import RagPipeline
from tests.conftest import SCIENCE_DOCS, KeywordScorer


class ListRetriever:
    """Returns the corpus in reverse order (so the reranker has work to do)."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.calls: list[tuple[str, int, dict[str, object]]] = []

    def retrieve(self, query: str, *, top_n: int, **kw: object) -> Sequence[Candidate]:
        self.threads.append(threading.get_ident())
        self.calls.append((query, top_n, kw))
        docs = [Candidate(text=t, id=f"d{i}", score=float(i)) for i, t in enumerate(SCIENCE_DOCS)]
        return docs[::-1][:top_n]


def test_run_retrieves_reranks_and_assembles() -> None:
    retriever = ListRetriever()
    pipe = RagPipeline(
        retriever,
        Reranker(KeywordScorer(), normalize=None),
        ContextAssembler(40),
        top_n=5,
        retrieve_kwargs={"mode": "sparse"},
    )
    out = pipe.run("aspirin heart attack")
    assert retriever.calls == [("aspirin heart attack", 5, {"mode": "sparse"})]
    assert [c.id for c in out.candidates] == ["d5", "d4", "d3", "d2", "d1"]
    assert out.reranked[0].id == "d4"  # the only candidate with a query word
    assert out.context.items[0].item.id == out.reranked[0].id
    assert out.context.tokens <= 40 and out.context.text.startswith("[1] (source: ")
    assert set(out.timings_ms) == {"retrieve", "rerank", "assemble", "total"}
    assert all(v >= 0 for v in out.timings_ms.values())


async def test_arun_matches_run_and_keeps_sync_retrieval_off_the_loop() -> None:
    retriever = ListRetriever()
    pipe = RagPipeline(retriever, KeywordScorer(), top_n=4)
    sync = pipe.run("vitamin D bone fractures")
    asynced = await pipe.arun("vitamin D bone fractures")
    assert asynced.context.text == sync.context.text
    assert asynced.candidates == sync.candidates
    assert retriever.threads[1] != threading.get_ident()


def test_run_chat_uses_recent_user_turns() -> None:
    retriever = ListRetriever()
    pipe = RagPipeline(retriever, KeywordScorer(), top_n=6)
    turns = [
        {"role": "user", "content": "Tell me about aspirin"},
        {"role": "assistant", "content": "It is a drug."},
        {"role": "user", "content": "and platelet aggregation?"},
    ]
    out = pipe.run_chat(turns, window=2)
    assert out.query == "Tell me about aspirin\nand platelet aggregation?"
    assert out.context.items[0].item.id == "d0"


def test_pipeline_with_qdrant_retriever() -> None:
    pytest.importorskip("qdrant_client")
    import numpy as np

    from ragrerank.retrieval.qdrant import QdrantRetriever

    class OneHot:
        def get_sentence_embedding_dimension(self) -> int:
            return 4

        def encode(self, texts: Sequence[str], **_: object) -> np.ndarray:
            return np.eye(4, dtype=np.float32)[[len(t) % 4 for t in texts]]

    retriever = QdrantRetriever(dense_model=OneHot(), show_progress=False)
    retriever.index([Candidate(text=t, id=i) for i, t in enumerate(SCIENCE_DOCS)])
    out = RagPipeline(retriever, KeywordScorer(), top_n=3).run("aspirin prevention")
    assert len(out.candidates) == 3 and out.reranked[0].id == 4


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="retriever must have retrieve"):
        RagPipeline(object(), KeywordScorer())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_n"):
        RagPipeline(ListRetriever(), KeywordScorer(), top_n=0)
    with pytest.raises(ValueError, match="query must not be empty"):
        RagPipeline(ListRetriever(), KeywordScorer()).run(" ")
