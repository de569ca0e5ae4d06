"""What the remote-backend tests (test_cohere.py, test_remote_rerank.py) share: driving a
scorer or reranker sync or async against the fake server of tests/cohere_server.py, the
scores that fake gives, and what it was sent."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from ragrerank import Candidate, Reranker, ScoreOutput
from ragrerank.scorers.remote import RemoteScorer
from tests.cohere_server import APIS, FakeRerankServer, relevance
from tests.conftest import SCIENCE_DOCS

QUERY = "aspirin heart attack risk"
MODES = ["sync", "async"]


def run_async(scorer: Any, coro: Any) -> Any:
    """Run on a fresh event loop, closing the scorer's client for that loop before it ends."""

    async def main() -> Any:
        try:
            return await coro
        finally:
            if isinstance(scorer, RemoteScorer):
                await scorer.aclose()

    return asyncio.run(main())


def score(scorer: RemoteScorer, mode: str, docs: Sequence[str], query: str = QUERY) -> ScoreOutput:
    candidates = [Candidate(text=d) for d in docs]
    if mode == "sync":
        return scorer.score_candidates(query, candidates)
    return run_async(scorer, scorer.ascore_candidates(query, candidates))


def rerank(reranker: Reranker, mode: str, docs: Sequence[str], query: str = QUERY) -> Any:
    if mode == "sync":
        return reranker.rerank(query, docs)
    return run_async(reranker.scorer, reranker.arerank(query, docs))


def expected(docs: Sequence[str], query: str = QUERY) -> list[float]:
    """The fake server's scores of ``docs``."""
    return [relevance(query, d) for d in docs]


def docs_sent(fake: FakeRerankServer) -> Counter[str]:
    """Every document the server answered for with 200, counted."""
    field = APIS[fake.api].documents
    return Counter(d for r in fake.rerank_requests if r.status == 200 for d in r.body[field])


def many_docs(n: int) -> list[str]:
    return [f"{SCIENCE_DOCS[i % len(SCIENCE_DOCS)]} (copy {i})" for i in range(n)]


def forbid_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of a worker thread from the running event loop fail the test."""

    def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("the async path must not run in a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", no_threads)
