"""The collection a `QdrantRetriever` writes: vector names, point ids, creation and checks.

`CollectionSchema` owns what is stored where: the named vectors (dense ``"dense"``, sparse BM25 ``"bm25"``
with Qdrant's IDF modifier, optional ColBERT multivector ``"colbert"``), the retriever's
metadata (dense model name and BM25 settings), the point id of a document id, and the
check that an existing collection fits the retriever's models before it is read or
written.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from ...errors import require
from ..bm25 import BM25Encoder
from .encoders import DenseEncoder, MultiVectorEncoder

if TYPE_CHECKING:
    from .options import CollectionOptions

__all__ = [
    "COLBERT",
    "DENSE",
    "SPARSE",
    "CollectionSchema",
    "point_id",
    "qdrant_models",
]

logger = logging.getLogger(__name__)

DENSE, SPARSE, COLBERT = "dense", "bm25", "colbert"
_META_KEY = "ragrerank"
_POINT_NAMESPACE = uuid.UUID("6f1f4c1e-2d0b-5c55-9a57-8e2f3b1d7a10")


def point_id(doc_id: Hashable) -> str:
    """Qdrant point id of a document id: ``uuid5`` of ``str(doc_id)`` (so ``1`` == ``"1"``).

    The one mapping used everywhere (retriever points and stored ColBERT vectors alike), so a
    candidate's id always finds its point.
    """
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise ValueError(f"document ids must be str or int, got {doc_id!r}")
    return str(uuid.uuid5(_POINT_NAMESPACE, str(doc_id)))


def qdrant_models() -> Any:
    """``qdrant_client.models``, or `MissingDependencyError` naming the ``qdrant`` extra."""
    require("qdrant_client", "qdrant")
    from qdrant_client import models

    return models


class CollectionSchema:
    """The vectors and metadata of a collection for one retriever's models.

    Gives the parameters that create the collection, checks once that a stored collection
    fits, and holds the BM25 average document length: the encoder's, else measured on the
    documents that create the collection, else the one stored with it.
    """

    def __init__(
        self,
        dense: DenseEncoder | None,
        colbert: MultiVectorEncoder | None,
        bm25: BM25Encoder,
        options: CollectionOptions,
    ) -> None:
        self.dense = dense
        self.colbert = colbert
        self.bm25 = bm25
        self.options = options
        self.reset()

    def reset(self) -> None:
        """Forget the collection (it was dropped)."""
        self.avg_doc_length = self.bm25.avg_doc_length
        self.checked = False

    def bm25_config(self) -> dict[str, Any]:
        """The BM25 settings stored with the collection, average document length included."""
        return {**self.bm25.config(), "avg_doc_length": self.avg_doc_length}

    def models(self) -> dict[str, Any]:
        """What encodes a document (part of its content hash)."""
        return {
            "dense": None if self.dense is None else self.dense.name,
            "bm25": self.bm25_config(),
            "colbert": None if self.colbert is None else int(self.colbert.dim),
        }

    def create_params(self, texts: list[str]) -> dict[str, Any]:
        """``create_collection`` arguments for these models (``texts``: the first documents,
        which set the average document length unless the encoder has one)."""
        m = qdrant_models()
        if self.avg_doc_length is None:
            self.avg_doc_length = self.bm25.mean_length(texts)
        vectors = {}
        if self.dense is not None:
            vectors[DENSE] = m.VectorParams(
                size=self.dense.dim,
                distance=m.Distance.COSINE,
                **self.options.vector_params("dense"),
            )
        if self.colbert is not None:
            vectors[COLBERT] = m.VectorParams(
                size=int(self.colbert.dim),
                distance=m.Distance.COSINE,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                **self.options.vector_params("colbert"),
            )
        dense_model = None if self.dense is None else self.dense.name
        return {
            "vectors_config": vectors,
            "sparse_vectors_config": {SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            "metadata": {_META_KEY: {"dense_model": dense_model, "bm25": self.bm25_config()}},
            **self.options.collection_params(),
        }

    def check(self, info: Any, name: str) -> None:
        """Raise `ValueError` unless collection ``name`` (its ``get_collection`` ``info``)
        fits these models and the set `CollectionOptions`; adopt its stored average document length when there is none."""
        vectors = info.config.params.vectors or {}
        if not isinstance(vectors, Mapping):
            raise ValueError(f"collection {name!r} has an unnamed vector, not {DENSE!r}")
        if self.dense is None:
            if DENSE in vectors:
                # Upserting without them would drop the stored dense vectors of changed points.
                raise ValueError(
                    f"collection {name!r} stores {DENSE!r} vectors; this retriever has none "
                    "(dense_model=None): pass the collection's dense model, or use another "
                    "collection for BM25 only"
                )
        elif DENSE not in vectors:
            raise ValueError(f"collection {name!r} has no named vector {DENSE!r}")
        elif (have := int(vectors[DENSE].size)) != (want := self.dense.dim):
            raise ValueError(
                f"collection {name!r} stores {DENSE!r} vectors of size {have}, but dense model "
                f"{self.dense.name!r} produces size {want}"
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
        if SPARSE not in sparse or sparse[SPARSE].modifier != qdrant_models().Modifier.IDF:
            raise ValueError(f"collection {name!r} has no sparse vector {SPARSE!r} with IDF")
        self._check_bm25(info, name)
        self.options.check(
            info,
            name,
            dense=None if self.dense is None else DENSE,
            colbert=None if self.colbert is None else COLBERT,
        )
        self.checked = True

    def _check_bm25(self, info: Any, name: str) -> None:
        stored = (info.config.metadata or {}).get(_META_KEY, {}).get("bm25")
        if stored is None:
            logger.warning("collection %r has no stored BM25 settings; using the encoder's", name)
            return
        for key, value in self.bm25.config().items():
            if key == "avg_doc_length":
                continue
            if stored.get(key) != value:
                raise ValueError(
                    f"collection {name!r} was indexed with BM25 {key}={stored.get(key)!r}, "
                    f"this encoder uses {value!r}"
                )
        avgdl = float(stored["avg_doc_length"])
        if self.avg_doc_length is None:
            self.avg_doc_length = avgdl
        elif abs(self.avg_doc_length - avgdl) > 1e-6 * avgdl:
            raise ValueError(
                f"collection {name!r} was indexed with BM25 avg_doc_length={avgdl}, "
                f"this encoder uses {self.avg_doc_length}"
            )
