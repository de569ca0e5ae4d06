"""The feedback loop: log what users saw and did, learn from it without learning position
bias, and compare rankers online."""

from __future__ import annotations

from .interleave import InterleavedResult, Interleaver, Interleaving, Outcome
from .interleave_summary import (
    InterleavingSummary,
    InterleavingTest,
    interleaving_test,
    outcomes_from_records,
)
from .records import EventKind, FeedbackEvent, FeedbackSink, Impression
from .simulate import PositionBasedClickModel

__all__ = [
    "EventKind",
    "FeedbackEvent",
    "FeedbackSink",
    "Impression",
    "InterleavedResult",
    "Interleaver",
    "Interleaving",
    "InterleavingSummary",
    "InterleavingTest",
    "Outcome",
    "PositionBasedClickModel",
    "interleaving_test",
    "outcomes_from_records",
]
