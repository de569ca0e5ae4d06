"""CollectionOptions: the requests built for a Qdrant server or cluster (checked against
qdrant-client's ``models``), the same requests run for real in embedded mode, the embedded
warning, and existing collections whose config conflicts with the options.

No Qdrant server binary is available here: what a cluster does with shards and replicas is
not tested, only what it is asked.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("Stemmer")
from qdrant_client import QdrantClient, models

from ragrerank.retrieval import CollectionOptions, QdrantRetriever
from ragrerank.retrieval.colbert_store import (
    QdrantColBERTStore,
    colbert_query,
    ensure_colbert_collection,
    upsert_colbert_vectors,
)
from ragrerank.retrieval.qdrant import options as options_module
from ragrerank.retrieval.qdrant.options import QUANTIZATIONS, _quantization_name
from tests.test_qdrant import FakeColBERT, HashEmbedder, docs

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

CLUSTER = CollectionOptions(
    shard_number=3,
    replication_factor=2,
    write_consistency_factor=2,
    on_disk_payload=True,
    dense_on_disk=True,
    dense_quantization="int8",
    colbert_on_disk=True,
    colbert_quantization="binary",
    quantization_always_ram=True,
    hnsw_m=32,
    hnsw_ef_construct=200,
)


class Recording:
    """A real embedded client that records every method call's keyword arguments."""

    def __init__(self) -> None:
        self.inner = QdrantClient(":memory:")
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return attr(*args, **kwargs)

        return call

    def kwargs(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, _, kw in self.calls if n == name]


class ServerLike(Recording):
    """Looks like a server client (no embedded ``_client``): no warning, same requests."""

    _client = None


class FakeScorer:
    """The part of ColBERTScorer that colbert_query uses: dim and encode_query."""

    dim = 8

    def encode_query(self, query: str) -> np.ndarray:
        return FakeColBERT(self.dim).encode_documents([query])[0]


def retriever(client: Any, **kw: Any) -> QdrantRetriever:
    kw.setdefault("dense_model", HashEmbedder())
    return QdrantRetriever("t", client=client, show_progress=False, **kw)


# -- defaults: today's request ----------------------------------------------------------------


def test_default_options_send_the_create_collection_request_of_before() -> None:
    client = ServerLike()
    retriever(client, colbert=FakeColBERT(dim=8)).index(docs())
    (kw,) = client.kwargs("create_collection")
    assert set(kw) == {"vectors_config", "sparse_vectors_config", "metadata", "timeout"}
    multi = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
    assert kw["vectors_config"] == {
        "dense": models.VectorParams(size=32, distance=models.Distance.COSINE),
        "colbert": models.VectorParams(
            size=8, distance=models.Distance.COSINE, multivector_config=multi
        ),
    }
    assert kw["sparse_vectors_config"] == {
        "bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)
    }
    bm25_only = ServerLike()
    retriever(bm25_only, dense_model=None, collection=CollectionOptions()).index(docs())
    (kw,) = bm25_only.kwargs("create_collection")
    assert kw["vectors_config"] == {} and "shard_number" not in kw


def test_default_options_send_the_colbert_collection_request_of_before() -> None:
    client = ServerLike()
    assert ensure_colbert_collection(client, "c", 8, collection=CollectionOptions())  # type: ignore[arg-type]
    (kw,) = client.kwargs("create_collection")
    assert kw == {
        "vectors_config": {
            "colbert": models.VectorParams(
                size=8,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
                datatype=models.Datatype.FLOAT32,
                hnsw_config=models.HnswConfigDiff(m=0),
            )
        },
        "timeout": 30,
    }


# -- set options: the cluster request ---------------------------------------------------------


def test_cluster_options_build_the_create_collection_request() -> None:
    client = ServerLike()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a server client gets no embedded-mode warning
        retriever(client, colbert=FakeColBERT(dim=8), collection=CLUSTER).index(docs())
    (kw,) = client.kwargs("create_collection")
    assert (kw["shard_number"], kw["replication_factor"]) == (3, 2)
    assert (kw["write_consistency_factor"], kw["on_disk_payload"]) == (2, True)
    dense, colbert = kw["vectors_config"]["dense"], kw["vectors_config"]["colbert"]
    assert dense == models.VectorParams(
        size=32,
        distance=models.Distance.COSINE,
        on_disk=True,
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        ),
        hnsw_config=models.HnswConfigDiff(m=32, ef_construct=200),
    )
    assert colbert.on_disk is True and colbert.hnsw_config is None
    assert colbert.quantization_config == models.BinaryQuantization(
        binary=models.BinaryQuantizationConfig(always_ram=True)
    )
    assert "quantization_config" not in kw and "hnsw_config" not in kw  # per vector only
    store = ServerLike()
    ensure_colbert_collection(store, "c", 8, collection=CLUSTER_COLBERT)  # type: ignore[arg-type]
    (kw,) = store.kwargs("create_collection")
    assert kw["shard_number"] == 3 and kw["replication_factor"] == 2
    params = kw["vectors_config"]["colbert"]
    assert params.on_disk is True and params.hnsw_config == models.HnswConfigDiff(m=0)
    assert params.quantization_config == models.ProductQuantization(
        product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X16)
    )


CLUSTER_COLBERT = CollectionOptions(
    shard_number=3, replication_factor=2, colbert_on_disk=True, colbert_quantization="pq-x16"
)


@pytest.mark.filterwarnings("ignore:embedded Qdrant")
@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_each_quantization_runs_in_embedded_mode_and_reads_back(quantization: str) -> None:
    options = CollectionOptions(
        dense_quantization=quantization,  # type: ignore[arg-type]
        colbert_quantization=quantization,  # type: ignore[arg-type]
        dense_on_disk=True,
        colbert_on_disk=True,
    )
    client = QdrantClient(":memory:")
    r = retriever(client, colbert=FakeColBERT(dim=8), collection=options)
    r.index(docs())
    assert r.retrieve("aspirin heart attack", top_n=3, mode="hybrid")[0].id in {"d0", "d4"}
    stored = client.get_collection("t").config.params.vectors
    assert isinstance(stored, dict)
    for name in ("dense", "colbert"):
        assert _quantization_name(stored[name].quantization_config) == quantization
        assert stored[name].on_disk is True
    again = retriever(client, colbert=FakeColBERT(dim=8), collection=options)
    assert again.index(docs()).unchanged == len(docs())  # matching options pass the check


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shard_number": 0}, r"shard_number must be an int >= 1, got 0"),
        ({"replication_factor": True}, r"replication_factor must be an int >= 1"),
        ({"write_consistency_factor": 1.5}, r"write_consistency_factor must be an int"),
        ({"hnsw_m": -1}, r"hnsw_m must be an int >= 0"),
        ({"hnsw_ef_construct": 2}, r"hnsw_ef_construct must be an int >= 4"),
        ({"dense_on_disk": "yes"}, r"dense_on_disk must be a bool"),
        ({"colbert_quantization": "int4"}, r"colbert_quantization must be one of"),
        ({"replication_factor": 1, "write_consistency_factor": 2}, r"cannot exceed"),
        ({"quantization_always_ram": True}, r"quantization_always_ram needs"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CollectionOptions(**kwargs)


def test_options_for_a_vector_the_collection_lacks_raise() -> None:
    client = QdrantClient(":memory:")
    with pytest.raises(ValueError, match=r"dense_on_disk applies to the 'dense' vector"):
        retriever(client, dense_model=None, collection=CollectionOptions(dense_on_disk=True))
    with pytest.raises(ValueError, match=r"colbert_quantization applies to the ColBERT"):
        retriever(client, collection=CollectionOptions(colbert_quantization="binary"))
    with pytest.raises(ValueError, match=r"hnsw_m applies.*a ColBERT store collection"):
        ensure_colbert_collection(client, "c", 8, collection=CollectionOptions(hnsw_m=8))
    with pytest.raises(TypeError, match="CollectionOptions"):
        retriever(client, collection={"shard_number": 2})  # type: ignore[arg-type]
    with pytest.raises(AttributeError):  # frozen
        CLUSTER.shard_number = 1  # type: ignore[misc]


# -- embedded mode ----------------------------------------------------------------------------


def test_embedded_mode_warns_once_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options_module, "_warned", set())
    options = CollectionOptions(shard_number=2, replication_factor=2, dense_on_disk=True)
    with pytest.warns(UserWarning, match=r"drops shard_number, replication_factor.*stores "
                      r"dense_on_disk without applying"):  # fmt: skip
        r = QdrantRetriever(
            "t", dense_model=HashEmbedder(), collection=options, show_progress=False
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QdrantRetriever("u", dense_model=HashEmbedder(), collection=options)
        QdrantRetriever("v", dense_model=HashEmbedder())  # no options, no warning
    r.index(docs())
    assert r.retrieve("aspirin", top_n=2, mode="dense")
    params = r._engine.info().config.params
    assert params.shard_number is None and params.replication_factor is None  # dropped
    assert isinstance(params.vectors, dict) and params.vectors["dense"].on_disk is True  # stored


# -- existing collections ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:embedded Qdrant")
def test_existing_collection_that_conflicts_names_every_mismatch() -> None:
    client = QdrantClient(":memory:")
    retriever(client).index(docs())
    conflicting = CollectionOptions(dense_on_disk=True, dense_quantization="int8", hnsw_m=8)
    with pytest.raises(
        ValueError,
        match=r"'t' was created with dense_on_disk=False \(options: True\), "
        r"dense_quantization=None \(options: 'int8'\), hnsw_m=16 \(options: 8\): recreate",
    ):
        retriever(client, collection=conflicting).index(docs())
    # Not reported by embedded mode: not compared. Unset options: nothing compared.
    assert retriever(client, collection=CollectionOptions(shard_number=4)).retrieve("aspirin")
    assert retriever(client, collection=CollectionOptions()).retrieve("aspirin")
    info = client.get_collection("t")
    info.config.params.shard_number = 1  # what a server reports
    with pytest.raises(ValueError, match=r"shard_number=1 \(options: 4\)"):
        CollectionOptions(shard_number=4).check(info, "t", dense="dense", colbert=None)


@pytest.mark.filterwarnings("ignore:embedded Qdrant")
def test_colbert_store_creates_checks_and_queries_with_options() -> None:
    client = Recording()
    options = CollectionOptions(colbert_on_disk=True, colbert_quantization="binary")
    assert ensure_colbert_collection(client, "c", 8, collection=options)  # type: ignore[arg-type]
    stored = client.get_collection("c").config.params.vectors["colbert"]
    assert stored.on_disk is True and _quantization_name(stored.quantization_config) == "binary"
    texts = [d["text"] for d in docs()]
    ids = [d["id"] for d in docs()]
    upsert_colbert_vectors(client, "c", ids, FakeColBERT(8).encode_documents(texts))  # type: ignore[arg-type]
    assert not ensure_colbert_collection(client, "c", 8, collection=options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"colbert_quantization='binary' \(options: 'int8'\)"):
        ensure_colbert_collection(client, "c", 8, collection=CollectionOptions(colbert_quantization="int8"))  # type: ignore[arg-type]  # fmt: skip
    wrong = QdrantColBERTStore(client, "c", mode="query",  # type: ignore[arg-type]
                               collection=CollectionOptions(colbert_on_disk=False))  # fmt: skip
    with pytest.raises(ValueError, match=r"colbert_on_disk=True \(options: False\)"):
        wrong.check(8)
    store = QdrantColBERTStore(client, "c", mode="query", collection=options)  # type: ignore[arg-type]
    store.check(8)
    query = FakeScorer().encode_query("aspirin heart")
    scores = store.server_scores(query, ids[:3])
    assert set(scores) == set(ids[:3])
    (kw,) = client.kwargs("query_points")
    assert kw["using"] == "colbert" and np.shape(kw["query"]) == (2, 8)
    assert isinstance(kw["query_filter"], models.Filter)
    assert isinstance(kw["query_filter"].must[0], models.HasIdCondition)


# -- query requests (hybrid, server-side MaxSim) ----------------------------------------------


@pytest.mark.filterwarnings("ignore:embedded Qdrant")
def test_hybrid_and_maxsim_query_requests_are_qdrant_models() -> None:
    client = Recording()
    r = retriever(client, colbert=FakeColBERT(dim=8), collection=CLUSTER)
    r.index(docs())
    hits = r.retrieve("aspirin heart attack", top_n=3, mode="hybrid", prefetch_limit=5)
    assert hits
    ((_, args, kw),) = [c for c in client.calls if c[0] == "query_batch_points"]
    (request,) = args[1] if len(args) > 1 else kw["requests"]
    assert isinstance(request, models.QueryRequest) and request.limit == 3
    assert request.query == models.FusionQuery(fusion=models.Fusion.RRF)
    dense, sparse = request.prefetch  # type: ignore[misc]
    assert isinstance(dense, models.Prefetch) and dense.using == "dense" and dense.limit == 5
    assert isinstance(sparse.query, models.SparseVector) and sparse.using == "bm25"
    # ColBERT MaxSim on the server after a dense prefetch, on the retriever's collection.
    first = models.Prefetch(query=dense.query, using="dense", limit=5)
    points = colbert_query(client, "t", FakeScorer(), "aspirin heart", prefetch=first, limit=3)  # type: ignore[arg-type]
    assert 0 < len(points) <= 3
    kw = client.kwargs("query_points")[-1]
    assert kw["using"] == "colbert" and kw["prefetch"] is first and kw["limit"] == 3
    assert all(isinstance(row, list) and len(row) == 8 for row in kw["query"])
