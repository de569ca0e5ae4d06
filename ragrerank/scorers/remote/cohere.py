"""Cohere rerank backend: the managed ``/v2/rerank`` API or any Cohere-compatible service."""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ...errors import MissingDependencyError, ScorerError, require
from ...scorer import BaseScorer, validate_query
from ...types import Candidate, ScoreOutput

__all__ = ["CohereError", "CohereScorer"]

logger = logging.getLogger(__name__)

ERROR_KINDS = (
    "auth",
    "bad_request",
    "malformed_response",
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
)
"""Values of `CohereError.kind`; the last four are retried, the first three are not."""

_AUTH_STATUSES = frozenset({401, 403, 498})


class CohereError(ScorerError):
    """A Cohere rerank call failed.

    ``kind`` is one of `ERROR_KINDS`, ``attempts`` the number of tries made for the
    failing request and ``status_code`` the last HTTP status (``None`` without one).
    Messages never contain the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "error",
        attempts: int | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, kind=kind, attempts=attempts)
        self.status_code = status_code

    def __repr__(self) -> str:
        return (
            f"CohereError(kind={self.kind!r}, attempts={self.attempts}, "
            f"status_code={self.status_code}, message={str(self)!r})"
        )


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, classified."""

    kind: str
    retryable: bool
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class _Batch:
    """Documents ``[start, stop)`` of one call, sent as request ``number`` of ``total``."""

    start: int
    stop: int
    number: int
    total: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class _BatchResult:
    batch: _Batch
    scores: list[float]
    attempts: int
    search_units: float
    response_id: str | None


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not value > 0  # type: ignore[operator]
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(body: object) -> str:
    if isinstance(body, Mapping) and "message" in body:
        text = str(body["message"])
    elif isinstance(body, str):
        text = body
    else:
        text = repr(body)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            ms = float(lower["retry-after-ms"])
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


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


def _classify(exc: Exception, timeout: float) -> _Failure:
    """Map an exception from the cohere client (or our own timeout) to a `_Failure`."""
    import httpx
    from cohere.core.api_error import ApiError

    if isinstance(exc, ApiError):
        status = exc.status_code
        message = _server_message(exc.body)
        if status is None:
            return _Failure("bad_request", False, f"client error: {message}")
        detail = f"HTTP {status}: {message}"
        if 200 <= status < 300:
            return _Failure(
                "malformed_response",
                False,
                f"HTTP {status} with a body that is not valid JSON",
                status,
            )
        retry_after = parse_retry_after(exc.headers)
        if status in _AUTH_STATUSES:
            return _Failure("auth", False, detail, status)
        if status == 408:
            return _Failure("timeout", True, detail, status, retry_after)
        if status == 429:
            return _Failure("rate_limited", True, detail, status, retry_after)
        if status >= 500:
            return _Failure("server_error", True, detail, status, retry_after)
        if status >= 400:
            return _Failure("bad_request", False, detail, status)
        return _Failure("malformed_response", False, f"unexpected {detail}", status)
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return _Failure("timeout", True, f"no response within {timeout:.3g} s")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return _Failure("bad_request", False, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TransportError):
        return _Failure("connection", True, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (TypeError, ValueError, KeyError, AttributeError)):
        # The client failed to build its response object from the JSON it got.
        return _Failure(
            "malformed_response",
            False,
            f"the response does not have the rerank shape ({type(exc).__name__}: {exc})",
        )
    raise exc


class CohereScorer(BaseScorer):
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
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        _positive("timeout", timeout)
        if total_timeout is not None:
            _positive("total_timeout", total_timeout)
        _positive("max_attempts", max_attempts, integer=True)
        _positive("backoff_base", backoff_base)
        _positive("backoff_max", backoff_max)
        _positive("max_retry_after", max_retry_after)
        _positive("max_documents_per_request", max_documents_per_request, integer=True)
        _positive("max_concurrency", max_concurrency, integer=True)
        if max_tokens_per_doc is not None:
            _positive("max_tokens_per_doc", max_tokens_per_doc, integer=True)
        key = api_key if api_key is not None else os.environ.get("CO_API_KEY")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("no Cohere API key: pass api_key=... or set CO_API_KEY")
        url = base_url if base_url is not None else os.environ.get("CO_API_URL")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        self._classes = _client_classes()
        self.model = model
        self.base_url = url
        self.timeout = float(timeout)
        self.total_timeout = None if total_timeout is None else float(total_timeout)
        self.max_attempts = max_attempts
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.max_documents_per_request = max_documents_per_request
        self.max_concurrency = max_concurrency
        self.max_tokens_per_doc = max_tokens_per_doc
        self.client_name = client_name
        self._api_key = key
        self._lock = threading.Lock()
        # (cohere client, its httpx client): one sync pair, one async pair per event loop.
        self._client: tuple[Any, Any] | None = None
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, Any]
        ] = weakref.WeakKeyDictionary()
        self._billed = 0.0

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"CohereScorer({self.model})"

    def __repr__(self) -> str:
        return (
            f"CohereScorer(model={self.model!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout}, total_timeout={self.total_timeout}, "
            f"max_attempts={self.max_attempts}, "
            f"max_documents_per_request={self.max_documents_per_request}, "
            f"max_concurrency={self.max_concurrency})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments, without the API key (see `from_dict`)."""
        return {
            "type": "ragrerank.CohereScorer",
            "init_parameters": {
                "model": self.model,
                "base_url": self.base_url,
                "timeout": self.timeout,
                "total_timeout": self.total_timeout,
                "max_attempts": self.max_attempts,
                "backoff_base": self.backoff_base,
                "backoff_max": self.backoff_max,
                "max_retry_after": self.max_retry_after,
                "max_documents_per_request": self.max_documents_per_request,
                "max_concurrency": self.max_concurrency,
                "max_tokens_per_doc": self.max_tokens_per_doc,
                "client_name": self.client_name,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, api_key: str | None = None) -> CohereScorer:
        """Rebuild a scorer from `to_dict` output; the key comes from ``api_key`` or the env."""
        if data.get("type") != "ragrerank.CohereScorer":
            raise ValueError(f"not a CohereScorer config: type={data.get('type')!r}")
        return cls(**data["init_parameters"], api_key=api_key)

    @property
    def billed_search_units(self) -> float:
        """Search units Cohere reported as billed, summed over this scorer's lifetime."""
        with self._lock:
            return self._billed

    # -- clients -----------------------------------------------------------------------------

    def _new_client(self, cls: Any, http: Any) -> Any:
        """A cohere client on our own httpx client ``http`` (so we can close it)."""
        options = {
            "base_url": self.base_url,
            "client_name": self.client_name,
            "timeout": self.timeout,
            "max_retries": 0,  # retries are ours, so attempts are counted and bounded here
            "httpx_client": http,
            "log_warning_experimental_features": False,
        }
        accepted = inspect.signature(cls).parameters  # older clients lack some options
        return cls(api_key=self._api_key, **{k: v for k, v in options.items() if k in accepted})

    def _sync_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                http = httpx.Client(timeout=self.timeout, follow_redirects=True)
                self._client = (self._new_client(self._classes[0], http), http)
            return self._client[0]

    def _async_client(self) -> Any:
        """One `cohere.AsyncClientV2` per event loop (its connection pool is bound to the loop)."""
        import httpx

        loop = asyncio.get_running_loop()
        with self._lock:
            pair = self._async_clients.get(loop)
            if pair is None:
                http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
                pair = (self._new_client(self._classes[1], http), http)
                self._async_clients[loop] = pair
            return pair[0]

    def close(self) -> None:
        """Close the sync client's connections (a later call opens new ones)."""
        with self._lock:
            pair, self._client = self._client, None
        if pair is not None:
            pair[1].close()

    async def aclose(self) -> None:
        """Close the current event loop's async client (a later call opens a new one)."""
        with self._lock:
            pair = self._async_clients.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[1].aclose()

    # -- scoring -----------------------------------------------------------------------------

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        texts = [c.text for c in candidates]
        if not texts:
            return ScoreOutput([])
        client = self._sync_client()  # before the clock starts: the first one takes a while
        start = time.monotonic()
        deadline = self._deadline(start)
        batches = self._split(len(texts))
        if len(batches) == 1:
            return self._merge([self._run(client, query, texts, batches[0], deadline)], start)
        cancel = threading.Event()
        pool = ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(batches)),
            thread_name_prefix="ragrerank-cohere",
        )
        try:
            futures = [
                pool.submit(self._run, client, query, texts, b, deadline, cancel) for b in batches
            ]
            wait(futures, return_when=FIRST_EXCEPTION)
            error = _first_error(futures)
            if error is not None:
                cancel.set()
                raise error
            return self._merge([f.result() for f in futures], start)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """Async scoring on `cohere.AsyncClientV2` (no worker threads)."""
        validate_query(query)
        texts = [c.text for c in candidates]
        if not texts:
            return ScoreOutput([])
        client = self._async_client()
        start = time.monotonic()
        deadline = self._deadline(start)
        batches = self._split(len(texts))
        if len(batches) == 1:
            result = await self._arun(client, query, texts, batches[0], deadline)
            return self._merge([result], start)
        slots = asyncio.Semaphore(self.max_concurrency)

        async def limited(batch: _Batch) -> _BatchResult:
            async with slots:
                return await self._arun(client, query, texts, batch, deadline)

        tasks = [asyncio.ensure_future(limited(b)) for b in batches]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            pending = [t for t in tasks if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        errors = [t.exception() for t in tasks if not t.cancelled()]
        error = next((e for e in errors if e is not None), None)
        if error is not None:
            raise error
        return self._merge([t.result() for t in tasks], start)

    # -- one request with retries ------------------------------------------------------------

    def _run(
        self,
        client: Any,
        query: str,
        texts: list[str],
        batch: _Batch,
        deadline: float | None,
        cancel: threading.Event | None = None,
    ) -> _BatchResult:
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(deadline, attempt, batch)
            try:
                raw = client.with_raw_response.rerank(
                    **self._request(query, texts, batch),
                    request_options={"timeout": timeout, "max_retries": 0},
                )
                payload = raw.response.json()
            except Exception as exc:
                failure = _classify(exc, timeout)
            else:
                return self._parse(payload, batch, attempt)
            delay = self._retry_delay(failure, attempt, deadline, batch)
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise self._error(failure, attempt, batch, "another request of this call failed")

    async def _arun(
        self, client: Any, query: str, texts: list[str], batch: _Batch, deadline: float | None
    ) -> _BatchResult:
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(deadline, attempt, batch)
            try:
                raw = await asyncio.wait_for(
                    client.with_raw_response.rerank(
                        **self._request(query, texts, batch),
                        request_options={"timeout": timeout, "max_retries": 0},
                    ),
                    timeout,
                )
                payload = raw.response.json()
            except Exception as exc:
                failure = _classify(exc, timeout)
            else:
                return self._parse(payload, batch, attempt)
            await asyncio.sleep(self._retry_delay(failure, attempt, deadline, batch))

    def _request(self, query: str, texts: list[str], batch: _Batch) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "query": query,
            "documents": texts[batch.start : batch.stop],
            "top_n": batch.size,
        }
        if self.max_tokens_per_doc is not None:
            request["max_tokens_per_doc"] = self.max_tokens_per_doc
        return request

    def _deadline(self, start: float) -> float | None:
        return None if self.total_timeout is None else start + self.total_timeout

    def _split(self, n: int) -> list[_Batch]:
        size = self.max_documents_per_request
        starts = range(0, n, size)
        return [
            _Batch(s, min(s + size, n), number, len(starts))
            for number, s in enumerate(starts, start=1)
        ]

    def _attempt_timeout(self, deadline: float | None, attempt: int, batch: _Batch) -> float:
        if deadline is None:
            return self.timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            failure = _Failure("timeout", False, f"total_timeout={self.total_timeout:g} s passed")
            raise self._error(failure, attempt - 1, batch)
        return min(self.timeout, remaining)

    def _retry_delay(
        self, failure: _Failure, attempt: int, deadline: float | None, batch: _Batch
    ) -> float:
        """Seconds to wait before the next attempt, or raise when giving up."""
        if not failure.retryable:
            raise self._error(failure, attempt, batch)
        if attempt >= self.max_attempts:
            raise self._error(failure, attempt, batch, f"gave up after max_attempts={attempt}")
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                raise self._error(
                    failure,
                    attempt,
                    batch,
                    f"Retry-After {failure.retry_after:g} s exceeds "
                    f"max_retry_after={self.max_retry_after:g} s",
                )
            delay = failure.retry_after
        else:
            cap = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
            delay = cap / 2 + random.uniform(0.0, cap / 2)  # "equal jitter"
        if deadline is not None and time.monotonic() + delay >= deadline:
            raise self._error(
                failure,
                attempt,
                batch,
                f"a retry in {delay:.3g} s would pass total_timeout={self.total_timeout:g} s",
            )
        logger.info(
            "%s: %s (%s) on attempt %d/%d; retrying in %.3g s",
            self.name,
            self._redact(failure.detail),
            failure.kind,
            attempt,
            self.max_attempts,
            delay,
        )
        return delay

    def _redact(self, text: str) -> str:
        """``text`` with the API key masked (a server may echo request headers)."""
        return text.replace(self._api_key, "***")

    def _error(
        self, failure: _Failure, attempts: int, batch: _Batch, note: str | None = None
    ) -> CohereError:
        where = f"request {batch.number}/{batch.total}: documents {batch.start}-{batch.stop - 1}"
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        # Only the detail carries text from the server or the network stack; redact it.
        message = (
            f"Cohere rerank failed ({failure.kind}): {self._redact(failure.detail)}"
            f"{'; ' + note if note else ''} [{where}, {tries}, model {self.model!r}]"
        )
        return CohereError(
            message, kind=failure.kind, attempts=attempts, status_code=failure.status
        )

    # -- responses ---------------------------------------------------------------------------

    def _parse(self, payload: object, batch: _Batch, attempt: int) -> _BatchResult:
        """Validate one 2xx answer strictly; every document of the batch needs one score."""

        def bad(problem: str) -> CohereError:
            failure = _Failure("malformed_response", False, problem, 200)
            return self._error(failure, attempt, batch)

        if not isinstance(payload, Mapping):
            raise bad(f"the response is not a JSON object but {type(payload).__name__}")
        results = payload.get("results")
        if not isinstance(results, list):
            raise bad(f"'results' is missing or not a list ({_short(results)})")
        n = batch.size
        scores: list[float | None] = [None] * n
        for pos, item in enumerate(results):
            if not isinstance(item, Mapping):
                raise bad(f"results[{pos}] is not an object ({_short(item)})")
            index = item.get("index")
            if isinstance(index, bool) or not isinstance(index, int):
                raise bad(f"results[{pos}] has no integer 'index' ({_short(index)})")
            if not 0 <= index < n:
                raise bad(f"results[{pos}].index={index} is out of range for {n} documents")
            if scores[index] is not None:
                raise bad(f"index {index} appears more than once in 'results'")
            score = item.get("relevance_score")
            if (
                isinstance(score, bool)
                or not isinstance(score, (int, float))
                or not math.isfinite(score)
            ):
                raise bad(f"results[{pos}] (index {index}) has relevance_score={_short(score)}")
            scores[index] = float(score)
        missing = [batch.start + i for i, s in enumerate(scores) if s is None]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
            raise bad(
                f"{len(results)} result(s) for {n} documents although top_n={n} was requested; "
                f"no score for input indices {shown}"
            )
        units = _search_units(payload)
        with self._lock:
            self._billed += units
        response_id = payload.get("id")
        return _BatchResult(
            batch,
            [float(s) for s in scores if s is not None],
            attempt,
            units,
            response_id if isinstance(response_id, str) else None,
        )

    def _merge(self, results: list[_BatchResult], start: float) -> ScoreOutput:
        scores = [s for r in sorted(results, key=lambda r: r.batch.start) for s in r.scores]
        attempts = sum(r.attempts for r in results)
        notes = {
            "cohere": {
                "model": self.model,
                "requests": len(results),
                "attempts": attempts,
                "retries": attempts - len(results),
                "billed_search_units": sum(r.search_units for r in results),
                "response_ids": [r.response_id for r in results],
                "elapsed_ms": (time.monotonic() - start) * 1000.0,
            }
        }
        return ScoreOutput(scores, notes=notes)


def _search_units(payload: Mapping[str, Any]) -> float:
    """``meta.billed_units.search_units``, or 0 when the service does not report it."""
    meta = payload.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, Mapping) else None
    units = billed.get("search_units") if isinstance(billed, Mapping) else None
    if isinstance(units, bool) or not isinstance(units, (int, float)) or not math.isfinite(units):
        return 0.0
    return float(units)


def _first_error(futures: list[Future[_BatchResult]]) -> BaseException | None:
    for f in futures:
        if f.done() and not f.cancelled() and f.exception() is not None:
            return f.exception()
    return None
