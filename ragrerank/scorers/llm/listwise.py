"""`ListwiseLLMScorer`: a chat LLM orders the candidates in RankGPT sliding windows."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from ...errors import ScorerError, require
from ...scorer import BaseScorer, validate_query
from ...types import Candidate, ScoreOutput, int_at_least
from .calls import CallStats, ResponseCache, message_text, model_identity
from .parsing import parse_order
from .prompt import PromptFn, cut_words, make_prompt_fn
from .window import (
    Aggregate,
    aggregate_rankings,
    asliding_window_pass,
    check_window,
    sliding_window_pass,
    window_spans,
)

__all__ = ["ListwiseLLMScorer"]

_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)


class _Query:
    """One query's cut texts, prompt builder and accounting."""

    def __init__(self, query: str, texts: list[str], stats: CallStats) -> None:
        self.query, self.texts, self.stats = query, texts, stats


class ListwiseLLMScorer(BaseScorer):
    """Listwise re-ranking by a LangChain chat model (RankGPT's sliding window).

    Args:
        llm: any LangChain ``BaseChatModel`` (anything with ``invoke``/``ainvoke`` taking a
            prompt string and returning a message). Sync scoring calls ``invoke``, async
            scoring ``ainvoke``.
        window: passages per LLM call. Windows move from the bottom of the list to the top
            by ``step``; with a perfect oracle one pass puts the true best
            ``window - step`` first in order (all of them when ``n <= window``); see
            `ragrerank.scorers.llm.window`.
        step: how far the window moves (``1 <= step < window``).
        passes: independent passes; pass 0 uses the input order, pass ``p`` the input
            shuffled with ``random.Random(seed * 1_000_003 + p)``, against positional bias.
            They are fused with ``aggregate``.
        aggregate: how passes are fused: ``"borda"`` or ``"rrf"``.
        rrf_k: the RRF constant for ``aggregate="rrf"``.
        seed: seeds the shuffles of passes after the first.
        prompt: ``None`` (`ragrerank.scorers.llm.prompt.DEFAULT_TEMPLATE`), a template
            with ``{query}``, ``{passages}`` (numbered ``[1] ...``) and ``{num}``, or a
            callable ``(query, passages) -> str``. The answer must name passages as ``[i]``.
        max_passage_tokens: whitespace-word limit per passage (an approximate token count);
            a cut passage is reported in ``ScoreOutput.truncated``.
        max_query_tokens: whitespace-word limit of the query.
        strict: raise `ScorerError` (``kind`` ``"llm_error"``, ``"timeout"`` or
            ``"unparseable"``) when a call fails or its answer names no passage, so a
            ``Reranker(fallback=...)`` takes over; otherwise that window keeps its input
            order and the failure is counted in the notes.
        timeout: seconds per request in async scoring (``asyncio.wait_for``); for sync
            scoring set the client's own timeout. A ``TimeoutError`` counts as ``"timeout"``.
        max_concurrency: requests in flight at once per async query (passes run
            concurrently; windows within a pass are sequential by nature).
        cache_size: entries of an in-memory LRU of answers keyed by (model identity,
            prompt); ``0`` disables it.

    Scores are ranks: the final position ``r`` (0-based) of ``n`` candidates scores
    ``n - r``, so ``Reranker`` top-k, the trace and `FusionScorer` work unchanged. Use
    ``Reranker(normalize=None)`` or ``"minmax"`` (linear in rank); ``"softmax"`` and
    ``"sigmoid"`` of rank numbers depend on ``n`` and are not probabilities, and a
    ``score_threshold`` on them means "the best n - t".

    Notes: ``notes["listwise_llm"]`` counts requests, cache hits, input/output tokens (from
    the answers' ``usage_metadata``), latency, repairs and failures.
    """

    def __init__(
        self,
        llm: Any,
        *,
        window: int = 20,
        step: int = 10,
        passes: int = 1,
        aggregate: Aggregate = "borda",
        rrf_k: float = 60.0,
        seed: int = 0,
        prompt: str | PromptFn | None = None,
        max_passage_tokens: int = 128,
        max_query_tokens: int = 64,
        strict: bool = False,
        timeout: float | None = None,
        max_concurrency: int = 4,
        cache_size: int = 1024,
    ) -> None:
        require("langchain_core.language_models", "llm")
        if not (callable(getattr(llm, "invoke", None)) and callable(getattr(llm, "ainvoke", None))):
            raise TypeError(f"llm must be a LangChain chat model, got {type(llm).__name__}")
        check_window(window, step)
        if aggregate not in ("borda", "rrf"):
            raise ValueError(f"aggregate must be 'borda' or 'rrf', got {aggregate!r}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a number > 0 or None, got {timeout!r}")
        if not (isinstance(rrf_k, (int, float)) and rrf_k > 0):
            raise ValueError(f"rrf_k must be a number > 0, got {rrf_k!r}")
        self.llm = llm
        self.window, self.step = window, step
        self.passes = int_at_least(passes, "passes")
        self.aggregate: Aggregate = aggregate
        self.rrf_k = float(rrf_k)
        self.seed = int(seed)
        self.prompt = prompt
        self._prompt_fn = make_prompt_fn(prompt)
        self.max_passage_tokens = int_at_least(max_passage_tokens, "max_passage_tokens")
        self.max_query_tokens = int_at_least(max_query_tokens, "max_query_tokens")
        self.strict = bool(strict)
        self.timeout = timeout
        self.max_concurrency = int_at_least(max_concurrency, "max_concurrency")
        self.cache = ResponseCache(cache_size)
        self.model_id = model_identity(llm)

    @property
    def name(self) -> str:
        return f"ListwiseLLMScorer({type(self.llm).__name__}, window={self.window}, step={self.step}, passes={self.passes})"

    def __repr__(self) -> str:
        return (
            f"ListwiseLLMScorer({self.llm!r}, window={self.window}, step={self.step}, "
            f"passes={self.passes}, aggregate={self.aggregate!r}, seed={self.seed})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.ListwiseLLMScorer",
            "model": self.model_id,
            "window": self.window,
            "step": self.step,
            "passes": self.passes,
            "aggregate": self.aggregate,
            "rrf_k": self.rrf_k,
            "seed": self.seed,
            "prompt": self.prompt
            if isinstance(self.prompt, (str, type(None)))
            else repr(self.prompt),
            "max_passage_tokens": self.max_passage_tokens,
            "max_query_tokens": self.max_query_tokens,
        }

    # -- one query -------------------------------------------------------------------

    def _start(self, query: str, candidates: Sequence[Candidate]) -> tuple[_Query, frozenset[int]]:
        validate_query(query)
        cut_query, _ = cut_words(query, self.max_query_tokens)
        texts, truncated = [], set()
        for i, c in enumerate(candidates):
            text, cut = cut_words(c.text, self.max_passage_tokens)
            texts.append(text)
            if cut:
                truncated.add(i)
        n = len(candidates)
        stats = CallStats(passes=self.passes, truncated_passages=len(truncated))
        stats.windows = self.passes * len(window_spans(n, self.window, self.step))
        return _Query(cut_query, texts, stats), frozenset(truncated)

    def _orders(self, n: int) -> list[list[int]]:
        orders = [list(range(n))]
        for p in range(1, self.passes):
            order = list(range(n))
            random.Random(self.seed * 1_000_003 + p).shuffle(order)
            orders.append(order)
        return orders

    def _finish(
        self, q: _Query, rankings: list[list[int]], truncated: frozenset[int]
    ) -> ScoreOutput:
        n = len(q.texts)
        final = (
            rankings[0]
            if len(rankings) == 1
            else aggregate_rankings(rankings, self.aggregate, self.rrf_k)
        )
        scores = [0.0] * n
        for position, i in enumerate(final):
            scores[i] = float(n - position)
        return ScoreOutput(scores, truncated, {"listwise_llm": q.stats.as_notes()})

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        q, truncated = self._start(query, candidates)
        if not candidates:
            return ScoreOutput([])
        rankings = [
            sliding_window_pass(order, lambda w: self._rank_window(q, w), self.window, self.step)
            for order in self._orders(len(candidates))
        ]
        return self._finish(q, rankings, truncated)

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        q, truncated = self._start(query, candidates)
        if not candidates:
            return ScoreOutput([])
        limit = asyncio.Semaphore(self.max_concurrency)

        async def rank(w: list[int]) -> list[int]:
            return await self._arank_window(q, w, limit)

        rankings = await asyncio.gather(
            *(
                asliding_window_pass(o, rank, self.window, self.step)
                for o in self._orders(len(candidates))
            )
        )
        return self._finish(q, list(rankings), truncated)

    # -- one window ------------------------------------------------------------------

    def _rank_window(self, q: _Query, w: list[int]) -> list[int]:
        prompt = self._prompt_fn(q.query, [q.texts[i] for i in w])
        text = self.cache.get((self.model_id, prompt))
        if text is not None:
            q.stats.cache_hits += 1
            return self._apply_answer(q, w, prompt, text, cached=True)
        started = time.perf_counter()
        try:
            message = self.llm.invoke(prompt)
        except Exception as exc:
            return self._failed(q, w, exc)
        q.stats.answered(message, time.perf_counter() - started)
        return self._apply_answer(q, w, prompt, message_text(message))

    async def _arank_window(self, q: _Query, w: list[int], limit: asyncio.Semaphore) -> list[int]:
        prompt = self._prompt_fn(q.query, [q.texts[i] for i in w])
        text = self.cache.get((self.model_id, prompt))
        if text is not None:
            q.stats.cache_hits += 1
            return self._apply_answer(q, w, prompt, text, cached=True)
        async with limit:
            started = time.perf_counter()
            try:
                message = await asyncio.wait_for(self.llm.ainvoke(prompt), self.timeout)
            except Exception as exc:
                return self._failed(q, w, exc)
        q.stats.answered(message, time.perf_counter() - started)
        return self._apply_answer(q, w, prompt, message_text(message))

    def _failed(self, q: _Query, w: list[int], exc: Exception) -> list[int]:
        kind = "timeout" if isinstance(exc, _TIMEOUTS) else "llm_error"
        q.stats.failed(kind, f"{type(exc).__name__}: {exc}")
        if self.strict:
            raise ScorerError(
                f"the LLM call failed ({type(exc).__name__}: {exc})", kind=kind
            ) from exc
        return w

    def _apply_answer(
        self, q: _Query, w: list[int], prompt: str, text: str, cached: bool = False
    ) -> list[int]:
        parsed = parse_order(text, len(w))
        if parsed.status == "unusable":
            q.stats.failed("unparseable", repr(text[:120]))
            if self.strict:
                raise ScorerError(
                    f"the LLM answer names no passage: {text[:120]!r}", kind="unparseable"
                )
            return w
        if parsed.status == "repaired":
            q.stats.repaired_windows += 1
            q.stats.out_of_range += parsed.out_of_range
            q.stats.duplicates += parsed.duplicates
            q.stats.missing += parsed.missing
        if not cached:
            self.cache.put((self.model_id, prompt), text)
        return [w[j] for j in parsed.order]
