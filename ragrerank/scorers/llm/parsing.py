"""Reading a permutation out of an LLM answer: strict first, then a repair that never
loses or duplicates a candidate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ParsedOrder", "parse_order"]

_STRICT = re.compile(r"\s*\[\d+\](?:\s*>\s*\[\d+\])*\s*\.?\s*")
_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"(?<![\w.])(\d+)(?![\w.])")


@dataclass(frozen=True)
class ParsedOrder:
    """``order``: 0-based positions in the window, best first, always a permutation of
    ``range(size)``. ``status``: ``"ok"`` (the answer was exactly ``[a] > [b] > ...`` over
    every passage once), ``"repaired"`` or ``"unusable"`` (no valid identifier at all;
    ``order`` is then the input order)."""

    order: list[int]
    status: Literal["ok", "repaired", "unusable"]
    out_of_range: int = 0
    duplicates: int = 0
    missing: int = 0
    repairs: dict[str, int] = field(default_factory=dict)


def parse_order(text: str, size: int) -> ParsedOrder:
    """Parse ``[3] > [1] > [2]`` (1-based identifiers) into 0-based positions.

    Repair: take the bracketed identifiers in order (bare integers when there are none),
    drop out-of-range and repeated ones, append the missing ones in input order.
    """
    identity = list(range(size))
    if _STRICT.fullmatch(text):
        ids = [int(x) - 1 for x in _BRACKETED.findall(text)]
        if sorted(ids) == identity:
            return ParsedOrder(ids, "ok")
    found = _BRACKETED.findall(text) or _BARE.findall(text)
    seen: set[int] = set()
    order: list[int] = []
    out_of_range = duplicates = 0
    for raw in found:
        i = int(raw) - 1
        if not 0 <= i < size:
            out_of_range += 1
        elif i in seen:
            duplicates += 1
        else:
            seen.add(i)
            order.append(i)
    if not order:
        return ParsedOrder(identity, "unusable", out_of_range, duplicates, size)
    missing = [i for i in identity if i not in seen]
    return ParsedOrder(order + missing, "repaired", out_of_range, duplicates, len(missing))
