"""RemoteRerankScorer against the local fake rerank server over real HTTP (loopback only),
every test once per protocol (tei, jina, voyage, cohere) and, where it matters, sync and
async: the fault table of tests/test_cohere.py, batching, usage, truncation notes, keys."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ragrerank import (
    Candidate,
    FusionScorer,
    RemoteRerankError,
    RemoteRerankScorer,
    Reranker,
    Scorer,
    ScorerError,
)
from ragrerank.evaluation.config import build_scorer, load_config
from ragrerank.scorers.remote import ERROR_KINDS, PROTOCOLS
from tests.cohere_server import APIS, FakeRerankServer, Fault
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

KEY = "sk-remote-91c4e2-DO-NOT-LEAK-77ab03"
KEY_ENVS = {"tei": "TEI_API_KEY", "jina": "JINA_API_KEY", "voyage": "VOYAGE_API_KEY"}
KEY_ENVS["cohere"] = "CO_API_KEY"

_OPEN: list[RemoteRerankScorer] = []


@pytest.fixture(params=sorted(APIS))
def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for env in KEY_ENVS.values():  # no key from the developer's shell
        monkeypatch.delenv(env, raising=False)
    with FakeRerankServer(api_key=KEY, api=request.param) as server:
        yield server
        while _OPEN:
            _OPEN.pop().close()


def model_for(api: str) -> str | None:
    return None if api == "tei" else "rerank-test"


def make(fake: FakeRerankServer, **options: Any) -> RemoteRerankScorer:
    """A scorer on the fake with tiny backoff delays (tests stay fast)."""
    kwargs: dict[str, Any] = {
        "api": fake.api,
        "model": model_for(fake.api),
        "api_key": KEY,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
        "timeout": 2.0,
        "max_attempts": 3,
    }
    kwargs.update(options)
    scorer = RemoteRerankScorer(fake.url, **kwargs)
    _OPEN.append(scorer)
    return scorer


def tokens(docs: Sequence[str]) -> float:
    """What the fake reports as total tokens for one request of ``docs``."""
    return float(sum(len(QUERY.split()) + len(d.split()) for d in docs))


# -- normal answers ---------------------------------------------------------------------------

BODIES: dict[str, dict[str, Any]] = {
    "tei": {"truncate": True, "truncation_direction": "Right", "raw_scores": False},
    "jina": {"model": "rerank-test", "top_n": 6, "return_documents": False},
    "voyage": {"model": "rerank-test", "top_k": 6},
    "cohere": {"model": "rerank-test", "top_n": 6},
}


@pytest.mark.parametrize("mode", MODES)
def test_normal_answer_scores_every_document_in_input_order(
    fake: FakeRerankServer, mode: str
) -> None:
    scorer = make(fake)
    out = score(scorer, mode, SCIENCE_DOCS)
    assert out.scores == expected(SCIENCE_DOCS)
    assert all(type(s) is float for s in out.scores)
    [request] = fake.rerank_requests
    assert request.authorization == f"Bearer {KEY}"
    docs = {APIS[fake.api].documents: SCIENCE_DOCS}
    assert request.body == {"query": QUERY, **docs, **BODIES[fake.api]}
    notes = out.notes["remote"]
    assert (notes["requests"], notes["attempts"], notes["retries"]) == (1, 1, 0)
    assert (notes["api"], notes["model"], notes["server_truncation"]) == (
        fake.api,
        model_for(fake.api),
        "possible",
    )
    usage = {"total_tokens": tokens(SCIENCE_DOCS)} if fake.api != "cohere" else {}
    if fake.api == "cohere":
        usage["search_units"] = 1.0
    assert notes["usage"] == usage == scorer.usage
    assert isinstance(scorer, Scorer)


@pytest.mark.parametrize("mode", MODES)
def test_reranker_orders_by_the_server_score(fake: FakeRerankServer, mode: str) -> None:
    result = rerank(Reranker(make(fake), top_k=3), mode, SCIENCE_DOCS)
    want = sorted(range(len(SCIENCE_DOCS)), key=lambda i: -expected(SCIENCE_DOCS)[i])[:3]
    assert [item.index for item in result] == want
    assert "fallback" not in result.trace.notes
    assert json.loads(result.trace.to_json())["notes"]["remote"]["api"] == fake.api


# -- batching and concurrency -----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_large_inputs_are_split_and_merged_back_in_order(fake: FakeRerankServer, mode: str) -> None:
    fake.max_documents = 4  # the server rejects bigger requests with 400
    docs = many_docs(25)
    scorer = make(fake, max_documents_per_request=4)
    out = score(scorer, mode, docs)
    assert out.scores == expected(docs)
    assert docs_sent(fake) == Counter(docs)  # each document sent exactly once
    field, top = APIS[fake.api].documents, APIS[fake.api].top
    assert sorted(len(r.body[field]) for r in fake.rerank_requests) == [1] + [4] * 6
    if top is not None:  # every document asked back
        assert all(r.body[top] == len(r.body[field]) for r in fake.rerank_requests)
    assert out.notes["remote"]["requests"] == 7
    if fake.api != "cohere":  # usage summed over the seven requests
        assert out.notes["remote"]["usage"]["total_tokens"] == tokens(docs)


@pytest.mark.parametrize("mode", MODES)
def test_batches_run_concurrently_within_the_limit(fake: FakeRerankServer, mode: str) -> None:
    fake.latency = 0.05
    docs = many_docs(12)
    out = score(make(fake, max_documents_per_request=2, max_concurrency=3), mode, docs)
    assert out.scores == expected(docs)
    assert 2 <= fake.max_in_flight <= 3


def test_default_batch_size_is_the_engines_limit(fake: FakeRerankServer) -> None:
    assert make(fake).max_documents_per_request == (32 if fake.api == "tei" else 1000)


# -- retried faults -----------------------------------------------------------------------------

RETRIED = {
    "429 without Retry-After": Fault("rate_limit"),
    "429 Retry-After: 0": Fault("rate_limit", retry_after="0"),
    "500": Fault("server_error"),
    "503 Retry-After: 0": Fault("unavailable", retry_after="0"),
    "dropped connection": Fault("drop"),
    "hang past the timeout": Fault("hang", delay=2.0),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", RETRIED.values(), ids=RETRIED.keys())
def test_transient_fault_is_retried_then_succeeds(
    fake: FakeRerankServer, mode: str, fault: Fault
) -> None:
    fake.plan(fault, fault)
    out = score(make(fake, timeout=0.2), mode, SCIENCE_DOCS)
    assert out.scores == expected(SCIENCE_DOCS)
    assert (out.notes["remote"]["attempts"], out.notes["remote"]["retries"]) == (3, 2)
    assert fake.received == 3
    assert docs_sent(fake) == Counter(SCIENCE_DOCS)


EXHAUSTED = {
    "500": (Fault("server_error"), "server_error", 500, "HTTP 500: internal server error"),
    "503": (Fault("unavailable", retry_after="0"), "server_error", 503, "HTTP 503"),
    "429": (Fault("rate_limit"), "rate_limited", 429, "HTTP 429"),
    "dropped connection": (Fault("drop"), "connection", None, "disconnected"),
    "hang past the timeout": (Fault("hang", delay=2.0), "timeout", None, "no response within"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", EXHAUSTED.values(), ids=EXHAUSTED.keys())
def test_persistent_fault_stops_after_max_attempts(
    fake: FakeRerankServer, mode: str, case: tuple[Fault, str, int | None, str]
) -> None:
    fault, kind, status, text = case
    fake.reset(always=fault)
    with pytest.raises(RemoteRerankError) as info:
        score(make(fake, timeout=0.1), mode, SCIENCE_DOCS)
    err = info.value
    assert (err.kind, err.attempts, err.status_code) == (kind, 3, status)
    assert text in str(err) and "gave up after max_attempts=3" in str(err)
    assert str(err).startswith(f"{PROTOCOLS[fake.api].service} rerank failed ({kind})")
    assert isinstance(err, ScorerError)
    assert fake.received == 3


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_is_honoured(fake: FakeRerankServer, mode: str) -> None:
    fake.plan(Fault("rate_limit", retry_after="0.25"))
    scorer = make(fake)
    start = time.monotonic()
    out = score(scorer, mode, SCIENCE_DOCS)
    elapsed = time.monotonic() - start
    assert out.scores == expected(SCIENCE_DOCS) and fake.received == 2
    assert 0.24 <= elapsed < 2.0  # the backoff alone would wait ~1 ms


@pytest.mark.parametrize("mode", MODES)
def test_total_timeout_bounds_the_whole_call(fake: FakeRerankServer, mode: str) -> None:
    fake.reset(always=Fault("hang", delay=5.0))
    scorer = make(fake, timeout=0.15, total_timeout=0.3, max_attempts=10)
    start = time.monotonic()
    with pytest.raises(RemoteRerankError) as info:
        score(scorer, mode, SCIENCE_DOCS)
    assert info.value.kind == "timeout"
    assert info.value.attempts is not None and 1 <= info.value.attempts <= 2
    assert time.monotonic() - start < 0.9


# -- errors that are not retried ----------------------------------------------------------------

NOT_RETRIED = {
    "401": ("unauthorized", "auth", 401, "HTTP 401: invalid api token"),
    "400": ("bad_request", "bad_request", 400, "HTTP 400: invalid request: scripted"),
    "bad JSON": ("bad_json", "malformed_response", 200, "not valid JSON"),
    "wrong JSON shape": ("wrong_shape", "malformed_response", 200, "[0] is not an object"),
    "partial top_n": ("partial", "malformed_response", 200, "no score for input indices"),
    "missing index": ("missing_index", "malformed_response", 200, "has no integer 'index'"),
    "duplicated index": ("duplicate_index", "malformed_response", 200, "appears more than once"),
    "index out of range": ("out_of_range", "malformed_response", 200, "index=6 is out of range"),
    "non-numeric score": ("non_numeric", "malformed_response", 200, "score='high'"),
    "non-finite score": ("non_finite", "malformed_response", 200, "score=inf"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
def test_non_transient_errors_fail_at_once_with_a_clear_error(
    fake: FakeRerankServer, mode: str, case: tuple[str, str, int, str]
) -> None:
    fault, kind, status, text = case
    fake.reset(always=fault)
    with pytest.raises(RemoteRerankError) as info:
        score(make(fake), mode, SCIENCE_DOCS)
    err = info.value
    assert (err.kind, err.attempts, err.status_code) == (kind, 1, status)
    assert kind in ERROR_KINDS
    assert text in str(err), str(err)
    assert "request 1/1: documents 0-5" in str(err)
    assert fake.received == 1


@pytest.mark.parametrize("mode", MODES)
def test_partial_answer_names_the_missing_input_indices_of_its_batch(
    fake: FakeRerankServer, mode: str
) -> None:
    fake.plan("ok", "partial")  # the second batch (documents 4-7) comes back half empty
    docs = many_docs(8)
    scorer = make(fake, max_documents_per_request=4, max_concurrency=1)
    with pytest.raises(RemoteRerankError, match=r"2 result\(s\) for 4 documents") as info:
        score(scorer, mode, docs)
    scores = expected(docs[4:])
    dropped = sorted(4 + i for i in sorted(range(4), key=lambda i: (-scores[i], i))[2:])
    assert f"no score for input indices {dropped[0]}, {dropped[1]}" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_wrong_key_is_an_auth_error(fake: FakeRerankServer, mode: str) -> None:
    with pytest.raises(RemoteRerankError) as info:
        score(make(fake, api_key="sk-wrong"), mode, SCIENCE_DOCS)
    assert info.value.kind == "auth" and fake.received == 1
    assert fake.rerank_requests[0].authorization == "Bearer sk-wrong"


# -- fail-open through the Reranker -------------------------------------------------------------

FAIL_OPEN = {
    "503 every time": (Fault("unavailable", retry_after="0"), "server_error", 3),
    "dropped every time": (Fault("drop"), "connection", 3),
    "non-finite score": (Fault("non_finite"), "malformed_response", 1),
    "401": (Fault("unauthorized"), "auth", 1),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", FAIL_OPEN.values(), ids=FAIL_OPEN.keys())
def test_failure_falls_back_to_a_local_scorer(
    fake: FakeRerankServer, mode: str, case: tuple[Fault, str, int]
) -> None:
    fault, kind, attempts = case
    fake.reset(always=fault)
    fallback = KeywordScorer()
    result = rerank(Reranker(make(fake), fallback=fallback), mode, SCIENCE_DOCS)
    note = result.trace.notes["fallback"]
    assert (note["used"], note["kind"], note["attempts"]) == ("KeywordScorer", kind, attempts)
    assert fallback.calls == 1
    assert sorted(item.index for item in result) == list(range(len(SCIENCE_DOCS)))
    assert [e.score for e in result.trace.entries] == fallback.score(QUERY, SCIENCE_DOCS)


# -- keys -------------------------------------------------------------------------------------


def test_api_key_appears_in_no_message_repr_trace_or_log(
    fake: FakeRerankServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scorer = make(fake, timeout=0.1, max_attempts=2)
    texts: list[str] = [repr(scorer), scorer.name, json.dumps(scorer.to_dict())]
    faults = [Fault(k, delay=0.5) for k in ("rate_limit", "server_error", "hang", "drop")]
    faults += [Fault(k) for k in ("bad_json", "partial", "duplicate_index", "non_finite")]
    faults += [Fault("bad_request"), Fault("unauthorized", echo_auth=True)]
    for fault in faults:
        fake.reset(always=fault)
        for mode in MODES:
            with pytest.raises(RemoteRerankError) as info:
                score(scorer, mode, SCIENCE_DOCS)
            err = info.value
            texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
        result = Reranker(scorer, fallback="first_stage").rerank(QUERY, SCIENCE_DOCS)
        texts.append(result.trace.to_json())
    fake.reset()  # and a success, on a scorer with a timeout that a busy machine meets
    texts.append(Reranker(make(fake)).rerank(QUERY, SCIENCE_DOCS).trace.to_json())
    # The echoing server really put the key in its 401 body; the scorer redacted it.
    assert any("got Authorization: Bearer ***" in t for t in texts)
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    assert len(caplog.records) > 10
    leaks = [t for t in texts if KEY in t]
    assert not leaks, leaks[:1]


@pytest.mark.parametrize("mode", MODES)
def test_keyless_server_works_and_gets_no_authorization_header(
    fake: FakeRerankServer, mode: str
) -> None:
    fake.api_key = None  # a local TEI / vLLM started without --api-key
    scorer = make(fake, api_key=None)
    assert score(scorer, mode, SCIENCE_DOCS).scores == expected(SCIENCE_DOCS)
    assert [r.authorization for r in fake.rerank_requests] == [None]
    assert repr(scorer._key) == "ApiKey(None)"


def test_key_comes_from_the_engines_environment_variable(
    fake: FakeRerankServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENVS[fake.api], KEY)
    assert make(fake, api_key=None).score(QUERY, SCIENCE_DOCS) == expected(SCIENCE_DOCS)
    assert fake.rerank_requests[0].authorization == f"Bearer {KEY}"


# -- truncation, options, config --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_server_side_truncation_is_reported(fake: FakeRerankServer, mode: str) -> None:
    fake.max_words = 4  # the "model" takes 4 words; longer texts are cut or rejected
    truncatable = fake.api in ("tei", "voyage")
    if truncatable:
        with pytest.raises(RemoteRerankError) as info:  # asked not to cut: the server says 413
            score(make(fake, truncate=False), mode, SCIENCE_DOCS)
        assert (info.value.kind, info.value.status_code) == ("bad_request", 413)
        assert "must have less than 4 tokens" in str(info.value)
    out = score(make(fake), mode, SCIENCE_DOCS)
    cut = [" ".join(d.split()[:4]) for d in SCIENCE_DOCS]
    assert out.scores == expected(cut) != expected(SCIENCE_DOCS)  # scored on the cut texts
    assert out.notes["remote"]["server_truncation"] == "possible"
    assert not out.truncated  # the server does not say which; the notes say it may have


def test_truncation_off_is_reported_as_off(fake: FakeRerankServer) -> None:
    if fake.api not in ("tei", "voyage"):
        pytest.skip(f"api={fake.api!r} has no truncation switch")
    out = make(fake, truncate=False).score_candidates(QUERY, [Candidate(d) for d in SCIENCE_DOCS])
    assert out.notes["remote"]["server_truncation"] == "off"
    sent = fake.rerank_requests[0].body
    assert sent["truncate" if fake.api == "tei" else "truncation"] is False


def test_configuration_errors_are_clear(fake: FakeRerankServer) -> None:
    url = fake.url
    bad: list[tuple[dict[str, Any], str]] = [
        ({"api": "openai"}, "api must be one of"),
        ({"api": "tei", "model": "BAAI/bge-reranker-base"}, "takes no model"),
        ({"api": "jina", "truncate": True}, "does not take truncate"),
        ({"api": "cohere", "raw_scores": True}, "does not take raw_scores"),
        ({"api": "voyage", "max_tokens_per_doc": 10}, "does not take max_tokens_per_doc"),
        ({"api": "tei", "truncation_direction": "middle"}, "truncation_direction"),
        ({"api": "cohere", "max_tokens_per_doc": 0}, "max_tokens_per_doc"),
        ({"api": "jina", "path": "v1/rerank"}, "path must start"),
        ({"api": "jina", "max_concurrency": 0}, "max_concurrency"),
        ({"api": "tei", "max_documents_per_request": 0}, "max_documents_per_request"),
        ({"api": "jina", "model": ""}, "model"),
    ]
    for options, match in bad:
        with pytest.raises(ValueError, match=match):
            RemoteRerankScorer(url, **options)
    with pytest.raises(ValueError, match="base_url"):
        RemoteRerankScorer("localhost:8080", api=fake.api)


def test_to_dict_round_trip_has_no_key(fake: FakeRerankServer) -> None:
    extra = {"tei": {"raw_scores": False, "truncation_direction": "left"}}
    extra |= {"voyage": {"truncate": True}, "cohere": {"max_tokens_per_doc": 512}}
    scorer = make(fake, max_documents_per_request=10, **extra.get(fake.api, {}))
    data = scorer.to_dict()
    assert KEY not in json.dumps(data)
    clone = RemoteRerankScorer.from_dict(data, api_key=KEY)
    _OPEN.append(clone)
    assert clone.to_dict() == data
    assert clone.score(QUERY, SCIENCE_DOCS) == expected(SCIENCE_DOCS)
    if fake.api == "tei":
        assert fake.rerank_requests[0].body["truncation_direction"] == "Left"
    with pytest.raises(ValueError, match="not a RemoteRerankScorer config"):
        RemoteRerankScorer.from_dict({"type": "ragrerank.CohereScorer"})


def test_config_backend_remote_takes_the_base_url_as_model(
    fake: FakeRerankServer, tmp_path: Path
) -> None:
    model = model_for(fake.api)
    options = f'api = "{fake.api}", api_key = "{KEY}"' + (f', model = "{model}"' if model else "")
    path = tmp_path / "rerankers.toml"
    path.write_text(
        f'[[reranker]]\nname = "r"\nbackend = "remote"\nmodel = "{fake.url}"\n'
        f"optional = true\noptions = {{ {options} }}\n"
    )
    [spec] = load_config(path)
    assert spec.model == fake.url
    scorer = build_scorer(spec)
    assert isinstance(scorer, RemoteRerankScorer)
    _OPEN.append(scorer)
    assert scorer.score(QUERY, SCIENCE_DOCS) == expected(SCIENCE_DOCS)


# -- clients and composition ------------------------------------------------------------------


def test_with_and_async_with_close_the_clients(fake: FakeRerankServer) -> None:
    with make(fake) as scorer:
        scorer.score(QUERY, SCIENCE_DOCS)
        assert scorer._clients._sync is not None
    assert scorer._clients._sync is None

    async def main() -> None:
        async with make(fake) as scorer:
            await scorer.ascore(QUERY, SCIENCE_DOCS)
            assert len(scorer._clients._async) == 1
        assert len(scorer._clients._async) == 0

    asyncio.run(main())


async def test_async_path_uses_no_threads_and_one_connection(
    fake: FakeRerankServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_threads(monkeypatch)
    scorer = make(fake)
    for _ in range(3):
        out = await scorer.ascore_candidates(QUERY, [Candidate(d) for d in SCIENCE_DOCS])
        assert out.scores == expected(SCIENCE_DOCS)
    assert len({r.client_port for r in fake.rerank_requests}) == 1
    await scorer.aclose()


def test_works_inside_a_fusion(fake: FakeRerankServer) -> None:
    fusion = FusionScorer([make(fake), KeywordScorer()])
    out = fusion.score_candidates(QUERY, [Candidate(d) for d in SCIENCE_DOCS])
    assert len(out.scores) == len(SCIENCE_DOCS) and all(math.isfinite(s) for s in out.scores)
    assert len(fake.rerank_requests) == 1
