"""`RemoteScorer`: the base of every remote rerank backend. It owns what they share: option
checks, key and clients, the per-call deadline, batching, the retry loop (sync and async),
the error of a failed request and the trace notes; a backend adds only its request, send,
response parsing and config (see the package docstring for how one plugs in)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from ...scorer import BaseScorer, validate_query
from ...types import Candidate, ScoreOutput
from .batching import Batch, BatchResult, arun_batches, run_batches, split
from .clients import ApiKey, Closable, HttpClients
from .errors import MalformedResponse, RemoteError, transport_failure
from .retry import Deadline, Failure, GiveUp, RetryPolicy, check_positive

__all__ = ["RemoteScorer"]


class RemoteScorer(Closable, BaseScorer):
    """Scores from a remote rerank service, one request per batch of documents, retried
    per `RetryPolicy` within the call's `Deadline`; failures raise ``error_class`` (a
    `RemoteError`, so a `Reranker` with a ``fallback`` fails open).

    Subclasses set the class attributes and implement `_request`, `_send`, `_asend` and
    `_parse`; `_make_client`, `_classify` and `_notes` may be overridden. ``with`` /
    ``async with`` close the clients at the end (`Closable`).

    The constructor's arguments are `CohereScorer`'s (model, key, URL, timeouts, retries,
    batching); a subclass takes them as keyword arguments and passes them on.
    """

    # Class attributes of a backend, or set per instance before ``super().__init__`` by
    # one that speaks several services (`RemoteRerankScorer`).
    service: str
    """The service's name in messages, e.g. ``"Cohere"``."""
    key_env: str
    """Environment variable with the API key."""
    key_required: bool = True
    """``False``: no key is fine (a keyless local server); nothing is sent then."""
    url_env: str | None = None
    """Environment variable with the default ``base_url``."""
    notes_key: str
    """Key of this backend's entry in `ScoreOutput.notes`."""
    error_class: ClassVar[type[RemoteError]] = RemoteError

    def __init__(
        self,
        model: str | None,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        total_timeout: float | None,
        max_attempts: int,
        backoff_base: float,
        backoff_max: float,
        max_retry_after: float,
        max_documents_per_request: int,
        max_concurrency: int,
    ) -> None:
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        check_positive("timeout", timeout)
        if total_timeout is not None:
            check_positive("total_timeout", total_timeout)
        self.retry = RetryPolicy(max_attempts, backoff_base, backoff_max, max_retry_after)
        check_positive("max_documents_per_request", max_documents_per_request, integer=True)
        check_positive("max_concurrency", max_concurrency, integer=True)
        self._key = ApiKey(
            api_key, env=self.key_env, service=self.service, required=self.key_required
        )
        url = base_url if base_url is not None or self.url_env is None else os.getenv(self.url_env)
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        self.model = model
        self.base_url = url
        self.timeout = float(timeout)
        self.total_timeout = None if total_timeout is None else float(total_timeout)
        self.max_documents_per_request = max_documents_per_request
        self.max_concurrency = max_concurrency
        self._clients = HttpClients(
            self.timeout,
            lambda http: self._make_client(http, asynchronous=False),
            lambda http: self._make_client(http, asynchronous=True),
        )

    # -- config ------------------------------------------------------------------------------

    @property
    def max_attempts(self) -> int:
        return self.retry.max_attempts

    @property
    def backoff_base(self) -> float:
        return self.retry.backoff_base

    @property
    def backoff_max(self) -> float:
        return self.retry.backoff_max

    @property
    def max_retry_after(self) -> float:
        return self.retry.max_retry_after

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.model})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout}, total_timeout={self.total_timeout}, "
            f"max_attempts={self.max_attempts}, "
            f"max_documents_per_request={self.max_documents_per_request}, "
            f"max_concurrency={self.max_concurrency})"
        )

    def _init_parameters(self) -> dict[str, Any]:
        """The shared constructor arguments, without the key (for a backend's ``to_dict``)."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "total_timeout": self.total_timeout,
            **dataclasses.asdict(self.retry),  # max_attempts, backoff_base, ...
            "max_documents_per_request": self.max_documents_per_request,
            "max_concurrency": self.max_concurrency,
        }

    # -- clients -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client's connections (a later call opens new ones)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the current event loop's async client (a later call opens a new one)."""
        await self._clients.aclose()

    # -- scoring -----------------------------------------------------------------------------

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        texts = [c.text for c in candidates]
        if not texts:
            return ScoreOutput([])
        client = self._clients.sync()  # before the clock starts: the first one takes a while
        deadline = Deadline(self.timeout, self.total_timeout)

        def run(batch: Batch, cancel: threading.Event | None) -> BatchResult:
            request = self._request(query, texts[batch.start : batch.stop])
            payload, attempts = self._call(client, request, batch, deadline, cancel)
            return self._checked(payload, batch, attempts)

        batches = split(len(texts), self.max_documents_per_request)
        name = f"ragrerank-{self.notes_key}"
        return self._merge(run_batches(run, batches, self.max_concurrency, name), deadline)

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """Async scoring on the backend's async client (no worker threads)."""
        validate_query(query)
        texts = [c.text for c in candidates]
        if not texts:
            return ScoreOutput([])
        client = self._clients.async_()
        deadline = Deadline(self.timeout, self.total_timeout)

        async def run(batch: Batch) -> BatchResult:
            request = self._request(query, texts[batch.start : batch.stop])
            payload, attempts = await self._acall(client, request, batch, deadline)
            return self._checked(payload, batch, attempts)

        batches = split(len(texts), self.max_documents_per_request)
        return self._merge(await arun_batches(run, batches, self.max_concurrency), deadline)

    # -- one request with retries ------------------------------------------------------------

    def _call(
        self,
        client: Any,
        request: Any,
        batch: Batch,
        deadline: Deadline,
        cancel: threading.Event | None,
    ) -> tuple[Any, int]:
        """``(payload, attempts)`` of the first successful `_send`."""
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(deadline, attempt, batch)
            try:
                payload = self._send(client, request, timeout)
            except Exception as exc:
                failure = self._classify(exc, timeout)
            else:
                return payload, attempt
            delay = self._retry_delay(failure, attempt, deadline, batch)
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise self._error(failure, attempt, batch, "another request of this call failed")

    async def _acall(
        self, client: Any, request: Any, batch: Batch, deadline: Deadline
    ) -> tuple[Any, int]:
        """Async `_call`; each attempt is also bounded by `asyncio.wait_for`."""
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(deadline, attempt, batch)
            try:
                payload = await asyncio.wait_for(self._asend(client, request, timeout), timeout)
            except Exception as exc:
                failure = self._classify(exc, timeout)
            else:
                return payload, attempt
            await asyncio.sleep(self._retry_delay(failure, attempt, deadline, batch))

    def _attempt_timeout(self, deadline: Deadline, attempt: int, batch: Batch) -> float:
        timeout = deadline.attempt_timeout()
        if timeout is None:
            raise self._error(deadline.passed(), attempt - 1, batch)
        return timeout

    def _retry_delay(
        self, failure: Failure, attempt: int, deadline: Deadline, batch: Batch
    ) -> float:
        """Seconds to wait before the next attempt, or raise when giving up."""
        delay = self.retry.next_delay(failure, attempt, deadline)
        if isinstance(delay, GiveUp):
            raise self._error(failure, attempt, batch, delay.note)
        logging.getLogger(type(self).__module__).info(
            "%s: %s (%s) on attempt %d/%d; retrying in %.3g s",
            self.name,
            self._key.redact(failure.detail),
            failure.kind,
            attempt,
            self.max_attempts,
            delay,
        )
        return delay

    def _error(
        self, failure: Failure, attempts: int, batch: Batch, note: str | None = None
    ) -> RemoteError:
        where = f"request {batch.number}/{batch.total}: documents {batch.start}-{batch.stop - 1}"
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        model = "" if self.model is None else f", model {self.model!r}"
        # Only the detail carries text from the server or the network stack; redact it.
        message = (
            f"{self.service} rerank failed ({failure.kind}): {self._key.redact(failure.detail)}"
            f"{'; ' + note if note else ''} [{where}, {tries}{model}]"
        )
        return self.error_class(
            message, kind=failure.kind, attempts=attempts, status_code=failure.status
        )

    def _checked(self, payload: object, batch: Batch, attempts: int) -> BatchResult:
        """`_parse`, with a `MalformedResponse` turned into this backend's error."""
        try:
            return self._parse(payload, batch, attempts)
        except MalformedResponse as exc:
            problem = Failure("malformed_response", False, str(exc), 200)
        raise self._error(problem, attempts, batch)

    def _merge(self, results: list[BatchResult], deadline: Deadline) -> ScoreOutput:
        """One call's scores in input order (``results`` come in batch order) and its notes."""
        attempts = sum(r.attempts for r in results)
        notes = {
            "model": self.model,
            "requests": len(results),
            "attempts": attempts,
            "retries": attempts - len(results),
            **self._notes(results),
            "elapsed_ms": deadline.elapsed_ms(),
        }
        return ScoreOutput([s for r in results for s in r.scores], notes={self.notes_key: notes})

    # -- what a backend implements -----------------------------------------------------------

    def _make_client(self, http: Any, *, asynchronous: bool) -> Any:
        """The backend's client on our ``httpx.Client`` / ``httpx.AsyncClient`` ``http``;
        plain-HTTP backends use ``http`` itself, sending the key (if any) as
        ``Authorization: Bearer``; SDK backends wrap it."""
        http.headers.update(self._key.bearer())
        return http

    @abstractmethod
    def _request(self, query: str, documents: list[str]) -> Any:
        """The request for one batch of ``documents``."""

    @abstractmethod
    def _send(self, client: Any, request: Any, timeout: float) -> object:
        """One attempt on the sync client: the decoded 2xx answer, or an exception."""

    @abstractmethod
    async def _asend(self, client: Any, request: Any, timeout: float) -> object:
        """One attempt on the async client."""

    @abstractmethod
    def _parse(self, payload: object, batch: Batch, attempts: int) -> BatchResult:
        """Validate one 2xx answer (raise `MalformedResponse`); every document needs a score."""

    def _classify(self, exc: Exception, timeout: float) -> Failure:
        """Map an exception of one attempt to a `Failure`; re-raise what is not a failure
        of the call (a bug). Backends extend it for their SDK's exceptions."""
        failure = transport_failure(exc, timeout)
        if failure is None:
            raise exc
        return failure

    def _notes(self, results: list[BatchResult]) -> dict[str, Any]:
        """The backend's entries of one call's notes (from the results' ``meta``)."""
        return {}
