"""What `Reranker(feedback=...)` does after each result: log it through the sink and return
the same result with its impression id. A failing sink never fails a rerank."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Sequence

from ..types import Candidate, RerankResult
from .failures import LogFailures
from .records import FeedbackSink, display_positions, doc_key

__all__ = ["FeedbackHook"]


class FeedbackHook:
    """Logs each rerank result through a `FeedbackSink` without changing it.

    An exception from the sink (or from building the record) is caught: the result comes
    back with ``impression_id=None``, `failures` counts it (thread-safe), and the first one is
    logged as a warning. Empty candidate lists are not logged, nor anything without a sink.

    Args:
        sink: where impressions go (a `FeedbackLog`, or your own `FeedbackSink`), or None.
        fingerprint: the scorer fingerprint to log (`ragrerank.scorer.fingerprint`: the
            reranker passes it, as this layer sits below the scorer contract).

    Raises:
        TypeError: ``sink`` has no ``log_impression``.
    """

    def __init__(self, sink: FeedbackSink | None, fingerprint: Callable[[object], str]) -> None:
        if sink is not None and not isinstance(sink, FeedbackSink):
            raise TypeError(
                f"feedback must be a FeedbackSink (log_impression), got {type(sink).__name__}"
            )
        self.sink = sink
        self._fingerprint_of = fingerprint
        self._failures = LogFailures(
            "the result is returned without an impression id (Reranker.feedback_failures)"
        )
        self._lock = threading.Lock()
        self._fingerprints: dict[int, tuple[object, str]] = {}

    @property
    def failures(self) -> int:
        """How many results could not be logged."""
        return self._failures.count

    def log(
        self,
        result: RerankResult,
        candidates: Sequence[Candidate],
        scorer: object,
        fallback: object,
        session: str | None = None,
        query_id: str | None = None,
    ) -> RerankResult:
        """``result`` with the id the sink gave it (None when nothing was logged).

        Args:
            result: the reranker's result.
            candidates: its candidates, in input order.
            scorer: the reranker's scorer.
            fallback: its fallback (a scorer, ``"first_stage"`` or None): logged as the
                scorer when the trace says it scored the result.
            session: a session or user key to log with it.
            query_id: the application's id of the query.
        """
        if self.sink is None or not candidates:
            return result
        try:
            impression_id = self.sink.log_impression(
                result.query,
                [doc_key(c) for c in candidates],
                display_positions(result),
                scorer=self._scorer_key(result, scorer, fallback),
                session=session,
                query_id=query_id,
            )
        except Exception as exc:  # a log must never fail a rerank
            self._failures.failed(self.sink, exc)
            return result
        return dataclasses.replace(result, impression_id=impression_id)

    async def alog(
        self,
        result: RerankResult,
        candidates: Sequence[Candidate],
        scorer: object,
        fallback: object,
        session: str | None = None,
        query_id: str | None = None,
    ) -> RerankResult:
        """`log` in a worker thread, so the event loop never waits for the database."""
        if self.sink is None or not candidates:
            return result
        args = result, candidates, scorer, fallback, session, query_id
        return await asyncio.to_thread(self.log, *args)

    def _scorer_key(self, result: RerankResult, scorer: object, fallback: object) -> str:
        """The fingerprint of what scored ``result``: the fallback's when the trace notes
        record one (``"first_stage"`` for the input order)."""
        if "fallback" in result.trace.notes:
            if fallback == "first_stage":
                return "first_stage"
            if fallback is not None:
                return self._fingerprint(fallback)
        return self._fingerprint(scorer)

    def _fingerprint(self, scorer: object) -> str:
        """The scorer's fingerprint, computed once per scorer object."""
        with self._lock:
            known = self._fingerprints.get(id(scorer))
        if known is not None and known[0] is scorer:
            return known[1]
        value = self._fingerprint_of(scorer)
        with self._lock:
            self._fingerprints[id(scorer)] = (scorer, value)
        return value
