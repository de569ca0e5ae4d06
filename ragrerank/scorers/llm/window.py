"""The RankGPT sliding window and the aggregation of several passes.

One pass re-orders a ranking with windows of ``window`` positions, starting at the bottom
of the list and moving up by ``step`` until a window starts at position 0 (that last
window is ``[0, min(n, window))``, so it is always full when ``n >= window``).

**Guarantee** (with a perfect oracle, i.e. every window comes back in true relevance
order, all relevances distinct): let ``m = window - step``. Every window's first ``m``
positions lie inside the next window up, so the true best ``m`` candidates of the whole
list are carried upwards window by window and one pass puts them at positions
``0 .. m-1`` in the true order, whatever the input order. When ``n <= window`` there is
one window and the whole list comes back in the true order. Nothing more is guaranteed:
the ``m + 1``-th best candidate can be left behind (e.g. ``window=4, step=2``, the three
best at the bottom of eight). ``passes`` re-runs the pass on other input orders; with a
perfect oracle every pass puts the same ``m`` in front, and both aggregators keep them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

__all__ = [
    "Aggregate",
    "aggregate_rankings",
    "asliding_window_pass",
    "guaranteed_top",
    "sliding_window_pass",
    "window_spans",
]

Aggregate = Literal["borda", "rrf"]

#: re-orders the candidates it is given (a list of input indices) best first.
WindowFn = Callable[[list[int]], list[int]]
AsyncWindowFn = Callable[[list[int]], Awaitable[list[int]]]


def check_window(window: int, step: int) -> None:
    for name, value in (("window", window), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    if not 1 <= step < window:
        raise ValueError(f"step must be in [1, window), got step={step} for window={window}")


def guaranteed_top(n: int, window: int, step: int) -> int:
    """How many of the best candidates one pass is guaranteed to put first, in true order,
    given a perfect oracle: all ``n`` when ``n <= window``, else ``window - step``."""
    return n if n <= window else window - step


def window_spans(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` position ranges of one pass, bottom first."""
    check_window(window, step)
    if n <= 1:
        return []
    if n <= window:
        return [(0, n)]
    spans = []
    end = n
    while end - window > 0:
        spans.append((end - window, end))
        end -= step
    spans.append((0, window))
    return spans


def _apply(order: list[int], start: int, end: int, reordered: Sequence[int]) -> None:
    if sorted(reordered) != sorted(order[start:end]):  # the window functions never do this
        raise AssertionError("a window came back with other candidates than it was given")
    order[start:end] = reordered


def sliding_window_pass(
    order: Sequence[int], rank_window: WindowFn, window: int, step: int
) -> list[int]:
    """One bottom-up pass over ``order`` (input indices, current best first)."""
    out = list(order)
    for start, end in window_spans(len(out), window, step):
        _apply(out, start, end, rank_window(out[start:end]))
    return out


async def asliding_window_pass(
    order: Sequence[int], rank_window: AsyncWindowFn, window: int, step: int
) -> list[int]:
    """Async `sliding_window_pass` (windows stay sequential: each depends on the last)."""
    out = list(order)
    for start, end in window_spans(len(out), window, step):
        _apply(out, start, end, await rank_window(out[start:end]))
    return out


def aggregate_rankings(
    rankings: Sequence[Sequence[int]], method: Aggregate, k: float = 60.0
) -> list[int]:
    """Fuse several rankings of the same ``n`` indices into one, best first.

    ``"borda"``: each ranking gives ``n - position`` points; ``"rrf"``: ``1 / (k + rank)``
    with 1-based ranks. Ties keep the first ranking's order.
    """
    if not rankings:
        raise ValueError("no rankings to aggregate")
    n = len(rankings[0])
    points = [0.0] * n
    for ranking in rankings:
        for position, i in enumerate(ranking):
            points[i] += (n - position) if method == "borda" else 1.0 / (k + position + 1)
    first = {i: p for p, i in enumerate(rankings[0])}
    return sorted(range(n), key=lambda i: (-points[i], first[i]))
