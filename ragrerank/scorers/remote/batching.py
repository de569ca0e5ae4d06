"""Batching of one remote call: split the documents into requests of at most N, run them
concurrently but bounded (threads for sync calls, tasks for async ones), fail the call as a
whole when one request fails for good, and check the ``index`` of each answer so every
document of a batch gets exactly one score."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import MalformedResponse

__all__ = ["Batch", "BatchResult", "arun_batches", "indexed_scores", "run_batches", "split"]

R = TypeVar("R")


@dataclass(frozen=True)
class Batch:
    """Documents ``[start, stop)`` of one call, sent as request ``number`` of ``total``."""

    start: int
    stop: int
    number: int
    total: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class BatchResult:
    """The scores of one batch in its input order, the attempts they took and what the
    backend reports about the answer (``meta``: billed units, response id, ...)."""

    batch: Batch
    scores: list[float]
    attempts: int
    meta: Mapping[str, Any] = field(default_factory=dict)


def split(n: int, size: int) -> list[Batch]:
    """``n`` documents as consecutive batches of at most ``size``."""
    starts = range(0, n, size)
    return [
        Batch(s, min(s + size, n), number, len(starts)) for number, s in enumerate(starts, start=1)
    ]


def run_batches(
    run: Callable[[Batch, threading.Event | None], R],
    batches: Sequence[Batch],
    max_concurrency: int,
    thread_name: str,
) -> list[R]:
    """``run(batch, cancel)`` for every batch, at most ``max_concurrency`` threads at once;
    results in batch order. One batch alone runs in the calling thread (``cancel=None``);
    otherwise the first error sets ``cancel`` for the others and is raised."""
    if len(batches) == 1:
        return [run(batches[0], None)]
    cancel = threading.Event()
    pool = ThreadPoolExecutor(
        max_workers=min(max_concurrency, len(batches)), thread_name_prefix=thread_name
    )
    try:
        futures = [pool.submit(run, b, cancel) for b in batches]
        wait(futures, return_when=FIRST_EXCEPTION)
        error = _first_error(futures)
        if error is not None:
            cancel.set()
            raise error
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def arun_batches(
    run: Callable[[Batch], Awaitable[R]], batches: Sequence[Batch], max_concurrency: int
) -> list[R]:
    """Async `run_batches`: tasks instead of threads; the first error cancels the others."""
    if len(batches) == 1:
        return [await run(batches[0])]
    slots = asyncio.Semaphore(max_concurrency)

    async def limited(batch: Batch) -> R:
        async with slots:
            return await run(batch)

    tasks = [asyncio.ensure_future(limited(b)) for b in batches]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    errors = [t.exception() for t in tasks if not t.cancelled()]
    error = next((e for e in errors if e is not None), None)
    if error is not None:
        raise error
    return [t.result() for t in tasks]


def indexed_scores(
    results: object,
    batch: Batch,
    *,
    field: str = "results",
    score_key: str = "relevance_score",
    requested: str = "",
) -> list[float]:
    """The scores of ``batch`` in input order from a list of ``{"index": i, score_key: s}``
    (``results``, the answer's ``field``); raise `MalformedResponse` on anything but
    exactly one finite score per document. Missing documents are named by input index;
    ``requested`` ends that message (e.g. what was asked for)."""
    if not isinstance(results, list):
        raise MalformedResponse(f"{field!r} is missing or not a list ({_short(results)})")
    n = batch.size
    scores: list[float | None] = [None] * n
    for pos, item in enumerate(results):
        if not isinstance(item, Mapping):
            raise MalformedResponse(f"{field}[{pos}] is not an object ({_short(item)})")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise MalformedResponse(f"{field}[{pos}] has no integer 'index' ({_short(index)})")
        if not 0 <= index < n:
            raise MalformedResponse(
                f"{field}[{pos}].index={index} is out of range for {n} documents"
            )
        if scores[index] is not None:
            raise MalformedResponse(f"index {index} appears more than once in {field!r}")
        score = item.get(score_key)
        if (
            isinstance(score, bool)
            or not isinstance(score, (int, float))
            or not math.isfinite(score)
        ):
            raise MalformedResponse(
                f"{field}[{pos}] (index {index}) has {score_key}={_short(score)}"
            )
        scores[index] = float(score)
    missing = [batch.start + i for i, s in enumerate(scores) if s is None]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise MalformedResponse(
            f"{len(results)} result(s) for {n} documents{requested}; "
            f"no score for input indices {shown}"
        )
    return [s for s in scores if s is not None]


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(futures: list[Future[R]]) -> BaseException | None:
    for f in futures:
        if f.done() and not f.cancelled() and f.exception() is not None:
            return f.exception()
    return None
