"""`CollectionOptions`: what a Qdrant server or cluster is told when a collection is created.

One frozen object, passed as ``collection=`` to `QdrantRetriever` and to
`ensure_colbert_collection` / `QdrantColBERTStore`: sharding and replication, on-disk storage,
quantization and the dense vector's HNSW graph. Every field defaults to ``None``, "leave it to
Qdrant", and a ``None`` field adds nothing to the request, so default options send exactly the
request the retriever always sent. A set field is checked against an existing collection
(`ValueError` naming every mismatch) and never changed in place.

Embedded mode (qdrant-edge, ``QdrantClient(":memory:")`` or ``path=``) accepts every option: it drops the
collection-level ones (shard number, replication, write consistency, on-disk payload) and
stores the per-vector ones (on-disk, quantization, HNSW) without applying them, since it always
scans exact vectors in process. `warn_if_embedded` says so once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from .schema import qdrant_models

__all__ = ["CLUSTER_ONLY", "CollectionOptions", "Quantization", "warn_if_embedded"]

Quantization = Literal["int8", "binary", "pq-x4", "pq-x8", "pq-x16", "pq-x32", "pq-x64"]
QUANTIZATIONS: tuple[str, ...] = ("int8", "binary", "pq-x4", "pq-x8", "pq-x16", "pq-x32", "pq-x64")
# Collection-level create_collection arguments (embedded mode drops them, reads back None).
CLUSTER_ONLY = ("shard_number", "replication_factor", "write_consistency_factor", "on_disk_payload")
_DENSE_ONLY = ("dense_on_disk", "dense_quantization", "hnsw_m", "hnsw_ef_construct")
_COLBERT_ONLY = ("colbert_on_disk", "colbert_quantization")
_warned: set[tuple[str, ...]] = set()


@dataclass(frozen=True)
class CollectionOptions:
    """How Qdrant should lay out a new collection; ``None`` everywhere means Qdrant's defaults.

    Args:
        shard_number: shards of the collection (a cluster spreads them over its nodes).
        replication_factor: copies of each shard.
        write_consistency_factor: replicas that must acknowledge a write (at most
            ``replication_factor`` when both are set).
        on_disk_payload: keep payloads (text, metadata) on disk instead of in RAM.
        dense_on_disk: serve the ``"dense"`` vectors from disk (memory-mapped).
        dense_quantization: compress the ``"dense"`` vectors: ``"int8"`` (scalar),
            ``"binary"``, or product quantization ``"pq-x4"`` ... ``"pq-x64"`` (compression).
        colbert_on_disk: serve the ColBERT multivectors from disk.
        colbert_quantization: the same choices for the ColBERT multivectors.
        quantization_always_ram: keep the quantized vectors in RAM (the usual partner of
            ``*_on_disk=True``); needs a quantization.
        hnsw_m: edges per node of the ``"dense"`` HNSW graph (0: no graph).
        hnsw_ef_construct: neighbours considered while building that graph (at least 4).
    """

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    on_disk_payload: bool | None = None
    dense_on_disk: bool | None = None
    dense_quantization: Quantization | None = None
    colbert_on_disk: bool | None = None
    colbert_quantization: Quantization | None = None
    quantization_always_ram: bool | None = None
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None

    def __post_init__(self) -> None:
        for name, low in (("shard_number", 1), ("replication_factor", 1),
                          ("write_consistency_factor", 1), ("hnsw_m", 0),
                          ("hnsw_ef_construct", 4)):  # fmt: skip
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < low
            ):
                raise ValueError(f"CollectionOptions.{name} must be an int >= {low}, got {value!r}")
        for name in ("on_disk_payload", "dense_on_disk", "colbert_on_disk",
                     "quantization_always_ram"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"CollectionOptions.{name} must be a bool, got {value!r}")
        for name in ("dense_quantization", "colbert_quantization"):
            value = getattr(self, name)
            if value is not None and value not in QUANTIZATIONS:
                raise ValueError(
                    f"CollectionOptions.{name} must be one of {QUANTIZATIONS}, got {value!r}"
                )
        rf, wcf = self.replication_factor, self.write_consistency_factor
        if rf is not None and wcf is not None and wcf > rf:
            raise ValueError(
                f"CollectionOptions.write_consistency_factor ({wcf}) cannot exceed "
                f"replication_factor ({rf}): writes could never be acknowledged"
            )
        if self.quantization_always_ram is not None and not (
            self.dense_quantization or self.colbert_quantization
        ):
            raise ValueError(
                "CollectionOptions.quantization_always_ram needs dense_quantization or "
                "colbert_quantization"
            )

    def set_fields(self) -> tuple[str, ...]:
        """The names of the fields that are not ``None``."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def require_vectors(self, *, dense: bool, colbert: bool, where: str) -> None:
        """`ValueError` naming a set option for a vector the collection will not have."""
        for present, names, vector in ((dense, _DENSE_ONLY, "'dense'"),
                                       (colbert, _COLBERT_ONLY, "ColBERT")):  # fmt: skip
            unused = [n for n in names if getattr(self, n) is not None]
            if unused and not present:
                raise ValueError(
                    f"CollectionOptions.{unused[0]} applies to the {vector} vector, "
                    f"which {where} does not have"
                )

    def collection_params(self) -> dict[str, Any]:
        """The collection-level ``create_collection`` arguments that are set."""
        return {n: getattr(self, n) for n in CLUSTER_ONLY if getattr(self, n) is not None}

    def vector_params(self, kind: Literal["dense", "colbert"]) -> dict[str, Any]:
        """The ``VectorParams`` fields that are set for the ``"dense"`` or ColBERT vector."""
        m = qdrant_models()
        on_disk, quant = (
            (self.dense_on_disk, self.dense_quantization)
            if kind == "dense"
            else (self.colbert_on_disk, self.colbert_quantization)
        )
        out: dict[str, Any] = {}
        if on_disk is not None:
            out["on_disk"] = on_disk
        if quant is not None:
            out["quantization_config"] = self._quantization(quant)
        if kind == "dense" and (self.hnsw_m is not None or self.hnsw_ef_construct is not None):
            out["hnsw_config"] = m.HnswConfigDiff(
                m=self.hnsw_m, ef_construct=self.hnsw_ef_construct
            )
        return out

    def _quantization(self, name: str) -> Any:
        m = qdrant_models()
        ram = self.quantization_always_ram
        if name == "int8":
            return m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=ram)
            )
        if name == "binary":
            return m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=ram))
        ratio = m.CompressionRatio(name.removeprefix("pq-"))
        return m.ProductQuantization(
            product=m.ProductQuantizationConfig(compression=ratio, always_ram=ram)
        )

    def check(self, info: Any, name: str, *, dense: str | None, colbert: str | None) -> None:
        """`ValueError` naming every set option that existing collection ``name`` (its
        ``get_collection`` ``info``) does not have. Values Qdrant does not report (embedded
        mode reports no sharding) are not compared."""
        params = info.config.params
        diffs = []
        for field in CLUSTER_ONLY:
            want, have = getattr(self, field), getattr(params, field, None)
            if want is not None and have is not None and have != want:
                diffs.append(f"{field}={have!r} (options: {want!r})")
        vectors = params.vectors if isinstance(params.vectors, Mapping) else {}
        for kind, vector in (("dense", dense), ("colbert", colbert)):
            stored = vectors.get(vector) if vector is not None else None
            if stored is None:
                continue
            on_disk = self.dense_on_disk if kind == "dense" else self.colbert_on_disk
            if on_disk is not None and bool(stored.on_disk) != on_disk:
                diffs.append(f"{kind}_on_disk={bool(stored.on_disk)!r} (options: {on_disk!r})")
            quant = self.dense_quantization if kind == "dense" else self.colbert_quantization
            have_q = _quantization_name(
                stored.quantization_config or info.config.quantization_config
            )
            if quant is not None and have_q != quant:
                diffs.append(f"{kind}_quantization={have_q!r} (options: {quant!r})")
            if kind == "dense":
                diffs += self._hnsw_diffs(stored.hnsw_config, info.config.hnsw_config)
        if diffs:
            raise ValueError(
                f"collection {name!r} was created with " + ", ".join(diffs) + ": recreate it, "
                "change it in place with client.update_collection where Qdrant allows, or "
                "leave those options unset"
            )

    def _hnsw_diffs(self, vector: Any, collection: Any) -> list[str]:
        out = []
        for field, want in (("m", self.hnsw_m), ("ef_construct", self.hnsw_ef_construct)):
            have = getattr(vector, field, None) if vector is not None else None
            if have is None:
                have = getattr(collection, field, None)
            if want is not None and have is not None and have != want:
                out.append(f"hnsw_{field}={have!r} (options: {want!r})")
        return out


def _quantization_name(config: Any) -> str | None:
    """``"int8"``, ``"binary"``, ``"pq-x16"`` ... for a stored quantization config."""
    if config is None:
        return None
    if getattr(config, "scalar", None) is not None:
        return str(config.scalar.type.value)
    if getattr(config, "binary", None) is not None:
        return "binary"
    if getattr(config, "product", None) is not None:
        return f"pq-{config.product.compression.value}"
    return type(config).__name__


def warn_if_embedded(client: Any, options: CollectionOptions, *, edge: bool = False) -> None:
    """Warn once per set of fields when options go to an embedded store (a local-mode
    ``client``, or the qdrant-edge engine when ``edge``), which drops the cluster-only ones
    and stores the rest without applying them."""
    set_fields = options.set_fields()
    try:
        from qdrant_client.local.qdrant_local import QdrantLocal
    except ImportError:  # pragma: no cover - layout of qdrant-client changed
        return
    local = isinstance(getattr(client, "_client", None), QdrantLocal)
    if not set_fields or not (edge or local):
        return
    if set_fields in _warned:
        return
    _warned.add(set_fields)
    dropped = [f for f in set_fields if f in CLUSTER_ONLY]
    kept = [f for f in set_fields if f not in CLUSTER_ONLY]
    parts = []
    if dropped:
        parts.append(f"drops {', '.join(dropped)} (cluster-only)")
    if kept:
        parts.append(f"stores {', '.join(kept)} without applying them (it scans exact vectors)")
    warnings.warn(
        "embedded Qdrant " + " and ".join(parts) + "; they take effect on a Qdrant server",
        UserWarning,
        stacklevel=3,
    )
