"""Where a `QdrantRetriever`'s collection lives: a qdrant-client connection or qdrant-edge.

Both engines answer the same few calls (`Engine`): does the collection exist, how many
points, create it from ``create_collection`` arguments, its config, the stored content
hashes of some points, upsert points, run query requests. `ClientEngine` forwards them to a
``QdrantClient`` (a server, Qdrant Cloud, or qdrant-client's Python local mode);
`ragrerank.retrieval.qdrant.edge.EdgeEngine` runs them in process on Qdrant's Rust engine.
`open_engine` picks one from the retriever's arguments.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from ...errors import require

__all__ = ["ENGINES", "ClientEngine", "Engine", "EngineName", "open_engine"]

logger = logging.getLogger(__name__)

EngineName = Literal["auto", "edge", "client"]
ENGINES: tuple[str, ...] = ("auto", "edge", "client")


class Engine(Protocol):
    """The calls a retriever makes on its collection."""

    name: str

    def exists(self) -> bool: ...

    def count(self) -> int: ...

    def create(self, params: dict[str, Any]) -> None: ...

    def delete(self) -> None: ...

    def info(self) -> Any: ...

    def hashes(self, ids: Sequence[str]) -> dict[str, Any]: ...

    def upsert(self, points: list[Any]) -> None: ...

    def query(self, requests: list[Any]) -> list[list[Any]]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class ClientEngine:
    """A collection behind a ``QdrantClient``; every call carries ``timeout`` seconds.

    Args:
        client: the client (closed by `close` only when ``owned``).
        collection_name: the collection.
        timeout: seconds per call.
        owned: whether this engine created the client.
    """

    name = "client"

    def __init__(self, client: Any, collection_name: str, *, timeout: int, owned: bool) -> None:
        self.client = client
        self.collection_name = collection_name
        self.timeout = timeout
        self.owned = owned

    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection_name))

    def count(self) -> int:
        return int(self.client.count(self.collection_name, exact=True).count)

    def create(self, params: dict[str, Any]) -> None:
        self.client.create_collection(self.collection_name, **params, timeout=self.timeout)

    def delete(self) -> None:
        self.client.delete_collection(self.collection_name, timeout=self.timeout)

    def info(self) -> Any:
        return self.client.get_collection(self.collection_name)

    def hashes(self, ids: Sequence[str]) -> dict[str, Any]:
        records = self.client.retrieve(self.collection_name, list(ids),
                                       with_payload=["content_hash"], timeout=self.timeout)  # fmt: skip
        return {str(r.id): (r.payload or {}).get("content_hash") for r in records}

    def upsert(self, points: list[Any]) -> None:
        self.client.upsert(self.collection_name, points, wait=True, timeout=self.timeout)

    def query(self, requests: list[Any]) -> list[list[Any]]:
        responses = self.client.query_batch_points(self.collection_name, requests,
                                                   timeout=self.timeout)  # fmt: skip
        return [list(r.points) for r in responses]

    def flush(self) -> None:
        """Nothing to do: the client writes through."""

    def close(self) -> None:
        if self.owned:
            self.client.close()


def edge_available() -> bool:
    """Whether ``qdrant_edge`` (the ``qdrant-edge-py`` package) is installed."""
    return importlib.util.find_spec("qdrant_edge") is not None


def open_engine(
    collection_name: str,
    *,
    engine: str,
    client: Any,
    url: str | None,
    api_key: str | None,
    path: str | Path | None,
    timeout: int,
) -> Engine:
    """The engine for a retriever's connection arguments (checked by the retriever).

    ``client`` or ``url`` -> `ClientEngine`. Embedded (nothing, or ``path``): ``"auto"``
    and ``"edge"`` -> `EdgeEngine` (``"auto"`` falls back to qdrant-client's local mode
    when ``qdrant-edge-py`` is not installed), ``"client"`` -> qdrant-client's local mode.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "edge" and (client is not None or url is not None):
        raise ValueError(
            "engine='edge' is the embedded engine; a client or url goes through qdrant-client "
            "(leave engine='auto' or pass engine='client')"
        )
    require("qdrant_client", "qdrant")
    embedded = client is None and url is None
    if embedded and (engine == "edge" or (engine == "auto" and edge_available())):
        from .edge import EdgeEngine

        return EdgeEngine(collection_name, path=path)
    if embedded and engine == "auto":
        logger.info("qdrant-edge-py is not installed: embedded Qdrant runs qdrant-client's "
                    "local mode (pip install 'ragrerank[qdrant]' for the faster engine)")  # fmt: skip
    from qdrant_client import QdrantClient

    owned = client is None
    if client is None:
        if url is not None:
            client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
        elif path is not None:
            client = QdrantClient(path=str(path))
        else:
            client = QdrantClient(":memory:")
    return ClientEngine(client, collection_name, timeout=timeout, owned=owned)
