"""Remote reranking APIs on one shared layer every remote backend reuses: Cohere (its SDK)
and `RemoteRerankScorer` (TEI, Jina, vLLM, Voyage, Infinity, Cohere-compatible servers over
plain HTTP, one small adapter per protocol in protocols.py).

* `RemoteScorer` (scorer.py): the base class; options, key, clients, the per-call
  `Deadline`, batching, the retry loop (sync and async), errors and trace notes.
* `RetryPolicy`, `Deadline`, `Failure`, `parse_retry_after` (retry.py): when to retry,
  how long to wait, per-attempt and total time limits.
* `RemoteError`, `ERROR_KINDS`, `status_failure`, `transport_failure`, `MalformedResponse`
  (errors.py): classified failures; every backend's error is a `RemoteError`, so
  ``Reranker(fallback=...)`` treats them all alike.
* `split`, `run_batches`, `arun_batches`, `indexed_scores` (batching.py): requests of at
  most N documents, bounded concurrency, answers checked index by index.
* `ApiKey`, `HttpClients`, `Closable` (clients.py): the key kept out of every text (or
  none, for a keyless server), lazily created, reused, closable httpx-based clients, and
  ``with`` / ``async with`` on every remote scorer.

A new backend subclasses `RemoteScorer`, sets ``service``, ``key_env``, ``url_env``,
``notes_key`` and ``error_class`` (a `RemoteError` subclass), and implements:

* ``_request(query, documents)``: the request body of one batch;
* ``_send(client, request, timeout)`` / ``_asend(...)``: one attempt, returning the 2xx
  answer. For plain HTTP (TEI, Infinity, ...) ``client`` is our ``httpx.Client`` /
  ``httpx.AsyncClient`` itself (the default ``_make_client``), so ``_send`` is
  ``client.post(url, json=request, timeout=timeout).raise_for_status().text``: the base
  ``_classify`` already maps a non-2xx status (`status_failure`, ``Retry-After`` included)
  and every httpx error (`transport_failure`). An SDK backend overrides ``_make_client``
  to wrap the httpx client and extends ``_classify`` for the SDK's exceptions, as Cohere's;
* ``_parse(payload, batch, attempts)``: decode and check the answer (raise
  `MalformedResponse` for a body that is not JSON or not of the service's shape), with
  `indexed_scores` for the batch's scores, into a `BatchResult`. ``_notes`` adds entries to
  the call's trace notes; ``to_dict`` adds the backend's options to ``_init_parameters()``.

A backend that talks to several services (`RemoteRerankScorer`) sets the first two per
instance before calling ``super().__init__``; ``key_required = False`` lets it run without
a key, and the default ``_make_client`` then sends no ``Authorization`` header.
"""

from __future__ import annotations

from .batching import Batch, BatchResult, arun_batches, indexed_scores, run_batches, split
from .clients import ApiKey, Closable, HttpClients
from .cohere import CohereError, CohereScorer
from .errors import (
    AUTH_STATUSES,
    ERROR_KINDS,
    MalformedResponse,
    RemoteError,
    server_message,
    status_failure,
    transport_failure,
)
from .protocols import PROTOCOLS, Protocol, Reply, RequestOptions
from .rerank_api import RemoteRerankError, RemoteRerankScorer
from .retry import Deadline, Failure, GiveUp, RetryPolicy, parse_retry_after
from .scorer import RemoteScorer

__all__ = [
    "AUTH_STATUSES",
    "ApiKey",
    "Batch",
    "BatchResult",
    "Closable",
    "CohereError",
    "CohereScorer",
    "Deadline",
    "ERROR_KINDS",
    "Failure",
    "GiveUp",
    "HttpClients",
    "MalformedResponse",
    "PROTOCOLS",
    "Protocol",
    "RemoteError",
    "RemoteRerankError",
    "RemoteRerankScorer",
    "RemoteScorer",
    "Reply",
    "RequestOptions",
    "RetryPolicy",
    "arun_batches",
    "indexed_scores",
    "parse_retry_after",
    "run_batches",
    "server_message",
    "split",
    "status_failure",
    "transport_failure",
]
