"""ListwiseLLMScorer against fake chat models: the window guarantee, repairs, strict mode,
async, a cascade, the config backend, and the real ChatOpenAI client on a local fake server."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from ragrerank import (
    Candidate,
    CascadeScorer,
    FusionScorer,
    ListwiseLLMScorer,
    MissingDependencyError,
    Reranker,
    ScorerError,
)
from ragrerank.evaluation.config import RerankerSpec, build_scorer
from ragrerank.scorers.llm.parsing import parse_order
from ragrerank.scorers.llm.window import guaranteed_top, sliding_window_pass, window_spans
from tests.conftest import KeywordScorer

_LINE = re.compile(r"^\[(\d+)\] doc-(\d+)\b", re.M)


def oracle_answer(prompt: str, relevance: dict[int, float]) -> str:
    """The order a hidden relevance oracle implies for the numbered passages of ``prompt``."""
    found = [(int(i), int(d)) for i, d in _LINE.findall(prompt)]
    ranked = sorted(found, key=lambda x: -relevance[x[1]])
    return " > ".join(f"[{i}]" for i, _ in ranked)


class FakeChat(BaseChatModel):
    """Answers from ``answer(prompt)``; an exception it returns is raised; ``delay`` sleeps
    (asyncio.sleep in ainvoke)."""

    answer: Callable[[str], Any]
    delay: float = 0.0
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-listwise"

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        prompt = str(messages[-1].content)
        self.prompts.append(prompt)
        out = self.answer(prompt)
        if isinstance(out, BaseException):
            raise out
        usage = {"input_tokens": len(prompt.split()), "output_tokens": 7, "total_tokens": 0}
        message = AIMessage(content=out, usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        time.sleep(self.delay)
        return self._reply(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        await asyncio.sleep(self.delay)
        return self._reply(messages)


def make_docs(n: int, seed: int) -> tuple[list[Candidate], dict[int, float]]:
    rng = random.Random(seed)
    relevance = {d: rng.random() for d in range(n)}
    return [Candidate(f"doc-{d} about topic {d % 7}", id=d) for d in range(n)], relevance


def oracle_llm(relevance: dict[int, float], **kw: Any) -> FakeChat:
    return FakeChat(answer=lambda p: oracle_answer(p, relevance), prompts=[], **kw)


def true_order(relevance: dict[int, float]) -> list[int]:
    return sorted(relevance, key=lambda d: -relevance[d])


def ranked_ids(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


# -- the window algorithm ----------------------------------------------------------------


def test_spans_cover_the_top_and_overlap_by_window_minus_step() -> None:
    assert window_spans(25, 20, 10) == [(5, 25), (0, 20)]  # RankGPT's loop would stop at 5
    assert window_spans(8, 4, 2) == [(4, 8), (2, 6), (0, 4)]
    assert window_spans(9, 4, 3) == [(5, 9), (2, 6), (0, 4)]
    assert window_spans(3, 4, 2) == [(0, 3)] and window_spans(1, 4, 2) == []
    for n in range(2, 40):
        spans = window_spans(n, 5, 2)
        assert spans[-1][0] == 0
        for (s, _), (s2, e2) in itertools.pairwise(spans):
            assert s2 <= s and s + (5 - 2) <= e2  # each window's first m positions carry on
    with pytest.raises(ValueError):
        window_spans(10, 4, 4)


@pytest.mark.parametrize(("window", "step"), [(4, 2), (5, 1), (6, 4), (20, 10), (3, 2)])
def test_one_pass_brings_the_true_top_m_first_for_any_input_order(window: int, step: int) -> None:
    rng = random.Random(window * 100 + step)
    for _ in range(150):
        n = rng.randint(1, 45)
        rel = [rng.random() for _ in range(n)]
        order = list(range(n))
        rng.shuffle(order)
        out = sliding_window_pass(
            order, lambda w, rel=rel: sorted(w, key=lambda i: -rel[i]), window, step
        )
        m = guaranteed_top(n, window, step)
        assert sorted(out) == list(range(n))
        assert out[:m] == sorted(range(n), key=lambda i: -rel[i])[:m]


def test_the_guarantee_is_tight() -> None:
    # window=4, step=2 (m=2): the three best at the bottom of eight; the third is left behind.
    rel = {i: float(i) for i in range(8)}  # 7 best, then 6, 5
    out = sliding_window_pass(list(range(8)), lambda w: sorted(w, key=lambda i: -rel[i]), 4, 2)
    assert out[:2] == [7, 6] and 5 not in out[:3]


# -- the scorer with a fake oracle -------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "window", "step", "passes", "aggregate"),
    [
        (7, 20, 10, 1, "borda"),  # n < window: the whole order
        (20, 20, 10, 1, "borda"),  # n = window
        (33, 20, 10, 1, "borda"),  # n not a multiple of step
        (33, 8, 3, 3, "borda"),
        (33, 8, 3, 3, "rrf"),
        (50, 10, 4, 2, "rrf"),
    ],
)
def test_top_k_equals_the_oracle_where_guaranteed(
    n: int, window: int, step: int, passes: int, aggregate: Any
) -> None:
    docs, rel = make_docs(n, seed=n + window)
    llm = oracle_llm(rel)
    scorer = ListwiseLLMScorer(llm, window=window, step=step, passes=passes, aggregate=aggregate)
    m = guaranteed_top(n, window, step)
    result = Reranker(scorer, top_k=m, normalize=None).rerank("topic", docs)
    assert [item.id for item in result.items] == true_order(rel)[:m]
    notes = json.loads(result.trace.to_json())["notes"]["listwise_llm"]  # strict JSON
    assert notes["passes"] == passes and notes["failures"] == 0
    assert notes["windows"] == passes * len(window_spans(n, window, step))
    assert notes["requests"] == notes["windows"] and notes["input_tokens"] > 0


def test_scores_are_ranks_and_work_in_fusion() -> None:
    docs, rel = make_docs(12, seed=3)
    scorer = ListwiseLLMScorer(oracle_llm(rel), window=20, step=10)
    out = scorer.score_candidates("q", docs)
    assert sorted(out.scores) == [float(s) for s in range(1, 13)]
    assert ranked_ids(out.scores) == true_order(rel)
    fused = FusionScorer([scorer, KeywordScorer()]).score_candidates("q", docs)
    assert len(fused.scores) == 12


def test_passages_are_cut_counted_and_the_prompt_bounded() -> None:
    docs = [Candidate(f"doc-{i} " + "word " * (5 + 50 * (i % 2))) for i in range(6)]
    rel = {i: float(-i) for i in range(6)}
    llm = oracle_llm(rel)
    scorer = ListwiseLLMScorer(llm, max_passage_tokens=20, max_query_tokens=3)
    out = scorer.score_candidates("a b c d e f g", docs)
    assert out.truncated == frozenset({1, 3, 5})
    assert out.notes["listwise_llm"]["truncated_passages"] == 3
    (prompt,) = llm.prompts
    assert '"a b c"' in prompt and len(prompt.split()) <= 6 * 21 + 3 + 60
    assert ranked_ids(out.scores) == list(range(6))


def test_custom_prompt_template_and_callable() -> None:
    docs, rel = make_docs(5, seed=1)
    llm = oracle_llm(rel)
    ListwiseLLMScorer(llm, prompt="Q={query} N={num}\n{passages}").score_candidates("q", docs)
    assert llm.prompts[-1].startswith("Q=q N=5\n[1] doc-")
    seen: list[int] = []

    def build(query: str, passages: Any) -> str:
        seen.append(len(passages))
        return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))

    out = ListwiseLLMScorer(llm, prompt=build).score_candidates("q", docs)
    assert seen == [5] and ranked_ids(out.scores) == true_order(rel)
    with pytest.raises(ValueError):
        ListwiseLLMScorer(llm, prompt="no passages field")


def test_cache_skips_repeated_prompts() -> None:
    docs, rel = make_docs(6, seed=2)
    llm = oracle_llm(rel)
    scorer = ListwiseLLMScorer(llm, cache_size=8)
    first = scorer.score_candidates("q", docs)
    second = scorer.score_candidates("q", docs)
    assert first.scores == second.scores and len(llm.prompts) == 1
    assert second.notes["listwise_llm"]["cache_hits"] == 1
    assert second.notes["listwise_llm"]["requests"] == 0
    ListwiseLLMScorer(llm, cache_size=0).score_candidates("q", docs)
    assert len(llm.prompts) == 2


# -- adversarial answers -----------------------------------------------------------------


def test_parse_strict_and_repair() -> None:
    assert parse_order("[2] > [1] > [3]", 3).status == "ok"
    assert parse_order("[2] > [1] > [3]", 3).order == [1, 0, 2]
    p = parse_order("I think [3] then [3], [9] and [1]", 4)
    assert (p.status, p.order, p.out_of_range, p.duplicates, p.missing) == (
        "repaired",
        [2, 0, 1, 3],
        1,
        1,
        2,
    )
    assert parse_order("2 > 1", 3).order == [1, 0, 2]
    assert parse_order("no idea", 3).status == "unusable"
    assert parse_order("", 3).order == [0, 1, 2]


ADVERSARIAL: dict[str, Callable[[str], Any]] = {
    "empty": lambda p: "",
    "prose": lambda p: "These passages are all very interesting.",
    "out_of_range": lambda p: "[99] > [0] > [2] > [1]",
    "duplicates": lambda p: "[2] > [2] > [1] > [1]",
    "partial": lambda p: "[3]",
    "exception": lambda p: RuntimeError("boom"),
    "timeout": lambda p: TimeoutError("read timed out"),
}


@pytest.mark.parametrize("kind", sorted(ADVERSARIAL))
def test_adversarial_answers_never_lose_a_document(kind: str) -> None:
    docs, _ = make_docs(13, seed=4)
    scorer = ListwiseLLMScorer(FakeChat(answer=ADVERSARIAL[kind], prompts=[]), window=6, step=3)
    out = scorer.score_candidates("q", docs)
    assert sorted(out.scores) == [float(s) for s in range(1, 14)]
    notes = out.notes["listwise_llm"]
    windows = len(window_spans(13, 6, 3))
    if kind in ("empty", "prose", "exception", "timeout"):
        expected = {"empty": "unparseable", "prose": "unparseable"}.get(kind, kind)
        expected = "llm_error" if kind == "exception" else expected
        assert notes["failure_kinds"] == {expected: windows}
        assert ranked_ids(out.scores) == list(range(13))  # every window kept its input order
    else:
        assert notes["failures"] == 0 and notes["repairs"]["windows"] == windows


@pytest.mark.parametrize("kind", ["prose", "exception", "timeout"])
def test_strict_raises_and_the_reranker_fallback_takes_over(kind: str) -> None:
    docs, _ = make_docs(5, seed=5)
    scorer = ListwiseLLMScorer(FakeChat(answer=ADVERSARIAL[kind], prompts=[]), strict=True)
    with pytest.raises(ScorerError) as info:
        scorer.score_candidates("q", docs)
    assert info.value.kind == {"prose": "unparseable", "exception": "llm_error"}.get(kind, kind)
    result = Reranker(scorer, fallback="first_stage", normalize=None).rerank("q", docs)
    assert [i.id for i in result.items] == [0, 1, 2, 3, 4]


def test_missing_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.language_models", None)
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[llm\]"):
        ListwiseLLMScorer(object())


# -- async -------------------------------------------------------------------------------


async def test_concurrent_async_queries_match_sync() -> None:
    docs, rel = make_docs(30, seed=6)
    scorer = ListwiseLLMScorer(oracle_llm(rel), window=8, step=4, passes=3, cache_size=0)
    queries = [f"query {i}" for i in range(4)]
    sync = [scorer.score_candidates(q, docs).scores for q in queries]
    outs = await asyncio.gather(*(scorer.ascore_candidates(q, docs) for q in queries))
    assert [o.scores for o in outs] == sync
    assert outs[0].notes["listwise_llm"]["input_tokens"] > 0


async def test_event_loop_keeps_ticking_and_passes_overlap() -> None:
    docs, rel = make_docs(10, seed=7)
    llm = oracle_llm(rel, delay=0.2)
    scorer = ListwiseLLMScorer(llm, passes=3, max_concurrency=3, cache_size=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    out = await scorer.ascore_candidates("q", docs)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert ranked_ids(out.scores) == true_order(rel)
    assert elapsed < 0.5  # three 0.2 s passes ran concurrently, not one after another
    assert ticks >= 10


async def test_async_timeout_is_counted() -> None:
    docs, rel = make_docs(4, seed=8)
    scorer = ListwiseLLMScorer(oracle_llm(rel, delay=1.0), timeout=0.05)
    out = await scorer.ascore_candidates("q", docs)
    assert out.notes["listwise_llm"]["failure_kinds"] == {"timeout": 1}
    assert ranked_ids(out.scores) == [0, 1, 2, 3]


# -- composition and config --------------------------------------------------------------


def test_cascade_prunes_then_the_llm_orders_the_survivors() -> None:
    docs, rel = make_docs(40, seed=9)
    docs = [Candidate(c.text + (" aspirin" if d < 10 else ""), id=d) for d, c in enumerate(docs)]
    llm = oracle_llm(rel)
    cascade = CascadeScorer(KeywordScorer(), ListwiseLLMScorer(llm), keep=10)
    result = Reranker(cascade, top_k=10, normalize=None).rerank("aspirin", docs)
    assert len(llm.prompts) == 1 and len(_LINE.findall(llm.prompts[0])) == 10
    survivors = {d: rel[d] for d in range(10)}
    assert [i.id for i in result.items] == true_order(survivors)
    notes = result.trace.notes  # the expensive scorer's accounting survives the cascade
    assert notes["listwise_llm"]["requests"] == 1 and notes["cascade_pruned"] == 30


def test_config_backend_builds_chat_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "test")  # the key comes from the environment
    spec = RerankerSpec(
        "llm",
        "listwise-llm",
        "gpt-test",
        {"base_url": "http://127.0.0.1:9/v1", "window": 6, "step": 2},
    )
    scorer = build_scorer(spec)
    assert isinstance(scorer, ListwiseLLMScorer) and scorer.window == 6
    assert type(scorer.llm).__name__ == "ChatOpenAI"
    with pytest.raises(ValueError, match="provider"):
        build_scorer(RerankerSpec("x", "listwise-llm", "m", {"provider": "other"}))


# -- the real ChatOpenAI client against a local fake server --------------------------------


@pytest.fixture
def openai_server() -> Iterator[tuple[str, dict[int, float], list[dict[str, Any]]]]:
    _, rel = make_docs(25, seed=10)
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            prompt = body["messages"][-1]["content"]
            answer = {
                "id": "cmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": oracle_answer(prompt, rel)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109},
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", rel, requests
    finally:
        server.shutdown()
        server.server_close()


async def test_real_chat_openai_client(
    openai_server: tuple[str, dict[int, float], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    url, rel, requests = openai_server
    llm = langchain_openai.ChatOpenAI(model="fake-gpt", base_url=url, api_key="test", max_retries=0)
    docs, _ = make_docs(25, seed=10)
    scorer = ListwiseLLMScorer(llm, window=20, step=10, cache_size=0)
    out = scorer.score_candidates("topic", docs)
    assert ranked_ids(out.scores)[:10] == true_order(rel)[:10]
    notes = out.notes["listwise_llm"]
    assert notes["requests"] == 2 == len(requests)
    assert (notes["input_tokens"], notes["output_tokens"]) == (200, 18)
    aout = await scorer.ascore_candidates("topic", docs)
    assert aout.scores == out.scores and aout.notes["listwise_llm"]["input_tokens"] == 200
