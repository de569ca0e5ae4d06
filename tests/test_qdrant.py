"""Qdrant retrieval: BM25 weights, idempotent indexing, modes, size checks, ColBERT storage.

Tests that build their own embedded store run on both engines (the ``engine`` fixture:
qdrant-edge and qdrant-client's local mode); tests that pass a ``QdrantClient`` run on it."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("Stemmer")
from qdrant_client import QdrantClient

from ragrerank import Candidate, Reranker
from ragrerank.retrieval.bm25 import BM25Encoder
from ragrerank.retrieval.qdrant import QdrantRetriever, point_id
from tests.conftest import SCIENCE_DOCS, KeywordScorer

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

ENGINES = [
    pytest.param("edge", marks=pytest.mark.skipif(
        importlib.util.find_spec("qdrant_edge") is None, reason="qdrant-edge-py not installed"
    )),
    "client",
]  # fmt: skip


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The embedded engine a test's own store runs on."""
    return str(request.param)


class HashEmbedder:
    """Deterministic bag-of-words embedder with the sentence-transformers surface we use."""

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim
        self.calls: list[int] = []

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, hashlib.md5(w.encode()).digest()[0] % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class FakeColBERT:
    """Token vectors: one unit vector per word (dimension ``dim``)."""

    def __init__(self, dim: int = 8, bad_index: int | None = None) -> None:
        self._dim = dim
        self.bad_index = bad_index

    @property
    def dim(self) -> int:
        return self._dim

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for j, t in enumerate(texts):
            n = len(t.split())
            arr = np.ones((n, self._dim), dtype=np.float32) / math.sqrt(self._dim)
            out.append(arr[:, :-1] if j == self.bad_index else arr)
        return out


def docs() -> list[dict[str, Any]]:
    return [
        {"id": f"d{i}", "text": t, "metadata": {"source": f"s{i}.txt"}}
        for i, t in enumerate(SCIENCE_DOCS)
    ]


def make(client: QdrantClient | None = None, **kw: Any) -> QdrantRetriever:
    kw.setdefault("dense_model", HashEmbedder())
    return QdrantRetriever("t", client=client, show_progress=False, **kw)


def stored_vectors(retriever: QdrantRetriever) -> Any:
    """The named dense vectors of the retriever's collection, from either engine."""
    return retriever._engine.info().config.params.vectors


# -- BM25 ------------------------------------------------------------------------------------


def test_tokenize_stopwords_and_stemming() -> None:
    enc = BM25Encoder()
    assert enc.tokenize("The runners were running in the studies") == [
        "runner",
        "were",
        "run",
        "studi",
    ]
    assert BM25Encoder(language=None).tokenize("Running the tests") == ["running", "tests"]


def test_term_ids_are_stable_across_processes() -> None:
    # blake2b, not Python's randomized hash(): pinned so stored collections stay valid.
    assert BM25Encoder.term_id("run") == 1518968264
    assert 0 <= BM25Encoder.term_id("x" * 100) < 2**32


def test_document_weights_follow_bm25_formula() -> None:
    enc = BM25Encoder(k1=1.2, b=0.75)
    (terms,) = enc.encode_documents(["cat cat dog"], avg_doc_length=6.0)
    weights = dict(zip(terms.indices, terms.values, strict=True))
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 6.0)
    assert weights[enc.term_id("cat")] == pytest.approx(2 / (2 + norm))
    assert weights[enc.term_id("dog")] == pytest.approx(1 / (1 + norm))
    assert terms.indices == sorted(terms.indices)
    q = enc.encode_query("cat cat dogs")
    assert q.values == [1.0, 1.0] and set(q.indices) == set(weights)
    with pytest.raises(ValueError, match="avg_doc_length"):
        BM25Encoder().encode_documents(["x"])


def test_qdrant_sparse_scores_equal_bm25s_lucene(engine: str) -> None:
    bm25s = pytest.importorskip("bm25s")
    retriever = make(engine=engine)
    retriever.index(docs())
    enc = BM25Encoder()
    query = "aspirin risk of heart attack prevention"
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    model.index([enc.tokenize(t) for t in SCIENCE_DOCS], show_progress=False)
    expected = model.get_scores(enc.tokenize(query))
    got = {c.id: c.score for c in retriever.retrieve(query, mode="sparse", top_n=10)}
    for i, score in enumerate(expected):
        if score > 0:
            assert got[f"d{i}"] == pytest.approx(float(score), rel=1e-4)
        else:
            assert f"d{i}" not in got


def test_bm25_only_retriever_stores_and_computes_no_dense_vectors(engine: str) -> None:
    full = make(engine=engine)
    full.index(docs())
    sparse = QdrantRetriever("bm25", dense_model=None, show_progress=False, engine=engine)
    assert not sparse.has_dense
    assert sparse.index(docs()).indexed == 6
    assert sparse.index(docs()).unchanged == 6  # idempotent like the full retriever
    assert "dense" not in (stored_vectors(sparse) or {})
    query = "aspirin risk of heart attack prevention"
    got = [(c.id, c.score) for c in sparse.retrieve(query, mode="sparse", top_n=6)]
    assert got == [(c.id, c.score) for c in full.retrieve(query, mode="sparse", top_n=6)]
    for mode in ("dense", "hybrid"):
        with pytest.raises(ValueError, match="needs a dense model"):
            sparse.retrieve(query, mode=mode)  # type: ignore[arg-type]


def test_bm25_only_retriever_refuses_a_dense_collection(tmp_path: Path, engine: str) -> None:
    # Re-indexing a dense collection without a dense model would drop its dense vectors.
    with make(path=tmp_path, engine=engine) as full:
        full.index(docs())
    with (
        make(path=tmp_path, engine=engine, dense_model=None) as onto_full,
        pytest.raises(ValueError, match="stores 'dense' vectors"),
    ):
        onto_full.index(docs())


# -- indexing --------------------------------------------------------------------------------


def test_reindexing_same_ids_keeps_one_point_each_and_updates(engine: str) -> None:
    retriever = make(engine=engine)
    first = retriever.index(docs())
    assert (first.indexed, first.unchanged, first.collection_size) == (6, 0, 6)
    again = retriever.index(docs())
    assert (again.indexed, again.unchanged, again.collection_size) == (0, 6, 6)
    changed = docs()
    changed[1]["text"] = "The Eiffel Tower was finished in 1889."
    report = retriever.index(changed)
    assert (report.indexed, report.unchanged, report.collection_size) == (1, 5, 6)
    forced = retriever.index(docs(), force=True)
    assert (forced.indexed, forced.collection_size) == (6, 6)
    hits = retriever.retrieve("Eiffel Tower Paris", mode="sparse", top_n=6)
    assert [c.id for c in hits].count("d1") == 1
    assert hits[0].text == SCIENCE_DOCS[1]  # the forced re-index restored the text


def test_point_ids_are_uuid5_of_doc_id_and_payload_keeps_original() -> None:
    client = QdrantClient(":memory:")
    retriever = make(client)
    retriever.index([Candidate(text="alpha beta", id=7, metadata={"k": [1, 2]})])
    (record,) = client.retrieve("t", [point_id(7)], with_payload=True)
    assert record.payload is not None
    assert record.payload["doc_id"] == 7 and record.payload["metadata"] == {"k": [1, 2]}
    assert point_id(7) == point_id("7") != point_id("07")
    (hit,) = retriever.retrieve("alpha", mode="sparse")
    assert hit.id == 7 and isinstance(hit.score, float) and hit.metadata == {"k": [1, 2]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"text": "no id here"}, r"document 1 \(id=None\): missing id"),
        ({"id": "x", "text": "   "}, r"document 1 \(id='x'\): empty text"),
        ({"id": "x"}, "document 1.*empty text"),
        ({"id": 1.5, "text": "t"}, "document 1: id must be str or int"),
        (7, "document 1: expected Candidate, mapping or str, got int"),
        ("   ", r"document 1 \(id='t[0-9a-f]{16}'\): empty text"),
        ({"id": "x", "text": "t", "metadata": ["a"]}, "document 1: metadata must be a mapping"),
    ],
)
def test_bad_documents_raise_naming_the_position(bad: Any, message: str, engine: str) -> None:
    retriever = make(engine=engine)
    with pytest.raises(ValueError, match=message):
        retriever.index([{"id": "ok", "text": "fine"}, bad])
    assert retriever.count() == 0  # validation happens before anything is written


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"when": object()}, "not JSON serializable"),
        ({"tags": {"a", "b"}}, "not JSON serializable"),
        ({"score": math.nan}, "Out of range float"),
    ],
)
def test_everything_is_checked_before_the_first_write(
    metadata: object, problem: str, engine: str
) -> None:
    bad = docs()
    bad[3]["metadata"] = metadata
    message = rf"document 3 \(id='d3'\): metadata must be JSON-serializable.*{problem}"
    retriever = make(batch_size=2, engine=engine)
    with pytest.raises(ValueError, match=message):
        retriever.index(bad)
    assert not retriever.exists() and retriever.count() == 0
    # an existing collection is not touched either: batch 1 (changed text) is not written
    client = QdrantClient(":memory:")
    make(client, batch_size=2).index(docs())
    bad[0]["text"] = "Changed text that must not reach the collection."
    with pytest.raises(ValueError, match=message):
        make(client, batch_size=2).index(bad)
    (record,) = client.retrieve("t", [point_id("d0")], with_payload=True)
    assert record.payload is not None and record.payload["text"] == SCIENCE_DOCS[0]


def test_bad_text_and_candidate_metadata_are_checked_before_writing(engine: str) -> None:
    retriever = make(batch_size=2, engine=engine)
    broken = json.loads('"broken \\ud800 text"')
    good = [Candidate(text=t, id=f"c{i}") for i, t in enumerate(SCIENCE_DOCS[:3])]
    with pytest.raises(ValueError, match=r"document 3 \(id='x'\): text contains a lone surrogate"):
        retriever.index([*good, Candidate(text=broken, id="x")])
    with pytest.raises(ValueError, match=r"document 3: metadata must be a mapping"):
        retriever.index([*good, Candidate(text="t", id="x", metadata=["a"])])  # type: ignore[arg-type]
    assert not retriever.exists()


class NaNEmbedder(HashEmbedder):
    def encode(self, texts: Sequence[str], **kw: Any) -> np.ndarray:
        out = super().encode(texts, **kw)
        out[[i for i, t in enumerate(texts) if "Eiffel" in t]] = np.nan
        return out


def test_non_finite_dense_vectors_raise_naming_the_document_before_its_batch_is_written(
    engine: str,
) -> None:
    retriever = make(dense_model=NaNEmbedder(), batch_size=2, engine=engine)
    with pytest.raises(ValueError, match=r"document 1 \(id='d1'\): the dense model returned NaN"):
        retriever.index(docs())
    assert retriever.count() == 0


def test_plain_strings_get_deterministic_text_ids() -> None:
    from ragrerank.types import text_id

    texts = SCIENCE_DOCS[:3]
    expected = ["t" + hashlib.sha1(t.encode("utf-8")).hexdigest()[:16] for t in texts]
    assert [text_id(t) for t in texts] == expected  # the rule docs/qdrant.md states
    client = QdrantClient(":memory:")
    first = make(client).index(texts)
    again = make(client).index(list(texts))  # another retriever: same ids, same points
    assert (first.indexed, again.unchanged, again.collection_size) == (3, 3, 3)
    hits = make(client).retrieve("aspirin", mode="sparse", top_n=3)
    assert hits[0].id == expected[0] and hits[0].text == texts[0]
    assert {h.id for h in hits} <= set(expected)
    assert make(client).index([{"id": expected[1], "text": texts[1]}]).unchanged == 1


def test_skip_invalid_counts_skipped_documents(engine: str) -> None:
    retriever = make(engine=engine)
    report = retriever.index(
        [{"id": "a", "text": "alpha"}, {"text": "orphan"}, {"id": "b", "text": ""}],
        skip_invalid=True,
    )
    assert (report.indexed, report.skipped_invalid, report.collection_size) == (1, 2, 1)


def test_duplicate_ids_in_one_call_raise(engine: str) -> None:
    with pytest.raises(ValueError, match="documents 0 and 2 have the same id"):
        make(engine=engine).index(
            [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": "1", "text": "c"}]
        )


def test_vector_size_mismatch_names_both_sizes() -> None:
    client = QdrantClient(":memory:")
    make(client, dense_model=HashEmbedder(32)).index(docs())
    other = make(client, dense_model=HashEmbedder(16))
    with pytest.raises(ValueError, match=r"size 32.*size 16"):
        other.index(docs())
    with pytest.raises(ValueError, match=r"size 32.*size 16"):
        other.retrieve("aspirin")


def test_bm25_settings_must_match_the_collection() -> None:
    client = QdrantClient(":memory:")
    make(client).index(docs())
    with pytest.raises(ValueError, match="language"):
        make(client, bm25=BM25Encoder(language=None)).retrieve("aspirin")
    with pytest.raises(ValueError, match="k1"):
        make(client, bm25=BM25Encoder(k1=0.9)).index(docs())


def test_persistent_path_reopens_with_stored_bm25_stats(tmp_path: Path, engine: str) -> None:
    first = make(path=tmp_path, engine=engine)
    first.index(docs())
    before = [(c.id, c.score) for c in first.retrieve("aspirin heart", mode="sparse")]
    first.close()
    with make(path=tmp_path, engine=engine) as second:
        assert second.engine == engine
        assert second.index(docs()).unchanged == 6  # stored avg_doc_length adopted: no re-encode
        after = [(c.id, c.score) for c in second.retrieve("aspirin heart", mode="sparse")]
    assert [i for i, _ in after] == [i for i, _ in before] == ["d0", "d4"]
    assert [s for _, s in after] == pytest.approx([s for _, s in before])
    # a client passed in stays open after close()
    client = QdrantClient(":memory:")
    make(client).close()
    assert client.get_collections().collections == []


# -- retrieval -------------------------------------------------------------------------------


def test_modes_rank_the_right_documents(engine: str) -> None:
    retriever = make(engine=engine)
    retriever.index(docs())
    for mode in ("dense", "sparse", "hybrid"):
        hits = retriever.retrieve("aspirin heart attack", mode=mode, top_n=3)  # type: ignore[arg-type]
        assert hits[0].id == "d0", mode
        assert all(isinstance(c.score, float) for c in hits)
        scores = [c.score for c in hits]
        assert scores == sorted(scores, reverse=True)
        assert hits[0].metadata == {"source": "s0.txt"}
    sparse_ids = {c.id for c in retriever.retrieve("platelet", mode="sparse")}
    assert sparse_ids == {"d0"}
    hybrid = retriever.retrieve("platelet", mode="hybrid", top_n=6)
    assert len(hybrid) == 6 and hybrid[0].id == "d0"  # dense side fills the rest


def test_stopword_only_query_falls_back_to_dense_in_hybrid(engine: str) -> None:
    retriever = make(engine=engine)
    retriever.index(docs())
    assert retriever.retrieve("the of", mode="sparse") == []
    assert len(retriever.retrieve("the of", mode="hybrid", top_n=2)) == 2


def test_retrieve_batch_embeds_once_and_matches_single_queries(engine: str) -> None:
    embedder = HashEmbedder()
    retriever = make(dense_model=embedder, engine=engine)
    retriever.index(docs())
    queries = ["aspirin heart", "tower in Paris", "vitamin bones", "python data"]
    embedder.calls.clear()
    batch = retriever.retrieve_batch(queries, top_n=3, mode="hybrid")
    assert embedder.calls == [4]
    assert batch == [retriever.retrieve(q, top_n=3, mode="hybrid") for q in queries]


def test_results_feed_the_reranker(engine: str) -> None:
    retriever = make(engine=engine)
    retriever.index(docs())
    cands = retriever.retrieve("aspirin cardiovascular prevention", top_n=4)
    result = Reranker(KeywordScorer(), top_k=2).rerank("aspirin cardiovascular prevention", cands)
    assert result[0].id == "d4"
    assert result.trace.entries[0].first_stage_score == cands[0].score


async def test_async_retrieval_matches_sync(engine: str) -> None:
    retriever = make(engine=engine)
    retriever.index(docs())
    one, many = await asyncio.gather(
        retriever.aretrieve("vitamin D", top_n=2),
        retriever.aretrieve_batch(["vitamin D", "photosynthesis"], top_n=2),
    )
    assert one == many[0] == retriever.retrieve("vitamin D", top_n=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query 0: query must not be empty"),
        ({"mode": "bm42"}, "mode must be one of"),
        ({"top_n": 0}, "top_n must be a positive int"),
        ({"prefetch_limit": 0}, "prefetch_limit must be a positive int"),
    ],
)
def test_bad_queries_raise(kwargs: dict[str, Any], message: str, engine: str) -> None:
    retriever = make(engine=engine)
    retriever.index(docs())
    kwargs = dict(kwargs)  # the parameter's dict is shared by both engines' runs
    query = kwargs.pop("query", "aspirin")
    with pytest.raises(ValueError, match=message):
        retriever.retrieve(query, **kwargs)


def test_retrieving_before_indexing_raises(engine: str) -> None:
    with pytest.raises(ValueError, match="does not exist: index first"):
        make(engine=engine).retrieve("aspirin")


@pytest.mark.filterwarnings("ignore::UserWarning")  # no server at that URL
def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="at most one of"):
        QdrantRetriever(client=QdrantClient(":memory:"), path="/tmp/x")
    with pytest.raises(ValueError, match="api_key needs url"):
        QdrantRetriever(api_key="secret")
    with pytest.raises(TypeError, match="colbert"):
        QdrantRetriever(colbert=object())  # type: ignore[arg-type]
    r = QdrantRetriever(url="http://localhost:6333", api_key="sekrit-key")
    assert "sekrit" not in repr(r)


# -- ColBERT ---------------------------------------------------------------------------------


def test_colbert_multivectors_are_stored_with_max_sim() -> None:
    from qdrant_client import models

    client = QdrantClient(":memory:")
    retriever = make(client, colbert=FakeColBERT(dim=8))
    retriever.index(docs())
    params = client.get_collection("t").config.params.vectors
    assert isinstance(params, dict)
    assert params["colbert"].size == 8
    assert params["colbert"].multivector_config is not None
    assert params["colbert"].multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    (record,) = client.retrieve("t", [point_id("d0")], with_vectors=["colbert"])
    assert record.vector is not None
    assert len(record.vector["colbert"]) == len(SCIENCE_DOCS[0].split())  # type: ignore[index,arg-type]


def test_colbert_bad_shapes_and_missing_vector_raise(engine: str) -> None:
    with pytest.raises(
        ValueError, match=r"document 2 \(id='d2'\): ColBERT encoder returned shape \(\d+, 7\)"
    ):
        make(colbert=FakeColBERT(dim=8, bad_index=2), engine=engine).index(docs())
    client = QdrantClient(":memory:")
    make(client).index(docs())
    with pytest.raises(ValueError, match="no 'colbert' multivector"):
        make(client, colbert=FakeColBERT()).index(docs())
    other = QdrantClient(":memory:")
    make(other, colbert=FakeColBERT(dim=8)).index(docs())
    with pytest.raises(ValueError, match=r"'colbert' vectors of size 8.*size 4"):
        make(other, colbert=FakeColBERT(dim=4)).index(docs())


# -- real model ------------------------------------------------------------------------------


@pytest.mark.slow
def test_minilm_dense_retrieval_is_semantic(minilm: str, engine: str) -> None:
    retriever = QdrantRetriever(dense_model=minilm, show_progress=False, engine=engine)
    retriever.index(docs())
    hits = retriever.retrieve("Which drug lowers the chance of a heart attack?", mode="dense")
    assert hits[0].id in {"d0", "d4"} and {c.id for c in hits[:2]} == {"d0", "d4"}
    assert retriever.dense_dim == 384


def test_missing_qdrant_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ragrerank import MissingDependencyError

    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[qdrant\]"):
        QdrantRetriever()


# -- engines ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # no server at that URL
def test_engine_choice_and_its_errors(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_edge")
    assert make().engine == "edge"  # the embedded default when qdrant-edge-py is installed
    assert make(engine="client").engine == "client"
    assert make(client=QdrantClient(":memory:")).engine == "client"
    assert QdrantRetriever(url="http://localhost:6333").engine == "client"
    with pytest.raises(ValueError, match="engine must be one of"):
        make(engine="rust")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="engine='edge' is the embedded engine"):
        QdrantRetriever(url="http://localhost:6333", engine="edge")
    with pytest.raises(AttributeError, match="pass engine='client'"):
        make().client  # noqa: B018
    with pytest.raises(ValueError, match="cannot name a folder"):
        QdrantRetriever("a/b", path=tmp_path)


def test_a_local_mode_folder_is_refused_by_the_edge_engine(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_edge")
    with make(path=tmp_path, engine="client") as old:
        old.index(docs())
    with pytest.raises(ValueError, match=r"local-mode format.*pass engine='client'"):
        make(path=tmp_path)
    with make(path=tmp_path, engine="client") as again:  # still readable by qdrant-client
        assert again.index(docs()).unchanged == 6
    with QdrantRetriever("u", path=tmp_path, dense_model=HashEmbedder()) as other:
        assert other.engine == "edge" and not other.exists()  # another collection is fine
        assert other.index(docs()).indexed == 6


def test_filters_select_the_same_points_on_both_engines(engine: str) -> None:
    from qdrant_client import models

    retriever = make(engine=engine)
    retriever.index(
        [{**d, "metadata": {"source": d["metadata"]["source"], "n": i, "tags": ["x", f"t{i % 2}"],
                            "when": f"2024-01-0{i + 1}T00:00:00Z"}}
         for i, d in enumerate(docs())]
    )  # fmt: skip
    field = models.FieldCondition
    cases = {
        "match": models.Filter(must=[field(key="metadata.source", match=models.MatchValue(value="s4.txt"))]),
        "range": models.Filter(must=[field(key="metadata.n", range=models.Range(gte=2, lt=4))]),
        "any": models.Filter(must=[field(key="metadata.tags", match=models.MatchAny(any=["t1"]))]),
        "not": models.Filter(must_not=[models.HasIdCondition(has_id=[point_id("d0"), point_id("d1")])]),
        "should": models.Filter(should=[field(key="metadata.n", match=models.MatchValue(value=0)),
                                        field(key="metadata.n", match=models.MatchValue(value=5))]),
        "except": models.Filter(must=[field(key="metadata.n", match=models.MatchExcept(**{"except": [0, 1, 2]}))]),
        "nested": models.Filter(must=[models.Filter(must_not=[field(key="metadata.n", range=models.Range(gt=1))]),
                                      field(key="metadata.tags", values_count=models.ValuesCount(gte=2))]),
        "date": models.Filter(must=[field(key="metadata.when", range=models.DatetimeRange(gte="2024-01-03T00:00:00Z", lt="2024-01-05T00:00:00Z"))]),
        "empty": models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="metadata.none"))]),
    }  # fmt: skip
    expected = {"match": {"d4"}, "range": {"d2", "d3"}, "any": {"d1", "d3", "d5"},
                "not": {"d2", "d3", "d4", "d5"}, "should": {"d0", "d5"}, "except": {"d3", "d4", "d5"},
                "nested": {"d0", "d1"}, "date": {"d2", "d3"}, "empty": {f"d{i}" for i in range(6)}}  # fmt: skip
    for name, query_filter in cases.items():
        for mode in ("dense", "sparse", "hybrid"):
            hits = retriever.retrieve("aspirin heart tower vitamin", top_n=6, mode=mode,  # type: ignore[arg-type]
                                      query_filter=query_filter)  # fmt: skip
            assert {c.id for c in hits} <= expected[name], (name, mode)
            if mode != "sparse":
                assert {c.id for c in hits} == expected[name], (name, mode)
    geo = models.Filter(must=[field(key="metadata.where", geo_radius=models.GeoRadius(
        center=models.GeoPoint(lon=2.35, lat=48.85), radius=1000.0))])  # fmt: skip
    if engine == "edge":  # not translated: an error naming it, not a dropped condition
        with pytest.raises(ValueError, match="does not translate geo_radius"):
            retriever.retrieve("aspirin", query_filter=geo)


def test_without_qdrant_edge_auto_falls_back_and_edge_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from ragrerank import MissingDependencyError

    monkeypatch.setitem(sys.modules, "qdrant_edge", None)
    assert make().engine == "client"
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[qdrant\]"):
        make(engine="edge")


def test_colbert_multivectors_are_stored_on_the_edge_engine() -> None:
    pytest.importorskip("qdrant_edge")
    retriever = make(colbert=FakeColBERT(dim=8))
    retriever.index(docs())
    params = stored_vectors(retriever)["colbert"]
    assert params.size == 8 and params.multivector_config is not None
    shard = retriever._engine._shard  # type: ignore[attr-defined]
    (record,) = shard.retrieve([point_id("d0")], with_payload=False, with_vector=["colbert"])
    assert len(record.vector["colbert"]) == len(SCIENCE_DOCS[0].split())
    with pytest.raises(ValueError, match=r"'colbert' vectors of size 8.*size 4"):
        retriever.colbert = FakeColBERT(dim=4)
        make(colbert=FakeColBERT(dim=4), engine="edge")._schema.check(retriever._engine.info(), "t")
