"""What the log keeps of a query: its text, a salted hash of it, or nothing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

__all__ = ["QUERY_MODES", "QueryKeys", "QueryMode", "as_salt", "new_salt"]

QueryMode = Literal["text", "hash", "none"]
QUERY_MODES: tuple[QueryMode, ...] = ("text", "hash", "none")


class QueryKeys:
    """Turns a query into ``(query_key, stored query)`` under one privacy mode.

    ``"text"``: the query is its own key and is stored; ``"hash"``: the key is the HMAC-SHA256
    hex of the query under the salt, and the text is not stored; ``"none"``: neither (key
    ``""``). The salt never appears in a repr or an error.

    Args:
        mode: ``"text"``, ``"hash"`` or ``"none"``.
        salt: the HMAC key (needed for ``"hash"``).

    Raises:
        ValueError: an unknown mode, or ``"hash"`` without a salt.
    """

    def __init__(self, mode: QueryMode, salt: bytes | None) -> None:
        if mode not in QUERY_MODES:
            raise ValueError(f"queries must be one of {QUERY_MODES}, got {mode!r}")
        if mode == "hash" and not salt:
            raise ValueError("queries='hash' needs a non-empty salt")
        self.mode = mode
        self._salt = salt

    def __repr__(self) -> str:
        return f"QueryKeys({self.mode!r})"

    def __call__(self, query: str) -> tuple[str, str | None]:
        """``(query_key, query text to store or None)``."""
        if self.mode == "text":
            return query, query
        if self.mode == "none":
            return "", None
        assert self._salt is not None
        digest = hmac.new(self._salt, query.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return digest.hexdigest(), None


def as_salt(salt: str | bytes | None) -> bytes | None:
    """A given salt as bytes (a str as UTF-8); ValueError for an empty one."""
    if salt is None:
        return None
    if isinstance(salt, str):
        salt = salt.encode("utf-8")
    if not isinstance(salt, bytes) or not salt:
        raise ValueError("salt must be a non-empty str or bytes")
    return salt


def new_salt() -> str:
    """A random salt for a new log (hex of 32 random bytes)."""
    return secrets.token_hex(32)
