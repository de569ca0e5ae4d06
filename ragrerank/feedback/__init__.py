"""The feedback loop: log what users saw and did, learn from it without learning position
bias, and compare rankers online."""

from __future__ import annotations

from .log import FeedbackLog
from .records import EventKind, FeedbackEvent, FeedbackSink, Impression
from .simulate import PositionBasedClickModel

__all__ = [
    "EventKind",
    "FeedbackEvent",
    "FeedbackLog",
    "FeedbackSink",
    "Impression",
    "PositionBasedClickModel",
]
