"""Context assembly: pack reranked items into a token budget, dedupe, order, cite.

Also chatbot context selection: build the rerank query from the recent user turns of a
conversation, rerank candidates and assemble the context.
"""

from __future__ import annotations

import asyncio
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..reranker import Reranker
from ..types import Document, RerankedItem, RerankResult

__all__ = [
    "AssembledContext",
    "ChatContext",
    "ChatContextSelector",
    "ContextAssembler",
    "ContextItem",
    "DroppedItem",
    "conversation_query",
    "count_tokens",
    "jaccard",
    "shingles",
]

TokenCounter = Callable[[str], int]
Ordering = Literal["rank", "edges"]
DropReason = Literal["duplicate_id", "duplicate", "budget"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


def count_tokens(text: str) -> int:
    """Default token counter: words and punctuation marks (roughly a subword count / 1.3)."""
    return len(_TOKEN.findall(text))


def shingles(text: str, size: int = 3) -> frozenset[tuple[str, ...]]:
    """Word ``size``-grams of lowercased, punctuation-free text (the whole text if shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    """|a & b| / |a | b| (0.0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class ContextItem:
    """A chosen item: its citation number (position in the rendered text) and token count."""

    citation: int
    item: RerankedItem
    source: str
    tokens: int


@dataclass(frozen=True)
class DroppedItem:
    """An item left out, why (``duplicate_id``, ``duplicate``, ``budget``) and details."""

    item: RerankedItem
    reason: DropReason
    detail: str


@dataclass(frozen=True)
class AssembledContext:
    """Rendered context plus what went in (in rendered order) and what did not.

    Attributes:
        text: the context to put in the prompt, each item under its ``[n]`` citation.
        items: the items that went in, in rendered order, with citation and token count.
        dropped: the items left out and why (``duplicate_id``, ``duplicate``, ``budget``).
        tokens: tokens used, by the assembler's counter.
        max_tokens: the budget.
    """

    text: str
    items: tuple[ContextItem, ...]
    dropped: tuple[DroppedItem, ...]
    tokens: int
    max_tokens: int

    @property
    def citations(self) -> dict[int, str]:
        """Citation number -> source label, for checking an answer's references."""
        return {c.citation: c.source for c in self.items}


class ContextAssembler:
    """Pack reranked items, best first, into ``max_tokens`` of cited context.

    Items are taken in rank order: exact duplicate ids are dropped, then near-duplicates
    by content (word-shingle Jaccard >= ``dedupe_threshold`` against an already chosen
    item; the higher-ranked copy stays), then items that do not fit the remaining budget
    (a later, shorter item may still fit). ``order="edges"`` places the best items at both
    ends of the context (1st first, 2nd last, 3rd second...) to counter lost-in-the-middle.
    The budget covers the whole rendered text, separators and citation headers included.

    Args:
        max_tokens: token budget of the rendered context.
        token_counter: ``text -> token count``; default `count_tokens`. Pass e.g.
            ``lambda t: len(tokenizer.encode(t))`` for your LLM's tokenizer.
        dedupe_threshold: Jaccard threshold in (0, 1]; ``None`` disables content dedupe.
        shingle_size: words per shingle.
        order: ``"rank"`` (best first) or ``"edges"``.
        template: per-item block, fields ``{citation}``, ``{source}``, ``{id}``, ``{text}``.
        source_key: metadata key used as the source label (falls back to the id).
        separator: between blocks.
    """

    def __init__(
        self,
        max_tokens: int = 2000,
        *,
        token_counter: TokenCounter | None = None,
        dedupe_threshold: float | None = 0.8,
        shingle_size: int = 3,
        order: Ordering = "rank",
        template: str = "[{citation}] (source: {source})\n{text}",
        source_key: str = "source",
        separator: str = "\n\n",
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        if dedupe_threshold is not None and not 0 < dedupe_threshold <= 1:
            raise ValueError(f"dedupe_threshold must be in (0, 1] or None, got {dedupe_threshold}")
        if isinstance(shingle_size, bool) or not isinstance(shingle_size, int) or shingle_size < 1:
            raise ValueError(f"shingle_size must be a positive int, got {shingle_size!r}")
        if order not in ("rank", "edges"):
            raise ValueError(f"order must be 'rank' or 'edges', got {order!r}")
        try:
            template.format(citation=1, source="s", id="i", text="t")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"template has an unknown or bad field: {exc}") from None
        self.max_tokens = max_tokens
        self.token_counter: TokenCounter = count_tokens if token_counter is None else token_counter
        self.dedupe_threshold = dedupe_threshold
        self.shingle_size = shingle_size
        self.order: Ordering = order
        self.template = template
        self.source_key = source_key
        self.separator = separator

    def __repr__(self) -> str:
        return (
            f"ContextAssembler(max_tokens={self.max_tokens}, "
            f"dedupe_threshold={self.dedupe_threshold}, order={self.order!r})"
        )

    def _count(self, text: str) -> int:
        n = self.token_counter(text)
        try:
            value = operator.index(n)
        except TypeError:
            value = -1
        if isinstance(n, bool) or value < 0:
            raise ValueError(f"token_counter must return a non-negative int, got {n!r}")
        return value

    def _source(self, item: RerankedItem) -> str:
        value = item.metadata.get(self.source_key)
        if value is not None:
            return str(value)
        return "unknown" if item.id is None else str(item.id)

    def _block(self, citation: int, item: RerankedItem) -> str:
        return self.template.format(
            citation=citation, source=self._source(item), id=item.id, text=item.text
        )

    def assemble(self, reranked: RerankResult | Sequence[RerankedItem]) -> AssembledContext:
        """Select, order and render ``reranked`` (best first) under the budget."""
        items = list(reranked)
        for i, it in enumerate(items):
            if not isinstance(it, RerankedItem):
                raise ValueError(f"item {i}: expected RerankedItem, got {type(it).__name__}")
        dropped: list[DroppedItem] = []
        chosen: list[tuple[RerankedItem, frozenset[tuple[str, ...]]]] = []
        ids: dict[str | int, RerankedItem] = {}
        sep_tokens = self._count(self.separator)
        used = 0
        for it in items:
            if it.id is not None:
                if it.id in ids:
                    first = ids[it.id].rank
                    dropped.append(DroppedItem(it, "duplicate_id", f"same id as rank {first}"))
                    continue
                ids[it.id] = it
            sh = shingles(it.text, self.shingle_size)
            dup = self._near_duplicate(sh, chosen)
            if dup is not None:
                other, sim = dup
                label = other.id if other.id is not None else f"rank {other.rank}"
                detail = f"near-duplicate of {label} (Jaccard {sim:.2f})"
                dropped.append(DroppedItem(it, "duplicate", detail))
                continue
            cost = self._count(self._block(len(chosen) + 1, it)) + (sep_tokens if chosen else 0)
            if used + cost > self.max_tokens:
                dropped.append(
                    DroppedItem(it, "budget", f"needs {cost} tokens, {self.max_tokens - used} left")
                )
                continue
            used += cost
            chosen.append((it, sh))
        kept = [it for it, _ in chosen]
        while True:
            context = self._render(kept)
            if context.tokens <= self.max_tokens or not kept:
                break
            # Citation numbers can change width after reordering: drop the lowest-ranked.
            last = kept.pop()
            dropped.append(DroppedItem(last, "budget", "rendered context exceeded the budget"))
        return AssembledContext(
            text=context.text,
            items=context.items,
            dropped=tuple(dropped),
            tokens=context.tokens,
            max_tokens=self.max_tokens,
        )

    def _near_duplicate(
        self,
        sh: frozenset[tuple[str, ...]],
        chosen: list[tuple[RerankedItem, frozenset[tuple[str, ...]]]],
    ) -> tuple[RerankedItem, float] | None:
        if self.dedupe_threshold is None or not sh:
            return None
        for other, other_sh in chosen:
            sim = jaccard(sh, other_sh)
            if sim >= self.dedupe_threshold:
                return other, sim
        return None

    def _render(self, kept: list[RerankedItem]) -> AssembledContext:
        ordered = _edges(kept) if self.order == "edges" else kept
        blocks = [self._block(n, it) for n, it in enumerate(ordered, 1)]
        text = self.separator.join(blocks)
        items = tuple(
            ContextItem(n, it, self._source(it), self._count(b))
            for n, (it, b) in enumerate(zip(ordered, blocks, strict=True), 1)
        )
        return AssembledContext(text, items, (), self._count(text) if text else 0, self.max_tokens)


def _edges(items: list[RerankedItem]) -> list[RerankedItem]:
    """Best at both ends: ranks 1, 3, 5, ... then ..., 6, 4, 2."""
    return items[0::2] + items[1::2][::-1]


# -- chatbot ---------------------------------------------------------------------------------


def conversation_query(
    turns: Sequence[Mapping[str, Any]],
    *,
    window: int = 3,
    roles: Sequence[str] = ("user",),
    separator: str = "\n",
) -> str:
    """The last ``window`` turns with a role in ``roles``, oldest first, joined.

    Raises `ValueError` naming the turn that lacks a ``role``/``content`` str, or when
    no turn qualifies.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    if isinstance(turns, (str, Mapping)):
        raise ValueError("turns must be a sequence of {role, content} mappings")
    picked: list[str] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise ValueError(f"turn {i}: expected a mapping, got {type(turn).__name__}")
        role, content = turn.get("role"), turn.get("content")
        if not isinstance(role, str):
            raise ValueError(f"turn {i}: 'role' must be a str, got {role!r}")
        if not isinstance(content, str):
            raise ValueError(f"turn {i}: 'content' must be a str, got {type(content).__name__}")
        if role in roles and content.strip():
            picked.append(content.strip())
    if not picked:
        raise ValueError(f"no non-empty turn with role in {tuple(roles)}")
    return separator.join(picked[-window:])


@dataclass(frozen=True)
class ChatContext:
    """The rerank query built from the conversation, the rerank result and the context."""

    query: str
    reranked: RerankResult
    context: AssembledContext


class ChatContextSelector:
    """Choose context for the next chatbot answer.

    The query is `conversation_query` of the last ``window`` user turns (so follow-ups
    such as "and in children?" keep their topic); candidates are reranked with
    ``reranker`` and packed by ``assembler``.

    Args:
        reranker: reranks the candidates against the conversation's query.
        assembler: packs the context (default: a `ContextAssembler()`).
        window: how many of the last qualifying turns make the query.
        roles: which turns count (default: the user's).
    """

    def __init__(
        self,
        reranker: Reranker,
        assembler: ContextAssembler | None = None,
        *,
        window: int = 3,
        roles: Sequence[str] = ("user",),
    ) -> None:
        if not isinstance(reranker, Reranker):
            raise TypeError(f"reranker must be a ragrerank.Reranker, got {type(reranker).__name__}")
        if isinstance(roles, str) or not roles:
            raise ValueError(f"roles must be a non-empty sequence of str, got {roles!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        self.reranker = reranker
        self.assembler = ContextAssembler() if assembler is None else assembler
        self.window = window
        self.roles = tuple(roles)

    def query(self, turns: Sequence[Mapping[str, Any]]) -> str:
        """The rerank query for ``turns``."""
        return conversation_query(turns, window=self.window, roles=self.roles)

    def select(
        self, turns: Sequence[Mapping[str, Any]], candidates: Sequence[Document]
    ) -> ChatContext:
        """Rerank ``candidates`` for the conversation and assemble the context."""
        query = self.query(turns)
        result = self.reranker.rerank(query, candidates)
        return ChatContext(query, result, self.assembler.assemble(result))

    async def aselect(
        self, turns: Sequence[Mapping[str, Any]], candidates: Sequence[Document]
    ) -> ChatContext:
        """Async `select`: scoring and token counting run off the event loop."""
        query = self.query(turns)
        result = await self.reranker.arerank(query, candidates)
        context = await asyncio.to_thread(self.assembler.assemble, result)
        return ChatContext(query, result, context)
