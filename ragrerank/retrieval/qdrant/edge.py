"""`EdgeEngine`: a retriever's collection on qdrant-edge, Qdrant's Rust engine in process.

One edge shard per collection, at ``<path>/edge/<collection>/shard`` beside the collection's
``create_collection`` arguments (``collection.json``: vectors, sparse vectors, metadata), from
which `info` answers like ``get_collection`` so the schema and option checks are the same as
for a server. Without ``path`` the shard lives in a temporary folder removed on `close`.
An in-memory store has no write-ahead log and is never flushed; a ``path`` store has both (the
retriever flushes after each `index` call and on close). Searches are exact (segments are never
optimized into HNSW graphs), like qdrant-client's local mode; hybrid RRF is fused here (`edge_convert.rrf`) so ties come out in the same order.

A ``path`` written by qdrant-client's local mode (its ``meta.json`` lists the collection) is
not read: `ValueError` says to pass ``engine="client"`` or to index again into a new folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .edge_convert import (
    Hit,
    edge_filter,
    edge_module,
    edge_point,
    edge_query,
    edge_vector_params,
    rrf,
)
from .schema import qdrant_models

__all__ = ["EdgeEngine", "EdgeStoreView"]

_CONFIG = "collection.json"


class EdgeEngine:
    """A collection on qdrant-edge (see the module docstring for the layout on disk).

    Args:
        collection_name: the collection; a folder name, so no path separators.
        path: the store's folder (created if missing); ``None``: a temporary folder.

    Raises:
        ValueError: a bad collection name, or a collection of that name that ``path`` holds
            in qdrant-client's local-mode format.
    """

    name = "edge"

    def __init__(self, collection_name: str, *, path: str | Path | None) -> None:
        self._qe = edge_module()
        if collection_name in (".", "..") or any(s in collection_name for s in "/\\\0"):
            raise ValueError(
                f"collection_name {collection_name!r} cannot name a folder of the embedded engine"
            )
        # In memory: a temporary folder, removed on close or when the engine is collected.
        self._tmp = None
        self.persistent = path is not None
        if path is None:
            path = tempfile.mkdtemp(prefix="ragrerank-edge-")
            self._tmp = weakref.finalize(self, shutil.rmtree, path, ignore_errors=True)
        root = Path(path)
        self.folder = root / "edge" / collection_name
        self.collection_name = collection_name
        if path is not None and not (self.folder / _CONFIG).exists():
            _refuse_local_mode(root, collection_name)
        self._shard: Any = None
        self._config: dict[str, Any] | None = None
        if (self.folder / _CONFIG).exists():
            self._config = json.loads((self.folder / _CONFIG).read_text(encoding="utf-8"))
            self._shard = self._qe.EdgeShard.load(str(self.folder / "shard"))

    def exists(self) -> bool:
        return self._shard is not None

    def count(self) -> int:
        return int(self._shard.count(self._qe.CountRequest(exact=True)))

    def create(self, params: dict[str, Any]) -> None:
        """Create the shard from ``create_collection`` arguments (collection-level ones, such
        as shard numbers, are dropped as in qdrant-client's local mode)."""
        vectors = params.get("vectors_config") or {}
        sparse = params.get("sparse_vectors_config") or {}
        qe = self._qe
        config = qe.EdgeConfig(
            vectors={n: edge_vector_params(v) for n, v in vectors.items()} or None,
            sparse_vectors={
                n: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if v.modifier else None)
                for n, v in sparse.items()
            },
            wal_enabled=self.persistent,  # an in-memory store needs no write-ahead log
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shard = qe.EdgeShard.create(str(self.folder / "shard"), config)
        self._config = {
            "vectors": {
                n: v.model_dump(mode="json", exclude_none=True) for n, v in vectors.items()
            },
            "sparse_vectors": {
                n: v.model_dump(mode="json", exclude_none=True) for n, v in sparse.items()
            },
            "metadata": params.get("metadata"),
        }
        (self.folder / _CONFIG).write_text(json.dumps(self._config), encoding="utf-8")

    def delete(self) -> None:
        self._close_shard()
        self._config = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def info(self) -> Any:
        """The collection's config shaped like qdrant-client's ``get_collection`` answer
        (Qdrant's default HNSW settings, no sharding or quantization reported)."""
        m = qdrant_models()
        assert self._config is not None
        params = SimpleNamespace(
            vectors={n: m.VectorParams(**v) for n, v in self._config["vectors"].items()},
            sparse_vectors={
                n: m.SparseVectorParams(**v) for n, v in self._config["sparse_vectors"].items()
            },
            shard_number=None,
            replication_factor=None,
            write_consistency_factor=None,
            on_disk_payload=None,
        )
        hnsw = m.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000)
        return SimpleNamespace(
            config=SimpleNamespace(
                params=params,
                metadata=self._config["metadata"],
                hnsw_config=hnsw,
                quantization_config=None,
            )
        )

    def hashes(self, ids: Sequence[str]) -> dict[str, Any]:
        selector = self._qe.PayloadSelector.Include(["content_hash"])
        records = self._shard.retrieve(list(ids), with_payload=selector, with_vector=False)
        return {str(r.id): (r.payload or {}).get("content_hash") for r in records}

    def upsert(self, points: list[Any]) -> None:
        edge_points = [edge_point(p) for p in points]
        self._shard.update(self._qe.UpdateOperation.upsert_points(edge_points))

    def query(self, requests: list[Any]) -> list[list[Any]]:
        """Run qdrant-client ``QueryRequest``s (nearest, or RRF over prefetches) in one
        edge batch; each answer is a list of `Hit`."""
        qe = self._qe
        flat: list[Any] = []
        plans: list[tuple[int, int, int | None]] = []  # (start, stop, RRF limit or None)
        for r in requests:
            start = len(flat)
            if r.prefetch:
                flat += [
                    edge_query(p, filter=edge_filter(p.filter), limit=p.limit, payload=True)
                    for p in r.prefetch
                ]
                plans.append((start, len(flat), r.limit))
            else:
                flat.append(
                    edge_query(
                        r, filter=edge_filter(r.filter), limit=r.limit, payload=bool(r.with_payload)
                    )
                )
                plans.append((start, start + 1, None))
        answers = self._shard.query_batch(qe.QueryBatchRequest(flat)) if flat else []
        out: list[list[Any]] = []
        for start, stop, fused in plans:
            if fused is not None:
                out.append(rrf(answers[start:stop], fused))
            else:
                out.append(
                    [Hit(str(p.id), p.payload or {}, float(p.score)) for p in answers[start]]
                )
        return out

    def flush(self) -> None:
        """Write pending changes to disk (a store on a ``path`` only)."""
        if self._shard is not None and self.persistent:
            self._shard.flush()

    def _close_shard(self) -> None:
        if self._shard is not None:
            self.flush()
            self._shard.close()
            self._shard = None

    def close(self) -> None:
        self._close_shard()
        if self._tmp is not None:
            self._tmp()


class EdgeStoreView:
    """The three ``QdrantClient`` calls `QdrantColBERTStore` makes (``get_collection``,
    ``retrieve`` with vectors, ``query_points`` over given ids), answered by an `EdgeEngine`,
    so the store reads a retriever's ColBERT vectors on either engine."""

    def __init__(self, engine: EdgeEngine) -> None:
        self.engine = engine

    def _check(self, name: str) -> Any:
        if name != self.engine.collection_name or not self.engine.exists():
            raise ValueError(f"collection {name!r} does not exist in this embedded store")
        return self.engine._shard

    def get_collection(self, collection_name: str) -> Any:
        self._check(collection_name)
        return self.engine.info()

    def retrieve(self, collection_name: str, ids: list[Any], *, with_payload: bool,
                 with_vectors: list[str], timeout: int | None = None) -> list[Any]:  # fmt: skip
        shard = self._check(collection_name)
        return list(shard.retrieve(list(ids), with_payload=with_payload,
                                   with_vector=with_vectors))  # fmt: skip

    def query_points(self, collection_name: str, *, query: Any, using: str, query_filter: Any,
                     limit: int, with_payload: bool, timeout: int | None = None) -> Any:  # fmt: skip
        shard = self._check(collection_name)
        request = self.engine._qe.QueryRequest(
            limit=limit,
            query=self.engine._qe.Query.Nearest(query, using=using),
            filter=edge_filter(query_filter),
            with_payload=with_payload,
            with_vector=False,
        )
        return SimpleNamespace(points=shard.query(request))


def _refuse_local_mode(root: Path, collection_name: str) -> None:
    """`ValueError` when ``root`` holds ``collection_name`` in qdrant-client's local mode."""
    meta = root / "meta.json"
    if not meta.is_file():
        return
    try:
        collections = json.loads(meta.read_text(encoding="utf-8")).get("collections", {})
    except (OSError, ValueError, AttributeError):
        return
    if collection_name in collections:
        raise ValueError(
            f"{root} holds collection {collection_name!r} in qdrant-client's local-mode format, "
            "which the default embedded engine (qdrant-edge) does not read: pass "
            "engine='client' to keep using it, or index again into a new path"
        )
