"""qdrant-client models in, qdrant-edge objects out: vector params, points, filters, queries.

The retriever builds every request with qdrant-client's ``models`` (one builder for a server
and for the embedded engine); `EdgeEngine` hands them to ``qdrant_edge`` through these
translations. Only what the retriever and its ``query_filter`` use is translated; anything
else raises `ValueError` naming it rather than being dropped. `rrf` fuses ranked lists the
way qdrant-client's embedded mode does (``1 / (rank + 2)``, ties in order of first
appearance), so both engines return the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import require
from .schema import qdrant_models

__all__ = [
    "Hit",
    "edge_filter",
    "edge_module",
    "edge_point",
    "edge_query",
    "edge_vector_params",
    "rrf",
]

RRF_K = 2  # qdrant-client's DEFAULT_RANKING_CONSTANT_K, and Qdrant's default


def edge_module() -> Any:
    """``qdrant_edge``, or `MissingDependencyError` naming the ``qdrant`` extra."""
    require("qdrant_edge", "qdrant")
    import qdrant_edge

    return qdrant_edge


@dataclass(frozen=True)
class Hit:
    """A returned point: its id (str), payload and score (a plain float)."""

    id: str
    payload: dict[str, Any]
    score: float


def edge_vector_params(params: Any) -> Any:
    """``EdgeVectorParams`` of a qdrant-client ``VectorParams``: size, distance, multivector
    comparator and datatype (on-disk, quantization and HNSW settings are not applied: the
    embedded engine scans exact vectors)."""
    qe = edge_module()
    distance = {"Cosine": qe.Distance.Cosine, "Dot": qe.Distance.Dot,
                "Euclid": qe.Distance.Euclid, "Manhattan": qe.Distance.Manhattan}  # fmt: skip
    multi = None
    if params.multivector_config is not None:
        multi = qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)
    datatype = None
    if params.datatype is not None:
        datatype = getattr(qe.VectorStorageDatatype, str(params.datatype.value).capitalize())
    return qe.EdgeVectorParams(
        size=int(params.size),
        distance=distance[str(params.distance.value)],
        multivector_config=multi,
        datatype=datatype,
    )


def _vector(value: Any) -> Any:
    if hasattr(value, "indices"):  # a qdrant-client SparseVector
        return edge_module().SparseVector(list(value.indices), list(value.values))
    return value


def edge_point(point: Any) -> Any:
    """An edge ``Point`` of a qdrant-client ``PointStruct`` with named vectors."""
    vectors = {name: _vector(v) for name, v in point.vector.items()}
    return edge_module().Point(point.id, vectors, point.payload)


def edge_query(request: Any, *, filter: Any, limit: int, payload: bool) -> Any:
    """An edge ``QueryRequest`` for a qdrant-client nearest ``QueryRequest`` or ``Prefetch``
    (a dense list, a multivector or a ``SparseVector``, with ``using``)."""
    qe = edge_module()
    nearest = qe.Query.Nearest(_vector(request.query), using=request.using)
    return qe.QueryRequest(limit=limit, query=nearest, filter=filter, with_payload=payload,
                           with_vector=False)  # fmt: skip


def rrf(ranked: Sequence[Sequence[Any]], limit: int) -> list[Hit]:
    """Reciprocal rank fusion of ranked lists of edge points: ``sum 1 / (rank + RRF_K)``
    (rank from 0), best first; equal scores keep the order in which points first appear."""
    scores: dict[str, float] = {}
    first: dict[str, Any] = {}
    for points in ranked:
        for rank, point in enumerate(points):
            pid = str(point.id)
            first.setdefault(pid, point)
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (rank + RRF_K)
    order = sorted(scores, key=lambda pid: scores[pid], reverse=True)[:limit]
    return [Hit(pid, first[pid].payload or {}, scores[pid]) for pid in order]


def edge_filter(f: Any) -> Any:
    """The edge ``Filter`` of a qdrant-client ``models.Filter`` (``None`` for none).

    Raises:
        ValueError: a condition the embedded engine does not translate, named.
    """
    qe = edge_module()
    if f is None:
        return None
    m = qdrant_models()
    if not isinstance(f, m.Filter):
        raise ValueError(f"query_filter must be a qdrant_client.models.Filter, got {f!r}")

    def conditions(value: Any) -> list[Any] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return [_condition(c, m, qe) for c in items]

    min_should = None
    if f.min_should is not None:
        min_should = qe.MinShould(conditions(f.min_should.conditions) or [],
                                  f.min_should.min_count)  # fmt: skip
    return qe.Filter(must=conditions(f.must), should=conditions(f.should),
                     must_not=conditions(f.must_not), min_should=min_should)  # fmt: skip


def _condition(c: Any, m: Any, qe: Any) -> Any:
    if isinstance(c, m.Filter):
        return edge_filter(c)
    if isinstance(c, m.FieldCondition):
        return _field(c, m, qe)
    if isinstance(c, m.IsEmptyCondition):
        return qe.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, m.IsNullCondition):
        return qe.IsNullCondition(c.is_null.key)
    if isinstance(c, m.HasIdCondition):
        return qe.HasIdCondition(set(c.has_id))
    if isinstance(c, m.HasVectorCondition):
        return qe.HasVectorCondition(c.has_vector)
    if isinstance(c, m.NestedCondition):
        return qe.NestedCondition(c.nested.key, edge_filter(c.nested.filter))
    raise ValueError(f"query_filter: the embedded engine does not translate {type(c).__name__}")


_MATCH = {"MatchValue": ("MatchValue", "value"), "MatchAny": ("MatchAny", "any"),
          "MatchExcept": ("MatchExcept", "except_"), "MatchText": ("MatchText", "text"),
          "MatchTextAny": ("MatchTextAny", "text_any"), "MatchPhrase": ("MatchPhrase", "phrase")}  # fmt: skip


def _field(c: Any, m: Any, qe: Any) -> Any:
    for geo in ("geo_bounding_box", "geo_radius", "geo_polygon"):
        if getattr(c, geo) is not None:
            raise ValueError(f"query_filter: the embedded engine does not translate {geo}")
    match = None
    if c.match is not None:
        kind = type(c.match).__name__
        if kind not in _MATCH:
            raise ValueError(f"query_filter: the embedded engine does not translate {kind}")
        cls, attr = _MATCH[kind]
        match = getattr(qe, cls)(getattr(c.match, attr))
    rng = None
    if c.range is not None:
        bounds = {k: getattr(c.range, k) for k in ("gte", "gt", "lte", "lt")}
        if isinstance(c.range, m.DatetimeRange):
            # qdrant-client parses the bounds into datetime/date objects; edge takes ISO 8601
            iso = {k: None if v is None else v.isoformat() for k, v in bounds.items()}
            rng = qe.RangeDateTime(**iso)
        else:
            rng = qe.RangeFloat(**bounds)
    count = None
    if c.values_count is not None:
        count = qe.ValuesCount(
            **{k: getattr(c.values_count, k) for k in ("lt", "gt", "lte", "gte")}
        )
    return qe.FieldCondition(key=c.key, match=match, range=rng, values_count=count,
                             is_empty=c.is_empty, is_null=c.is_null)  # fmt: skip
