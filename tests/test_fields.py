"""Ranked fields: the scorer reads a text built from the candidate; results stay untouched."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

import pytest

from ragrerank import BaseScorer, Candidate, Reranker, ScoreOutput, ScorerError
from ragrerank.fields import RankedFields, field_value
from tests.test_reranker import check_rerank_contract


class RecordingScorer(BaseScorer):
    """Scores by how many query words the text it is given contains; keeps those texts."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[list[str]] = []
        self.fail = fail

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.seen.append([c.text for c in candidates])
        if self.fail:
            raise ScorerError("down", kind="unavailable")
        words = set(query.lower().split())
        return ScoreOutput(
            [float(sum(w in words for w in c.text.lower().split())) for c in candidates]
        )


DOCS = [
    Candidate("aspirin lowers risk", id="a", metadata={"title": "Heart", "year": 2020}),
    Candidate("towers in Paris", id="b", metadata={"title": "Heart attack", "year": 1999}),
    Candidate("vitamin D", id="c", metadata={"title": "Bones", "year": 2011}, score=0.5),
]


def test_template_is_what_the_scorer_reads_and_documents_come_back_untouched() -> None:
    scorer = RecordingScorer()
    docs = copy.deepcopy(DOCS)
    before = copy.deepcopy(docs)
    result = Reranker(scorer, normalize=None, text_template="{title} ({year})\n{text}").rerank(
        "heart attack", docs
    )
    assert scorer.seen == [
        ["Heart (2020)\naspirin lowers risk", "Heart attack (1999)\ntowers in Paris",
         "Bones (2011)\nvitamin D"],
    ]  # fmt: skip
    assert docs == before
    assert [i.id for i in result] == ["b", "a", "c"]  # the title decides: 2, 1, 0 words
    assert all(i.document is docs[i.index] for i in result)
    assert result[0].text == "towers in Paris" and result[0].metadata == DOCS[1].metadata
    assert result.trace.notes["ranked_fields"] == {
        "text_template": "{title} ({year})\n{text}",
        "missing_field": "error",
    }
    assert result.items[2].first_stage_score == 0.5  # the first-stage score is kept


def test_rank_fields_are_key_value_lines_in_the_given_order() -> None:
    scorer = RecordingScorer()
    Reranker(scorer, rank_fields=["title", "text", "year"]).rerank("q", DOCS[:1])
    assert scorer.seen == [["title: Heart\ntext: aspirin lowers risk\nyear: 2020"]]


def test_values_are_text_never_reparsed_and_formats_apply() -> None:
    cand = Candidate("body {title}", metadata={"title": "{text} {0}", "n": 3.5, "flag": True})
    fields = RankedFields(text_template="{title}|{text}|{n:>6.2f}|{flag}|{title!r}|{{x}}")
    assert fields.render(cand, 0) == "{text} {0}|body {title}|  3.50|True|'{text} {0}'|{x}"


def test_a_format_spec_that_does_not_fit_names_the_document() -> None:
    docs = [Candidate("t", id="ok", metadata={"n": 3}), Candidate("t", id="z", metadata={"n": "x"})]
    with pytest.raises(
        ValueError, match=r"document 1 \(id='z'\): ranked text: Unknown format code"
    ):
        Reranker(RecordingScorer(), text_template="{n:d}").rerank("q", docs)


def test_dotted_names_look_into_nested_mappings_and_a_dotted_key_wins() -> None:
    cand = Candidate("t", metadata={"src": {"title": "nested"}, "src.title": "flat", "m": {}})
    assert field_value(cand, "src.title") == "flat"
    assert RankedFields(rank_fields=["src.title"]).render(cand, 0) == "src.title: flat"
    other = Candidate("t", metadata={"src": {"title": "nested", "a": {"b": 1}}})
    assert RankedFields(text_template="{src.title}/{src.a.b}").render(other, 0) == "nested/1"
    assert field_value(other, "src.title.x") is None  # a str is not a mapping
    assert field_value(other, "text") == "t"
    shadow = Candidate("real", metadata={"text": "metadata text"})
    assert RankedFields(text_template="{text}").render(shadow, 0) == "real"


@pytest.mark.parametrize("form", [{"text_template": "{title}: {text}"}, {"rank_fields": ["title"]}])
@pytest.mark.parametrize("metadata", [{}, {"title": None}])
def test_a_missing_field_is_an_error_naming_the_document(
    form: dict[str, Any], metadata: dict[str, Any]
) -> None:
    docs = [DOCS[0], Candidate("no title", id="x9", metadata=metadata)]
    scorer = RecordingScorer()
    with pytest.raises(ValueError, match=r"document 1 \(id='x9'\): missing field 'title'"):
        Reranker(scorer, **form).rerank("q", docs)
    assert scorer.seen == []  # refused before any model call


def test_missing_field_empty_renders_empty_or_leaves_the_line_out() -> None:
    cand = Candidate("body", metadata={"year": None})
    template = RankedFields(text_template="[{title:>5}] {year:d} {text}", missing_field="empty")
    assert template.render(cand, 0) == "[]  body"
    lines = RankedFields(rank_fields=["title", "text", "year"], missing_field="empty")
    assert lines.render(cand, 0) == "text: body"


def test_plain_strings_have_only_their_text() -> None:
    scorer = RecordingScorer()
    Reranker(scorer, text_template="> {text}").rerank("q", ["one", "two"])
    assert scorer.seen == [["> one", "> two"]]
    with pytest.raises(ValueError, match=r"document 0: missing field 'title'"):
        Reranker(scorer, rank_fields=["title"]).rerank("q", ["one"])


def test_a_rendered_lone_surrogate_is_refused_naming_the_document() -> None:
    cand = Candidate("ok", id=7, metadata={"title": "bad \ud800"})
    with pytest.raises(ValueError, match=r"document 0 \(id=7\): ranked text contains a lone"):
        Reranker(RecordingScorer(), text_template="{title}").rerank("q", [cand])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of text_template and rank_fields"),
        ({"text_template": "{text}", "rank_fields": ["text"]}, "exactly one of"),
        ({"text_template": "no fields"}, "names no field"),
        ({"text_template": "{}"}, "no positional fields"),
        ({"text_template": "{0}"}, "no positional fields"),
        ({"text_template": "{a[0]}"}, "no positional fields or indexing"),
        ({"text_template": "{text"}, "not a valid format string"),
        ({"text_template": "{text:{w}}"}, "nested fields"),
        ({"text_template": 3}, "text_template must be a str"),
        ({"rank_fields": "title"}, "rank_fields must be a list"),
        ({"rank_fields": []}, "at least one field"),
        ({"rank_fields": ["title", ""]}, r"rank_fields\[1\] must be a non-empty str"),
        ({"rank_fields": ["text"], "missing_field": "skip"}, "missing_field must be one of"),
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RankedFields(**kwargs)
    if kwargs:
        with pytest.raises(ValueError, match=message):
            Reranker(RecordingScorer(), **kwargs)


def test_fallback_scorer_reads_the_rendered_text_too() -> None:
    fallback = RecordingScorer()
    result = Reranker(RecordingScorer(fail=True), fallback=fallback, rank_fields=["title"]).rerank(
        "bones", DOCS
    )
    assert fallback.seen == [["title: Heart", "title: Heart attack", "title: Bones"]]
    assert result[0].id == "c" and result.trace.notes["fallback"]["used"] == "RecordingScorer"


def test_async_equals_sync() -> None:
    reranker = Reranker(RecordingScorer(), text_template="{title} {text}", normalize="minmax")
    sync = reranker.rerank("heart attack risk", DOCS)
    other = asyncio.run(reranker.arerank("heart attack risk", DOCS))
    assert [(i.index, i.score) for i in other] == [(i.index, i.score) for i in sync]
    assert other.trace.notes == sync.trace.notes


class LengthScorer(BaseScorer):
    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        return ScoreOutput([float(len(c.text)) for c in candidates])


def test_the_contract_holds_with_ranked_fields() -> None:
    docs: list[str | Candidate] = [*copy.deepcopy(DOCS), "plain heart", DOCS[2]]
    rendered = [f"{d.text} {d.metadata['title']}" for d in DOCS] + ["plain heart "]
    scores = [float(len(t)) for t in [*rendered, rendered[2]]]
    check_rerank_contract(
        LengthScorer(), docs, scores, top_k=4, normalize="softmax", threshold=None,
        text_template="{text} {title}", missing_field="empty",
    )  # fmt: skip
