"""What the log keeps of a query: its text, a salted hash of it, or nothing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

__all__ = [
    "QUERY_MODES",
    "QueryKeys",
    "QueryMode",
    "as_salt",
    "check_query_keys",
    "new_salt",
    "salt_check",
]

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
        missing: with ``"hash"`` and no salt: the error each call raises (a log that can be
            read but not written to); without it, no salt is an error at once.

    Raises:
        ValueError: an unknown mode, or ``"hash"`` without a salt (and no ``missing``).
    """

    def __init__(self, mode: QueryMode, salt: bytes | None, *, missing: str = "") -> None:
        if mode not in QUERY_MODES:
            raise ValueError(f"queries must be one of {QUERY_MODES}, got {mode!r}")
        if mode == "hash" and not salt and not missing:
            raise ValueError("queries='hash' needs a non-empty salt")
        self.mode = mode
        self._salt = salt
        self._missing = missing or "queries='hash' needs a non-empty salt"

    def __repr__(self) -> str:
        return f"QueryKeys({self.mode!r})"

    def __call__(self, query: str) -> tuple[str, str | None]:
        """``(query_key, query text to store or None)``."""
        if self.mode == "text":
            return query, query
        if self.mode == "none":
            return "", None
        if not self._salt:
            raise ValueError(self._missing)
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


def salt_check(salt: bytes) -> str:
    """A value that tells whether a later salt is the same one, without revealing it: the
    HMAC-SHA256 of a fixed message under the salt."""
    return hmac.new(salt, b"ragrerank feedback salt check", hashlib.sha256).hexdigest()


def check_query_keys(meta: dict[str, str], mode: QueryMode, salt: bytes | None, where: str) -> None:
    """Raise `ValueError` when a log (its ``meta`` table) was written with another query
    mode or salt than the one it is opened with: the keys would silently stop matching."""
    stored = meta.get("queries")
    if stored is not None and stored != mode:
        raise ValueError(f"feedback log {where} keeps queries as {stored!r}, opened with "
                         f"queries={mode!r}: query keys would not match; open it with {stored!r}")  # fmt: skip
    if mode != "hash":
        return
    if salt is not None and "salt" in meta:
        raise ValueError(f"feedback log {where} hashes queries with its own stored salt: "
                         "open it without salt=")  # fmt: skip
    if salt is not None and meta.get("salt_check", salt_check(salt)) != salt_check(salt):
        raise ValueError(f"feedback log {where} was written with a different salt")
