"""The values a `MetadataBoostScorer` reads: numbers, dates and the recency decay."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ..types import real_float

__all__ = ["as_datetime", "as_half_life", "as_number", "decay", "json_value"]

_UTC = dt.timezone.utc


def as_number(value: object) -> float:
    """A metadata number as a plain float.

    Raises:
        ValueError: a bool, a non-number, NaN or infinity (the caller adds the document).
    """
    number = real_float(value)
    if number is None:
        raise ValueError(f"must be a number (not a bool or a string), got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value!r}")
    return number


def as_datetime(value: object) -> dt.datetime:
    """A date as an aware datetime: a `datetime`, a `date` (midnight) or an ISO 8601 string
    (``2026-05-01``, ``2026-05-01T12:30:00+02:00``; a trailing ``Z`` is UTC). Naive values
    are taken as UTC.

    Raises:
        ValueError: anything else (numbers too: epoch timestamps are ambiguous, convert them
            with ``datetime.fromtimestamp(x, timezone.utc)``).
    """
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 date, got {value!r}") from None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    raise ValueError(
        f"must be an ISO 8601 date string, a date or a datetime, got {type(value).__name__} "
        f"{value!r}"
    )


def as_half_life(value: object) -> dt.timedelta:
    """A half-life: a `timedelta` or a number of days, finite and > 0."""
    if isinstance(value, dt.timedelta):
        half_life = value
    else:
        days = real_float(value)
        if days is None or not math.isfinite(days):
            raise ValueError(f"half_life must be a timedelta or a number of days, got {value!r}")
        half_life = dt.timedelta(days=days)
    if half_life <= dt.timedelta(0):
        raise ValueError(f"half_life must be > 0, got {value!r}")
    return half_life


def decay(published: dt.datetime, now: dt.datetime, half_life: dt.timedelta) -> float:
    """``0.5 ** (age / half_life)``; a date after ``now`` (age < 0) is 1.0, the same as now."""
    age = now - published
    if age <= dt.timedelta(0):
        return 1.0
    return float(0.5 ** (age / half_life))


def json_value(value: object) -> Any:
    """A metadata value for the trace: JSON types as they are, dates in ISO form."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    number = real_float(value)  # numpy scalars
    return number if number is not None else repr(value)
