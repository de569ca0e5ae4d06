"""The same log in any database SQLAlchemy reaches (``postgresql+psycopg://...``,
``sqlite:///...``), through SQLAlchemy Core: its engine's connection pool is thread-safe, and
every insert is its own transaction. A ``sqlite`` URL gets WAL mode and a busy timeout, as
the default store does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError, require
from .schema import COLUMNS
from .store import Row, Store

if TYPE_CHECKING:
    import sqlalchemy

__all__ = ["SQLAlchemyStore"]


def _tables(sa: Any) -> sqlalchemy.MetaData:
    types = {"text": sa.Text, "real": sa.Double, "int": sa.BigInteger}
    metadata: sqlalchemy.MetaData = sa.MetaData()
    sa.Table(
        "meta",
        metadata,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    for table, columns in COLUMNS.items():
        sa.Table(
            table,
            metadata,
            sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            *(
                sa.Column(
                    name,
                    types[kind](),
                    nullable=nullable,
                    unique=(table, name) == ("impressions", "impression_id"),
                    index=(table, name) == ("events", "impression_id"),
                )
                for name, kind, nullable in columns
            ),
            sa.Index(f"{table}_by_time", "timestamp"),
        )
    return metadata


class SQLAlchemyStore(Store):
    """A feedback log behind an SQLAlchemy URL (needs ``pip install 'ragrerank[feedback-sql]'``).

    Args:
        url: the database URL; its password never appears in errors or reprs.
        busy_timeout: with SQLite, seconds a writer waits for another's lock.

    Raises:
        MissingDependencyError: SQLAlchemy, or the URL's database driver, is not installed.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        sa: Any = require("sqlalchemy", "feedback-sql")
        self._sa = sa
        parsed = sa.engine.make_url(url)
        self.where = parsed.render_as_string(hide_password=True)
        try:
            self.engine = sa.create_engine(parsed)
        except ImportError as exc:  # the URL names a driver that is not installed
            raise MissingDependencyError(
                f"feedback log {self.where}: its database driver is not installed ({exc})"
            ) from exc
        self._metadata = _tables(sa)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout))

    def _rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(self._sa.text(sql), dict(params))]

    def _insert(self, sql: str, params: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._sa.text(sql), dict(params))

    def _init(self, defaults: Mapping[str, str]) -> dict[str, str]:
        meta = self._metadata.tables["meta"]
        meta.create(self.engine, checkfirst=True)
        self._add_meta("schema_version", defaults["schema_version"])
        if self._meta()["schema_version"] == defaults["schema_version"]:
            try:
                self._metadata.create_all(self.engine, checkfirst=True)
            except self._sa.exc.DBAPIError:  # another process created them in between
                self._metadata.create_all(self.engine, checkfirst=True)
            for key, value in defaults.items():
                self._add_meta(key, value)
        return self._meta()

    def _add_meta(self, key: str, value: str) -> None:
        """Insert a meta key unless present (another process's value is kept)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(self._metadata.tables["meta"].insert().values(key=key, value=value))
        except self._sa.exc.IntegrityError:
            pass

    def _meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._rows("SELECT key, value FROM meta", {})}

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect
