"""Context assembly: budget, dedupe, ordering, citations; chatbot context selection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrerank import Candidate, Reranker
from ragrerank.rag.context import (
    ChatContextSelector,
    ContextAssembler,
    conversation_query,
    count_tokens,
    jaccard,
    shingles,
)
from ragrerank.types import RerankedItem
from tests.conftest import SCIENCE_DOCS, KeywordScorer


def ranked(texts: list[str], ids: list[Any] | None = None, **meta: Any) -> list[RerankedItem]:
    ids = list(range(len(texts))) if ids is None else ids
    return [
        RerankedItem(
            index=i,
            document=Candidate(text=t, id=ids[i], metadata=meta),
            score=float(len(texts) - i),
            normalized_score=1.0 / (i + 1),
            rank=i + 1,
            first_stage_rank=i + 1,
            first_stage_score=None,
        )
        for i, t in enumerate(texts)
    ]


def test_count_tokens_and_shingles() -> None:
    assert count_tokens("Hello, world! 3 tests.") == 7
    assert shingles("A b, c d") == {("a", "b", "c"), ("b", "c", "d")}
    assert shingles("Two words") == {("two", "words")}
    assert jaccard(frozenset({1, 2}), frozenset({2, 3})) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_budget_keeps_best_items_and_lets_a_shorter_later_one_fit() -> None:
    texts = ["alpha " * 10, "beta " * 30, "gamma " * 5]
    assembler = ContextAssembler(40, template="[{citation}] {text}", dedupe_threshold=None)
    ctx = assembler.assemble(ranked(texts))
    assert [c.item.id for c in ctx.items] == [0, 2]
    ((dropped_item, reason, detail),) = [(d.item.id, d.reason, d.detail) for d in ctx.dropped]
    assert (dropped_item, reason) == (1, "budget") and "needs 33 tokens" in detail
    assert ctx.tokens == count_tokens(ctx.text) <= 40
    assert ctx.text.startswith("[1] alpha") and "[2] gamma" in ctx.text


def test_custom_token_counter_sets_the_budget() -> None:
    chars = ContextAssembler(60, token_counter=len, template="{text}", separator="|")
    ctx = chars.assemble(ranked(["x" * 30, "y" * 29, "z" * 10]))
    assert [c.item.id for c in ctx.items] == [0, 1]  # 30 + 1 (separator) + 29 = 60
    assert len(ctx.text) == ctx.tokens == 60
    with pytest.raises(ValueError, match="non-negative int"):
        ContextAssembler(10, token_counter=lambda t: -1).assemble(ranked(["a"]))


def test_near_duplicates_dropped_keeping_the_higher_ranked() -> None:
    base = "Low-dose aspirin is used for secondary prevention of cardiovascular events in adults."
    texts = [SCIENCE_DOCS[0], base, base.upper() + "!", SCIENCE_DOCS[2]]
    ctx = ContextAssembler(1000).assemble(ranked(texts, ids=["a", "b", "c", "d"]))
    assert [c.item.id for c in ctx.items] == ["a", "b", "d"]
    ((drop),) = ctx.dropped
    assert (drop.item.id, drop.reason) == ("c", "duplicate")
    assert "near-duplicate of b (Jaccard 1.00)" in drop.detail
    # different content under different ids is never merged; disabling dedupe keeps all
    assert len(ContextAssembler(1000, dedupe_threshold=None).assemble(ranked(texts)).items) == 4


def test_threshold_controls_partial_overlap() -> None:
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eight nine eleven"  # 7 of 9 shingles shared
    sim = jaccard(shingles(a), shingles(b))
    assert sim == pytest.approx(7 / 9)
    assert len(ContextAssembler(100, dedupe_threshold=0.7).assemble(ranked([a, b])).items) == 1
    assert len(ContextAssembler(100, dedupe_threshold=0.8).assemble(ranked([a, b])).items) == 2


def test_exact_duplicate_ids_dropped_by_id_even_with_other_text() -> None:
    items = ranked(["first text here", "other words entirely", "third"], ids=["x", "x", None])
    ctx = ContextAssembler(1000).assemble(items)
    assert [c.item.text for c in ctx.items] == ["first text here", "third"]
    assert [(d.reason, d.detail) for d in ctx.dropped] == [("duplicate_id", "same id as rank 1")]


def test_edges_order_puts_best_at_both_ends() -> None:
    ctx = ContextAssembler(1000, order="edges").assemble(ranked([f"doc {w}" for w in "abcde"]))
    assert [c.item.rank for c in ctx.items] == [1, 3, 5, 4, 2]
    assert [c.citation for c in ctx.items] == [1, 2, 3, 4, 5]
    assert ctx.text.startswith("[1] (source: 0)\ndoc a") and ctx.text.endswith(
        "[5] (source: 1)\ndoc b"
    )


def test_sources_from_metadata_and_citations_map() -> None:
    items = ranked(["alpha", "beta"], ids=["id1", "id2"], source="paper.pdf")
    items.append(ranked(["gamma"], ids=[None])[0])
    ctx = ContextAssembler(1000, template="[{citation}] {source} ({id}): {text}").assemble(items)
    assert ctx.text.splitlines() == [
        "[1] paper.pdf (id1): alpha",
        "",
        "[2] paper.pdf (id2): beta",
        "",
        "[3] unknown (None): gamma",
    ]
    assert ctx.citations == {1: "paper.pdf", 2: "paper.pdf", 3: "unknown"}


def test_accepts_a_rerank_result_and_empty_input() -> None:
    result = Reranker(KeywordScorer(), normalize=None).rerank("aspirin heart", SCIENCE_DOCS)
    ctx = ContextAssembler(30).assemble(result)
    assert ctx.items[0].item.text == SCIENCE_DOCS[0]
    assert len(ctx.items) + len(ctx.dropped) == len(SCIENCE_DOCS)
    empty = ContextAssembler(30).assemble([])
    assert (empty.text, empty.items, empty.dropped, empty.tokens) == ("", (), (), 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be a positive int"),
        ({"dedupe_threshold": 1.5}, "dedupe_threshold"),
        ({"shingle_size": 0}, "shingle_size"),
        ({"order": "middle"}, "order must be"),
        ({"template": "{title}: {text}"}, "template has an unknown or bad field"),
    ],
)
def test_bad_config_raises(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ContextAssembler(**kwargs)


def test_non_items_rejected() -> None:
    with pytest.raises(ValueError, match="item 0: expected RerankedItem"):
        ContextAssembler().assemble(["text"])  # type: ignore[list-item]


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab c.", min_size=1, max_size=40), max_size=12),
    budget=st.integers(min_value=1, max_value=60),
    order=st.sampled_from(["rank", "edges"]),
    ids=st.lists(st.sampled_from([None, "p", "q", "r", "s"]), min_size=12, max_size=12),
)
def test_budget_is_respected_and_every_item_accounted_once(
    texts: list[str], budget: int, order: Any, ids: list[Any]
) -> None:
    items = ranked(texts, ids=ids[: len(texts)])
    ctx = ContextAssembler(budget, order=order).assemble(items)
    assert ctx.tokens <= budget and ctx.tokens == (count_tokens(ctx.text) if ctx.text else 0)
    seen = sorted([c.item.index for c in ctx.items] + [d.item.index for d in ctx.dropped])
    assert seen == list(range(len(texts)))
    kept_ids = [c.item.id for c in ctx.items if c.item.id is not None]
    assert len(kept_ids) == len(set(kept_ids))


# -- chatbot ---------------------------------------------------------------------------------

CONVERSATION = [
    {"role": "system", "content": "You are a helpful medical assistant."},
    {"role": "user", "content": "Does aspirin help the heart?"},
    {"role": "assistant", "content": "Low-dose aspirin is used in some patients."},
    {"role": "user", "content": "What about platelet effects?"},
]


def test_conversation_query_window_and_roles() -> None:
    assert conversation_query(CONVERSATION, window=1) == "What about platelet effects?"
    assert conversation_query(CONVERSATION) == (
        "Does aspirin help the heart?\nWhat about platelet effects?"
    )
    with_assistant = conversation_query(CONVERSATION, window=2, roles=("user", "assistant"))
    assert with_assistant.startswith("Low-dose aspirin")


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([{"role": "user"}], "turn 0: 'content' must be a str"),
        ([{"role": "user", "content": "ok"}, {"content": "x"}], "turn 1: 'role' must be a str"),
        ([{"role": "assistant", "content": "hi"}], "no non-empty turn"),
        ([{"role": "user", "content": "  "}], "no non-empty turn"),
        (["user: hi"], "turn 0: expected a mapping"),
        ("hello", "turns must be a sequence"),
    ],
)
def test_bad_conversations_raise(turns: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conversation_query(turns)


def test_follow_up_question_keeps_its_topic() -> None:
    selector = ChatContextSelector(
        Reranker(KeywordScorer(), normalize=None), ContextAssembler(40), window=2
    )
    docs = [Candidate(text=t, id=f"d{i}") for i, t in enumerate(SCIENCE_DOCS)]
    chat = selector.select(CONVERSATION, docs)
    assert chat.query == "Does aspirin help the heart?\nWhat about platelet effects?"
    assert chat.context.items[0].item.id == "d0"
    assert chat.context.tokens <= 40
    only_last = ChatContextSelector(Reranker(KeywordScorer(), normalize=None), window=1)
    assert only_last.select(CONVERSATION, docs).query == "What about platelet effects?"


async def test_aselect_matches_select() -> None:
    selector = ChatContextSelector(Reranker(KeywordScorer(), normalize=None), ContextAssembler(60))
    sync = selector.select(CONVERSATION, SCIENCE_DOCS)
    asynced = await selector.aselect(CONVERSATION, SCIENCE_DOCS)
    assert asynced.context.text == sync.context.text and asynced.query == sync.query


def test_selector_checks_config() -> None:
    with pytest.raises(TypeError, match="reranker must be"):
        ChatContextSelector(KeywordScorer())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ChatContextSelector(Reranker(KeywordScorer()), window=0)
    with pytest.raises(ValueError, match="roles"):
        ChatContextSelector(Reranker(KeywordScorer()), roles=())
