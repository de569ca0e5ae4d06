"""What a remote backend holds to reach its service: the API key, kept out of every text,
and its HTTP clients, created lazily, reused and closable (one sync client, one async client
per event loop, each on an httpx client of ours)."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["ApiKey", "Closable", "HttpClients"]

S = TypeVar("S")
A = TypeVar("A")
C = TypeVar("C", bound="Closable")


class ApiKey:
    """An API key from an argument or an environment variable that never shows: its repr
    is masked, `redact` masks it in any text (a server may echo request headers), and only
    `reveal` hands it to the client that sends it.

    With ``required=False`` (a keyless local server) no key is fine: `reveal` is ``None``
    and nothing is sent; a key given or found in ``env`` is still used and still hidden.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | None, *, env: str, service: str, required: bool = True) -> None:
        key = value if value is not None else os.environ.get(env)
        if value is None and key is not None and not key.strip() and not required:
            key = None  # an empty variable means "no key" for a keyless server
        if key is None and not required:
            self._value: str | None = None
            return
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"no {service} API key: pass api_key=... or set {env}")
        self._value = key

    def reveal(self) -> str | None:
        return self._value

    def bearer(self) -> dict[str, str]:
        """The ``Authorization: Bearer`` header of the key (none without a key)."""
        return {} if self._value is None else {"Authorization": f"Bearer {self._value}"}

    def redact(self, text: str) -> str:
        """``text`` with the key masked."""
        return text if self._value is None else text.replace(self._value, "***")

    def __repr__(self) -> str:
        return "ApiKey('***')" if self._value is not None else "ApiKey(None)"

    def __reduce__(self) -> Any:
        raise TypeError("an ApiKey is not serialized; pass api_key=... again")


class HttpClients(Generic[S, A]):
    """A backend's clients on httpx clients of ours (so they can be closed).

    ``make_sync(httpx.Client)`` and ``make_async(httpx.AsyncClient)`` wrap them in the
    backend's client (an SDK client, or the httpx client itself for plain HTTP). The sync
    client is created on first use and reused; each event loop gets its own async client
    (an httpx connection pool cannot move between loops), dropped with its loop.
    """

    def __init__(
        self,
        timeout: float,
        make_sync: Callable[[Any], S],
        make_async: Callable[[Any], A],
    ) -> None:
        self._timeout = timeout
        self._make_sync = make_sync
        self._make_async = make_async
        self._lock = threading.Lock()
        # (backend client, its httpx client)
        self._sync: tuple[S, Any] | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[A, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def sync(self) -> S:
        with self._lock:
            if self._sync is None:
                import httpx

                http = httpx.Client(timeout=self._timeout, follow_redirects=True)
                self._sync = (self._make_sync(http), http)
            return self._sync[0]

    def async_(self) -> A:
        """The running event loop's async client."""
        import httpx

        loop = asyncio.get_running_loop()
        with self._lock:
            pair = self._async.get(loop)
            if pair is None:
                http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=True)
                pair = (self._make_async(http), http)
                self._async[loop] = pair
            return pair[0]

    def close(self) -> None:
        """Close the sync client's connections (a later call opens new ones)."""
        with self._lock:
            pair, self._sync = self._sync, None
        if pair is not None:
            pair[1].close()

    async def aclose(self) -> None:
        """Close the current event loop's async client (a later call opens a new one)."""
        with self._lock:
            pair = self._async.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[1].aclose()


class Closable(ABC):
    """``with`` / ``async with`` for an object holding `HttpClients`: the sync client is
    closed on leaving ``with``; ``async with`` closes the loop's async client and the sync
    one. The object stays usable afterwards (a later call opens new clients)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
        self.close()
