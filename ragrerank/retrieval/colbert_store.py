"""Qdrant storage for ColBERT document vectors: collection config, upsert, rerank.

One multivector per point (named ``"colbert"`` by default) with the MAX_SIM comparator.
Reranking either fetches the candidates' stored vectors and scores in-process
(``mode="fetch"``), or lets Qdrant score them (``mode="query"``); `colbert_query` runs
a prefetch first stage and the MaxSim stage in one Qdrant query. The same code works
with ``QdrantClient(":memory:")`` and ``QdrantClient(url=...)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import require
from ..scorers.colbert import ColBERTScorer, dequantize_vectors, quantize_vectors
from .qdrant import CollectionOptions, point_id
from .qdrant.options import warn_if_embedded

if TYPE_CHECKING:
    from qdrant_client import QdrantClient
    from qdrant_client.http import models as qm

__all__ = [
    "COLBERT_VECTOR_NAME",
    "QdrantColBERTStore",
    "colbert_query",
    "colbert_vector_params",
    "ensure_colbert_collection",
    "point_id",
    "upsert_colbert_vectors",
    "validate_colbert_collection",
]

COLBERT_VECTOR_NAME = "colbert"
Distance = Literal["cosine", "dot"]
Datatype = Literal["float32", "float16", "uint8"]


def _models() -> Any:
    require("qdrant_client", "qdrant")
    from qdrant_client.http import models

    return models


def colbert_vector_params(
    dim: int,
    *,
    distance: Distance = "cosine",
    datatype: Datatype = "float32",
    collection: CollectionOptions | None = None,
) -> qm.VectorParams:
    """Multivector params: MAX_SIM comparator, no HNSW graph (reranking needs none), and
    ``collection``'s ColBERT on-disk and quantization settings."""
    models = _models()
    extra = (collection or CollectionOptions()).vector_params("colbert")
    if distance not in ("cosine", "dot"):
        raise ValueError(f"distance must be 'cosine' or 'dot', got {distance!r}")
    if datatype not in ("float32", "float16", "uint8"):
        raise ValueError(f"datatype must be 'float32', 'float16' or 'uint8', got {datatype!r}")
    if datatype == "uint8" and distance != "dot":
        # Cosine would renormalize the offset-binary codes, which breaks dequantization.
        raise ValueError("datatype='uint8' needs distance='dot'")
    params: qm.VectorParams = models.VectorParams(
        size=int(dim),
        distance=models.Distance.COSINE if distance == "cosine" else models.Distance.DOT,
        multivector_config=models.MultiVectorConfig(
            comparator=models.MultiVectorComparator.MAX_SIM
        ),
        datatype=getattr(models.Datatype, datatype.upper()),
        hnsw_config=models.HnswConfigDiff(m=0),
        **extra,
    )
    return params


def validate_colbert_collection(
    client: QdrantClient,
    collection_name: str,
    dim: int,
    *,
    vector_name: str = COLBERT_VECTOR_NAME,
) -> qm.VectorParams:
    """Return the collection's params for ``vector_name``; `ValueError` if unusable.

    Checks that the named vector exists, is a MAX_SIM multivector, and has size ``dim``.
    """
    models = _models()
    info = client.get_collection(collection_name)
    vectors = info.config.params.vectors
    params = vectors.get(vector_name) if isinstance(vectors, Mapping) else None
    where = f"Qdrant collection {collection_name!r}, vector {vector_name!r}"
    if params is None:
        names = sorted(vectors) if isinstance(vectors, Mapping) else ["<unnamed>"]
        raise ValueError(f"{where}: no such named vector (has {names})")
    multi = params.multivector_config
    if multi is None or multi.comparator != models.MultiVectorComparator.MAX_SIM:
        raise ValueError(f"{where}: not a multivector with the MAX_SIM comparator")
    if params.size != dim:
        raise ValueError(
            f"{where}: stored vectors have dimension {params.size}, but the model "
            f"produces {dim}-dimensional token vectors"
        )
    return params


def ensure_colbert_collection(
    client: QdrantClient,
    collection_name: str,
    dim: int,
    *,
    vector_name: str = COLBERT_VECTOR_NAME,
    distance: Distance = "cosine",
    datatype: Datatype = "float32",
    collection: CollectionOptions | None = None,
    timeout: int = 30,
) -> bool:
    """Create the collection with a ColBERT multivector, or validate an existing one.

    Returns True when it was created. An existing collection is only checked (see
    `validate_colbert_collection`, and against the set fields of ``collection``), never
    changed. ``collection`` may set sharding, replication, on-disk payload and the ColBERT
    on-disk and quantization fields (a dense-vector field raises `ValueError`).
    """
    options = _options(collection)
    warn_if_embedded(client, options)
    if client.collection_exists(collection_name):
        validate_colbert_collection(client, collection_name, dim, vector_name=vector_name)
        options.check(client.get_collection(collection_name), collection_name, dense=None,
                      colbert=vector_name)  # fmt: skip
        return False
    params = colbert_vector_params(dim, distance=distance, datatype=datatype, collection=options)
    client.create_collection(collection_name, vectors_config={vector_name: params},
                             **options.collection_params(), timeout=timeout)  # fmt: skip
    return True


def _options(collection: CollectionOptions | None) -> CollectionOptions:
    options = CollectionOptions() if collection is None else collection
    if not isinstance(options, CollectionOptions):
        raise TypeError(f"collection must be a CollectionOptions, got {collection!r}")
    options.require_vectors(dense=False, colbert=True, where="a ColBERT store collection")
    return options


def _datatype(params: qm.VectorParams) -> Datatype:
    value = getattr(params.datatype, "value", params.datatype)
    return "float32" if value is None else value  # type: ignore[return-value]


def upsert_colbert_vectors(
    client: QdrantClient,
    collection_name: str,
    ids: Sequence[Hashable],
    vectors: Sequence[np.ndarray],
    *,
    vector_name: str = COLBERT_VECTOR_NAME,
    payloads: Sequence[Mapping[str, Any]] | None = None,
    update_existing: bool = False,
    batch_size: int = 64,
    timeout: int = 30,
) -> None:
    """Write documents' token vectors (e.g. from `ColBERTScorer.encode_documents`).

    ``update_existing=False`` upserts whole points (replacing any existing point with the
    same id); ``True`` only sets ``vector_name`` on existing points, keeping their other
    vectors and payload. Documents with no vectors (empty) get no ColBERT vector and are
    encoded on the fly at query time. ``uint8`` collections get quantized codes.
    """
    models = _models()
    if len(ids) != len(vectors):
        raise ValueError(f"got {len(ids)} ids for {len(vectors)} vector sets")
    if payloads is not None and len(payloads) != len(ids):
        raise ValueError(f"got {len(payloads)} payloads for {len(ids)} ids")
    if update_existing and payloads is not None:
        raise ValueError("payloads cannot be set with update_existing=True")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    pids = [point_id(x) for x in ids]
    seen: dict[int | str, int] = {}
    for i, pid in enumerate(pids):
        if pid in seen:
            raise ValueError(f"ids {seen[pid]} and {i} map to the same point id {pid!r}")
        seen[pid] = i
    dims = {int(np.shape(v)[1]) for v in vectors if np.ndim(v) == 2 and np.shape(v)[0] > 0}
    for i, v in enumerate(vectors):
        if np.ndim(v) != 2:
            raise ValueError(f"vectors[{i}] must be 2-D [n_tokens, dim], got shape {np.shape(v)}")
    if len(dims) > 1:
        raise ValueError(f"vector sets have different dimensions: {sorted(dims)}")
    if not dims:
        dims = {0}
    info = client.get_collection(collection_name)
    vectors_cfg = info.config.params.vectors
    known = vectors_cfg.get(vector_name) if isinstance(vectors_cfg, Mapping) else None
    dim = next(iter(dims)) if dims != {0} else (known.size if known is not None else 0)
    params = validate_colbert_collection(client, collection_name, dim, vector_name=vector_name)
    datatype = _datatype(params)
    for start in range(0, len(pids), batch_size):
        points: list[Any] = []
        for i in range(start, min(start + batch_size, len(pids))):
            arr = np.asarray(vectors[i], dtype=np.float32)
            vec: dict[str, Any] = {}
            if arr.shape[0] > 0:
                vec[vector_name] = quantize_vectors(arr, datatype).astype(np.float32).tolist()
            if update_existing:
                if vec:
                    points.append(models.PointVectors(id=pids[i], vector=vec))
            else:
                payload = dict(payloads[i]) if payloads is not None else None
                points.append(models.PointStruct(id=pids[i], vector=vec, payload=payload))
        if not points:
            continue
        if update_existing:
            client.update_vectors(collection_name, points=points, wait=True, timeout=timeout)
        else:
            client.upsert(collection_name, points=points, wait=True, timeout=timeout)


class QdrantColBERTStore:
    """Stored ColBERT vectors in a Qdrant collection, for `ColBERTScorer(store=...)`.

    ``mode="fetch"`` retrieves the candidates' vectors by point id and the scorer computes
    MaxSim in-process; ``mode="query"`` asks Qdrant for the MaxSim scores of exactly the
    candidate ids. Candidates without stored vectors are encoded on the fly by the scorer
    (listed in the trace notes as ``encoded_on_the_fly``).

    Args:
        client: a `QdrantClient` (embedded or remote).
        collection_name: the collection holding the vectors.
        vector_name: name of the multivector.
        mode: ``"fetch"`` or ``"query"``.
        timeout: seconds for each Qdrant request.
        batch_size: ids per retrieve request.
        collection: `CollectionOptions` the existing collection must match (checked by
            `check`; the store never creates or changes the collection).
    """

    def __init__(
        self,
        client: QdrantClient,
        collection_name: str,
        *,
        vector_name: str = COLBERT_VECTOR_NAME,
        mode: Literal["fetch", "query"] = "fetch",
        timeout: int = 10,
        batch_size: int = 256,
        collection: CollectionOptions | None = None,
    ) -> None:
        if mode not in ("fetch", "query"):
            raise ValueError(f"mode must be 'fetch' or 'query', got {mode!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.client = client
        self.collection_name = collection_name
        self.vector_name = vector_name
        self.mode = mode
        self.timeout = timeout
        self.batch_size = batch_size
        self.options = _options(collection)
        self._datatype: Datatype | None = None

    def __repr__(self) -> str:
        return (
            f"QdrantColBERTStore(collection_name={self.collection_name!r}, "
            f"vector_name={self.vector_name!r}, mode={self.mode!r})"
        )

    @property
    def scores_on_server(self) -> bool:
        return self.mode == "query"

    def check(self, dim: int) -> None:
        """Validate the collection against the model's dimension (`ValueError` if not usable)."""
        params = validate_colbert_collection(
            self.client, self.collection_name, dim, vector_name=self.vector_name
        )
        if self.options.set_fields():
            info = self.client.get_collection(self.collection_name)
            self.options.check(info, self.collection_name, dense=None, colbert=self.vector_name)
        self._datatype = _datatype(params)
        if self.mode == "query" and self._datatype == "uint8":
            raise ValueError(
                f"Qdrant collection {self.collection_name!r}, vector {self.vector_name!r}: "
                "mode='query' does not support uint8 storage; use mode='fetch'"
            )

    def fetch_vectors(self, ids: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
        """Stored vectors by candidate id (float32); ids without vectors are absent."""
        if self._datatype is None:
            raise RuntimeError("call check(dim) before fetch_vectors")
        by_point = _by_point(ids)
        out: dict[Hashable, np.ndarray] = {}
        pids = list(by_point)
        for start in range(0, len(pids), self.batch_size):
            records = self.client.retrieve(
                self.collection_name,
                ids=pids[start : start + self.batch_size],
                with_payload=False,
                with_vectors=[self.vector_name],
                timeout=self.timeout,
            )
            for record in records:
                raw = (
                    record.vector.get(self.vector_name) if isinstance(record.vector, dict) else None
                )
                if not isinstance(raw, list) or len(raw) == 0:
                    continue
                arr = dequantize_vectors(raw, self._datatype)
                for original in by_point.get(_norm(record.id), ()):
                    out[original] = arr
        return out

    def server_scores(
        self, query_vectors: np.ndarray, ids: Sequence[Hashable]
    ) -> dict[Hashable, float]:
        """Qdrant's MaxSim score of each candidate id that has stored vectors."""
        models = _models()
        by_point = _by_point(ids)
        response = self.client.query_points(
            self.collection_name,
            query=np.asarray(query_vectors, dtype=np.float32).tolist(),
            using=self.vector_name,
            query_filter=models.Filter(must=[models.HasIdCondition(has_id=list(by_point))]),
            limit=len(by_point),
            with_payload=False,
            timeout=self.timeout,
        )
        out: dict[Hashable, float] = {}
        for point in response.points:
            for original in by_point.get(_norm(point.id), ()):
                out[original] = float(point.score)
        return out


def _norm(pid: object) -> int | str:
    return pid if isinstance(pid, int) else str(pid)


def _by_point(ids: Iterable[Hashable]) -> dict[int | str, list[Hashable]]:
    """Group candidate ids by their Qdrant point id (several spellings may share one)."""
    out: dict[int | str, list[Hashable]] = {}
    for original in ids:
        out.setdefault(point_id(original), []).append(original)
    return out


def colbert_query(
    client: QdrantClient,
    collection_name: str,
    scorer: ColBERTScorer,
    query: str,
    *,
    prefetch: qm.Prefetch | list[qm.Prefetch] | None = None,
    candidate_ids: Sequence[Hashable] | None = None,
    limit: int = 10,
    vector_name: str = COLBERT_VECTOR_NAME,
    with_payload: bool = True,
    timeout: int = 10,
) -> list[qm.ScoredPoint]:
    """Rerank inside Qdrant: first stage via ``prefetch`` (or ``candidate_ids``), then MaxSim.

    Example first stage: ``models.Prefetch(query=dense_vector, using="dense", limit=100)``.
    Only points that have the ColBERT vector can be returned; use `ColBERTScorer` with a
    `QdrantColBERTStore` when candidates may lack stored vectors.
    """
    models = _models()
    if prefetch is None and candidate_ids is None:
        raise ValueError("pass a prefetch first stage or candidate_ids")
    validate_colbert_collection(client, collection_name, scorer.dim, vector_name=vector_name)
    query_filter = None
    if candidate_ids is not None:
        query_filter = models.Filter(
            must=[models.HasIdCondition(has_id=[point_id(x) for x in candidate_ids])]
        )
    response = client.query_points(
        collection_name,
        query=scorer.encode_query(query).tolist(),
        using=vector_name,
        prefetch=prefetch,
        query_filter=query_filter,
        limit=limit,
        with_payload=with_payload,
        timeout=timeout,
    )
    return list(response.points)
