"""The default store: one SQLite file through the standard library.

Concurrency: one connection per thread (never shared), in WAL mode, so readers never block
the writer and several processes of one application can append to one file; a writer waits
up to ``busy_timeout`` seconds for another's lock instead of failing. Every insert is its own
transaction: a process killed mid-write leaves every committed row and no partial one. With
``synchronous=NORMAL`` a committed row survives any crash of the application; a power loss
may undo the last transactions (SQLite's documented WAL trade-off)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .schema import COLUMNS
from .store import Row, Store

__all__ = ["SQLiteStore"]

_TYPES = {"text": "TEXT", "real": "REAL", "int": "INTEGER"}


def _create(table: str) -> str:
    cols = ", ".join(
        f'"{name}" {_TYPES[kind]}{"" if nullable else " NOT NULL"}'
        for name, kind, nullable in COLUMNS[table]
    )
    return f"CREATE TABLE IF NOT EXISTS {table} (seq INTEGER PRIMARY KEY AUTOINCREMENT, {cols}" + (
        ", UNIQUE (impression_id))" if table == "impressions" else ")"
    )


_DDL = (
    _create("impressions"),
    _create("events"),
    "CREATE INDEX IF NOT EXISTS events_by_impression ON events (impression_id)",
    'CREATE INDEX IF NOT EXISTS impressions_by_time ON impressions ("timestamp")',
)


class SQLiteStore(Store):
    """A feedback log in one SQLite file.

    Args:
        path: the database file (created with its tables if missing; its folder must exist).
        busy_timeout: seconds a writer waits for another connection's lock.

    Raises:
        ValueError: ``":memory:"`` (each thread's connection would see its own empty log).
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise ValueError(
                f"feedback log {str(path)!r}: give a file path (an in-memory SQLite database "
                "is not shared between threads or processes)"
            )
        self.path = Path(path)
        self.where = str(self.path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise ValueError(f"feedback log {self.where} is closed")
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout,
                    isolation_level=None,  # autocommit; transactions are explicit
                    check_same_thread=False,  # only so that close() may run in any thread
                )
            except sqlite3.OperationalError as exc:
                raise OSError(f"cannot open feedback log {self.where}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._all.append(conn)
        self._local.conn = conn
        return conn

    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        return [dict(r) for r in self._conn().execute(sql, params).fetchall()]

    def _insert(self, sql: str, params: Mapping[str, Any]) -> None:
        self._conn().execute(sql, params)  # one statement in autocommit: one transaction

    def _init(self, defaults: Mapping[str, str]) -> dict[str, str]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            insert = "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)"
            conn.execute(insert, ("schema_version", defaults["schema_version"]))
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            if found.fetchone()[0] == defaults["schema_version"]:
                for statement in _DDL:
                    conn.execute(statement)
                conn.executemany(insert, list(defaults.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {r["key"]: r["value"] for r in self._rows("SELECT key, value FROM meta", {})}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
