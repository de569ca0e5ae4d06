"""Overlapping windows over a document's tokens (or words) and their character spans.

A window is ``size`` consecutive units starting every ``stride`` units, so consecutive windows
share ``size - stride`` units and the last one may be shorter; a document of at most ``size``
units is one window, the whole text. The first window's span starts at character 0, the
last one's ends at ``len(text)`` and consecutive spans overlap or meet, so together they cover
every character (a window followed by one that starts right after it takes the whitespace
between them). With more
windows than ``max_chunks``, ``max_chunks`` windows of ``size`` are spread evenly from the
first unit to the last (the stride widens; units between them may go unread, and the plan
says how many).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Chunk", "ChunkPlan", "plan_chunks", "word_spans"]

Span = tuple[int, int]
_WORD = re.compile(r"\S+")


def word_spans(text: str) -> list[Span]:
    """``(start, end)`` of every whitespace-separated word of ``text``."""
    return [m.span() for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class Chunk:
    """One window: its position, the units it covers and its text ``document[start:end]``."""

    index: int
    start: int
    end: int
    first_unit: int
    end_unit: int
    text: str


@dataclass(frozen=True)
class ChunkPlan:
    """The windows of one document and what bounding them by ``max_chunks`` cost."""

    chunks: tuple[Chunk, ...]
    units: int
    windows_needed: int
    uncovered_units: int

    @property
    def capped(self) -> bool:
        """Whether ``max_chunks`` bound (fewer windows than the stride asked for)."""
        return self.windows_needed > len(self.chunks)


def _starts(n: int, size: int, stride: int, max_chunks: int) -> tuple[list[int], int]:
    """Window start units, and how many windows the configured stride needs."""
    if n <= size:
        return [0], 1
    needed = math.ceil((n - size) / stride) + 1
    if needed <= max_chunks:
        return [k * stride for k in range(needed)], needed
    if max_chunks == 1:
        return [0], needed
    last = n - size
    return [round(k * last / (max_chunks - 1)) for k in range(max_chunks)], needed


def plan_chunks(
    text: str, spans: Sequence[Span], size: int, stride: int, max_chunks: int
) -> ChunkPlan:
    """The windows of ``text`` whose units (tokens or words) are at ``spans``."""
    n = len(spans)
    starts, needed = _starts(n, size, stride, max_chunks)
    chunks = []
    covered = 0
    reach = 0  # units [0, reach) are covered by the windows so far
    for index, first in enumerate(starts):
        end_unit = min(first + size, n)
        start = 0 if first == 0 else spans[first][0]
        if end_unit == n:
            end = len(text)
        elif index + 1 < len(starts) and starts[index + 1] == end_unit:  # no overlap: meet
            end = spans[end_unit][0]
        else:
            end = spans[end_unit - 1][1]
        chunks.append(Chunk(index, start, end, first, end_unit, text[start:end]))
        covered += max(0, end_unit - max(first, reach))
        reach = max(reach, end_unit)
    return ChunkPlan(tuple(chunks), n, needed, n - covered)
