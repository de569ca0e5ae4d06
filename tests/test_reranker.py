"""Contract tests for `Reranker` with deterministic scorers (no model needed)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrerank import (
    BaseScorer,
    Candidate,
    InvalidScoresError,
    Reranker,
    ScoreOutput,
    Scorer,
    ScorerError,
)
from tests.conftest import SCIENCE_DOCS, KeywordScorer


class FixedScorer(BaseScorer):
    def __init__(self, scores: Sequence[object]) -> None:
        self.scores = list(scores)
        self.calls = 0

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls += 1
        return ScoreOutput(
            self.scores[: len(candidates)] if len(self.scores) >= len(candidates) else self.scores
        )  # type: ignore[arg-type]


class PlainScorer:
    """Implements only the minimal protocol (no candidates, no ScoreOutput)."""

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        return [float(len(d)) for d in documents]

    async def ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        return self.score(query, documents)


class FailingScorer(BaseScorer):
    def __init__(self, kind: str = "rate_limited") -> None:
        self.kind = kind

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        raise ScorerError("service said 429", kind=self.kind, attempts=3)


def test_orders_by_raw_score_and_keeps_plain_floats() -> None:
    result = Reranker(FixedScorer([0.1, 3.0, -2.0, 1.5]), normalize=None).rerank(
        "q", ["a", "b", "c", "d"]
    )
    assert [i.index for i in result] == [1, 3, 0, 2]
    assert [i.rank for i in result] == [1, 2, 3, 4]
    assert all(type(i.score) is float and type(i.normalized_score) is float for i in result)


def test_numpy_scores_become_plain_float() -> None:
    np = pytest.importorskip("numpy")
    result = Reranker(FixedScorer(np.array([0.5, 0.25], dtype=np.float32))).rerank("q", ["a", "b"])
    assert all(type(i.score) is float for i in result)
    assert all(type(e.score) is float for e in result.trace.entries)


def test_ties_keep_input_order_and_zero_is_a_score() -> None:
    result = Reranker(FixedScorer([0.0, -1.0, 0.0, 0.0]), normalize=None).rerank("q", list("abcd"))
    assert [i.index for i in result] == [0, 2, 3, 1]
    assert result[0].score == 0.0


def test_top_k_is_rank_based_and_threshold_applies_after() -> None:
    scorer = FixedScorer([1.0, 4.0, 3.0, 2.0])
    r = Reranker(scorer, top_k=2, normalize="minmax")
    assert [i.index for i in r.rerank("q", list("abcd"))] == [1, 2]
    r = Reranker(scorer, top_k=3, normalize="minmax", score_threshold=0.6)
    kept = r.rerank("q", list("abcd"))
    assert [i.index for i in kept] == [1, 2]  # 0.666 kept, 0.333 dropped
    assert r.rerank("q", list("abcd"), top_k=0).items == ()
    assert [i.index for i in r.rerank("q", list("abcd"), top_k=None)] == [1, 2]


def test_softmax_over_all_candidates_so_kept_sum_at_most_one() -> None:
    result = Reranker(FixedScorer([2.0, 1.0, 0.5, 0.1]), top_k=2).rerank("q", list("abcd"))
    kept = sum(i.normalized_score for i in result)
    total = sum(e.normalized_score for e in result.trace.entries)
    assert kept < 1.0
    assert total == pytest.approx(1.0)


def test_empty_documents_do_not_call_the_model() -> None:
    scorer = FixedScorer([])
    result = Reranker(scorer).rerank("q", [])
    assert result.items == () and result.trace.entries == () and scorer.calls == 0


@pytest.mark.parametrize(
    ("query", "docs", "match"),
    [
        (None, ["a"], "query must be a str"),
        (123, ["a"], "query must be a str"),
        ("   ", ["a"], "query must not be empty"),
        ("q", ["a", None], "document 1"),
        ("q", ["a", "b", 7], "document 2"),
        ("q", ["a", Candidate(text=None)], "document 1: text must be a str"),  # type: ignore[arg-type]
        ("q", ["a", Candidate(text="b", score=float("nan"))], "document 1: first-stage score"),
        ("q", "not a list", "documents must be a sequence"),
    ],
)
def test_bad_input_names_the_problem(query: object, docs: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Reranker(KeywordScorer()).rerank(query, docs)  # type: ignore[arg-type]


BROKEN = json.loads('"broken \\ud800 text"')  # a lone surrogate, as JSON allows


def test_lone_surrogate_in_text_is_a_value_error_naming_the_index() -> None:
    reranker = Reranker(KeywordScorer())
    surrogate = r"contains a lone surrogate U\+D800 at position 7"
    with pytest.raises(ValueError, match=rf"document 2: text {surrogate}"):
        reranker.rerank("q", ["a", "b", BROKEN])
    with pytest.raises(ValueError, match=rf"document 1: text {surrogate}"):
        reranker.rerank("q", ["a", Candidate(text=BROKEN, id="x")])
    with pytest.raises(ValueError, match=rf"query {surrogate}"):
        reranker.rerank(BROKEN, ["a"])
    with pytest.raises(ValueError, match=rf"document 0: text {surrogate}"):
        KeywordScorer().score("q", [BROKEN])


def test_scorer_returning_wrong_count_or_nan_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 1 scores for 2 documents"):
        Reranker(FixedScorer([1.0])).rerank("q", ["a", "b"])
    with pytest.raises(ValueError, match="NaN at index 1"):
        Reranker(FixedScorer([1.0, float("nan")])).rerank("q", ["a", "b"])


@pytest.mark.parametrize("bad", [-math.inf, math.inf, math.nan])
def test_non_finite_scorer_scores_raise_naming_index_and_value(bad: float) -> None:
    reranker = Reranker(FixedScorer([-0.1, bad, -2.0]), normalize="minmax", score_threshold=0.0)
    with pytest.raises(InvalidScoresError, match=rf"at index 1: {bad!r}") as info:
        reranker.rerank("q", ["a", "b", "c"])
    assert isinstance(info.value, ValueError) and info.value.kind == "invalid_scores"


async def test_non_finite_scorer_scores_take_the_fallback() -> None:
    # A log-probability scorer underflowing to -inf used to turn minmax into NaN for every
    # document, and score_threshold=0.0 then silently dropped the best one.
    for fallback in ("first_stage", KeywordScorer()):
        reranker = Reranker(
            FixedScorer([-0.1, -math.inf, -2.0]),
            normalize="minmax",
            score_threshold=0.0,
            fallback=fallback,  # type: ignore[arg-type]
        )
        for result in (
            reranker.rerank("b", ["a", "b", "c"]),
            await reranker.arerank("b", ["a", "b", "c"]),
        ):
            assert sorted(i.index for i in result) == [0, 1, 2]
            assert result.trace.notes["fallback"]["kind"] == "invalid_scores"
            assert "index 1: -inf" in result.trace.notes["fallback"]["reason"]
            assert all(math.isfinite(e.normalized_score) for e in result.trace.entries)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="top_k"):
        Reranker(KeywordScorer(), top_k=-1)
    with pytest.raises(ValueError, match="top_k"):
        Reranker(KeywordScorer(), top_k=True)
    with pytest.raises(ValueError, match="normalize"):
        Reranker(KeywordScorer(), normalize="tanh")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Scorer"):
        Reranker(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ready Reranker"):
        Reranker.of(Reranker(KeywordScorer()), top_k=3)


def test_plain_protocol_scorer_works() -> None:
    scorer = PlainScorer()
    assert isinstance(scorer, Scorer)
    assert [i.index for i in Reranker(scorer).rerank("q", ["aa", "a", "aaa"])] == [2, 0, 1]


def test_trace_records_every_candidate_and_serializes() -> None:
    docs = [
        Candidate(text="aspirin heart", id="d1", metadata={"src": "x"}, score=0.9),
        Candidate(text="eiffel tower", id="d2", score=0.8),
        Candidate(text="aspirin aspirin heart", id="d3", score=0.1),
    ]
    result = Reranker(KeywordScorer(), top_k=1).rerank("aspirin heart", docs)
    trace = result.trace
    assert [e.id for e in trace.entries] == ["d1", "d2", "d3"]
    assert [e.first_stage_rank for e in trace.entries] == [1, 2, 3]
    assert [e.first_stage_score for e in trace.entries] == [0.9, 0.8, 0.1]
    assert [e.final_position for e in trace.entries] == [2, 3, 1]
    assert [e.kept for e in trace.entries] == [False, False, True]
    data = json.loads(trace.to_json())
    assert data["entries"][2]["score"] == 3.0 and data["top_k"] == 1
    assert result[0].id == "d3" and result[0].first_stage_rank == 3


def _no_constants(name: str) -> object:
    raise AssertionError(f"not strict JSON: {name}")


def test_numpy_and_other_real_first_stage_scores_are_stored_as_plain_floats() -> None:
    np = pytest.importorskip("numpy")
    values = [np.float32(1.5), np.float16(0.5), np.int64(2), np.uint8(3), 4, 0.25]
    docs = [Candidate(text=f"t{i}", id=i, score=v) for i, v in enumerate(values)]
    assert [type(d.score) for d in docs] == [float] * len(values)
    assert [d.score for d in docs] == [1.5, 0.5, 2.0, 3.0, 4.0, 0.25]
    result = Reranker(KeywordScorer()).rerank("t", docs)
    assert all(type(e.first_stage_score) is float for e in result.trace.entries)
    assert all(type(i.first_stage_score) is float for i in result)
    data = json.loads(result.trace.to_json(), parse_constant=_no_constants)
    assert [e["first_stage_score"] for e in data["entries"]] == [1.5, 0.5, 2.0, 3.0, 4.0, 0.25]


@pytest.mark.parametrize(
    "bad", [True, "0.5", math.inf, -math.inf, math.nan, pytest.param(10**400, id="huge-int")]
)
def test_bad_first_stage_score_is_refused_naming_index_and_id(bad: object) -> None:
    docs = [Candidate(text="a", id="d1", score=0.5), Candidate(text="b", id="d2", score=bad)]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"document 1 \(id='d2'\): first-stage score must be a"):
        Reranker(KeywordScorer()).rerank("q", docs)


def test_numpy_bool_first_stage_score_is_refused() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(ValueError, match=r"document 0: first-stage score"):
        Reranker(KeywordScorer()).rerank("q", [Candidate(text="a", score=np.bool_(True))])  # type: ignore[arg-type]


def test_trace_json_is_always_strict() -> None:
    docs = [Candidate(text="a b", id="x", score=-1e308), Candidate(text="b", score=0.0)]
    result = Reranker(KeywordScorer(), normalize="minmax").rerank("b", docs)
    for s in (result.trace.to_json(), result.trace.to_json(allow_nan=True, indent=1)):
        assert json.loads(s, parse_constant=_no_constants)["entries"][0]["id"] == "x"
    broken = dataclasses.replace(result.trace, score_threshold=math.inf)
    with pytest.raises(ValueError, match="Out of range float"):
        broken.to_json(allow_nan=True)


def test_numeric_options_accept_numpy_and_keep_zero() -> None:
    np = pytest.importorskip("numpy")
    r = Reranker(
        FixedScorer([0.5, -0.5, 2.0]),
        top_k=np.int64(2),
        normalize=None,
        temperature=np.float32(2.0),
        score_threshold=np.float32(0.0),
    )
    assert type(r.top_k) is int and type(r.temperature) is float
    assert type(r.score_threshold) is float
    assert [i.index for i in r.rerank("q", list("abc"))] == [2, 0]
    assert [i.index for i in r.rerank("q", list("abc"), top_k=np.int32(1))] == [2]
    # 0.0 is a threshold, not "no threshold": the negative score is dropped
    kept = Reranker(FixedScorer([0.5, -0.5]), normalize=None, score_threshold=0.0)
    assert [i.index for i in kept.rerank("q", list("ab"))] == [0]
    assert kept.rerank("q", list("ab")).trace.score_threshold == 0.0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("score_threshold", math.nan),
        ("score_threshold", math.inf),
        ("score_threshold", -math.inf),
        ("score_threshold", True),
        ("score_threshold", "0.5"),
        ("temperature", math.nan),
        ("temperature", math.inf),
        ("temperature", 0.0),
        ("temperature", True),
        ("temperature", "1"),
        ("top_k", 2.0),
    ],
)
def test_bad_numeric_options_are_refused_at_construction(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        Reranker(KeywordScorer(), **{option: value})  # type: ignore[arg-type]


def test_fallback_first_stage_keeps_order_and_is_traced(caplog: pytest.LogCaptureFixture) -> None:
    reranker = Reranker(FailingScorer(), top_k=2, fallback="first_stage")
    with caplog.at_level(logging.WARNING, logger="ragrerank"):
        first = reranker.rerank("q", list("abc"))
        reranker.rerank("q", list("abc"))
    assert [i.index for i in first] == [0, 1]
    fb = first.trace.notes["fallback"]
    assert fb["used"] == "first_stage" and fb["kind"] == "rate_limited" and fb["attempts"] == 3
    (record,) = [r for r in caplog.records if "fallback" in r.getMessage()]
    assert "using fallback first_stage order." in record.getMessage()


async def test_fallback_scorer_async_and_no_fallback_propagates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reranker = Reranker(FailingScorer(), fallback=KeywordScorer())
    with caplog.at_level(logging.WARNING, logger="ragrerank"):
        result = await reranker.arerank("heart", ["x", "heart attack", "y"])
    assert "using fallback KeywordScorer." in caplog.text
    assert result[0].index == 1
    assert result.trace.notes["fallback"]["used"] == "KeywordScorer"
    with pytest.raises(ScorerError):
        await Reranker(FailingScorer()).arerank("q", ["a"])


class SlowScorer(BaseScorer):
    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        time.sleep(0.3)  # stands in for CPU-bound model work
        return ScoreOutput([1.0] * len(candidates))


async def _with_ticker(work: Any) -> tuple[Any, int]:
    """Await ``work`` beside a coroutine that ticks 20 times: (its result, the ticks seen
    when it ended), 20 only if the event loop kept running while it worked."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1

    async def timed() -> Any:
        out = await work
        return out, ticks

    (result, seen), _ = await asyncio.gather(timed(), ticker())
    return result, seen


async def test_async_does_not_block_event_loop() -> None:
    _, ticks = await _with_ticker(Reranker(SlowScorer()).arerank("q", ["a"]))
    assert ticks == 20  # the ticker ran while the scorer worked


def test_thread_safe_fallback_warning_state() -> None:
    reranker = Reranker(FailingScorer(), fallback="first_stage")
    threads = [threading.Thread(target=reranker.rerank, args=("q", ["a", "b"])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reranker._warned == {"rate_limited"}


# -- properties: no document is ever lost, duplicated or altered ---------------------------

texts = st.text(min_size=0, max_size=30)
metadata = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
candidates = st.builds(Candidate, text=texts, id=st.text(max_size=4) | st.none(), metadata=metadata)
scores_st = st.floats(min_value=-50, max_value=50, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    docs=st.lists(texts | candidates, max_size=25),
    data=st.data(),
    top_k=st.none() | st.integers(min_value=0, max_value=30),
    normalize=st.sampled_from(["softmax", "sigmoid", "minmax", None]),
    threshold=st.none() | st.floats(min_value=0, max_value=1),
)
def test_output_is_an_intact_subset(
    docs: list[str | Candidate],
    data: st.DataObject,
    top_k: int | None,
    normalize: str | None,
    threshold: float | None,
) -> None:
    scores = data.draw(st.lists(scores_st, min_size=len(docs), max_size=len(docs)))
    check_rerank_contract(FixedScorer(scores), docs, scores, top_k, normalize, threshold)


def check_rerank_contract(
    scorer: Scorer,
    docs: Sequence[str | Candidate],
    scores: Sequence[float],
    top_k: int | None,
    normalize: str | None,
    threshold: float | None,
    **options: Any,
) -> None:
    """Rerank ``docs`` with ``scorer`` (whose scores are ``scores``) and check the contract's
    properties of the output (shared with the scorer tests); ``options`` go to `Reranker`."""
    before = copy.deepcopy(docs)
    reranker = Reranker(
        scorer,
        top_k=top_k,
        normalize=normalize,  # type: ignore[arg-type]
        score_threshold=threshold,
        **options,
    )
    result = reranker.rerank("query", docs)
    assert docs == before  # inputs untouched
    indices = [i.index for i in result]
    assert len(set(indices)) == len(indices)  # no duplicates
    for item in result:
        assert item.document is docs[item.index]  # the caller's object, intact
        assert item.score == scores[item.index]
    assert [i.score for i in result] == sorted((i.score for i in result), reverse=True)
    if top_k is not None:
        assert len(result) <= top_k
    if threshold is None:
        assert len(result) == (len(docs) if top_k is None else min(top_k, len(docs)))
    assert len(result.trace.entries) == len(docs)
    assert sorted(e.final_position for e in result.trace.entries) == list(range(1, len(docs) + 1))
    assert all(not math.isnan(e.normalized_score) for e in result.trace.entries)


def test_science_docs_keyword_ranking() -> None:
    result = Reranker(KeywordScorer(), top_k=2).rerank("aspirin heart attack", SCIENCE_DOCS)
    assert result[0].text.startswith("Aspirin reduces")


# -- the feedback hook ---------------------------------------------------------------------


class RaisingSink:
    def __init__(self) -> None:
        self.calls = 0

    def log_impression(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        raise OSError("database is locked")


def _same_result(a: Any, b: Any) -> None:
    """Items, scores and trace identical (the wall time aside)."""
    assert a.items == b.items and a.query == b.query
    assert dataclasses.replace(a.trace, elapsed_ms=0.0) == dataclasses.replace(
        b.trace, elapsed_ms=0.0
    )


def test_feedback_logs_the_result_without_changing_it(tmp_path: Any) -> None:
    from ragrerank import Document, FeedbackLog
    from ragrerank.scorer import fingerprint
    from ragrerank.types import text_id

    docs: list[Document] = [
        Candidate("aspirin heart", id=7),
        "no match here",
        Candidate("heart attack", id="x"),
    ]
    scorer = KeywordScorer()
    plain = Reranker(scorer, top_k=2).rerank("aspirin heart", docs)
    with FeedbackLog(tmp_path / "f.db", queries="text") as log:
        reranker = Reranker(scorer, top_k=2, feedback=log)
        logged = reranker.rerank("aspirin heart", docs, session="s1", query_id="q1")
        _same_result(plain, logged)
        assert plain.impression_id is None and logged.impression_id is not None
        (imp,) = log.impressions()
    assert imp.impression_id == logged.impression_id
    assert imp.doc_ids == ("7", text_id("no match here"), "x")  # a str by its text's id
    assert imp.positions == (1, 0, 2)  # top_k=2: the middle one was not shown
    assert imp.scorer == fingerprint(scorer)
    assert (imp.session, imp.query_id, imp.query) == ("s1", "q1", "aspirin heart")
    assert reranker.feedback_failures == 0


def test_feedback_logs_the_fallback_that_scored_it(tmp_path: Any) -> None:
    from ragrerank import FeedbackLog
    from ragrerank.scorer import fingerprint

    backup = KeywordScorer()
    with FeedbackLog(tmp_path / "f.db") as log:
        Reranker(FailingScorer(), fallback=backup, feedback=log).rerank("q", ["a", "b"])
        Reranker(FailingScorer(), fallback="first_stage", feedback=log).rerank("q", ["a"])
        assert [i.scorer for i in log.impressions()] == [fingerprint(backup), "first_stage"]


def test_a_failing_log_never_fails_a_rerank(caplog: pytest.LogCaptureFixture) -> None:
    sink = RaisingSink()
    reranker = Reranker(KeywordScorer(), top_k=1, feedback=sink)
    plain = Reranker(KeywordScorer(), top_k=1).rerank("heart", ["x", "heart"])
    with caplog.at_level(logging.WARNING, logger="ragrerank"):
        results = [reranker.rerank("heart", ["x", "heart"]) for _ in range(3)]
    for result in results:
        _same_result(plain, result)
        assert result.impression_id is None
    assert sink.calls == 3 and reranker.feedback_failures == 3
    (warning,) = [r for r in caplog.records if "feedback log" in r.getMessage()]
    assert "RaisingSink failed (OSError: database is locked)" in warning.getMessage()


def test_failures_are_counted_across_threads() -> None:
    reranker = Reranker(KeywordScorer(), feedback=RaisingSink())
    threads = [threading.Thread(target=reranker.rerank, args=("q", ["a", "q"])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reranker.feedback_failures == 8


def test_empty_candidates_are_not_logged_and_a_bad_sink_is_refused() -> None:
    sink = RaisingSink()
    result = Reranker(KeywordScorer(), feedback=sink).rerank("q", [])
    assert sink.calls == 0 and result.impression_id is None
    with pytest.raises(TypeError, match="FeedbackSink"):
        Reranker(KeywordScorer(), feedback=object())  # type: ignore[arg-type]


class SleepySink:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def log_impression(self, *args: Any, **kwargs: Any) -> str:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.3)  # a slow database
        return "imp-1"


async def test_async_logging_does_not_block_the_event_loop() -> None:
    sink = SleepySink()
    reranker = Reranker(KeywordScorer(), feedback=sink)
    result, ticks = await _with_ticker(reranker.arerank("q", ["a", "q"], session="s"))
    assert ticks == 20  # the ticker ran while the sink slept
    assert result.impression_id == "imp-1"
    assert sink.threads and sink.threads[0] != threading.main_thread().name
    failing = await Reranker(KeywordScorer(), feedback=RaisingSink()).arerank("q", ["a"])
    assert failing.impression_id is None
