"""MetadataBoostScorer: numeric and recency boosts, linear and RRF, missing policies."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ragrerank import (
    Candidate,
    FusionScorer,
    MetadataBoostScorer,
    Reranker,
    ScoreOutput,
)
from ragrerank.evaluation.config import build_scorer, load_config
from ragrerank.scorer import fingerprint
from tests.conftest import KeywordScorer
from tests.test_fusion import FixedScorer as NotedScorer
from tests.test_reranker import FixedScorer, check_rerank_contract

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 1, tzinfo=UTC)


def cands(field: str, values: Sequence[object]) -> list[Candidate]:
    """One candidate per value (``...`` leaves the field out)."""
    return [
        Candidate(f"doc {i}", id=f"d{i}", metadata={} if v is ... else {field: v, "other": i})
        for i, v in enumerate(values)
    ]


def minmax(xs: Sequence[float]) -> list[float]:
    lo, hi = min(xs), max(xs)
    return [1.0 if hi == lo else (x - lo) / (hi - lo) for x in xs]


def details(out: ScoreOutput, key: str, which: int = -1) -> list[Any]:
    return [out.details[i]["boosts"][which][key] for i in range(len(out.scores))]


def test_linear_numeric_boost_arithmetic() -> None:
    scores = [2.0, 0.0, 1.0, 4.0]
    docs = cands("votes", [10, 30, ..., 20])
    inner = NotedScorer(scores, truncated=frozenset({0}), notes={"cache_hits": 1})
    out = MetadataBoostScorer(inner, field="votes", weight=0.25).score_candidates("q", docs)
    s = minmax(scores)  # 0.5, 0, 0.25, 1
    b = [0.0, 1.0, 0.5, 0.5]  # 10, 30, missing (neutral), 20 over the range 10..30
    assert out.scores == pytest.approx(
        [0.75 * si + 0.25 * bi for si, bi in zip(s, b, strict=True)], abs=1e-15
    )
    assert all(type(x) is float for x in out.scores)
    assert details(out, "raw") == [10, 30, None, 20]
    assert details(out, "boost") == pytest.approx(b)
    assert details(out, "contribution") == pytest.approx([0.25 * x for x in b])
    assert details(out, "scorer_part") == pytest.approx([0.75 * x for x in s])
    assert details(out, "missing") == [None, None, "keep", None]
    assert out.truncated == frozenset({0})  # the wrapped scorer's facts are kept
    assert out.notes["cache_hits"] == 1
    assert out.notes["metadata_boosts"] == [
        {
            "field": "votes",
            "weight": 0.25,
            "mode": "linear",
            "missing": "keep",
            "normalize": "minmax",
        }
    ]


def test_recency_decay_and_date_parsing() -> None:
    values = [
        "2026-02-19",  # 10 days: one half-life
        "2026-02-24T00:00:00Z",  # 5 days
        "2026-02-28T12:00:00+12:00",  # 2026-02-28T00:00Z: 1 day
        dt.date(2026, 1, 30),  # 30 days
        dt.datetime(2026, 2, 27),  # naive: UTC, 2 days
        "2026-04-01",  # in the future: as recent as now
        dt.datetime(2026, 3, 1, tzinfo=UTC),  # now
    ]
    docs = cands("published", values)
    scorer = MetadataBoostScorer(
        FixedScorer([0.0] * 7), field="published", weight=1.0, half_life=10, now="2026-03-01"
    )
    out = scorer.score_candidates("q", docs)
    expected = [0.5, 0.5**0.5, 0.5**0.1, 0.125, 0.5**0.2, 1.0, 1.0]
    assert details(out, "boost") == pytest.approx(expected, rel=1e-12)
    assert out.scores == pytest.approx(expected, rel=1e-12)  # weight 1: the boost alone
    assert details(out, "raw")[3:5] == ["2026-01-30", "2026-02-27T00:00:00"]
    assert out.notes["metadata_boosts"][0]["now"] == "2026-03-01T00:00:00+00:00"
    assert out.notes["metadata_boosts"][0]["half_life_days"] == 10.0
    as_timedelta = MetadataBoostScorer(
        FixedScorer([0.0] * 7), field="published", weight=1.0, half_life=dt.timedelta(hours=240),
        now=dt.datetime(2026, 3, 1),  # naive now: UTC as well
    ).score_candidates("q", docs)  # fmt: skip
    assert as_timedelta.scores == out.scores


def test_now_defaults_to_the_call_time_and_is_recorded() -> None:
    docs = cands("published", [dt.datetime.now(UTC) - dt.timedelta(days=7)])
    before = dt.datetime.now(UTC)
    out = MetadataBoostScorer(
        FixedScorer([1.0]), field="published", weight=0.5, half_life=7
    ).score_candidates("q", docs)
    after = dt.datetime.now(UTC)
    used = dt.datetime.fromisoformat(out.notes["metadata_boosts"][0]["now"])
    assert before <= used <= after
    assert details(out, "boost")[0] == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "must be an ISO 8601 date, got 'yesterday'"),
        ("2026-13-01", "must be an ISO 8601 date"),
        (1767225600, "must be an ISO 8601 date string, a date or a datetime, got int"),
        (["2026-01-01"], "got list"),
    ],
)
def test_a_bad_date_is_an_error_naming_the_document(value: object, message: str) -> None:
    docs = cands("published", ["2026-01-01", value])
    inner = FixedScorer([1.0, 2.0])
    scorer = MetadataBoostScorer(inner, field="published", weight=0.5, half_life=1, now=NOW)
    with pytest.raises(ValueError, match=r"document 1 \(id='d1'\): metadata field 'published' "):
        scorer.score_candidates("q", docs)
    with pytest.raises(ValueError, match=message):
        scorer.score_candidates("q", docs)
    assert inner.calls == 0  # refused before the model runs


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a number .not a bool or a string., got True"),
        ("12", "must be a number"),
        (math.nan, "must be a finite number, got nan"),
        (-math.inf, "must be a finite number, got -inf"),
    ],
)
def test_a_bad_number_is_an_error_naming_the_document(value: object, message: str) -> None:
    docs = cands("votes", [3, 4, value])
    scorer = MetadataBoostScorer(FixedScorer([1.0, 2.0, 3.0]), field="votes", weight=0.5)
    with pytest.raises(
        ValueError, match=rf"document 2 \(id='d2'\): metadata field 'votes' {message}"
    ):
        scorer.score_candidates("q", docs)


def test_numpy_values_are_numbers_and_results_plain_floats() -> None:
    np = pytest.importorskip("numpy")
    docs = cands("votes", [np.int64(1), np.float32(3.0)])
    out = MetadataBoostScorer(
        FixedScorer([np.float32(1.0), np.float32(0.0)]), field="votes", weight=np.float64(0.5)
    ).score_candidates("q", docs)
    assert out.scores == [0.5, 0.5] and all(type(x) is float for x in out.scores)
    assert details(out, "raw") == [1.0, 3.0]


@pytest.mark.parametrize("mode", ["linear", "rrf"])
def test_missing_policies(mode: str) -> None:
    docs = cands("votes", [..., 5, None, 1])  # absent, 5, None (missing too), 1
    scores = [4.0, 3.0, 2.0, 1.0]

    def run(missing: str) -> ScoreOutput:
        boost = MetadataBoostScorer(
            FixedScorer(scores),
            field="votes",
            weight=0.5,
            mode=mode,
            missing=missing,  # type: ignore[arg-type]
        )
        return boost.score_candidates("q", docs)

    keep, bottom = run("keep"), run("bottom")
    assert details(keep, "missing") == ["keep", None, "keep", None]
    assert details(bottom, "missing") == ["bottom", None, "bottom", None]
    assert details(keep, "boost") == [0.5, 1.0, 0.5, 0.0]
    assert details(bottom, "boost") == [0.0, 1.0, 0.0, 0.0]
    if mode == "rrf":  # boost ranks: by value, ties in input order; bottom after every value
        assert details(keep, "rank") == [2, 1, 3, 4]
        assert details(bottom, "rank") == [3, 1, 4, 2]
        rrf = [
            0.5 / (60 + s) + 0.5 / (60 + b) for s, b in zip([1, 2, 3, 4], [3, 1, 4, 2], strict=True)
        ]
        assert bottom.scores == pytest.approx(rrf, rel=1e-12)
    else:
        s = minmax(scores)
        assert bottom.scores == pytest.approx(
            [0.5 * x + 0.5 * b for x, b in zip(s, [0, 1, 0, 0], strict=True)]
        )
    with pytest.raises(
        ValueError,
        match=r"document 0 \(id='d0'\): metadata field 'votes' is missing \(missing='error'\)",
    ):
        run("error")
    # with no value missing, the three policies agree
    full = cands("votes", [2, 5, 3, 1])
    outs = {
        m: MetadataBoostScorer(FixedScorer(scores), field="votes", weight=0.5, mode=mode, missing=m)  # type: ignore[arg-type]
        .score_candidates("q", full)
        .scores
        for m in ("keep", "bottom", "error")
    }
    assert outs["keep"] == outs["bottom"] == outs["error"]


def test_rrf_arithmetic_shares_fusions_code_path() -> None:
    scores = [0.1, 0.9, 0.5, -3.0]  # ranks 3, 1, 2, 4
    docs = cands("votes", [7, 1, 9, 8])  # boost ranks 3, 4, 1, 2
    out = MetadataBoostScorer(
        FixedScorer(scores), field="votes", weight=0.3, mode="rrf", k=10
    ).score_candidates("q", docs)
    expected = [
        0.7 / (10 + s) + 0.3 / (10 + b) for s, b in zip([3, 1, 2, 4], [3, 4, 1, 2], strict=True)
    ]
    assert out.scores == pytest.approx(expected, rel=1e-12)
    assert details(out, "rank") == [3, 4, 1, 2]
    assert out.notes["metadata_boosts"][0]["k"] == 10.0
    # the same blend through FusionScorer: the scorer and a "votes" scorer, weights 0.7/0.3
    votes = FixedScorer([7.0, 1.0, 9.0, 8.0])
    fused = FusionScorer([FixedScorer(scores), votes], weights=[0.7, 0.3], k=10)
    assert fused.score_candidates("q", docs).scores == out.scores


def test_weight_zero_is_the_scorer_alone_and_one_the_boost_alone() -> None:
    scores = [3.0, 1.0, 2.0]
    docs = cands("votes", [1, 3, 2])
    for mode in ("linear", "rrf"):
        zero = MetadataBoostScorer(FixedScorer(scores), field="votes", weight=0, mode=mode)  # type: ignore[arg-type]
        one = MetadataBoostScorer(FixedScorer(scores), field="votes", weight=1, mode=mode)  # type: ignore[arg-type]
        by_zero = Reranker(zero, normalize=None).rerank("q", docs)
        by_one = Reranker(one, normalize=None).rerank("q", docs)
        assert [i.index for i in by_zero] == [0, 2, 1]
        assert [i.index for i in by_one] == [1, 2, 0]


def test_boosts_compose_by_nesting() -> None:
    scores = [1.0, 3.0, 2.0]
    docs = [
        Candidate("a", id="a", metadata={"votes": 10, "published": "2026-02-19"}),  # 10 days
        Candidate("b", id="b", metadata={"votes": 0, "published": "2026-02-09"}),  # 20 days
        Candidate("c", id="c", metadata={"votes": 2}),  # no date
    ]
    inner = MetadataBoostScorer(FixedScorer(scores), field="votes", weight=0.3)
    outer = MetadataBoostScorer(
        inner, field="published", weight=0.4, half_life=10, now=NOW, missing="bottom"
    )
    out = outer.score_candidates("q", docs)
    first = [0.7 * s + 0.3 * v for s, v in zip(minmax(scores), [1.0, 0.0, 0.2], strict=True)]
    assert first == pytest.approx([0.3, 0.7, 0.41])
    second = [0.6 * s + 0.4 * d for s, d in zip(minmax(first), [0.5, 0.25, 0.0], strict=True)]
    assert second == pytest.approx([0.2, 0.7, 0.165])
    assert out.scores == pytest.approx(second, abs=1e-15)
    assert [len(out.details[i]["boosts"]) for i in range(3)] == [2, 2, 2]
    assert details(out, "field", 0) == ["votes"] * 3
    assert details(out, "field", 1) == ["published"] * 3
    assert details(out, "missing", 1) == [None, None, "bottom"]
    assert [b["field"] for b in out.notes["metadata_boosts"]] == ["votes", "published"]
    # through a Reranker: the trace carries each entry's boosts, as strict JSON
    result = Reranker(outer, normalize=None).rerank("q", docs)
    data = json.loads(result.trace.to_json())
    by_id = {e["id"]: e for e in data["entries"]}
    assert by_id["c"]["details"]["boosts"][1] == {
        "field": "published", "raw": None, "boost": 0.0, "contribution": 0.0,
        "scorer_part": pytest.approx(0.6 * minmax(first)[2]), "missing": "bottom",
    }  # fmt: skip
    assert [i.id for i in result] == ["b", "a", "c"]
    assert [i.score for i in result] == [out.scores[1], out.scores[0], out.scores[2]]


@pytest.mark.parametrize("mode", ["linear", "rrf"])
def test_ties_keep_input_order(mode: str) -> None:
    docs = cands("votes", [2, 2, 2, 2])
    boost = MetadataBoostScorer(FixedScorer([1.0] * 4), field="votes", weight=0.5, mode=mode)  # type: ignore[arg-type]
    result = Reranker(boost, normalize=None).rerank("q", docs)
    assert [i.index for i in result] == [0, 1, 2, 3]
    assert len({i.score for i in result}) == (1 if mode == "linear" else 4)


@pytest.mark.parametrize("mode", ["linear", "rrf"])
def test_the_contract_holds(mode: str) -> None:
    docs = [
        *cands("votes", [4, ..., 9, 1, 4]),
        "plain text",  # a str has no metadata: missing, kept at neutral
    ]
    scores = [1.0, 5.0, 3.0, 3.0, -2.0, 0.0]
    boost = MetadataBoostScorer(FixedScorer(scores), field="votes", weight=0.4, mode=mode)  # type: ignore[arg-type]
    b = [3 / 8, 0.5, 1.0, 0.0, 3 / 8, 0.5]
    if mode == "linear":
        expected = [0.6 * s + 0.4 * x for s, x in zip(minmax(scores), b, strict=True)]
    else:
        rank_s, rank_b = [4, 1, 2, 3, 6, 5], [4, 2, 1, 6, 5, 3]
        expected = [0.6 / (60 + s) + 0.4 / (60 + x) for s, x in zip(rank_s, rank_b, strict=True)]
    out = boost.score_candidates(
        "q", [d if isinstance(d, Candidate) else Candidate(d) for d in docs]
    )
    assert out.scores == pytest.approx(expected, abs=1e-15)
    for top_k, normalize in ((None, None), (3, "softmax"), (0, "minmax")):
        check_rerank_contract(boost, copy.deepcopy(docs), out.scores, top_k, normalize, None)


def test_async_equals_sync() -> None:
    docs = cands("published", ["2026-02-01", "2026-02-20", ..., "2026-01-01"])
    for mode in ("linear", "rrf"):
        boost = MetadataBoostScorer(
            KeywordScorer(),
            field="published",
            weight=0.3,
            half_life=14,
            now=NOW,
            mode=mode,  # type: ignore[arg-type]
        )
        sync = boost.score_candidates("doc 1", docs)
        other = asyncio.run(boost.ascore_candidates("doc 1", docs))
        assert other == sync
        reranker = Reranker(boost)
        a, b = reranker.rerank("doc 1", docs), asyncio.run(reranker.arerank("doc 1", docs))
        assert [(i.index, i.score) for i in a] == [(i.index, i.score) for i in b]
        assert [e.details for e in a.trace.entries] == [e.details for e in b.trace.entries]


def test_empty_candidates_and_bad_query() -> None:
    boost = MetadataBoostScorer(KeywordScorer(), field="votes", weight=0.5)
    assert boost.score_candidates("q", []).scores == []
    with pytest.raises(ValueError, match="query must not be empty"):
        boost.score_candidates(" ", cands("votes", [1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scorer": object()}, "scorer must implement ragrerank.Scorer"),
        ({"field": ""}, "field must be a non-empty str"),
        ({"weight": 1.5}, r"weight must be in \[0, 1\]"),
        ({"weight": -0.1}, "weight must be a finite number >= 0"),
        ({"weight": True}, "weight must be a number"),
        ({"mode": "sum"}, "mode must be one of"),
        ({"missing": "drop"}, "missing must be one of"),
        ({"normalize": "zscore"}, "normalize must be one of"),
        ({"k": 0}, "k must be > 0"),
        ({"half_life": 0}, "half_life must be > 0"),
        ({"half_life": dt.timedelta(days=-1)}, "half_life must be > 0"),
        ({"half_life": "7d"}, "half_life must be a timedelta or a number of days"),
        ({"now": NOW}, "now is only for recency: set half_life too"),
        ({"half_life": 1, "now": "soon"}, "now must be an ISO 8601 date"),
    ],
)
def test_bad_configuration_names_the_option(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"scorer": KeywordScorer(), "field": "votes", "weight": 0.5, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        MetadataBoostScorer(**args)


def test_fingerprint_follows_the_scorer_and_options() -> None:
    ks = KeywordScorer()
    a = MetadataBoostScorer(ks, field="published", weight=0.5, half_life=7, now=NOW)
    same = MetadataBoostScorer(ks, field="published", weight=0.5, half_life=7, now=NOW)
    assert fingerprint(a) == fingerprint(same)
    for other in (
        MetadataBoostScorer(ks, field="published", weight=0.4, half_life=7, now=NOW),
        MetadataBoostScorer(ks, field="published", weight=0.5, half_life=8, now=NOW),
        MetadataBoostScorer(ks, field="published", weight=0.5, half_life=7),
        MetadataBoostScorer(ks, field="published", weight=0.5, half_life=7, now=NOW, mode="rrf"),
        MetadataBoostScorer(ks, field="date", weight=0.5, half_life=7, now=NOW),
        MetadataBoostScorer(
            FixedScorer([1.0]), field="published", weight=0.5, half_life=7, now=NOW
        ),
    ):
        assert fingerprint(other) != fingerprint(a)
    assert a.name == "MetadataBoostScorer(KeywordScorer + recency(published)*0.5, linear)"


def test_config_builds_a_boost_over_its_scorer(tmp_path: Path, tiny_ce: str) -> None:
    path = tmp_path / "rerankers.toml"
    path.write_text(
        f"""
[[reranker]]
name = "ce+recency"
backend = "boost"
options = {{ field = "published", weight = 0.3, half_life = 30, now = 2026-06-01, mode = "rrf" }}
member = {{ backend = "cross-encoder", model = "{tiny_ce}", options = {{ dtype = "float32" }} }}
""",
        encoding="utf-8",
    )
    (spec,) = load_config(path)
    assert [m.name for m in spec.parts()] == ["rerankers.toml: reranker[0].member"]
    scorer = build_scorer(spec)
    assert isinstance(scorer, MetadataBoostScorer)
    assert scorer.weight == 0.3 and scorer.mode == "rrf"
    assert scorer.now == dt.datetime(2026, 6, 1, tzinfo=UTC)
    assert scorer.half_life == dt.timedelta(days=30)
    docs = [Candidate("aspirin heart", metadata={"published": "2026-05-01"}), Candidate("tower")]
    assert len(scorer.score_candidates("aspirin", docs).scores) == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('backend = "boost"\nmodel = "x"', "boost has no 'model'"),
        ('backend = "boost"', "field 'member' is required for backend 'boost'"),
        (
            'backend = "fusion"\nmember = {}\nmembers = [{}]',
            "only for backend 'boost' or 'max-passage'",
        ),
        ('backend = "boost"\nmember = { backend = "nope" }', r"member: field 'backend' must be"),
    ],
)
def test_bad_boost_config_names_the_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[[reranker]]\nname = "b"\n{entry}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_missing_required_boost_option_is_named(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        '[[reranker]]\nname = "b"\nbackend = "boost"\noptions = { weight = 0.5 }\n'
        'member = { backend = "remote", model = "http://127.0.0.1:9", options = { api = "tei" } }\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"reranker 'b': bad options \['weight'\].*field"):
        build_scorer(load_config(path)[0])
