"""Labels from clicks, corrected for position bias by inverse propensity weighting (IPS).

A click at a rarely examined position is worth more than one at position 1: each time a
document is shown at position k it is examined with probability p_k (relative to
position 1, `Propensity`), so ``clicks / sum of p_k over its showings`` estimates
P(click | examined), its attractiveness. Without a curve (``propensity=None``) every
position counts 1: the raw click-through rate, the naive baseline that learns the old
ranker's order back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..types import finite_float, int_at_least
from .clicks import LoggedRecords, clicked_docs, shown_at
from .propensity import Propensity
from .records import EventKind

__all__ = ["ClickEstimate", "click_estimates", "feedback_qrels"]


@dataclass(frozen=True)
class ClickEstimate:
    """What the log says about one (query, document) pair.

    Attributes:
        clicks: impressions in which it was clicked (several clicks in one count once).
        impressions: impressions in which it was shown within the curve.
        exposure: the sum of the propensities of the positions it was shown at (with no
            curve: ``impressions``).
    """

    clicks: int
    impressions: int
    exposure: float

    @property
    def relevance(self) -> float:
        """``clicks / exposure``: the IPS estimate of P(click | examined) (not capped at 1:
        a rarely examined document clicked once can exceed it)."""
        return self.clicks / self.exposure


def click_estimates(
    records: LoggedRecords,
    propensity: Propensity | None,
    *,
    key: Literal["query_id", "query_key"] = "query_id",
    kinds: Sequence[EventKind] = ("click",),
) -> dict[str, dict[str, ClickEstimate]]:
    """Clicks, impressions and exposure per (query, document) of the shown documents.

    A document shown past the curve's end (``position > propensity.n``) has no propensity:
    that showing, and a click on it, are skipped (neither evidence for nor against it).

    Args:
        records: logged records (impression, its events).
        propensity: the examination curve; None for the naive estimate (raw CTR).
        key: what groups impressions into queries: the application's ``query_id`` or the
            log's ``query_key`` (query text or its hash).
        kinds: the event kinds that count as a click.

    Returns:
        query -> doc id -> `ClickEstimate`, in first-seen order.

    Raises:
        ValueError: ``key="query_id"`` and an impression without one, or a bad record
            (naming the impression).
    """
    if key not in ("query_id", "query_key"):
        raise ValueError(f"key must be 'query_id' or 'query_key', got {key!r}")
    counts: dict[str, dict[str, list[float]]] = {}
    for impression, events in records:
        query = impression.query_id if key == "query_id" else impression.query_key
        if query is None:
            raise ValueError(f"impression {impression.impression_id!r} has no query_id "
                             "(use key='query_key')")  # fmt: skip
        at = shown_at(impression)
        clicked = clicked_docs(impression, events, kinds)
        per_doc = counts.setdefault(query, {})
        for position, doc in sorted(at.items()):
            if propensity is not None and position > propensity.n:
                continue
            row = per_doc.setdefault(doc, [0, 0, 0.0])
            row[0] += doc in clicked
            row[1] += 1
            row[2] += 1.0 if propensity is None else propensity(position)
    return {
        q: {d: ClickEstimate(int(c), int(n), float(e)) for d, (c, n, e) in docs.items()}
        for q, docs in counts.items()
    }


def feedback_qrels(
    estimates: Mapping[str, Mapping[str, ClickEstimate]],
    *,
    grades: int = 4,
    min_exposure: float = 1.0,
) -> dict[str, dict[str, int]]:
    """Graded labels ``grades * min(1, relevance)`` rounded half up, for the pairs with
    ``exposure >= min_exposure``.

    The others are left out: unlabelled, not negative (a document that was hardly ever
    examined is no evidence of irrelevance). Queries with no labelled pair are left out.

    Args:
        estimates: `click_estimates`' result.
        grades: the top grade (>= 1): labels are 0..grades.
        min_exposure: the least exposure (expected examinations) a label needs (>= 0).

    Returns:
        query -> doc id -> grade (qrels, as `ragrerank.evaluation` and training read them).
    """
    int_at_least(grades, "grades", 1)
    least = finite_float(min_exposure, "min_exposure")
    if least < 0:
        raise ValueError(f"min_exposure must be >= 0, got {min_exposure!r}")
    out: dict[str, dict[str, int]] = {}
    for query, docs in estimates.items():
        labels = {
            d: math.floor(grades * min(1.0, e.relevance) + 0.5)
            for d, e in docs.items()
            if e.exposure >= least and e.exposure > 0
        }
        if labels:
            out[query] = labels
    return out
