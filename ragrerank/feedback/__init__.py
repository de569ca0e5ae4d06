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
from .ips import ClickEstimate, click_estimates, feedback_qrels
from .log import FeedbackLog
from .propensity import Propensity, SwapRandomizer, estimate_propensity
from .records import EventKind, FeedbackEvent, FeedbackSink, Impression
from .simulate import PositionBasedClickModel

__all__ = [
    "ClickEstimate",
    "EventKind",
    "FeedbackEvent",
    "FeedbackLog",
    "FeedbackSink",
    "Impression",
    "InterleavedResult",
    "Interleaver",
    "Interleaving",
    "InterleavingSummary",
    "InterleavingTest",
    "Outcome",
    "PositionBasedClickModel",
    "Propensity",
    "SwapRandomizer",
    "click_estimates",
    "estimate_propensity",
    "feedback_qrels",
    "interleaving_test",
    "outcomes_from_records",
]
