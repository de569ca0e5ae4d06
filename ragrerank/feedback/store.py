"""What `FeedbackLog` needs from a database, written once over plain SQL text with ``:name``
parameters (which both the stdlib ``sqlite3`` and SQLAlchemy's ``text()`` accept); the two
stores only open connections, run statements and create the tables."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import COLUMNS, EVENT_KINDS, Filters, check_schema_version

__all__ = ["Store"]

Row = dict[str, Any]


def _q(name: str) -> str:
    return f'"{name}"'  # quoted: "timestamp", "value" and "session" are keywords somewhere


def _columns(table: str) -> list[str]:
    return [name for name, _, _ in COLUMNS[table]]


class Store(ABC):
    """Append rows and read them back in insertion order; no update, no delete.

    Attributes:
        where: the database, safe to print (no password).
    """

    where: str

    @abstractmethod
    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        """Run a query; its rows as dicts."""

    @abstractmethod
    def _insert(self, sql: str, params: Mapping[str, Any]) -> None:
        """Run one insert in its own committed transaction."""

    @abstractmethod
    def _init(self, defaults: Mapping[str, str]) -> dict[str, str]:
        """Create what is missing (the tables, the ``defaults`` meta keys) in one transaction
        that first checks the schema version; return the meta table."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    def open(self, defaults: Mapping[str, str]) -> dict[str, str]:
        """Create or check the log (``defaults`` must hold ``schema_version``); its meta."""
        meta = self._init(defaults)
        check_schema_version(meta["schema_version"], self.where)
        return meta

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        """Append one row to ``table``."""
        names = _columns(table)
        sql = (
            f"INSERT INTO {table} ({', '.join(map(_q, names))}) "
            f"VALUES ({', '.join(':' + n for n in names)})"
        )
        self._insert(sql, {n: row[n] for n in names})

    def impression(self, impression_id: str) -> Row | None:
        """The impression row with this id, or None."""
        rows = self._rows(
            f"SELECT {self._select('impressions')} FROM impressions WHERE impression_id = :id",
            {"id": impression_id},
        )
        return rows[0] if rows else None

    def page(self, table: str, after: int, filters: Filters, limit: int) -> list[Row]:
        """Up to ``limit`` rows of ``table`` with ``seq > after``, in insertion order, within
        the filters (an event's own timestamp; its impression's ranker)."""
        since, until, ranker = filters
        where = ["seq > :after"]
        params: dict[str, Any] = {"after": after, "limit": limit}
        if since is not None:
            where.append(f"{_q('timestamp')} >= :since")
            params["since"] = since
        if until is not None:
            where.append(f"{_q('timestamp')} < :until")
            params["until"] = until
        if ranker is not None:
            params["ranker"] = ranker
            where.append(
                "ranker = :ranker"
                if table == "impressions"
                else "impression_id IN (SELECT impression_id FROM impressions "
                "WHERE ranker = :ranker)"
            )
        return self._rows(
            f"SELECT seq, {self._select(table)} FROM {table} "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT :limit",
            params,
        )

    def events_of(self, impression_ids: Sequence[str]) -> list[Row]:
        """Every event of these impressions, in insertion order."""
        if not impression_ids:
            return []
        params = {f"i{k}": i for k, i in enumerate(impression_ids)}
        return self._rows(
            f"SELECT {self._select('events')} FROM events "
            f"WHERE impression_id IN ({', '.join(':' + k for k in params)}) ORDER BY seq",
            params,
        )

    def counts(self) -> dict[str, int]:
        """Impressions, events, and events of each kind."""
        total = self._rows("SELECT COUNT(*) AS n FROM impressions", {})
        out = {"impressions": int(total[0]["n"])}
        by_kind = self._rows("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind", {})
        kinds = {r["kind"]: int(r["n"]) for r in by_kind}
        out["events"] = sum(kinds.values())
        out.update({k: kinds.get(k, 0) for k in EVENT_KINDS})
        return out

    @staticmethod
    def _select(table: str) -> str:
        return ", ".join(map(_q, _columns(table)))
