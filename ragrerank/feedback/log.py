"""`FeedbackLog`: an append-only store of impressions and the events joined to them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from ..types import finite_float, validate_query
from ..utils.lru import LRUCache
from .privacy import (
    QUERY_MODES,
    QueryKeys,
    QueryMode,
    as_salt,
    check_query_keys,
    new_salt,
    salt_check,
)
from .records import EventKind, FeedbackEvent, Impression, check_positions
from .schema import (
    EVENT_KINDS,
    SCHEMA_VERSION,
    Filters,
    event_from_row,
    event_row,
    impression_from_row,
    impression_row,
)
from .sql_store import SQLAlchemyStore
from .sqlite_store import SQLiteStore
from .store import Store

__all__ = ["FeedbackLog", "LoggedRecord"]

LoggedRecord = tuple[Impression, list[FeedbackEvent]]
_PAGE = 500


class FeedbackLog:
    """Impressions (what a user was shown) and events (clicks, dwell, ratings), append-only.

    A `ragrerank.feedback.FeedbackSink`: pass it as ``Reranker(feedback=...)``. Ids only: no
    document text is ever stored. Safe for several threads and several processes.

    Args:
        target: a file path (SQLite through the standard library, WAL mode, one connection
            per thread) or an SQLAlchemy URL such as ``"postgresql+psycopg://..."`` or
            ``"sqlite:///feedback.db"`` (needs ``pip install 'ragrerank[feedback-sql]'``).
        queries: ``"hash"`` keeps only a salted SHA-256 HMAC of each query as its key;
            ``"text"`` keeps the query (its own key); ``"none"`` keeps neither (key ``""``).
            None (the default): as the log was first written, ``"hash"`` for a new one. A
            log keeps its mode: opening it with another is a `ValueError`.
        salt: the HMAC key for ``"hash"``; without one, a random salt is made once and
            kept in the log's meta table, so every process of one log agrees. Whoever can
            read that table can test guesses of a query: pass your own secret to prevent it
            (a log written with one can then be read without it, but not written to).

    Raises:
        ValueError: a bad option, or a log of another schema version (both are named).
        MissingDependencyError: a URL without SQLAlchemy installed.

    Example:
        ``log = FeedbackLog("feedback.db"); Reranker(scorer, feedback=log)``
    """

    def __init__(
        self,
        target: str | os.PathLike[str] = "ragrerank-feedback.db",
        *,
        queries: QueryMode | None = None,
        salt: str | bytes | None = None,
    ) -> None:
        given = as_salt(salt)
        if queries is not None and queries not in QUERY_MODES:  # before the database is touched
            raise ValueError(f"queries must be one of {QUERY_MODES} or None, got {queries!r}")
        self._store = _store(target)
        try:
            meta = self._open(queries, given)
        except BaseException:
            self._store.close()
            raise
        mode: QueryMode = meta["queries"]  # type: ignore[assignment]  # checked when stored
        if mode == "hash" and given is None and "salt" in meta:
            given = meta["salt"].encode("ascii")
        # Without the caller's salt a log written with one can be read, not written to.
        self._keys = QueryKeys(mode, given, missing=f"feedback log {self._store.where} was "
                               "written with your own salt: pass salt= to log to it")  # fmt: skip
        self._shown: LRUCache[str, dict[str, int]] = LRUCache(4096)

    def _open(self, queries: QueryMode | None, salt: bytes | None) -> dict[str, str]:
        """Create or check the log. A log keeps the query mode and salt it was first
        written with (for a caller's salt, a check value, never the salt); opening it with
        another mode or salt is an error, as the query keys would stop matching."""
        base = {"schema_version": str(SCHEMA_VERSION)}
        meta = self._store.open(base)
        mode: QueryMode = queries or meta.get("queries", "hash")  # type: ignore[assignment]
        check_query_keys(meta, mode, salt, self._store.where)
        missing: dict[str, str] = {}
        if "queries" not in meta:
            missing["queries"] = mode
        fresh = "salt" not in meta and "salt_check" not in meta
        if mode == "hash" and salt is None and fresh:
            missing["salt"] = new_salt()
        if mode == "hash" and salt is not None and "salt_check" not in meta:
            missing["salt_check"] = salt_check(salt)
        return self._store.open({**base, **missing}) if missing else meta

    def __repr__(self) -> str:
        return f"FeedbackLog({self._store.where!r}, queries={self._keys.mode!r})"

    def __enter__(self) -> FeedbackLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections."""
        self._store.close()

    # -- writing ----------------------------------------------------------------------------

    def log_impression(
        self,
        query: str,
        doc_ids: Sequence[str],
        positions: Sequence[int],
        *,
        scorer: str,
        session: str | None = None,
        query_id: str | None = None,
        ranker: str | None = None,
        intervention: str | None = None,
        teams: Sequence[str] = (),
        timestamp: float | None = None,
    ) -> str:
        """Record one shown list; return its new impression id (uuid4 hex).

        Args:
            query: the query (kept as the privacy mode says).
            doc_ids: every candidate's id, in first-stage order.
            positions: each candidate's display position (1-based; 0: not shown).
            scorer: the fingerprint of what ranked the list.
            session: a session or user key.
            query_id: the application's id of the query.
            ranker: a label of what served the list.
            intervention: a randomization applied before display, e.g. ``"swap:1:4"``.
            teams: with interleaving, each candidate's team, aligned with ``doc_ids``.
            timestamp: seconds since the epoch; default now.

        Raises:
            ValueError: bad ids or positions (naming the index), or a bad field.
        """
        validate_query(query)
        doc_ids, positions = tuple(doc_ids), tuple(positions)
        check_positions(doc_ids, positions)
        if not isinstance(scorer, str) or not scorer:
            raise ValueError(f"scorer must be a non-empty str, got {scorer!r}")
        labels = {"session": session, "query_id": query_id, "ranker": ranker}
        for name, value in {**labels, "intervention": intervention}.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a str or None, got {type(value).__name__}")
        teams = tuple(teams)
        if teams and len(teams) != len(doc_ids):
            raise ValueError(f"teams has {len(teams)} entries for {len(doc_ids)} doc_ids")
        for i, team in enumerate(teams):
            if not isinstance(team, str):
                raise ValueError(f"teams[{i}]: expected a str, got {team!r}")
        key, text = self._keys(query)
        impression = Impression(
            impression_id=uuid.uuid4().hex,
            query_key=key,
            query=text,
            doc_ids=doc_ids,
            positions=positions,
            scorer=scorer,
            timestamp=_timestamp(timestamp),
            intervention=intervention,
            teams=teams,
            **labels,
        )
        self._store.insert("impressions", impression_row(impression))
        return impression.impression_id

    def log_event(
        self,
        impression_id: str,
        doc_id: str,
        kind: EventKind = "click",
        value: float = 1.0,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Record what the user did with a shown document of an impression.

        Raises:
            ValueError: an unknown impression id or kind, a document not in the impression
                or not shown, a non-finite value or timestamp (each named).
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS}, got {kind!r}")
        number = finite_float(value, f"{kind} value for doc {doc_id!r}")
        position = self._positions(impression_id).get(doc_id)
        if position is None:
            raise ValueError(f"doc {doc_id!r} is not in impression {impression_id!r}")
        if position == 0:
            raise ValueError(
                f"doc {doc_id!r} was not shown in impression {impression_id!r}: no {kind}"
            )
        event = FeedbackEvent(impression_id, doc_id, kind, number, _timestamp(timestamp))
        self._store.insert("events", event_row(event))

    def click(self, impression_id: str, doc_id: str, *, timestamp: float | None = None) -> None:
        """Record a click on a shown document."""
        self.log_event(impression_id, doc_id, "click", 1.0, timestamp=timestamp)

    def dwell(
        self, impression_id: str, doc_id: str, seconds: float, *, timestamp: float | None = None
    ) -> None:
        """Record the time spent on a clicked document (seconds >= 0)."""
        if finite_float(seconds, "dwell seconds") < 0:
            raise ValueError(f"dwell seconds must be >= 0, got {seconds!r}")
        self.log_event(impression_id, doc_id, "dwell", seconds, timestamp=timestamp)

    def rate(
        self, impression_id: str, doc_id: str, grade: float, *, timestamp: float | None = None
    ) -> None:
        """Record an explicit rating (a finite grade) of a shown document."""
        self.log_event(impression_id, doc_id, "rating", grade, timestamp=timestamp)

    def _positions(self, impression_id: str) -> dict[str, int]:
        shown = self._shown.get(impression_id)  # impressions never change: safe to keep
        if shown is None:
            row = self._store.impression(impression_id) if isinstance(impression_id, str) else None
            if row is None:
                raise ValueError(f"unknown impression id {impression_id!r}")
            imp = impression_from_row(row)
            shown = dict(zip(imp.doc_ids, imp.positions, strict=True))
            self._shown.put(impression_id, shown)
        return shown

    # -- reading ----------------------------------------------------------------------------

    def impressions(
        self, *, since: float | None = None, until: float | None = None, ranker: str | None = None
    ) -> Iterator[Impression]:
        """Impressions with ``since <= timestamp < until`` (and this ``ranker``), in insertion
        order; read in pages, so a long log streams."""
        for row in self._pages("impressions", (since, until, ranker)):
            yield impression_from_row(row)

    def events(
        self, *, since: float | None = None, until: float | None = None, ranker: str | None = None
    ) -> Iterator[FeedbackEvent]:
        """Events with ``since <= timestamp < until`` (their own time) whose impression has
        this ``ranker``, in insertion order."""
        for row in self._pages("events", (since, until, ranker)):
            yield event_from_row(row)

    def records(
        self, *, since: float | None = None, until: float | None = None, ranker: str | None = None
    ) -> Iterator[LoggedRecord]:
        """The logged records: each impression the filters select (as `impressions`) with
        all of its events so far, in insertion order; what the analysis code consumes."""
        page: list[Impression] = []
        for impression in self.impressions(since=since, until=until, ranker=ranker):
            page.append(impression)
            if len(page) == _PAGE:
                yield from self._with_events(page)
                page = []
        yield from self._with_events(page)

    def counts(self) -> dict[str, int]:
        """How many impressions and events the log holds, and events of each kind."""
        return self._store.counts()

    def _pages(self, table: str, filters: Filters) -> Iterator[dict[str, Any]]:
        for value, what in zip(filters[:2], ("since", "until"), strict=True):
            if value is not None:
                finite_float(value, what)
        after = 0
        while True:
            rows = self._store.page(table, after, filters, _PAGE)
            yield from rows
            if len(rows) < _PAGE:
                return
            after = int(rows[-1]["seq"])

    def _with_events(self, page: list[Impression]) -> Iterator[LoggedRecord]:
        events: dict[str, list[FeedbackEvent]] = {i.impression_id: [] for i in page}
        for row in self._store.events_of(list(events)):
            events[row["impression_id"]].append(event_from_row(row))
        for impression in page:
            yield impression, events[impression.impression_id]


def _timestamp(value: float | None) -> float:
    return time.time() if value is None else finite_float(value, "timestamp")


def _store(target: object) -> Store:
    if isinstance(target, str) and "://" in target:
        return SQLAlchemyStore(target)
    if not isinstance(target, (str, os.PathLike)):
        raise ValueError(f"target must be a path or a URL, got {type(target).__name__}")
    return SQLiteStore(os.fspath(target))
