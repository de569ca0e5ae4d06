"""The one policy for a failing feedback log: never raise, count it, warn the first time."""

from __future__ import annotations

import logging
import threading

__all__ = ["LogFailures"]

logger = logging.getLogger("ragrerank.feedback")


class LogFailures:
    """A thread-safe count of failed log writes that warns once, on the first.

    Args:
        what: what was not logged and where the count is read, for the warning, e.g.
            ``"the result is returned without an impression id (Reranker.feedback_failures)"``.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many writes failed."""
        with self._lock:
            return self._count

    def failed(self, sink: object, exc: BaseException) -> None:
        """Count one failure of ``sink``; the first is logged as a warning."""
        with self._lock:
            self._count += 1
            first = self._count == 1
        if first:
            logger.warning(
                "feedback log %s failed (%s: %s); %s. Further failures are only counted.",
                type(sink).__name__,
                type(exc).__name__,
                exc,
                self.what,
            )
