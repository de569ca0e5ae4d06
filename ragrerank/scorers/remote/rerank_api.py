"""`RemoteRerankScorer`: self-hosted and hosted rerank engines over plain HTTP (TEI, Jina,
vLLM, Voyage, Infinity, Cohere-compatible servers), one protocol adapter each
(protocols.py) on the shared `RemoteScorer` layer: no retries, timeouts or batching here."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from typing import Any

from ...scorer import config_parameters
from .batching import Batch, BatchResult
from .errors import MalformedResponse, RemoteError
from .protocols import PROTOCOLS, Reply, RequestOptions
from .retry import check_positive
from .scorer import RemoteScorer

__all__ = ["RemoteRerankError", "RemoteRerankScorer"]

_DIRECTIONS = ("right", "left")


class RemoteRerankError(RemoteError):
    """A `RemoteRerankScorer` call failed (see `RemoteError` for ``kind``, ``attempts`` and
    ``status_code``). Messages never contain the API key."""


class RemoteRerankScorer(RemoteScorer):
    """Scores from a rerank server speaking one of four HTTP APIs (``api=``):

    * ``"tei"``: Hugging Face text-embeddings-inference, ``POST /rerank`` (``score``; a
      sigmoid in [0, 1] unless ``raw_scores=True``);
    * ``"jina"``: ``POST /v1/rerank`` as Jina's API and vLLM serve it (``relevance_score``);
    * ``"voyage"``: Voyage AI's ``POST /v1/rerank`` (``relevance_score``);
    * ``"cohere"``: Cohere's v2 shape, ``POST /v2/rerank``, over plain HTTP (vLLM,
      Infinity, Cohere itself; `CohereScorer` is the SDK-based alternative).

    Each request asks for every document back (``top_n``/``top_k`` = the batch size) and an
    answer that omits, repeats or invents an index, or has a non-numeric or non-finite
    score, is a ``malformed_response`` error. Batching, concurrency, retries (429, 5xx,
    408, timeouts, dropped connections; ``Retry-After`` honoured), timeouts and error kinds
    are `RemoteScorer`'s, as documented for `CohereScorer`. Failures raise
    `RemoteRerankError` (a `ScorerError`, so a `Reranker` with a ``fallback`` fails open).

    The key (``api_key`` or the API's environment variable: ``TEI_API_KEY``,
    ``JINA_API_KEY``, ``VOYAGE_API_KEY``, ``CO_API_KEY``) is sent as ``Authorization:
    Bearer`` and shows in no message, repr, trace or `to_dict`; without one nothing is sent
    (a keyless local server).

    Args:
        base_url: the server's root, e.g. ``"http://localhost:8080"``; ``path`` is appended.
        api: ``"tei"``, ``"jina"``, ``"voyage"`` or ``"cohere"``.
        model: the model to ask for (not sent when ``None``: TEI and vLLM serve one model;
            hosted APIs need it). Not accepted for ``tei``.
        api_key: the key; default: the API's environment variable, else none.
        path: the endpoint below ``base_url``; default: the API's (see above).
        truncate: ``tei``: let the server cut inputs over its limit (default ``True``;
            ``False``: such a request fails with 413); ``voyage``: ``truncation``.
        truncation_direction: ``tei`` only: ``"right"`` (default) or ``"left"``.
        raw_scores: ``tei`` only: logits instead of sigmoid scores.
        max_tokens_per_doc: ``cohere`` only: server-side truncation length.
        max_documents_per_request: documents per request; default 32 for ``tei`` (its
            ``--max-client-batch-size``), else 1,000.
        timeout: seconds per request attempt.
        total_timeout: seconds per scoring call, retries and backoff included.
        max_attempts: tries per request, first one included.
        backoff_base: first backoff delay in seconds, doubled per retry.
        backoff_max: largest backoff delay in seconds.
        max_retry_after: give up at once when the server asks to wait longer than this.
        max_concurrency: requests in flight at once for one call.
    """

    notes_key = "remote"
    error_class = RemoteRerankError
    key_required = False

    def __init__(
        self,
        base_url: str,
        *,
        api: str,
        model: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        truncate: bool | None = None,
        truncation_direction: str | None = None,
        raw_scores: bool | None = None,
        max_tokens_per_doc: int | None = None,
        timeout: float = 30.0,
        total_timeout: float | None = 120.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 60.0,
        max_documents_per_request: int | None = None,
        max_concurrency: int = 4,
    ) -> None:
        protocol = PROTOCOLS.get(api)
        if protocol is None:
            raise ValueError(f"api must be one of {sorted(PROTOCOLS)}, got {api!r}")
        if not isinstance(base_url, str):
            raise ValueError(f"base_url must be a str, got {base_url!r}")
        if model is not None and api == "tei":
            raise ValueError("api='tei' takes no model: a TEI server serves the one it loaded")
        options = RequestOptions(
            model, truncate, truncation_direction, raw_scores, max_tokens_per_doc
        )
        given = {k for k, v in dataclasses.asdict(options).items() if v is not None}
        if extra := sorted(given - protocol.options - {"model"}):
            raise ValueError(f"api={api!r} does not take {', '.join(extra)}")
        if truncation_direction is not None and truncation_direction.lower() not in _DIRECTIONS:
            raise ValueError(
                f"truncation_direction must be 'right' or 'left', got {truncation_direction!r}"
            )
        if max_tokens_per_doc is not None:
            check_positive("max_tokens_per_doc", max_tokens_per_doc, integer=True)
        path = protocol.path if path is None else path
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.service = protocol.service
        self.key_env = protocol.key_env
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
            max_documents_per_request=protocol.max_documents
            if max_documents_per_request is None
            else max_documents_per_request,  # 0 is an error, not "the default"
            max_concurrency=max_concurrency,
        )
        self.api = api
        self.path = path
        self.options = options
        self._protocol = protocol
        self._url = base_url.rstrip("/") + path
        self._lock = threading.Lock()
        self._usage: dict[str, float] = {}

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.api}{'' if self.model is None else ':' + self.model})"

    def __repr__(self) -> str:
        return super().__repr__().replace("(model=", f"(api={self.api!r}, model=", 1)

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments, without the API key (see `from_dict`)."""
        params = self._init_parameters()
        return {
            "type": "ragrerank.RemoteRerankScorer",
            "init_parameters": {
                "base_url": params.pop("base_url"),
                "api": self.api,
                "path": self.path,
                **params,
                **dataclasses.asdict(self.options),  # model and the API's own options
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, api_key: str | None = None
    ) -> RemoteRerankScorer:
        """Rebuild a scorer from `to_dict` output; the key comes from ``api_key`` or the env."""
        params = config_parameters(data, "RemoteRerankScorer")
        return cls(params.pop("base_url"), **params, api_key=api_key)

    @property
    def usage(self) -> dict[str, float]:
        """Usage the server reported (``total_tokens``, ``search_units``), summed over this
        scorer's lifetime; empty when it reports none (TEI without its headers...)."""
        with self._lock:
            return dict(self._usage)

    # -- requests ----------------------------------------------------------------------------

    def _request(self, query: str, documents: list[str]) -> dict[str, Any]:
        return self._protocol.request(query, documents, self.options)

    def _send(self, client: Any, request: dict[str, Any], timeout: float) -> object:
        response = client.post(self._url, json=request, timeout=timeout)
        return _reply(response.raise_for_status())

    async def _asend(self, client: Any, request: dict[str, Any], timeout: float) -> object:
        response = await client.post(self._url, json=request, timeout=timeout)
        return _reply(response.raise_for_status())

    # -- responses ---------------------------------------------------------------------------

    def _parse(self, payload: object, batch: Batch, attempts: int) -> BatchResult:
        assert isinstance(payload, tuple)
        text, headers = payload
        try:
            body = json.loads(text)
        except ValueError:
            raise MalformedResponse(
                f"HTTP 200 with a body that is not valid JSON ({text[:60]!r})"
            ) from None
        reply = Reply(body, headers)
        scores = self._protocol.scores(reply, batch)
        usage = self._protocol.usage(reply)
        with self._lock:
            for key, value in usage.items():
                self._usage[key] = self._usage.get(key, 0.0) + value
        return BatchResult(batch, scores, attempts, {"usage": usage})

    def _notes(self, results: list[BatchResult]) -> dict[str, Any]:
        usage: dict[str, float] = {}
        for result in results:
            for key, value in result.meta["usage"].items():
                usage[key] = usage.get(key, 0.0) + value
        return {
            "api": self.api,
            "server_truncation": self._protocol.truncation(self.options),
            "usage": usage,
        }


def _reply(response: Any) -> tuple[str, dict[str, str]]:
    """The text and lower-cased headers of a 2xx httpx response (decoded in `_parse`, so
    a body that is not JSON is a ``malformed_response``, not retried)."""
    return response.text, {k.lower(): v for k, v in response.headers.items()}
