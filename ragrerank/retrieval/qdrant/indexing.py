"""What `QdrantRetriever.index` writes: checked documents, content hashes, checked points.

Every document is validated before the first write (`validate_documents`); a point's
``content_hash`` (text, metadata and the models that encode it) tells an unchanged
document from a changed one; encoder output is checked per batch (`dense_vectors`,
`colbert_vectors`) before that batch is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...types import Candidate, check_text, text_id
from ..bm25 import SparseTerms
from .encoders import DenseEncoder, MultiVectorEncoder
from .schema import COLBERT, DENSE, SPARSE, point_id, qdrant_models

__all__ = [
    "IndexReport",
    "colbert_vectors",
    "content_hash",
    "dense_vectors",
    "points",
    "validate_documents",
]

Labeled = tuple[str, Candidate]
"""A document with its label ``document <position> (id=...)`` for error messages."""


@dataclass(frozen=True)
class IndexReport:
    """What `QdrantRetriever.index` did: every input document is in exactly one count.

    Attributes:
        indexed: documents written (new, or changed since the last `index`).
        unchanged: documents already stored with the same content hash, not rewritten.
        skipped_invalid: invalid documents skipped (``skip_invalid=True``).
        collection_size: points in the collection afterwards.
    """

    indexed: int
    unchanged: int
    skipped_invalid: int
    collection_size: int


def validate_documents(
    documents: Iterable[Candidate | Mapping[str, Any] | str], skip_invalid: bool
) -> tuple[list[Labeled], int]:
    """The valid documents, each with its label, and how many invalid ones were skipped."""
    if isinstance(documents, (str, bytes, Mapping)):
        raise ValueError("documents must be an iterable of Candidate, mappings or str")
    out: list[Labeled] = []
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


def content_hash(doc: Candidate, models: Mapping[str, Any]) -> str:
    """sha1 of the document's text and metadata and ``models`` (what encodes it: ``dense``,
    ``bm25``, ``colbert``); a stored point with the same hash needs no re-encoding."""
    data = {"text": doc.text, "metadata": dict(doc.metadata), **models}
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def dense_vectors(
    encoder: DenseEncoder, texts: list[str], labels: list[str], batch_size: int
) -> np.ndarray:
    """The dense document embeddings of ``texts``, each checked (finite)."""
    dense = encoder.embed(texts, query=False, batch_size=batch_size)
    for j, row in enumerate(dense):
        if not np.isfinite(row).all():
            raise ValueError(f"{labels[j]}: the dense model returned NaN or infinity")
    return dense


def colbert_vectors(
    encoder: MultiVectorEncoder, texts: list[str], labels: list[str]
) -> list[list[list[float]]]:
    """The encoder's multivectors of ``texts``, each checked (shape ``[n>=1, dim]``, finite)."""
    dim = int(encoder.dim)
    arrays = encoder.encode_documents(texts)
    if len(arrays) != len(texts):
        raise ValueError(f"ColBERT encoder returned {len(arrays)} arrays for {len(texts)} texts")
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


def points(
    batch: Sequence[Labeled],
    *,
    dense: np.ndarray | None,
    sparse: Sequence[SparseTerms],
    multi: Sequence[list[list[float]]] | None,
    models: Mapping[str, Any],
) -> list[Any]:
    """One ``PointStruct`` per document: its vectors and payload (id, text, metadata, hash)."""
    m = qdrant_models()
    out = []
    for j, (_, doc) in enumerate(batch):
        vector: dict[str, Any] = {
            SPARSE: m.SparseVector(indices=sparse[j].indices, values=sparse[j].values)
        }
        if dense is not None:
            vector[DENSE] = dense[j].tolist()
        if multi is not None:
            vector[COLBERT] = multi[j]
        payload = {
            "doc_id": doc.id,
            "text": doc.text,
            "metadata": dict(doc.metadata),
            "content_hash": content_hash(doc, models),
        }
        out.append(m.PointStruct(id=point_id(doc.id), vector=vector, payload=payload))
    return out
