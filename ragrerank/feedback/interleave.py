"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): compare two rankers on
live traffic by showing one list drafted from both and crediting each click to the ranker
(team) that contributed the clicked document.

`Interleaver.interleave` drafts the list from two rankings of ids; `Interleaver.rerank`
serves two rerankers on one query (and logs the impression); `Interleaving.credit` turns
one user's clicks into an `Outcome`; `.interleave_summary` sums outcomes up."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..scorer import fingerprint
from ..types import Document, RerankResult, int_at_least
from .failures import LogFailures
from .records import FeedbackSink, check_positions, doc_key

__all__ = [
    "AsyncRankerLike",
    "InterleavedResult",
    "Interleaver",
    "Interleaving",
    "Outcome",
    "RankerLike",
]


Team = Literal["a", "b"]
Winner = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class Outcome:
    """One impression's credit: distinct clicked documents per team and the winner.

    Attributes:
        winner: ``"a"`` or ``"b"`` (more clicks on its team's documents), else ``"tie"``
            (equal clicks, no clicks included).
        clicks_a: clicked documents contributed by ranker a.
        clicks_b: clicked documents contributed by ranker b.
    """

    winner: Winner
    clicks_a: int
    clicks_b: int


@dataclass(frozen=True)
class Interleaving:
    """A drafted list: the ids shown, top first, and the team that contributed each.

    Attributes:
        ids: the shown ids in display order.
        teams: ``"a"`` or ``"b"`` per shown id, aligned with ``ids``.
    """

    ids: tuple[str, ...]
    teams: tuple[Team, ...]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.teams):
            raise ValueError(f"{len(self.ids)} ids but {len(self.teams)} teams")
        for i, team in enumerate(self.teams):
            if team not in ("a", "b"):
                raise ValueError(f"teams[{i}] must be 'a' or 'b', got {team!r}")
        check_positions(self.ids, list(range(1, len(self.ids) + 1)))

    def credit(self, clicked: Iterable[str]) -> Outcome:
        """Credit one user's clicks: each distinct clicked id counts once for its team.

        Args:
            clicked: the ids the user clicked (any order; repeats count once).

        Returns:
            The `Outcome`: the team with more clicked documents wins; equal counts tie.

        Raises:
            ValueError: a clicked id that was not shown, naming it.
        """
        team_of = dict(zip(self.ids, self.teams, strict=True))
        per_team = {"a": 0, "b": 0}
        for doc_id in dict.fromkeys(clicked):
            if doc_id not in team_of:
                raise ValueError(f"clicked id {doc_id!r} was not shown in this interleaving")
            per_team[team_of[doc_id]] += 1
        a, b = per_team["a"], per_team["b"]
        return Outcome("a" if a > b else "b" if b > a else "tie", a, b)


class RankerLike(Protocol):
    """What `Interleaver.rerank` serves: a `ragrerank.Reranker` or anything shaped like it."""

    def rerank(
        self, query: str, documents: Sequence[Document], *, top_k: int | None
    ) -> RerankResult:
        """Rank ``documents`` for ``query`` and keep the best ``top_k``."""
        ...


class AsyncRankerLike(Protocol):
    """What `Interleaver.arerank` serves: ``Reranker.arerank`` or alike."""

    async def arerank(
        self, query: str, documents: Sequence[Document], *, top_k: int | None
    ) -> RerankResult:
        """Async `RankerLike.rerank`."""
        ...


@dataclass(frozen=True)
class InterleavedResult:
    """What `Interleaver.rerank` returns.

    Attributes:
        documents: the shown documents in display order: the caller's objects, untouched.
        interleaving: their ids (`ragrerank.feedback.records.doc_key`) and teams; credit
            clicks with ``interleaving.credit(clicked_ids)``.
        impression_id: the log's id of the impression, or None when not logged (no log,
            or logging failed).
        a: ranker a's own result (its trace included).
        b: ranker b's.
    """

    documents: tuple[Document, ...]
    interleaving: Interleaving
    impression_id: str | None
    a: RerankResult
    b: RerankResult


class Interleaver:
    """Team-draft interleaving of two rankings, deterministic per seed and thread-safe.

    Each round the team with fewer picks (a coin flip when even) adds its highest-ranked
    document not shown yet, so both rankers' top documents are shown, the teams differ by
    at most one pick and no document is shown twice. When one ranking runs out, the other
    fills the remaining places (the paper stops there; these documents count for the
    team that added them).

    Args:
        seed: the coin's seed: the same seed and the same calls give the same lists.
            None: seeded from the system.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._log_failures = LogFailures(
            "the interleaved list was served unlogged (Interleaver.log_failures)"
        )

    @property
    def log_failures(self) -> int:
        """How many impressions could not be logged (each rerank was still served)."""
        return self._log_failures.count

    def interleave(self, a: Sequence[str], b: Sequence[str], k: int) -> Interleaving:
        """Draft at most ``k`` ids from rankings ``a`` and ``b`` (best first).

        Args:
            a: ranker a's ids, best first (unique non-empty strs).
            b: ranker b's ids; may share ids with ``a`` and differ in length.
            k: the most ids to show (an int >= 0); fewer when the union is smaller.

        Returns:
            The `Interleaving`: ``min(k, len(set(a) | set(b)))`` ids and their teams.

        Raises:
            ValueError: a bad ``k``, or an empty, non-str or repeated id within one
                ranking (naming the ranking and index).
        """
        int_at_least(k, "k", 0)
        lists = {"a": list(a), "b": list(b)}
        for name, ids in lists.items():
            try:
                check_positions(ids, [0] * len(ids))
            except ValueError as exc:
                raise ValueError(f"ranking {name}: {exc}") from None
        shown: dict[str, Team] = {}
        nxt = {"a": 0, "b": 0}
        picks = {"a": 0, "b": 0}
        with self._lock:
            while len(shown) < k:
                for side in ("a", "b"):  # skip what the other team already showed
                    while nxt[side] < len(lists[side]) and lists[side][nxt[side]] in shown:
                        nxt[side] += 1
                left = [t for t in ("a", "b") if nxt[t] < len(lists[t])]
                if not left:
                    break
                if len(left) == 1:
                    team: Team = "a" if left[0] == "a" else "b"
                elif picks["a"] != picks["b"]:
                    team = "a" if picks["a"] < picks["b"] else "b"
                else:
                    team = "a" if self._rng.random() < 0.5 else "b"
                shown[lists[team][nxt[team]]] = team
                picks[team] += 1
        return Interleaving(tuple(shown), tuple(shown.values()))

    def rerank(
        self,
        query: str,
        documents: Sequence[Document],
        a: RankerLike,
        b: RankerLike,
        *,
        k: int,
        log: FeedbackSink | None = None,
        session: str | None = None,
        query_id: str | None = None,
    ) -> InterleavedResult:
        """Rank ``documents`` with both rankers, interleave their top ``k`` and log it.

        Args:
            query: the query.
            documents: the candidates (``str`` or `ragrerank.Candidate`), first-stage order;
                their ids (`doc_key`) must be unique.
            a: one ranker (e.g. the current `ragrerank.Reranker`).
            b: the other (the challenger).
            k: how many documents to show.
            log: where to record the impression (``ranker="interleaved"``, the teams, both
                fingerprints); a failing log is counted in `log_failures`, warned about
                once, and never fails the call.
            session: the session or user key to log.
            query_id: the application's id of the query to log.

        Returns:
            The shown documents, the interleaving, the impression id and both results.

        Raises:
            ValueError: bad input (repeated document ids, a bad ``k``), or whatever the
                rankers raise.
        """
        keys = _keys(documents, k)
        ra, rb = a.rerank(query, documents, top_k=k), b.rerank(query, documents, top_k=k)
        shown = self.interleave(_ids(ra, keys), _ids(rb, keys), k)
        impression = self._log(log, query, keys, shown, a, b, session, query_id)
        return _result(documents, keys, shown, impression, ra, rb)

    async def arerank(
        self,
        query: str,
        documents: Sequence[Document],
        a: AsyncRankerLike,
        b: AsyncRankerLike,
        *,
        k: int,
        log: FeedbackSink | None = None,
        session: str | None = None,
        query_id: str | None = None,
    ) -> InterleavedResult:
        """Async `rerank`: both rankers' ``arerank`` run concurrently; the log is written
        in a worker thread (the event loop never waits on its I/O)."""
        keys = _keys(documents, k)
        ra, rb = await asyncio.gather(
            a.arerank(query, documents, top_k=k), b.arerank(query, documents, top_k=k)
        )
        shown = self.interleave(_ids(ra, keys), _ids(rb, keys), k)
        impression = None
        if log is not None:
            impression = await asyncio.to_thread(
                self._log, log, query, keys, shown, a, b, session, query_id
            )
        return _result(documents, keys, shown, impression, ra, rb)

    def _log(
        self,
        log: FeedbackSink | None,
        query: str,
        keys: list[str],
        shown: Interleaving,
        a: object,
        b: object,
        session: str | None,
        query_id: str | None,
    ) -> str | None:
        if log is None:
            return None
        place = {d: (p, t) for p, (d, t) in enumerate(zip(shown.ids, shown.teams, strict=True), 1)}
        try:
            return log.log_impression(
                query,
                keys,
                [place[d][0] if d in place else 0 for d in keys],
                scorer=f"{_fingerprint(a)}+{_fingerprint(b)}",
                session=session,
                query_id=query_id,
                ranker="interleaved",
                teams=[place[d][1] if d in place else "" for d in keys],
            )
        except Exception as exc:  # a log must never fail what the user is served
            self._log_failures.failed(log, exc)
            return None


def _fingerprint(ranker: object) -> str:
    """A ranker's fingerprint: its scorer's when it has one (a `Reranker`), else its own."""
    return fingerprint(getattr(ranker, "scorer", ranker))


def _keys(documents: Sequence[Document], k: int) -> list[str]:
    int_at_least(k, "k", 0)
    keys = [doc_key(d) for d in documents]
    try:
        check_positions(keys, [0] * len(keys))
    except ValueError as exc:
        raise ValueError(f"documents: interleaving needs unique ids: {exc}") from None
    return keys


def _ids(result: RerankResult, keys: list[str]) -> list[str]:
    return [keys[item.index] for item in result.items]


def _result(
    documents: Sequence[Document],
    keys: list[str],
    shown: Interleaving,
    impression: str | None,
    ra: RerankResult,
    rb: RerankResult,
) -> InterleavedResult:
    index = {key: i for i, key in enumerate(keys)}
    docs = tuple(documents[index[d]] for d in shown.ids)
    return InterleavedResult(docs, shown, impression, ra, rb)
