"""The retry policy of remote calls (which failures are retried, how long to wait, when to
give up) and the clock of one call (per-attempt timeout, total deadline).

Our own rather than an SDK's retries (the cohere client's are switched off) or a library
such as tenacity: every attempt is counted for the trace and the error, ``Retry-After`` is
honoured up to a cap, and no wait may pass the call's deadline, sync or async alike.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Deadline", "Failure", "GiveUp", "RetryPolicy", "check_positive", "parse_retry_after"]


def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    """Raise `ValueError` unless ``value`` is a positive int (or finite number)."""
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not value > 0  # type: ignore[operator]
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            ms = float(lower["retry-after-ms"])
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified (see `errors.status_failure`)."""

    kind: str
    retryable: bool
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class GiveUp:
    """`RetryPolicy.next_delay`'s answer when the failure is final; ``note`` says why."""

    note: str | None = None


@dataclass(frozen=True)
class Deadline:
    """The clock of one call: ``timeout`` seconds per attempt, ``total`` for the whole call
    (``None``: no overall limit), counted from ``start``."""

    timeout: float
    total: float | None
    start: float = field(default_factory=time.monotonic)

    def attempt_timeout(self) -> float | None:
        """Seconds the next attempt may take, or ``None`` when the call's time is up."""
        if self.total is None:
            return self.timeout
        remaining = self.start + self.total - time.monotonic()
        return None if remaining <= 0 else min(self.timeout, remaining)

    def passed(self) -> Failure:
        """The failure to report when `attempt_timeout` is ``None``."""
        return Failure("timeout", False, f"total_timeout={self.total:g} s passed")

    def allows_wait(self, delay: float) -> bool:
        return self.total is None or time.monotonic() + delay < self.start + self.total

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.start) * 1000.0


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried and how long to wait before the next attempt.

    A retryable `Failure` is retried at most until ``max_attempts`` tries (the first one
    included), after exactly the server's ``Retry-After`` when it sent one (one above
    ``max_retry_after`` fails at once), else after exponential backoff with "equal
    jitter": attempt *k* waits between *d*/2 and *d*, *d* = min(``backoff_max``,
    ``backoff_base``·2^(k-1)). No wait may pass the call's `Deadline`.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        check_positive("max_attempts", self.max_attempts, integer=True)
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            check_positive(name, getattr(self, name))
            object.__setattr__(self, name, float(getattr(self, name)))

    def backoff(self, attempt: int) -> float:
        """A jittered delay after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return cap / 2 + random.uniform(0.0, cap / 2)

    def next_delay(self, failure: Failure, attempt: int, deadline: Deadline) -> float | GiveUp:
        """Seconds to wait before retrying after failed attempt ``attempt``, or `GiveUp`."""
        if not failure.retryable:
            return GiveUp()
        if attempt >= self.max_attempts:
            return GiveUp(f"gave up after max_attempts={attempt}")
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                return GiveUp(
                    f"Retry-After {failure.retry_after:g} s exceeds "
                    f"max_retry_after={self.max_retry_after:g} s"
                )
            delay = failure.retry_after
        else:
            delay = self.backoff(attempt)
        if not deadline.allows_wait(delay):
            return GiveUp(f"a retry in {delay:.3g} s would pass total_timeout={deadline.total:g} s")
        return delay
