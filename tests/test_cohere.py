"""CohereScorer against a local fake of /v2/rerank over real HTTP (loopback only).

Every test drives the official cohere client (ClientV2 / AsyncClientV2) through
`base_url` at `tests.cohere_server.FakeCohere` and checks the outcome of one network
behaviour: retried and succeeded, failed open with the trace entry, or a clear error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from ragrerank import (
    Candidate,
    CohereError,
    CohereScorer,
    Reranker,
    Scorer,
    ScorerError,
)
from ragrerank.scorers.remote import ERROR_KINDS, parse_retry_after
from tests.cohere_server import FakeCohere, Fault
from tests.conftest import SCIENCE_DOCS, KeywordScorer
from tests.remote_helpers import (
    MODES,
    QUERY,
    docs_sent,
    expected,
    forbid_threads,
    many_docs,
    rerank,
    score,
)

KEY = "sk-test-7f3a9c1e-DO-NOT-LEAK-5b2d8e4f"


_OPEN: list[CohereScorer] = []


@pytest.fixture
def fake() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=KEY) as server:
        yield server
        while _OPEN:
            _OPEN.pop().close()


def make(fake: FakeCohere, **options: Any) -> CohereScorer:
    """A scorer on the fake with tiny backoff delays (tests stay fast)."""
    kwargs: dict[str, Any] = {
        "api_key": KEY,
        "base_url": fake.url,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
        "timeout": 2.0,
        "max_attempts": 3,
    }
    kwargs.update(options)
    scorer = CohereScorer(**kwargs)
    _OPEN.append(scorer)  # its sync client is closed after the test
    return scorer


# -- normal answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_normal_answer_scores_every_document_in_input_order(fake: FakeCohere, mode: str) -> None:
    scorer = make(fake, max_tokens_per_doc=512)
    out = score(scorer, mode, SCIENCE_DOCS)
    assert out.scores == expected(SCIENCE_DOCS)
    assert all(type(s) is float for s in out.scores)
    [request] = fake.rerank_requests
    assert request.authorized
    assert request.body == {
        "model": "rerank-v3.5",
        "query": QUERY,
        "documents": SCIENCE_DOCS,
        "top_n": len(SCIENCE_DOCS),
        "max_tokens_per_doc": 512,
    }
    notes = out.notes["cohere"]
    assert (notes["requests"], notes["attempts"], notes["retries"]) == (1, 1, 0)
    assert notes["billed_search_units"] == 1.0 and scorer.billed_search_units == 1.0
    assert isinstance(scorer, Scorer)


@pytest.mark.parametrize("mode", MODES)
def test_reranker_orders_by_cohere_score(fake: FakeCohere, mode: str) -> None:
    result = rerank(Reranker(make(fake), top_k=3), mode, SCIENCE_DOCS)
    want = sorted(range(len(SCIENCE_DOCS)), key=lambda i: -expected(SCIENCE_DOCS)[i])[:3]
    assert [item.index for item in result] == want
    assert "fallback" not in result.trace.notes
    assert result.trace.notes["cohere"]["attempts"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_empty_input_sends_nothing_and_bad_query_is_rejected(fake: FakeCohere, mode: str) -> None:
    scorer = make(fake)
    assert score(scorer, mode, []).scores == []
    with pytest.raises(ValueError, match="query must not be empty"):
        score(scorer, mode, ["a"], query="  ")
    assert fake.received == 0


# -- batching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_large_inputs_are_split_and_merged_back_in_order(fake: FakeCohere, mode: str) -> None:
    fake.max_documents = 4  # the server rejects bigger requests with 400
    docs = many_docs(25)
    scorer = make(fake, max_documents_per_request=4)
    out = score(scorer, mode, docs)
    assert out.scores == expected(docs)
    assert docs_sent(fake) == Counter(docs)  # each document sent exactly once
    assert sorted(len(r.body["documents"]) for r in fake.rerank_requests) == [1] + [4] * 6
    assert all(r.body["top_n"] == len(r.body["documents"]) for r in fake.rerank_requests)
    assert out.notes["cohere"]["requests"] == 7
    assert scorer.billed_search_units == 7.0


@pytest.mark.parametrize("mode", MODES)
def test_batches_run_concurrently_within_the_limit(fake: FakeCohere, mode: str) -> None:
    fake.latency = 0.1
    docs = many_docs(20)
    out = score(make(fake, max_documents_per_request=2, max_concurrency=3), mode, docs)
    assert out.scores == expected(docs)
    assert 2 <= fake.max_in_flight <= 3


@pytest.mark.parametrize("mode", MODES)
def test_retry_in_one_batch_keeps_the_others(fake: FakeCohere, mode: str) -> None:
    fake.plan("ok", "server_error", "ok", "ok")
    docs = many_docs(12)
    out = score(make(fake, max_documents_per_request=4), mode, docs)
    assert out.scores == expected(docs)
    assert docs_sent(fake) == Counter(docs)
    assert out.notes["cohere"]["attempts"] == 4 and out.notes["cohere"]["retries"] == 1


# -- retried faults -----------------------------------------------------------------------------

RETRIED = {
    "429 without Retry-After": Fault("rate_limit"),
    "429 Retry-After: 0": Fault("rate_limit", retry_after="0"),
    "500": Fault("server_error"),
    "503": Fault("unavailable"),
    "dropped connection": Fault("drop"),
    "hang past the timeout": Fault("hang", delay=2.0),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", RETRIED.values(), ids=RETRIED.keys())
def test_transient_fault_is_retried_then_succeeds(
    fake: FakeCohere, mode: str, fault: Fault
) -> None:
    fake.plan(fault, fault)
    scorer = make(fake, timeout=0.25)
    start = time.monotonic()
    out = score(scorer, mode, SCIENCE_DOCS)
    assert out.scores == expected(SCIENCE_DOCS)
    assert (out.notes["cohere"]["attempts"], out.notes["cohere"]["retries"]) == (3, 2)
    assert fake.received == 3
    assert docs_sent(fake) == Counter(SCIENCE_DOCS)
    assert time.monotonic() - start < 2.0


EXHAUSTED = {
    "500": (Fault("server_error"), "server_error", 500, "HTTP 500"),
    "503": (Fault("unavailable"), "server_error", 503, "HTTP 503"),
    "429": (Fault("rate_limit"), "rate_limited", 429, "HTTP 429"),
    "dropped connection": (Fault("drop"), "connection", None, "disconnected"),
    "hang past the timeout": (Fault("hang", delay=2.0), "timeout", None, "no response within"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", EXHAUSTED.values(), ids=EXHAUSTED.keys())
def test_persistent_fault_stops_after_max_attempts(
    fake: FakeCohere, mode: str, case: tuple[Fault, str, int | None, str]
) -> None:
    fault, kind, status, text = case
    fake.reset(always=fault)
    with pytest.raises(CohereError) as info:
        score(make(fake, timeout=0.25, max_attempts=3), mode, SCIENCE_DOCS)
    err = info.value
    assert (err.kind, err.attempts, err.status_code) == (kind, 3, status)
    assert text in str(err) and "gave up after max_attempts=3" in str(err)
    assert isinstance(err, ScorerError)
    # Exactly our three attempts reach the server: the cohere client's own retries are off.
    assert fake.received == 3


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_is_honoured(fake: FakeCohere, mode: str) -> None:
    fake.plan(Fault("rate_limit", retry_after="1"))
    scorer = make(fake)  # built outside the clock: the first one imports the cohere client
    start = time.monotonic()
    out = score(scorer, mode, SCIENCE_DOCS)
    elapsed = time.monotonic() - start
    assert out.scores == expected(SCIENCE_DOCS)
    assert fake.received == 2
    assert 0.95 <= elapsed < 3.0  # the backoff alone would wait ~1 ms


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_beyond_the_limit_fails_at_once(fake: FakeCohere, mode: str) -> None:
    fake.reset(always=Fault("unavailable", retry_after="30"))
    scorer = make(fake, max_retry_after=5.0)
    start = time.monotonic()
    with pytest.raises(CohereError, match="Retry-After 30 s exceeds max_retry_after=5") as info:
        score(scorer, mode, SCIENCE_DOCS)
    assert (info.value.kind, info.value.attempts) == ("server_error", 1)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_bounds_the_whole_call(fake: FakeCohere, mode: str) -> None:
    fake.reset(always=Fault("hang", delay=5.0))
    scorer = make(fake, timeout=0.3, total_timeout=0.5, max_attempts=10)
    start = time.monotonic()
    with pytest.raises(CohereError) as info:
        score(scorer, mode, SCIENCE_DOCS)
    assert info.value.kind == "timeout"
    assert info.value.attempts is not None and 1 <= info.value.attempts <= 2
    assert time.monotonic() - start < 1.2


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    assert 100 < (parse_retry_after({"Retry-After": future}) or 0) <= 120
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


# -- errors that are not retried ----------------------------------------------------------------

NOT_RETRIED = {
    "401": ("unauthorized", "auth", 401, "HTTP 401: invalid api token"),
    "400": ("bad_request", "bad_request", 400, "HTTP 400: invalid request"),
    "bad JSON": ("bad_json", "malformed_response", 200, "not valid JSON"),
    "wrong JSON shape": ("wrong_shape", "malformed_response", None, "not have the rerank shape"),
    "partial top_n": ("partial", "malformed_response", 200, "no score for input indices"),
    "missing index": ("missing_index", "malformed_response", 200, "has no integer 'index'"),
    "duplicated index": ("duplicate_index", "malformed_response", 200, "appears more than once"),
    "index out of range": ("out_of_range", "malformed_response", 200, "index=6 is out of range"),
    "non-numeric score": ("non_numeric", "malformed_response", 200, "relevance_score='high'"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
def test_non_transient_errors_fail_at_once_with_a_clear_error(
    fake: FakeCohere, mode: str, case: tuple[str, str, int | None, str]
) -> None:
    fault, kind, status, text = case
    fake.reset(always=fault)
    with pytest.raises(CohereError) as info:
        score(make(fake), mode, SCIENCE_DOCS)
    err = info.value
    assert (err.kind, err.attempts, err.status_code) == (kind, 1, status)
    assert kind in ERROR_KINDS
    assert text in str(err), str(err)
    assert "request 1/1: documents 0-5" in str(err)
    assert fake.received == 1
    clone = pickle.loads(pickle.dumps(err))  # survives process boundaries intact
    assert (clone.kind, clone.attempts, clone.status_code, str(clone)) == (
        kind,
        1,
        status,
        str(err),
    )


@pytest.mark.parametrize("mode", MODES)
def test_partial_answer_names_the_missing_input_indices_of_its_batch(
    fake: FakeCohere, mode: str
) -> None:
    fake.plan("ok", "partial")  # the second batch (documents 4-7) comes back half empty
    docs = many_docs(8)
    scorer = make(fake, max_documents_per_request=4, max_concurrency=1)
    with pytest.raises(CohereError, match=r"2 result\(s\) for 4 documents") as info:
        score(scorer, mode, docs)
    # The fake keeps the two best of the batch; the other two are named by input index.
    batch = docs[4:]
    scores = expected(batch)
    dropped = sorted(4 + i for i in sorted(range(4), key=lambda i: (-scores[i], i))[2:])
    assert f"no score for input indices {dropped[0]}, {dropped[1]}" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_wrong_key_is_an_auth_error(fake: FakeCohere, mode: str) -> None:
    with pytest.raises(CohereError) as info:
        score(make(fake, api_key="sk-wrong"), mode, SCIENCE_DOCS)
    assert info.value.kind == "auth" and fake.received == 1
    assert fake.rerank_requests[0].authorized is False


# -- fail-open through the Reranker -------------------------------------------------------------

FAIL_OPEN = {
    "503 every time": (Fault("unavailable"), "server_error", 3),
    "hang every time": (Fault("hang", delay=2.0), "timeout", 3),
    "dropped every time": (Fault("drop"), "connection", 3),
    "duplicated index": (Fault("duplicate_index"), "malformed_response", 1),
    "401": (Fault("unauthorized"), "auth", 1),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", FAIL_OPEN.values(), ids=FAIL_OPEN.keys())
def test_failure_falls_back_to_a_local_scorer(
    fake: FakeCohere, mode: str, case: tuple[Fault, str, int]
) -> None:
    fault, kind, attempts = case
    fake.reset(always=fault)
    fallback = KeywordScorer()
    result = rerank(Reranker(make(fake, timeout=0.2), fallback=fallback), mode, SCIENCE_DOCS)
    note = result.trace.notes["fallback"]
    assert (note["used"], note["kind"], note["attempts"]) == ("KeywordScorer", kind, attempts)
    assert note["reason"].startswith(f"Cohere rerank failed ({kind})")
    assert fallback.calls == 1
    # No document lost or duplicated; the scores are the fallback's.
    assert sorted(item.index for item in result) == list(range(len(SCIENCE_DOCS)))
    keyword = fallback.score(QUERY, SCIENCE_DOCS)
    assert [e.score for e in result.trace.entries] == keyword


@pytest.mark.parametrize("mode", MODES)
def test_first_stage_fallback_keeps_input_order(fake: FakeCohere, mode: str) -> None:
    fake.reset(always="server_error")
    result = rerank(Reranker(make(fake), fallback="first_stage", top_k=4), mode, SCIENCE_DOCS)
    assert [item.index for item in result] == [0, 1, 2, 3]
    assert result.trace.notes["fallback"]["used"] == "first_stage"
    assert result.trace.notes["fallback"]["kind"] == "server_error"


def test_fallback_warning_is_logged_once_per_kind(
    fake: FakeCohere, caplog: pytest.LogCaptureFixture
) -> None:
    reranker = Reranker(make(fake), fallback="first_stage")
    caplog.set_level(logging.WARNING, logger="ragrerank")
    fake.reset(always="server_error")
    for _ in range(3):
        reranker.rerank(QUERY, SCIENCE_DOCS)
    fake.reset(always="unauthorized")
    for _ in range(2):
        reranker.rerank(QUERY, SCIENCE_DOCS)
    warnings = [r.getMessage() for r in caplog.records if r.name == "ragrerank.reranker"]
    assert len(warnings) == 2
    assert "server_error" in warnings[0] and "auth" in warnings[1]


@pytest.mark.parametrize("mode", MODES)
def test_without_fallback_the_error_propagates(fake: FakeCohere, mode: str) -> None:
    fake.reset(always="server_error")
    with pytest.raises(CohereError) as info:
        rerank(Reranker(make(fake)), mode, SCIENCE_DOCS)
    assert info.value.kind == "server_error" and info.value.attempts == 3


# -- the API key never leaks --------------------------------------------------------------------


def test_api_key_appears_in_no_message_repr_or_log(
    fake: FakeCohere, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scorer = make(fake, timeout=0.2, max_attempts=2)
    texts: list[str] = [repr(scorer), json.dumps(scorer.to_dict())]
    faults = [Fault(k, delay=1.0) for k in ("rate_limit", "server_error", "hang", "drop")]
    faults += [Fault(k) for k in ("bad_json", "partial", "duplicate_index", "non_numeric")]
    faults += [Fault("bad_request"), Fault("unauthorized", echo_auth=True)]
    for fault in faults:
        fake.reset(always=fault)
        for mode in MODES:
            with pytest.raises(CohereError) as info:
                score(scorer, mode, SCIENCE_DOCS)
            err = info.value
            texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
            result = Reranker(scorer, fallback="first_stage").rerank(QUERY, SCIENCE_DOCS)
            texts.append(result.trace.to_json())
    # The echoing server really put the key in its 401 body; the scorer redacted it.
    assert any("got Authorization: Bearer ***" in t for t in texts)
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    assert len(caplog.records) > 10
    leaks = [t for t in texts if KEY in t]
    assert not leaks, leaks[:1]


# -- clients, cost, concurrency -----------------------------------------------------------------


def test_sync_client_is_created_once_and_keeps_its_connection(fake: FakeCohere) -> None:
    scorer = make(fake)
    for _ in range(5):
        assert score(scorer, "sync", SCIENCE_DOCS).scores == expected(SCIENCE_DOCS)
    assert scorer._clients.sync() is scorer._clients.sync()
    assert len({r.client_port for r in fake.rerank_requests}) == 1  # one keep-alive socket
    scorer.close()
    assert score(scorer, "sync", SCIENCE_DOCS).scores == expected(SCIENCE_DOCS)
    assert len({r.client_port for r in fake.rerank_requests}) == 2


async def test_async_client_is_reused_within_a_loop_and_never_uses_threads(
    fake: FakeCohere, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_threads(monkeypatch)
    scorer = make(fake)
    for _ in range(5):
        out = await scorer.ascore_candidates(QUERY, [Candidate(d) for d in SCIENCE_DOCS])
        assert out.scores == expected(SCIENCE_DOCS)
    assert len({r.client_port for r in fake.rerank_requests}) == 1
    await scorer.aclose()


def test_one_scorer_serves_several_event_loops(fake: FakeCohere) -> None:
    scorer = make(fake)
    for _ in range(3):  # each asyncio.run is a new loop with its own async client
        assert score(scorer, "async", SCIENCE_DOCS).scores == expected(SCIENCE_DOCS)
    assert scorer.billed_search_units == 3.0


def test_billed_units_add_up_across_threads(fake: FakeCohere) -> None:
    scorer = make(fake, max_documents_per_request=3)
    docs = many_docs(7)  # 3 requests per call
    threads = [threading.Thread(target=score, args=(scorer, "sync", docs)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scorer.billed_search_units == 24.0
    assert len(fake.rerank_requests) == 24


async def test_32_concurrent_async_reranks_each_get_their_own_scores(fake: FakeCohere) -> None:
    # Some transient faults on the way; every call must still come back complete and right.
    fake.plan("ok", "server_error", "ok", "rate_limit", "drop", "ok", "unavailable")
    scorer = make(fake, max_documents_per_request=5, max_concurrency=2, max_attempts=4)
    reranker = Reranker(scorer, normalize=None)
    jobs = []
    for j in range(32):
        docs = [f"{SCIENCE_DOCS[(j + i) % 6]} #{j}.{i}" for i in range(1 + j % 13)]
        jobs.append((f"query {j} aspirin risk vitamin {j % 3}", docs))
    results = await asyncio.gather(*(reranker.arerank(q, d) for q, d in jobs))
    await scorer.aclose()
    units = 0.0
    for (query, docs), result in zip(jobs, results, strict=True):
        assert sorted(item.index for item in result) == list(range(len(docs)))
        assert [e.score for e in result.trace.entries] == expected(docs, query)
        assert [item.score for item in result] == sorted(expected(docs, query), reverse=True)
        assert "fallback" not in result.trace.notes
        units += result.trace.notes["cohere"]["billed_search_units"]
    assert docs_sent(fake) == Counter(d for _, docs in jobs for d in docs)
    assert units == scorer.billed_search_units == len(docs_sent_requests(fake))


def docs_sent_requests(fake: FakeCohere) -> list[Any]:
    return [r for r in fake.rerank_requests if r.status == 200]


# -- adapters, config, packaging ----------------------------------------------------------------


async def test_langchain_adapter_works_unchanged(fake: FakeCohere) -> None:
    from langchain_core.documents import Document

    from langchain_ragrerank import RagRerank

    docs = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(SCIENCE_DOCS)]
    scorer = make(fake)
    compressor = RagRerank(scorer, top_n=3)
    want = sorted(range(6), key=lambda i: -expected(SCIENCE_DOCS)[i])[:3]
    for out in (
        compressor.compress_documents(docs, QUERY),
        await compressor.acompress_documents(docs, QUERY),
    ):
        assert [d.metadata["n"] for d in out] == want
        assert [d.metadata["rerank_score"] for d in out] == [
            expected(SCIENCE_DOCS)[i] for i in want
        ]
    assert docs[0].metadata == {"n": 0}  # inputs untouched
    fake.reset(always="server_error")
    failing = RagRerank(Reranker(scorer, fallback="first_stage"), top_n=3)
    assert [d.metadata["n"] for d in failing.compress_documents(docs, QUERY)] == [0, 1, 2]
    assert [d.metadata["n"] for d in await failing.acompress_documents(docs, QUERY)] == [0, 1, 2]
    await scorer.aclose()


async def test_llama_index_adapter_works_unchanged(fake: FakeCohere) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.ragrerank import RagRerank

    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.5)
        for i, t in enumerate(SCIENCE_DOCS)
    ]
    scorer = make(fake)
    post = RagRerank(scorer, top_n=2, metadata_mode="none")
    want = [f"n{i}" for i in sorted(range(6), key=lambda i: -expected(SCIENCE_DOCS)[i])[:2]]
    sync_out = post.postprocess_nodes(nodes, query_str=QUERY)
    async_out = await post.apostprocess_nodes(nodes, query_str=QUERY)
    for out in (sync_out, async_out):
        assert [n.node.node_id for n in out] == want
        assert [n.node.metadata["retrieval_score"] for n in out] == [0.5, 0.5]
    await scorer.aclose()


def test_configuration_errors_are_clear(fake: FakeCohere, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no Cohere API key"):
        CohereScorer(base_url=fake.url)
    monkeypatch.setenv("CO_API_KEY", KEY)
    from_env = CohereScorer(base_url=fake.url)
    _OPEN.append(from_env)
    assert from_env.score(QUERY, SCIENCE_DOCS) == expected(SCIENCE_DOCS)
    for bad, match in [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": -1.0}, "timeout"),
        ({"max_documents_per_request": 2.5}, "max_documents_per_request"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"model": ""}, "model"),
    ]:
        with pytest.raises(ValueError, match=match):
            CohereScorer(**bad)


def test_to_dict_round_trip_has_no_key(fake: FakeCohere) -> None:
    scorer = make(fake, max_documents_per_request=10, max_concurrency=2)
    data = scorer.to_dict()
    assert KEY not in json.dumps(data)
    clone = CohereScorer.from_dict(data, api_key=KEY)
    _OPEN.append(clone)
    assert clone.to_dict() == data
    assert clone.score(QUERY, SCIENCE_DOCS) == expected(SCIENCE_DOCS)
    with pytest.raises(ValueError, match="not a CohereScorer config"):
        CohereScorer.from_dict({"type": "other"})


def test_import_ragrerank_does_not_need_cohere() -> None:
    code = (
        "import sys\n"
        "import ragrerank\n"
        "assert 'cohere' not in sys.modules, 'import ragrerank imported cohere'\n"
        "sys.modules['cohere'] = None\n"
        "try:\n"
        "    ragrerank.CohereScorer(api_key='k')\n"
        "except ragrerank.MissingDependencyError as e:\n"
        "    print('MISSING', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "MISSING" in out.stdout and "ragrerank[cohere]" in out.stdout
