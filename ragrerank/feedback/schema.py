"""The feedback log's tables, one description for both stores (stdlib SQLite and SQLAlchemy),
and the conversion between rows and `Impression` / `FeedbackEvent`.

Lists (doc ids, positions, teams) are stored as JSON arrays in one text column: an impression
is written and read whole, never queried by document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from .records import EventKind, FeedbackEvent, Impression

__all__ = [
    "COLUMNS",
    "EVENT_KINDS",
    "SCHEMA_VERSION",
    "Filters",
    "check_schema_version",
    "event_from_row",
    "event_row",
    "impression_from_row",
    "impression_row",
]

SCHEMA_VERSION = 1
"""The layout this ragrerank reads and writes; a log of another version is refused."""

EVENT_KINDS: tuple[EventKind, ...] = ("click", "dwell", "rating")

ColumnType = Literal["text", "real", "int"]
# table -> (column, type, nullable); every table also has an autoincrement ``seq`` key
# (insertion order) and ``meta`` is (key text primary key, value text).
COLUMNS: dict[str, tuple[tuple[str, ColumnType, bool], ...]] = {
    "impressions": (
        ("impression_id", "text", False),
        ("query_key", "text", False),
        ("query", "text", True),
        ("doc_ids", "text", False),
        ("positions", "text", False),
        ("scorer", "text", False),
        ("timestamp", "real", False),
        ("session", "text", True),
        ("query_id", "text", True),
        ("ranker", "text", True),
        ("intervention", "text", True),
        ("teams", "text", False),
    ),
    "events": (
        ("impression_id", "text", False),
        ("doc_id", "text", False),
        ("kind", "text", False),
        ("value", "real", False),
        ("timestamp", "real", False),
    ),
}

Filters = tuple[float | None, float | None, str | None]
"""(since, until, ranker): timestamps ``since <= t < until``; the impression's ranker."""

_LISTS = ("doc_ids", "positions", "teams")


def impression_row(impression: Impression) -> dict[str, Any]:
    """The ``impressions`` row of ``impression``."""
    row = {name: getattr(impression, name) for name, _, _ in COLUMNS["impressions"]}
    for name in _LISTS:
        row[name] = json.dumps(list(row[name]))
    return row


def impression_from_row(row: Mapping[str, Any]) -> Impression:
    """The `Impression` an ``impressions`` row holds."""
    values = {name: row[name] for name, _, _ in COLUMNS["impressions"]}
    for name in _LISTS:
        values[name] = tuple(json.loads(values[name]))
    values["timestamp"] = float(values["timestamp"])
    return Impression(**values)


def event_row(event: FeedbackEvent) -> dict[str, Any]:
    """The ``events`` row of ``event``."""
    return {name: getattr(event, name) for name, _, _ in COLUMNS["events"]}


def event_from_row(row: Mapping[str, Any]) -> FeedbackEvent:
    """The `FeedbackEvent` an ``events`` row holds."""
    return FeedbackEvent(
        impression_id=row["impression_id"],
        doc_id=row["doc_id"],
        kind=cast(EventKind, row["kind"]),
        value=float(row["value"]),
        timestamp=float(row["timestamp"]),
    )


def check_schema_version(found: str, where: str) -> None:
    """Raise `ValueError` naming both versions unless ``found`` is `SCHEMA_VERSION`."""
    if found != str(SCHEMA_VERSION):
        raise ValueError(
            f"{where}: feedback log schema version {found}, but this ragrerank reads and "
            f"writes version {SCHEMA_VERSION}; use a ragrerank that matches or a new log"
        )
