"""Cohere rerank backend: the managed ``/v2/rerank`` API or any Cohere-compatible service,
on the official ``cohere`` client. What is Cohere's lives here: the request, the SDK call,
its exceptions, the response check, billed units and the config round-trip; retries,
timeouts, batching, key and clients are `RemoteScorer`'s."""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Mapping
from typing import Any

from ...errors import MissingDependencyError, require
from ...scorer import config_parameters
from .batching import Batch, BatchResult, indexed_scores
from .errors import AUTH_STATUSES, MalformedResponse, RemoteError, server_message, status_failure
from .retry import Failure, check_positive
from .scorer import RemoteScorer

__all__ = ["CohereError", "CohereScorer"]

_AUTH_STATUSES = AUTH_STATUSES | {498}  # Cohere's "invalid token"


class CohereError(RemoteError):
    """A Cohere rerank call failed (see `RemoteError` for ``kind``, ``attempts`` and
    ``status_code``). Messages never contain the API key."""


def _client_classes() -> tuple[Any, Any]:
    """``(ClientV2, AsyncClientV2)``, imported now so no later call pays for the import."""
    cohere: Any = require("cohere", "cohere")
    try:
        return cohere.ClientV2, cohere.AsyncClientV2
    except AttributeError:
        raise MissingDependencyError(
            "CohereScorer needs cohere>=5.16 (ClientV2 with raw responses): "
            "pip install -U 'ragrerank[cohere]'"
        ) from None


class CohereScorer(RemoteScorer):
    """Relevance scores from Cohere's rerank API (``relevance_score`` in [0, 1]).

    Every document gets a score: each request asks for ``top_n = len(documents)``, and an
    answer that omits, repeats or invents an index is a ``malformed_response`` error.
    More documents than ``max_documents_per_request`` are split into requests sent
    concurrently (at most ``max_concurrency`` at a time per call) and merged back into
    input order. 429, 5xx, 408, timeouts and dropped connections are retried with
    exponential backoff and jitter (or exactly ``Retry-After``), at most ``max_attempts``
    tries per request and within ``total_timeout`` per call; the cohere client's own
    retries are disabled. Failures raise `CohereError` (a `ScorerError`, so a `Reranker`
    with a ``fallback`` fails open).

    Args:
        model: Cohere rerank model, e.g. ``"rerank-v3.5"``.
        api_key: API key; default: the ``CO_API_KEY`` environment variable.
        base_url: service root for Cohere-compatible services; default: ``CO_API_URL``
            or Cohere's production API.
        timeout: seconds per request attempt.
        total_timeout: seconds per scoring call, retries and backoff included (``None``:
            no overall limit).
        max_attempts: tries per request, first one included.
        backoff_base: first backoff delay in seconds, doubled per retry.
        backoff_max: largest backoff delay in seconds.
        max_retry_after: give up at once when the server asks to wait longer than this.
        max_documents_per_request: documents per request (Cohere's limit is 1,000).
        max_concurrency: requests in flight at once for one call.
        max_tokens_per_doc: server-side truncation length (Cohere's default: 4096).
        client_name: sent to Cohere as ``X-Client-Name``.
    """

    service = "Cohere"
    key_env = "CO_API_KEY"
    url_env = "CO_API_URL"
    notes_key = "cohere"
    error_class = CohereError

    def __init__(
        self,
        model: str = "rerank-v3.5",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        total_timeout: float | None = 120.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
        max_documents_per_request: int = 1000,
        max_concurrency: int = 4,
        max_tokens_per_doc: int | None = None,
        client_name: str | None = "ragrerank",
    ) -> None:
        super().__init__(
            model,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            total_timeout=total_timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            max_documents_per_request=max_documents_per_request,
            max_concurrency=max_concurrency,
        )
        if max_tokens_per_doc is not None:
            check_positive("max_tokens_per_doc", max_tokens_per_doc, integer=True)
        self._classes = _client_classes()
        self.max_tokens_per_doc = max_tokens_per_doc
        self.client_name = client_name
        self._lock = threading.Lock()
        self._billed = 0.0

    # -- config ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments, without the API key (see `from_dict`)."""
        return {
            "type": "ragrerank.CohereScorer",
            "init_parameters": {
                **self._init_parameters(),
                "max_tokens_per_doc": self.max_tokens_per_doc,
                "client_name": self.client_name,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, api_key: str | None = None) -> CohereScorer:
        """Rebuild a scorer from `to_dict` output; the key comes from ``api_key`` or the env."""
        return cls(**config_parameters(data, "CohereScorer"), api_key=api_key)

    @property
    def billed_search_units(self) -> float:
        """Search units Cohere reported as billed, summed over this scorer's lifetime."""
        with self._lock:
            return self._billed

    # -- requests ----------------------------------------------------------------------------

    def _make_client(self, http: Any, *, asynchronous: bool) -> Any:
        """A ``cohere.ClientV2`` (or ``AsyncClientV2``) on our httpx client ``http``."""
        cls = self._classes[1 if asynchronous else 0]
        options = {
            "base_url": self.base_url,
            "client_name": self.client_name,
            "timeout": self.timeout,
            "max_retries": 0,  # retries are ours, so attempts are counted and bounded there
            "httpx_client": http,
            "log_warning_experimental_features": False,
        }
        accepted = inspect.signature(cls).parameters  # older clients lack some options
        key = self._key.reveal()
        return cls(api_key=key, **{k: v for k, v in options.items() if k in accepted})

    def _request(self, query: str, documents: list[str]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "query": query,
            "documents": documents,
            "top_n": len(documents),
        }
        if self.max_tokens_per_doc is not None:
            request["max_tokens_per_doc"] = self.max_tokens_per_doc
        return request

    def _send(self, client: Any, request: dict[str, Any], timeout: float) -> object:
        raw = client.with_raw_response.rerank(
            **request, request_options={"timeout": timeout, "max_retries": 0}
        )
        return raw.response.json()

    async def _asend(self, client: Any, request: dict[str, Any], timeout: float) -> object:
        raw = await client.with_raw_response.rerank(
            **request, request_options={"timeout": timeout, "max_retries": 0}
        )
        return raw.response.json()

    def _classify(self, exc: Exception, timeout: float) -> Failure:
        """The cohere client's `ApiError` by status; network errors as for every backend."""
        from cohere.core.api_error import ApiError

        if isinstance(exc, ApiError):
            status = exc.status_code
            message = server_message(exc.body)
            if status is None:
                return Failure("bad_request", False, f"client error: {message}")
            if 200 <= status < 300:
                return Failure(
                    "malformed_response",
                    False,
                    f"HTTP {status} with a body that is not valid JSON",
                    status,
                )
            return status_failure(status, message, exc.headers, auth_statuses=_AUTH_STATUSES)
        if not isinstance(exc, (TypeError, ValueError, KeyError, AttributeError)):
            return super()._classify(exc, timeout)
        # The client failed to build its response object from the JSON it got.
        return Failure(
            "malformed_response",
            False,
            f"the response does not have the rerank shape ({type(exc).__name__}: {exc})",
        )

    # -- responses ---------------------------------------------------------------------------

    def _parse(self, payload: object, batch: Batch, attempts: int) -> BatchResult:
        """Validate one 2xx answer strictly; every document of the batch needs one score."""
        if not isinstance(payload, Mapping):
            raise MalformedResponse(
                f"the response is not a JSON object but {type(payload).__name__}"
            )
        scores = indexed_scores(
            payload.get("results"),
            batch,
            requested=f" although top_n={batch.size} was requested",
        )
        units = _search_units(payload)
        with self._lock:
            self._billed += units
        response_id = payload.get("id")
        meta = {
            "search_units": units,
            "response_id": response_id if isinstance(response_id, str) else None,
        }
        return BatchResult(batch, scores, attempts, meta)

    def _notes(self, results: list[BatchResult]) -> dict[str, Any]:
        return {
            "billed_search_units": sum(r.meta["search_units"] for r in results),
            "response_ids": [r.meta["response_id"] for r in results],
        }


def _search_units(payload: Mapping[str, Any]) -> float:
    """``meta.billed_units.search_units``, or 0 when the service does not report it."""
    meta = payload.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, Mapping) else None
    units = billed.get("search_units") if isinstance(billed, Mapping) else None
    if isinstance(units, bool) or not isinstance(units, (int, float)) or not math.isfinite(units):
        return 0.0
    return float(units)
