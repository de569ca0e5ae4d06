"""First-stage retrieval on Qdrant: dense, BM25 sparse and hybrid (RRF), optional ColBERT.

One collection holds per document a dense vector ``"dense"`` (a sentence-transformers
bi-encoder), a sparse BM25 vector ``"bm25"`` (weights from `ragrerank.retrieval.bm25`, IDF applied
by Qdrant) and, when a multivector encoder is given, a ColBERT multivector ``"colbert"``.
Results are `Candidate` objects ready for `Reranker.rerank`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from ...errors import require
from ...scorer import validate_query
from ...types import Candidate, check_text, text_id
from ..bm25 import BM25Encoder, SparseTerms

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models

__all__ = [
    "DEFAULT_DENSE_MODEL",
    "IndexReport",
    "MultiVectorEncoder",
    "QdrantRetriever",
    "RetrievalMode",
    "point_id",
]

logger = logging.getLogger(__name__)

DEFAULT_DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RetrievalMode = Literal["dense", "sparse", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")

DENSE, SPARSE, COLBERT = "dense", "bm25", "colbert"
_META_KEY = "ragrerank"
_POINT_NAMESPACE = uuid.UUID("6f1f4c1e-2d0b-5c55-9a57-8e2f3b1d7a10")


@runtime_checkable
class MultiVectorEncoder(Protocol):
    """Late-interaction document encoder (e.g. ``ragrerank.ColBERTScorer``)."""

    @property
    def dim(self) -> int: ...

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class IndexReport:
    """What `QdrantRetriever.index` did: every input document is in exactly one count."""

    indexed: int
    unchanged: int
    skipped_invalid: int
    collection_size: int


def point_id(doc_id: Hashable) -> str:
    """Qdrant point id of a document id: ``uuid5`` of ``str(doc_id)`` (so ``1`` == ``"1"``).

    The one mapping used everywhere (retriever points and stored ColBERT vectors alike), so a
    candidate's id always finds its point.
    """
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise ValueError(f"document ids must be str or int, got {doc_id!r}")
    return str(uuid.uuid5(_POINT_NAMESPACE, str(doc_id)))


def _models() -> Any:
    require("qdrant_client", "qdrant")
    from qdrant_client import models

    return models


class QdrantRetriever:
    """Index documents into a Qdrant collection and retrieve top-N candidates.

    Connection: pass a ready ``client``, or ``url`` (+ ``api_key``) for a server, or
    ``path`` for a persistent embedded store; default is embedded in-memory.

    Args:
        collection_name: the collection (created on first `index`).
        dense_model: sentence-transformers model name/path, or a loaded
            ``SentenceTransformer``; loaded once, on first use. ``None``: BM25 only (no
            dense vectors are computed or stored; only ``mode="sparse"`` retrieves).
        bm25: the `BM25Encoder` (tokenizer and k1/b). Unless it sets
            ``avg_doc_length``, the average is measured on the documents of the first
            `index` call and stored in the collection metadata for later calls.
        colbert: optional `MultiVectorEncoder`; its vectors are stored as ``"colbert"``.
        device: device for the dense model.
        batch_size: documents per encode/upsert batch.
        timeout: seconds for every Qdrant call (and the server client).
        show_progress: tqdm bar while indexing.
    """

    def __init__(
        self,
        collection_name: str = "ragrerank",
        *,
        client: QdrantClient | None = None,
        url: str | None = None,
        api_key: str | None = None,
        path: str | Path | None = None,
        dense_model: str | Path | Any | None = DEFAULT_DENSE_MODEL,
        bm25: BM25Encoder | None = None,
        colbert: MultiVectorEncoder | None = None,
        device: str | None = None,
        batch_size: int = 64,
        timeout: int = 60,
        show_progress: bool = True,
    ) -> None:
        if sum(x is not None for x in (client, url, path)) > 1:
            raise ValueError("pass at most one of client, url, path")
        if api_key is not None and url is None:
            raise ValueError("api_key needs url (a server); embedded mode has no API key")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"timeout must be a positive int (seconds), got {timeout!r}")
        if colbert is not None and not isinstance(colbert, MultiVectorEncoder):
            raise TypeError("colbert must have .dim and .encode_documents(texts)")
        if not collection_name:
            raise ValueError("collection_name must not be empty")
        require("qdrant_client", "qdrant")
        from qdrant_client import QdrantClient

        self._owns_client = client is None
        if client is None:
            if url is not None:
                client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
            elif path is not None:
                client = QdrantClient(path=str(path))
            else:
                client = QdrantClient(":memory:")
        self.client = client
        self.collection_name = collection_name
        self.bm25 = BM25Encoder() if bm25 is None else bm25
        self.colbert = colbert
        self.device = device
        self.batch_size = batch_size
        self.timeout = timeout
        self.show_progress = show_progress
        self.dense_model_name: str | None
        if dense_model is None:
            self.dense_model_name = None
            self._dense: Any = None
        elif isinstance(dense_model, (str, Path)):
            self.dense_model_name = str(dense_model)
            self._dense = None
        else:
            self.dense_model_name = type(dense_model).__name__
            self._dense = dense_model
        self._avg_doc_length = self.bm25.avg_doc_length
        self._load_lock = threading.Lock()
        self._client_lock = threading.RLock()
        self._checked = False

    def __repr__(self) -> str:  # never shows the API key
        return (
            f"QdrantRetriever(collection={self.collection_name!r}, "
            f"dense_model={self.dense_model_name!r}, colbert={self.colbert is not None})"
        )

    def close(self) -> None:
        """Close the client if this retriever created it (a passed ``client`` stays open)."""
        if self._owns_client:
            with self._client_lock:
                self.client.close()

    def __enter__(self) -> QdrantRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- models -----------------------------------------------------------------------------

    @property
    def has_dense(self) -> bool:
        """Whether this retriever computes dense vectors (``dense_model`` is not None)."""
        return self.dense_model_name is not None

    def _dense_model(self) -> Any:
        if self.dense_model_name is None:
            raise ValueError(
                "this retriever has no dense model (dense_model=None): it indexes and "
                "retrieves BM25 only (mode='sparse')"
            )
        if self._dense is None:
            with self._load_lock:
                if self._dense is None:
                    require("sentence_transformers", "local")
                    from sentence_transformers import SentenceTransformer

                    from ...utils.model_source import resolve_model

                    ref, extra = resolve_model(self.dense_model_name).pretrained()
                    self._dense = SentenceTransformer(ref, device=self.device, **extra)
        return self._dense

    @property
    def dense_dim(self) -> int:
        """Dimension of the dense model (loads it)."""
        model = self._dense_model()
        get = getattr(model, "get_embedding_dimension", None)
        dim = get() if get is not None else model.get_sentence_embedding_dimension()
        if not isinstance(dim, int):
            raise ValueError(f"cannot tell the embedding size of {self.dense_model_name}")
        return dim

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        model = self._dense_model()
        encode = getattr(model, "encode_query" if query else "encode_document", None)
        if encode is None:
            encode = model.encode
        out = encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    # -- collection -------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the collection exists."""
        with self._client_lock:
            return bool(self.client.collection_exists(self.collection_name))

    def count(self) -> int:
        """Number of points in the collection (0 when it does not exist)."""
        if not self.exists():
            return 0
        with self._client_lock:
            return int(self.client.count(self.collection_name, exact=True).count)

    def delete_collection(self) -> None:
        """Drop the collection (next `index` recreates it)."""
        with self._client_lock:
            self.client.delete_collection(self.collection_name, timeout=self.timeout)
        self._checked = False
        self._avg_doc_length = self.bm25.avg_doc_length

    def _bm25_config(self) -> dict[str, Any]:
        return {**self.bm25.config(), "avg_doc_length": self._avg_doc_length}

    def _create(self, texts: list[str]) -> None:
        m = _models()
        if self._avg_doc_length is None:
            self._avg_doc_length = self.bm25.mean_length(texts)
        vectors = {}
        if self.has_dense:
            vectors[DENSE] = m.VectorParams(size=self.dense_dim, distance=m.Distance.COSINE)
        if self.colbert is not None:
            vectors[COLBERT] = m.VectorParams(
                size=int(self.colbert.dim),
                distance=m.Distance.COSINE,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
            )
        with self._client_lock:
            self.client.create_collection(
                self.collection_name,
                vectors_config=vectors,
                sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                metadata={
                    _META_KEY: {"dense_model": self.dense_model_name, "bm25": self._bm25_config()}
                },
                timeout=self.timeout,
            )
        self._checked = True

    def _check_collection(self) -> None:
        """Verify an existing collection fits this retriever's models; adopt its BM25 stats."""
        if self._checked:
            return
        m = _models()
        with self._client_lock:
            info = self.client.get_collection(self.collection_name)
        name = self.collection_name
        vectors = info.config.params.vectors or {}
        if not isinstance(vectors, Mapping):
            raise ValueError(f"collection {name!r} has an unnamed vector, not {DENSE!r}")
        if not self.has_dense:
            if DENSE in vectors:
                # Upserting without them would drop the stored dense vectors of changed points.
                raise ValueError(
                    f"collection {name!r} stores {DENSE!r} vectors; this retriever has none "
                    "(dense_model=None): pass the collection's dense model, or use another "
                    "collection for BM25 only"
                )
        elif DENSE not in vectors:
            raise ValueError(f"collection {name!r} has no named vector {DENSE!r}")
        elif (have := int(vectors[DENSE].size)) != (want := self.dense_dim):
            raise ValueError(
                f"collection {name!r} stores {DENSE!r} vectors of size {have}, but dense model "
                f"{self.dense_model_name!r} produces size {want}"
            )
        if self.colbert is not None:
            if COLBERT not in vectors:
                raise ValueError(
                    f"collection {name!r} has no {COLBERT!r} multivector; "
                    "index into a new collection to add ColBERT vectors"
                )
            have, want = int(vectors[COLBERT].size), int(self.colbert.dim)
            if have != want:
                raise ValueError(
                    f"collection {name!r} stores {COLBERT!r} vectors of size {have}, but the "
                    f"ColBERT encoder produces size {want}"
                )
        sparse = info.config.params.sparse_vectors or {}
        if SPARSE not in sparse or sparse[SPARSE].modifier != m.Modifier.IDF:
            raise ValueError(f"collection {name!r} has no sparse vector {SPARSE!r} with IDF")
        stored = (info.config.metadata or {}).get(_META_KEY, {}).get("bm25")
        if stored is None:
            logger.warning("collection %r has no stored BM25 settings; using the encoder's", name)
        else:
            for key, value in self.bm25.config().items():
                if key == "avg_doc_length":
                    continue
                if stored.get(key) != value:
                    raise ValueError(
                        f"collection {name!r} was indexed with BM25 {key}={stored.get(key)!r}, "
                        f"this encoder uses {value!r}"
                    )
            avgdl = float(stored["avg_doc_length"])
            if self._avg_doc_length is None:
                self._avg_doc_length = avgdl
            elif abs(self._avg_doc_length - avgdl) > 1e-6 * avgdl:
                raise ValueError(
                    f"collection {name!r} was indexed with BM25 avg_doc_length={avgdl}, "
                    f"this encoder uses {self._avg_doc_length}"
                )
        self._checked = True

    # -- indexing ---------------------------------------------------------------------------

    def index(
        self,
        documents: Iterable[Candidate | Mapping[str, Any] | str],
        *,
        skip_invalid: bool = False,
        force: bool = False,
    ) -> IndexReport:
        """Add or update documents: `Candidate`, mapping with ``id``, ``text``, ``metadata``,
        or plain text, whose id is `ragrerank.types.text_id` of the text.

        Idempotent: the point id is `point_id` of the document id, so re-indexing updates
        in place; documents whose text, metadata and models are unchanged are not
        re-encoded unless ``force``. Every document is checked before anything is written:
        a document with no id or empty text raises `ValueError` naming its position and
        id, or, with ``skip_invalid=True``, is skipped and counted; an id that is not
        str/int, invalid Unicode text, metadata that is not a JSON object, or the same id
        twice in one call always raises. Encoder output (finite, right shape) is checked
        per batch, before that batch is written.
        """
        from tqdm.auto import tqdm

        docs, invalid = self._validate(documents, skip_invalid)
        if docs and not self.exists():
            self._create([d.text for _, d in docs])
        elif docs:
            self._check_collection()
        indexed = unchanged = 0
        with tqdm(
            total=len(docs), desc="indexing", unit="doc", disable=not self.show_progress
        ) as bar:
            for start in range(0, len(docs), self.batch_size):
                batch = docs[start : start + self.batch_size]
                todo = batch if force else self._changed(batch)
                if todo:
                    self._upsert(todo)
                indexed += len(todo)
                unchanged += len(batch) - len(todo)
                bar.update(len(batch))
        if invalid:
            logger.warning("skipped %d invalid documents (no id or empty text)", invalid)
        return IndexReport(indexed, unchanged, invalid, self.count())

    @staticmethod
    def _validate(
        documents: Iterable[Candidate | Mapping[str, Any] | str], skip_invalid: bool
    ) -> tuple[list[tuple[str, Candidate]], int]:
        """The valid documents, each with its label ``document <position> (id=...)``."""
        if isinstance(documents, (str, bytes, Mapping)):
            raise ValueError("documents must be an iterable of Candidate, mappings or str")
        out: list[tuple[str, Candidate]] = []
        seen: dict[str, int] = {}
        invalid = 0
        for i, doc in enumerate(documents):
            if isinstance(doc, Candidate):
                cand = doc
            elif isinstance(doc, str):
                cand = Candidate(text=doc, id=text_id(doc))
            elif isinstance(doc, Mapping):
                meta = doc.get("metadata")
                cand = Candidate(
                    text=doc.get("text"),  # type: ignore[arg-type]
                    id=doc.get("id"),
                    metadata={} if meta is None else meta,
                )
            else:
                raise ValueError(
                    f"document {i}: expected Candidate, mapping or str, got {type(doc).__name__}"
                )
            if not isinstance(cand.metadata, Mapping):
                raise ValueError(f"document {i}: metadata must be a mapping")
            problem = None
            if cand.id is None or isinstance(cand.id, bool) or cand.id == "":
                problem = "missing id"
            elif not isinstance(cand.id, (str, int)):
                raise ValueError(f"document {i}: id must be str or int, got {cand.id!r}")
            elif not isinstance(cand.text, str) or not cand.text.strip():
                problem = "empty text"
            label = f"document {i} (id={cand.id!r})"
            if problem is not None:
                if skip_invalid:
                    invalid += 1
                    continue
                raise ValueError(f"{label}: {problem}")
            check_text(cand.text, f"{label}: text")
            try:
                json.dumps(dict(cand.metadata), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{label}: metadata must be JSON-serializable (str, int, float, bool, "
                    f"None, lists and dicts of them): {exc}"
                ) from None
            key = str(cand.id)
            if key in seen:
                raise ValueError(
                    f"documents {seen[key]} and {i} have the same id {cand.id!r} "
                    "(ids are compared as strings)"
                )
            seen[key] = i
            out.append((label, cand))
        return out, invalid

    def _content_hash(self, doc: Candidate) -> str:
        data = {
            "text": doc.text,
            "metadata": dict(doc.metadata),
            "dense": self.dense_model_name,
            "bm25": self._bm25_config(),
            "colbert": None if self.colbert is None else int(self.colbert.dim),
        }
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def _changed(self, batch: list[tuple[str, Candidate]]) -> list[tuple[str, Candidate]]:
        ids = [point_id(d.id) for _, d in batch]
        with self._client_lock:
            records = self.client.retrieve(
                self.collection_name, ids, with_payload=["content_hash"], timeout=self.timeout
            )
        stored = {str(r.id): (r.payload or {}).get("content_hash") for r in records}
        return [
            (label, d)
            for (label, d), pid in zip(batch, ids, strict=True)
            if stored.get(pid) != self._content_hash(d)
        ]

    def _upsert(self, batch: list[tuple[str, Candidate]]) -> None:
        m = _models()
        labels = [label for label, _ in batch]
        texts = [d.text for _, d in batch]
        dense = self._embed(texts, query=False) if self.has_dense else None
        for j, row in enumerate([] if dense is None else dense):
            if not np.isfinite(row).all():
                raise ValueError(f"{labels[j]}: the dense model returned NaN or infinity")
        sparse = self.bm25.encode_documents(texts, avg_doc_length=self._avg_doc_length)
        multi = self._colbert_vectors(texts, labels) if self.colbert is not None else None
        points = []
        for j, (_, doc) in enumerate(batch):
            vector: dict[str, Any] = {
                SPARSE: m.SparseVector(indices=sparse[j].indices, values=sparse[j].values)
            }
            if dense is not None:
                vector[DENSE] = dense[j].tolist()
            if multi is not None:
                vector[COLBERT] = multi[j]
            points.append(
                m.PointStruct(
                    id=point_id(doc.id),
                    vector=vector,
                    payload={
                        "doc_id": doc.id,
                        "text": doc.text,
                        "metadata": dict(doc.metadata),
                        "content_hash": self._content_hash(doc),
                    },
                )
            )
        with self._client_lock:
            self.client.upsert(self.collection_name, points, wait=True, timeout=self.timeout)

    def _colbert_vectors(self, texts: list[str], labels: list[str]) -> list[list[list[float]]]:
        assert self.colbert is not None
        dim = int(self.colbert.dim)
        arrays = self.colbert.encode_documents(texts)
        if len(arrays) != len(texts):
            raise ValueError(
                f"ColBERT encoder returned {len(arrays)} arrays for {len(texts)} texts"
            )
        out = []
        for j, arr in enumerate(arrays):
            a = np.asarray(arr, dtype=np.float32)
            if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != dim:
                raise ValueError(
                    f"{labels[j]}: ColBERT encoder returned shape {a.shape}; expected [n>=1, {dim}]"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"{labels[j]}: ColBERT encoder returned NaN or infinity")
            out.append(a.tolist())
        return out

    # -- retrieval --------------------------------------------------------------------------

    def retrieve(
        self,
        query: str,
        *,
        top_n: int = 100,
        mode: RetrievalMode = "hybrid",
        prefetch_limit: int | None = None,
        query_filter: models.Filter | None = None,
    ) -> list[Candidate]:
        """Top ``top_n`` candidates for ``query``, best first, score = first-stage score.

        ``mode``: ``"dense"``, ``"sparse"`` (BM25) or ``"hybrid"`` (Qdrant RRF fusion of
        both, each prefetching ``prefetch_limit``, default ``top_n``).
        """
        return self.retrieve_batch(
            [query],
            top_n=top_n,
            mode=mode,
            prefetch_limit=prefetch_limit,
            query_filter=query_filter,
        )[0]

    def retrieve_batch(
        self,
        queries: Sequence[str],
        *,
        top_n: int = 100,
        mode: RetrievalMode = "hybrid",
        prefetch_limit: int | None = None,
        query_filter: models.Filter | None = None,
    ) -> list[list[Candidate]]:
        """`retrieve` for many queries: one dense encoding pass, one batched Qdrant call."""
        if isinstance(queries, str):
            raise ValueError("queries must be a sequence of str, not a single str")
        for i, q in enumerate(queries):
            try:
                validate_query(q)
            except ValueError as exc:
                raise ValueError(f"query {i}: {exc}") from None
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive int, got {top_n!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "sparse" and not self.has_dense:
            raise ValueError(
                f"mode={mode!r} needs a dense model; this retriever has none "
                "(dense_model=None): use mode='sparse'"
            )
        limit = top_n if prefetch_limit is None else prefetch_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"prefetch_limit must be a positive int, got {prefetch_limit!r}")
        if not queries:
            return []
        if not self.exists():
            raise ValueError(f"collection {self.collection_name!r} does not exist: index first")
        self._check_collection()
        m = _models()
        dense = self._embed(list(queries), query=True) if mode != "sparse" else None
        requests = []
        for i, q in enumerate(queries):
            sparse = self.bm25.encode_query(q)
            requests.append(self._request(m, dense, i, sparse, mode, top_n, limit, query_filter))
        with self._client_lock:
            responses = self.client.query_batch_points(
                self.collection_name, requests, timeout=self.timeout
            )
        return [[_candidate(p) for p in r.points] for r in responses]

    @staticmethod
    def _request(
        m: Any,
        dense: np.ndarray | None,
        i: int,
        sparse: SparseTerms,
        mode: str,
        top_n: int,
        limit: int,
        query_filter: models.Filter | None,
    ) -> Any:
        common = {"filter": query_filter, "with_payload": True, "limit": top_n}
        sparse_vec = m.SparseVector(indices=sparse.indices, values=sparse.values)
        if mode == "dense" or (mode == "hybrid" and not sparse.indices):
            assert dense is not None  # a query of stopwords only falls back to dense
            return m.QueryRequest(query=dense[i].tolist(), using=DENSE, **common)
        if mode == "sparse":
            return m.QueryRequest(query=sparse_vec, using=SPARSE, **common)
        assert dense is not None
        prefetch = [
            m.Prefetch(query=dense[i].tolist(), using=DENSE, limit=limit, filter=query_filter),
            m.Prefetch(query=sparse_vec, using=SPARSE, limit=limit, filter=query_filter),
        ]
        return m.QueryRequest(prefetch=prefetch, query=m.FusionQuery(fusion=m.Fusion.RRF), **common)

    async def aretrieve(
        self,
        query: str,
        *,
        top_n: int = 100,
        mode: RetrievalMode = "hybrid",
        prefetch_limit: int | None = None,
        query_filter: models.Filter | None = None,
    ) -> list[Candidate]:
        """Async `retrieve` (encoding and the Qdrant call run in a worker thread)."""
        return await asyncio.to_thread(
            self.retrieve,
            query,
            top_n=top_n,
            mode=mode,
            prefetch_limit=prefetch_limit,
            query_filter=query_filter,
        )

    async def aretrieve_batch(
        self,
        queries: Sequence[str],
        *,
        top_n: int = 100,
        mode: RetrievalMode = "hybrid",
        prefetch_limit: int | None = None,
        query_filter: models.Filter | None = None,
    ) -> list[list[Candidate]]:
        """Async `retrieve_batch`."""
        return await asyncio.to_thread(
            self.retrieve_batch,
            queries,
            top_n=top_n,
            mode=mode,
            prefetch_limit=prefetch_limit,
            query_filter=query_filter,
        )


def _candidate(point: Any) -> Candidate:
    payload = point.payload or {}
    return Candidate(
        text=payload.get("text", ""),
        id=payload.get("doc_id"),
        metadata=payload.get("metadata") or {},
        score=float(point.score),
    )
