"""The rerank wire protocols `RemoteRerankScorer` speaks, one small adapter each: where to
POST, the request body of one batch, where the scores are in the answer and what it says
about usage and truncation. Sending, retries, timeouts, batching and the index checks are
the shared layer's (`RemoteScorer`, `indexed_scores`).

=========  ===============  =======================================================
``api``    path             engines
=========  ===============  =======================================================
tei        ``/rerank``      Hugging Face text-embeddings-inference
jina       ``/v1/rerank``   Jina's API, vLLM's ``/v1/rerank``
voyage     ``/v1/rerank``   Voyage AI
cohere     ``/v2/rerank``   Cohere's v2 shape over plain HTTP: vLLM, Infinity, Cohere
=========  ===============  =======================================================
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .batching import Batch, indexed_scores
from .errors import MalformedResponse

__all__ = ["PROTOCOLS", "Protocol", "Reply", "RequestOptions"]


@dataclass(frozen=True)
class RequestOptions:
    """What a request may carry besides query and documents (``None``: not sent)."""

    model: str | None = None
    truncate: bool | None = None
    truncation_direction: str | None = None
    raw_scores: bool | None = None
    max_tokens_per_doc: int | None = None


@dataclass(frozen=True)
class Reply:
    """One 2xx answer: its decoded JSON body and its headers (lower-case names)."""

    body: object
    headers: Mapping[str, str]


def _number(value: object) -> float | None:
    """``value`` as a finite float (numbers and numeric strings), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _path(body: object, *keys: str) -> object:
    for key in keys:
        body = body.get(key) if isinstance(body, Mapping) else None
    return body


class Protocol(ABC):
    """One rerank API shape."""

    api: ClassVar[str]
    """The ``api=`` name."""
    service: ClassVar[str]
    """Its name in messages."""
    path: ClassVar[str]
    """Where requests go, below ``base_url``."""
    key_env: ClassVar[str]
    """Environment variable with the API key."""
    results: ClassVar[str | None] = "results"
    """Field of the answer with the scored documents (``None``: the answer is the list)."""
    score_key: ClassVar[str] = "relevance_score"
    options: ClassVar[frozenset[str]] = frozenset()
    """The `RequestOptions` fields besides ``model`` that the API takes."""
    max_documents: ClassVar[int] = 1000
    """Default documents per request."""

    @abstractmethod
    def request(self, query: str, documents: list[str], options: RequestOptions) -> dict[str, Any]:
        """The JSON body for one batch; it asks for a score for every document."""

    def truncation(self, options: RequestOptions) -> str:
        """``notes["remote"]["server_truncation"]``: ``"possible"`` when the server may cut
        long inputs without saying which, ``"off"`` when it rejects them instead."""
        return "possible"

    def usage(self, reply: Reply) -> dict[str, float]:
        """Usage the answer reports (summed over a call's requests)."""
        tokens = _number(_path(reply.body, "usage", "total_tokens"))
        return {} if tokens is None else {"total_tokens": tokens}

    def scores(self, reply: Reply, batch: Batch) -> list[float]:
        """The batch's scores in input order; `MalformedResponse` unless each is there once."""
        body, field = reply.body, self.results
        if field is not None:
            if not isinstance(body, Mapping):
                raise MalformedResponse(
                    f"the response is not a JSON object but {type(body).__name__}"
                )
            body = body.get(field)
        return indexed_scores(
            body,
            batch,
            field=field or "response",
            score_key=self.score_key,
            requested=f" although all {batch.size} were requested",
        )

    def _with_model(self, body: dict[str, Any], options: RequestOptions) -> dict[str, Any]:
        return body if options.model is None else {"model": options.model, **body}


class Tei(Protocol):
    api = "tei"
    service = "TEI"
    path = "/rerank"
    key_env = "TEI_API_KEY"
    results = None
    score_key = "score"
    options = frozenset({"truncate", "truncation_direction", "raw_scores"})
    max_documents = 32  # TEI's default --max-client-batch-size

    def request(self, query: str, documents: list[str], options: RequestOptions) -> dict[str, Any]:
        direction = options.truncation_direction or "right"
        return {
            "query": query,
            "texts": documents,  # TEI answers for every text; there is no top_n
            "truncate": options.truncate is not False,
            "truncation_direction": direction.capitalize(),  # TEI's "Right" / "Left"
            "raw_scores": bool(options.raw_scores),
        }

    def truncation(self, options: RequestOptions) -> str:
        return "off" if options.truncate is False else "possible"

    def usage(self, reply: Reply) -> dict[str, float]:
        tokens = _number(reply.headers.get("x-compute-tokens"))  # TEI's usage header
        return {} if tokens is None else {"total_tokens": tokens}


class Jina(Protocol):
    api = "jina"
    service = "Jina"
    path = "/v1/rerank"
    key_env = "JINA_API_KEY"

    def request(self, query: str, documents: list[str], options: RequestOptions) -> dict[str, Any]:
        body = {"query": query, "documents": documents, "top_n": len(documents)}
        return self._with_model({**body, "return_documents": False}, options)


class Voyage(Protocol):
    api = "voyage"
    service = "Voyage"
    path = "/v1/rerank"
    key_env = "VOYAGE_API_KEY"
    results = "data"
    options = frozenset({"truncate"})

    def request(self, query: str, documents: list[str], options: RequestOptions) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "documents": documents, "top_k": len(documents)}
        if options.truncate is not None:
            body["truncation"] = options.truncate
        return self._with_model(body, options)

    def truncation(self, options: RequestOptions) -> str:
        return "off" if options.truncate is False else "possible"


class Cohere(Protocol):
    api = "cohere"
    service = "Cohere-compatible"
    path = "/v2/rerank"
    key_env = "CO_API_KEY"
    options = frozenset({"max_tokens_per_doc"})

    def request(self, query: str, documents: list[str], options: RequestOptions) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "documents": documents, "top_n": len(documents)}
        if options.max_tokens_per_doc is not None:
            body["max_tokens_per_doc"] = options.max_tokens_per_doc
        return self._with_model(body, options)

    def usage(self, reply: Reply) -> dict[str, float]:
        usage = super().usage(reply)  # vLLM reports tokens, Cohere search units
        units = _number(_path(reply.body, "meta", "billed_units", "search_units"))
        return usage if units is None else {**usage, "search_units": units}


PROTOCOLS: dict[str, Protocol] = {p.api: p for p in (Tei(), Jina(), Voyage(), Cohere())}
"""The protocol of each ``api=`` name."""
