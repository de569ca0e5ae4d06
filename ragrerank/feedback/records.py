"""What the feedback log holds: impressions (what a user was shown) and events (what the user
did with it), joined by the impression id; and `FeedbackSink`, what `Reranker` logs through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..types import Candidate, Document, RerankResult, text_id

__all__ = [
    "EventKind",
    "FeedbackEvent",
    "FeedbackSink",
    "Impression",
    "check_positions",
    "display_positions",
    "doc_key",
]

EventKind = Literal["click", "dwell", "rating"]


@dataclass(frozen=True)
class Impression:
    """One ranked list shown to a user.

    Attributes:
        impression_id: the log's id for it (returned with the rerank result).
        query_key: the query's key: its text, or a salted hash of it (privacy setting).
        query: the query text when the log stores it, else None.
        doc_ids: every candidate's id, in first-stage (input) order.
        positions: each candidate's display position (1-based), aligned with ``doc_ids``;
            0 for a candidate that was not shown.
        scorer: the fingerprint of what ranked the list.
        timestamp: seconds since the epoch.
        session: an optional session or user key.
        query_id: the application's own id of the query, if it has one.
        ranker: a label of what served the list (a config name; ``"interleaved"``).
        intervention: a randomization applied before display, e.g. ``"swap:1:4"``
            (positions 1 and 4 exchanged); None for the ranker's own order.
        teams: with interleaving, each candidate's team (``"a"``, ``"b"``, ``""`` for
            not shown), aligned with ``doc_ids``; empty otherwise.
    """

    impression_id: str
    query_key: str
    query: str | None
    doc_ids: tuple[str, ...]
    positions: tuple[int, ...]
    scorer: str
    timestamp: float
    session: str | None = None
    query_id: str | None = None
    ranker: str | None = None
    intervention: str | None = None
    teams: tuple[str, ...] = ()

    def shown(self) -> list[tuple[int, str]]:
        """(display position, doc id) of the shown candidates, top first."""
        return sorted((p, d) for d, p in zip(self.doc_ids, self.positions, strict=True) if p > 0)


@dataclass(frozen=True)
class FeedbackEvent:
    """Something a user did with one shown document.

    Attributes:
        impression_id: the impression it belongs to.
        doc_id: the document's id (as in `Impression.doc_ids`).
        kind: ``"click"``, ``"dwell"`` (value: seconds) or ``"rating"`` (value: the grade).
        value: 1.0 for a click; seconds or grade otherwise.
        timestamp: seconds since the epoch.
    """

    impression_id: str
    doc_id: str
    kind: EventKind
    value: float
    timestamp: float


@runtime_checkable
class FeedbackSink(Protocol):
    """Where `Reranker(feedback=...)` records each result; `FeedbackLog` is one."""

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
    ) -> str:
        """Record one shown list (fields as in `Impression`); return its impression id."""
        ...


def doc_key(document: Document) -> str:
    """The id a document is logged under: its `Candidate` id as a str, or, without one,
    `ragrerank.types.text_id` of its text (a hash; the log never needs the text)."""
    if isinstance(document, Candidate):
        if document.id is not None:
            return str(document.id)
        return text_id(document.text)
    return text_id(document)


def display_positions(result: RerankResult) -> list[int]:
    """Each candidate's display position, in input order: the kept items in rank order
    are 1, 2, ...; the rest 0."""
    shown = {item.index: pos for pos, item in enumerate(result.items, 1)}
    return [shown.get(e.index, 0) for e in result.trace.entries]


def check_positions(doc_ids: Sequence[str], positions: Sequence[int]) -> None:
    """Raise `ValueError` unless ids are unique non-empty strs and the shown positions are
    exactly 1..n (0: not shown), naming the offending index."""
    if len(doc_ids) != len(positions):
        raise ValueError(f"{len(doc_ids)} doc_ids but {len(positions)} positions")
    seen: dict[str, int] = {}
    for i, d in enumerate(doc_ids):
        if not isinstance(d, str) or not d:
            raise ValueError(f"doc_ids[{i}]: expected a non-empty str, got {d!r}")
        if d in seen:
            raise ValueError(f"doc_ids[{i}]: duplicate id {d!r} (also at index {seen[d]})")
        seen[d] = i
    shown = sorted(p for p in positions if p != 0)
    for i, p in enumerate(positions):
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise ValueError(f"positions[{i}]: expected an int >= 0, got {p!r}")
    if shown != list(range(1, len(shown) + 1)):
        raise ValueError(f"shown positions must be 1..{len(shown)} once each, got {shown}")
