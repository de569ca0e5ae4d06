"""Which of two interleaved rankers users prefer: outcomes summed up with a sign test
(`interleaving_test`, `InterleavingTest`), and outcomes rebuilt from logged records
(`outcomes_from_records`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..utils.stats import sign_test
from .interleave import Interleaving, Outcome, Team
from .records import FeedbackEvent, Impression

__all__ = ["InterleavingSummary", "InterleavingTest", "interleaving_test", "outcomes_from_records"]


@dataclass(frozen=True)
class InterleavingSummary:
    """Wins, losses and the sign test over interleaved impressions.

    Attributes:
        wins_a: impressions ranker a won.
        wins_b: impressions ranker b won.
        ties: impressions with equal credit (no clicks included).
        impressions: all of them.
        delta: ``(wins_a - wins_b) / impressions``, in [-1, 1] (0.0 with none); > 0: a
            is preferred.
        p_value: the two-sided `ragrerank.utils.stats.sign_test` of wins_a vs wins_b
            (ties left out).
        preferred: ``"a"`` or ``"b"`` when ``p_value < alpha``, else None.
        alpha: the significance level used.
    """

    wins_a: int
    wins_b: int
    ties: int
    impressions: int
    delta: float
    p_value: float
    preferred: Literal["a", "b"] | None
    alpha: float


class InterleavingTest:
    """A running tally of `Outcome`s (thread-safe): `add` each, read `summary` any time.

    Args:
        alpha: the significance level for `InterleavingSummary.preferred`, in (0, 1).
    """

    def __init__(self, alpha: float = 0.05) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        self._counts = {"a": 0, "b": 0, "tie": 0}
        self._lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        """Count one impression's outcome."""
        if not isinstance(outcome, Outcome):
            raise ValueError(f"expected an Outcome, got {type(outcome).__name__}")
        with self._lock:
            self._counts[outcome.winner] += 1

    def summary(self) -> InterleavingSummary:
        """The tally so far, with its sign test."""
        with self._lock:
            a, b, ties = self._counts["a"], self._counts["b"], self._counts["tie"]
        n = a + b + ties
        p = sign_test(a, b)
        preferred: Literal["a", "b"] | None = None
        if p < self.alpha and a != b:
            preferred = "a" if a > b else "b"
        return InterleavingSummary(a, b, ties, n, (a - b) / n if n else 0.0, p, preferred,
                                   self.alpha)  # fmt: skip


def interleaving_test(outcomes: Iterable[Outcome], *, alpha: float = 0.05) -> InterleavingSummary:
    """Sum up interleaved impressions' outcomes (see `InterleavingTest`).

    Args:
        outcomes: one `Outcome` per impression (`Interleaving.credit`,
            `outcomes_from_records`).
        alpha: the significance level for ``preferred``.

    Returns:
        The `InterleavingSummary`.
    """
    tally = InterleavingTest(alpha)
    for i, outcome in enumerate(outcomes):
        if not isinstance(outcome, Outcome):
            raise ValueError(f"outcomes[{i}]: expected an Outcome, got {type(outcome).__name__}")
        tally.add(outcome)
    return tally.summary()


def outcomes_from_records(
    records: Iterable[tuple[Impression, Sequence[FeedbackEvent]]],
) -> list[Outcome]:
    """Credit logged interleaved impressions from their click events.

    Only impressions with ``ranker == "interleaved"`` count (others are skipped); each
    becomes one `Outcome` from its ``"click"`` events (an impression without clicks is a
    tie). Dwell and rating events are ignored.

    Args:
        records: logged records, ``(Impression, events)`` pairs (e.g.
            ``FeedbackLog.records()``).

    Returns:
        One `Outcome` per interleaved impression, in record order.

    Raises:
        ValueError: an interleaved impression whose teams are missing or malformed, or a
            click on a document it did not show (naming the impression and the id).
    """
    out = []
    for impression, events in records:
        if impression.ranker != "interleaved":
            continue
        where = f"impression {impression.impression_id!r}"
        if len(impression.teams) != len(impression.doc_ids):
            raise ValueError(f"{where}: {len(impression.teams)} teams for "
                             f"{len(impression.doc_ids)} doc_ids")  # fmt: skip
        team_of = dict(zip(impression.doc_ids, impression.teams, strict=True))
        shown = [d for _, d in impression.shown()]
        teams: list[Team] = []
        for d in shown:
            team = team_of[d]
            if team not in ("a", "b"):
                raise ValueError(f"{where}: shown doc {d!r} has team {team!r}, not 'a' or 'b'")
            teams.append("a" if team == "a" else "b")
        clicks = [e.doc_id for e in events if e.kind == "click"]
        try:
            out.append(Interleaving(tuple(shown), tuple(teams)).credit(clicks))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out
