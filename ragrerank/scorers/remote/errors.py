"""What a remote rerank call can fail with: `RemoteError`, its kinds, and the mapping from
an HTTP status or a network exception to a classified `Failure` (retried or not)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ...errors import ScorerError
from .retry import Failure, parse_retry_after

__all__ = [
    "AUTH_STATUSES",
    "ERROR_KINDS",
    "MalformedResponse",
    "RemoteError",
    "server_message",
    "status_failure",
    "transport_failure",
]

ERROR_KINDS = (
    "auth",
    "bad_request",
    "malformed_response",
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
)
"""Values of `RemoteError.kind`; the last four are retried, the first three are not."""

AUTH_STATUSES = frozenset({401, 403})
"""HTTP statuses that mean a rejected key (a backend may add its own, e.g. Cohere's 498)."""


class RemoteError(ScorerError):
    """A remote rerank call failed.

    ``kind`` is one of `ERROR_KINDS`, ``attempts`` the number of tries made for the
    failing request and ``status_code`` the last HTTP status (``None`` without one).
    Messages never contain the API key. Each backend raises its own subclass.
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
            f"{type(self).__name__}(kind={self.kind!r}, attempts={self.attempts}, "
            f"status_code={self.status_code}, message={str(self)!r})"
        )


class MalformedResponse(Exception):
    """A 2xx answer that does not have the expected shape; the message says what is wrong.

    Raised by response parsers; the scorer turns it into a ``malformed_response`` error.
    """


_MESSAGE_FIELDS = ("message", "error", "detail")


def server_message(body: object) -> str:
    """The server's error text from a JSON body or a plain one, shortened: ``message``
    (Cohere, vLLM), ``error`` (TEI; an OpenAI-style ``{"error": {"message"}}`` too) or
    ``detail`` (FastAPI servers: Jina, Voyage, Infinity)."""
    field = (
        next((k for k in _MESSAGE_FIELDS if k in body), None) if isinstance(body, Mapping) else None
    )
    if isinstance(body, Mapping) and field is not None:
        value = body[field]
        text = server_message(value) if isinstance(value, Mapping) else str(value)
    elif isinstance(body, str):
        text = body
    else:
        text = repr(body)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def status_failure(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    auth_statuses: frozenset[int] = AUTH_STATUSES,
) -> Failure:
    """Classify a non-2xx answer: 429, 5xx and 408 are retried (after ``Retry-After`` when
    the server sends one), auth and other 4xx are not."""
    detail = f"HTTP {status}: {message}"
    retry_after = parse_retry_after(headers)
    if status in auth_statuses:
        return Failure("auth", False, detail, status)
    if status == 408:
        return Failure("timeout", True, detail, status, retry_after)
    if status == 429:
        return Failure("rate_limited", True, detail, status, retry_after)
    if status >= 500:
        return Failure("server_error", True, detail, status, retry_after)
    if status >= 400:
        return Failure("bad_request", False, detail, status)
    return Failure("malformed_response", False, f"unexpected {detail}", status)


def transport_failure(exc: BaseException, timeout: float) -> Failure | None:
    """Classify an httpx or timeout exception of one attempt (``raise_for_status()``'s
    ``HTTPStatusError`` by its status); ``None`` for any other."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        try:
            body: object = response.json()
        except ValueError:
            body = response.text
        return status_failure(response.status_code, server_message(body), response.headers)
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return Failure("timeout", True, f"no response within {timeout:.3g} s")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return Failure("bad_request", False, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TransportError):
        return Failure("connection", True, f"{type(exc).__name__}: {exc}")
    return None
