"""Token spans of texts and how a document longer than its token budget is cut.

One `Truncation` for every local scorer that cuts documents (the cross-encoder, the generative
scorer, ColBERT's document encoding): ``"head"`` keeps the first tokens that fit (what every
peer does), ``"head_tail"`` the first ``head_tokens`` and the last ``tail_tokens``, so the end
of a long document still counts. Queries are never cut here. `token_spans` gives the
character span of every token (a fast tokenizer's offsets mapping); `MaxPassageScorer` chunks by
it and ColBERT cuts a document's text by it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TRUNCATIONS", "Truncation", "splice_second", "token_spans"]

TRUNCATIONS = ("head", "head_tail")

Span = tuple[int, int]


def token_spans(tokenizer: Any, texts: Sequence[str]) -> list[list[Span]]:
    """``(start, end)`` character offsets of each text's tokens, special tokens excluded.

    Raises:
        ValueError: the tokenizer is not a fast (Rust) tokenizer, which alone reports offsets.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer: token offsets (chunking by "
            "tokens, truncation='head_tail') need one (AutoTokenizer(..., use_fast=True))"
        )
    if not texts:
        return []
    enc = tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    return [[(int(a), int(b)) for a, b in row] for row in enc["offset_mapping"]]


def _count(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be an int >= 0 or None, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Truncation:
    """How a document of ``n`` tokens is cut to a budget of ``budget`` tokens.

    Args:
        strategy: ``"head"`` (keep the first ``budget`` tokens) or ``"head_tail"``.
        head_tokens: ``head_tail`` only: at most this many first tokens (default: what the
            tail leaves of the budget).
        tail_tokens: ``head_tail`` only: at most this many last tokens (default: what the
            head leaves; with neither set, half the budget, rounded down). With both set and
            a budget smaller than their sum, the tail is kept and the head gets the rest.

    Raises:
        ValueError: an unknown strategy, a negative count, or counts given for ``"head"``.
    """

    strategy: str = "head"
    head_tokens: int | None = None
    tail_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {self.strategy!r}")
        head = _count(self.head_tokens, "head_tokens")
        tail = _count(self.tail_tokens, "tail_tokens")
        if self.strategy == "head" and (head is not None or tail is not None):
            raise ValueError("head_tokens / tail_tokens are for truncation='head_tail'")
        if head == 0 and tail == 0:
            raise ValueError("head_tokens and tail_tokens cannot both be 0")
        object.__setattr__(self, "head_tokens", head)
        object.__setattr__(self, "tail_tokens", tail)

    def params(self) -> dict[str, Any]:
        """Constructor arguments for a scorer's ``to_dict``: empty for the default ``"head"``
        (so configs and cache fingerprints from before this option stay the same)."""
        if self.strategy == "head":
            return {}
        return {
            "truncation": self.strategy,
            "head_tokens": self.head_tokens,
            "tail_tokens": self.tail_tokens,
        }

    def split(self, n: int, budget: int) -> tuple[int, int]:
        """How many first and last tokens of ``n`` to keep within ``budget`` (``n`` fits:
        ``(n, 0)``)."""
        if n <= budget:
            return n, 0
        if self.strategy == "head":
            return budget, 0
        if self.tail_tokens is None:
            head = (
                budget - budget // 2 if self.head_tokens is None else min(self.head_tokens, budget)
            )
            return head, budget - head
        tail = min(self.tail_tokens, budget)
        head = budget - tail if self.head_tokens is None else min(self.head_tokens, budget - tail)
        return head, tail

    def cut_ids(self, ids: Sequence[int], budget: int) -> list[int]:
        """The kept token ids, in document order."""
        head, tail = self.split(len(ids), budget)
        return list(ids[:head]) + (list(ids[len(ids) - tail :]) if tail else [])

    def cut_text(self, text: str, spans: Sequence[Span], budget: int) -> str:
        """The text of the kept tokens (``spans``: `token_spans` of ``text``): everything up
        to the end of the last head token, then from the start of the first tail token (with
        a space between when neither side has one). A text that fits is returned as is."""
        head, tail = self.split(len(spans), budget)
        if tail == 0 and head == len(spans):
            return text
        first = text[: spans[head - 1][1]] if head else ""
        last = text[spans[len(spans) - tail][0] :] if tail else ""
        gap = " " if first and last and not first[-1].isspace() and not last[0].isspace() else ""
        return first + gap + last


def splice_second(
    rows: dict[str, list[int]], sequence_ids: Sequence[int | None], ids: list[int]
) -> None:
    """Replace, in place, the second sequence of one encoded pair (the positions whose sequence
    id is 1) by the tokens ``ids``: ``rows`` maps ``input_ids``, ``attention_mask``... to that
    pair's row; the other rows repeat their value at the first replaced position."""
    where = [k for k, s in enumerate(sequence_ids) if s == 1]
    if not where or where[-1] - where[0] + 1 != len(where):
        raise ValueError("the encoded pair has no contiguous second sequence to replace")
    first, stop = where[0], where[-1] + 1
    for key, row in rows.items():
        row[first:stop] = ids if key == "input_ids" else [row[first]] * len(ids)
