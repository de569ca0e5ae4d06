"""Reading logged records: which shown documents of an impression a user clicked (or rated,
or dwelt on), checked against the impression. The one place analysis code turns events
into per-document facts, so propensity estimation and IPS labels agree on them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import EventKind, FeedbackEvent, Impression, check_positions

__all__ = ["LoggedRecords", "clicked_docs", "shown_at", "swap_position"]

LoggedRecords = Iterable[tuple[Impression, Sequence[FeedbackEvent]]]
"""Impressions with their events, as ``FeedbackLog.records()`` yields them."""

_KINDS = ("click", "dwell", "rating")


def shown_at(impression: Impression) -> dict[int, str]:
    """Display position -> doc id of the shown candidates, after checking the impression's
    ids and positions (`check_positions`; the error names the impression)."""
    try:
        check_positions(impression.doc_ids, impression.positions)
    except ValueError as exc:
        raise ValueError(f"impression {impression.impression_id!r}: {exc}") from None
    return {p: d for d, p in zip(impression.doc_ids, impression.positions, strict=True) if p > 0}


def clicked_docs(
    impression: Impression, events: Sequence[FeedbackEvent], kinds: Sequence[EventKind]
) -> set[str]:
    """The shown doc ids with at least one event of a kind in ``kinds`` (several clicks on
    one document in one impression count once).

    Raises:
        ValueError: an unknown kind, or an event of another impression, of a document the
            impression does not hold, or of one it did not show (naming the impression and
            the doc id).
    """
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {list(_KINDS)}, got {list(kinds)}")
    position = dict(zip(impression.doc_ids, impression.positions, strict=True))
    out: set[str] = set()
    for i, event in enumerate(events):
        where = f"impression {impression.impression_id!r}, event {i}"
        if event.impression_id != impression.impression_id:
            raise ValueError(f"{where}: belongs to impression {event.impression_id!r}")
        if event.doc_id not in position:
            raise ValueError(f"{where}: doc id {event.doc_id!r} is not one of its candidates")
        if event.kind in kinds:
            if position[event.doc_id] == 0:
                raise ValueError(f"{where}: doc id {event.doc_id!r} was not shown")
            out.add(event.doc_id)
    return out


def swap_position(intervention: str | None) -> int | None:
    """k of a ``"swap:1:k"`` intervention tag; None for no tag or another kind of tag.

    Raises:
        ValueError: a malformed ``"swap:"`` tag.
    """
    if intervention is None or not intervention.startswith("swap:"):
        return None
    parts = intervention.split(":")
    if len(parts) != 3 or parts[1] != "1" or not parts[2].isdigit() or int(parts[2]) < 2:
        raise ValueError(f"malformed intervention {intervention!r}: expected 'swap:1:k', k >= 2")
    return int(parts[2])
