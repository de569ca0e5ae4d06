"""MaxPassageScorer: windows and spans, aggregation, trace details, batching, composers,
ColBERT chunk vectors, the config backend and the adapters' metadata."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragrerank import (
    BaseScorer,
    Candidate,
    CascadeScorer,
    ColBERTScorer,
    CrossEncoderScorer,
    FusionScorer,
    MaxPassageScorer,
    Reranker,
    ScoreOutput,
    TokenizingScorer,
)
from ragrerank.composers.chunking import plan_chunks, word_spans
from ragrerank.composers.max_passage import chunk_id
from ragrerank.evaluation.config import build_scorer, load_config
from tests.conftest import KeywordScorer
from tests.test_colbert import build_plain
from tests.test_reranker import check_rerank_contract


class ScriptScorer(BaseScorer):
    """Scores a chunk by a table lookup on its stripped text (``default`` otherwise); records
    calls."""

    def __init__(self, table: dict[str, float] | None = None, default: float = 0.0) -> None:
        self.table = table or {}
        self.default = default
        self.calls: list[list[Candidate]] = []
        self.async_calls = 0

    def _out(self, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls.append(list(candidates))
        return ScoreOutput([self.table.get(c.text.strip(), self.default) for c in candidates])

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        return self._out(candidates)

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.async_calls += 1
        await asyncio.sleep(0)
        return self._out(candidates)


class CharScorer(ScriptScorer):
    """A `TokenizingScorer` whose tokens are single non-space characters."""

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return [[(i, i + 1) for i, ch in enumerate(t) if not ch.isspace()] for t in texts]


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{k}" for k in range(start, start + n))


# -- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "size", "stride"), [(10, 4, 3), (17, 5, 5), (9, 4, 1), (30, 8, 6)])
def test_spans_cover_every_character_with_the_configured_overlap(
    n: int, size: int, stride: int
) -> None:
    text = "  " + words(n) + " \n"
    spans = word_spans(text)
    plan = plan_chunks(text, spans, size, stride, max_chunks=100)
    chunks = plan.chunks
    assert not plan.capped and plan.uncovered_units == 0
    covered = set()
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.end_unit - c.first_unit <= size
        covered.update(range(c.start, c.end))
    assert covered == set(range(len(text)))  # whitespace at both ends included
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for a, b in itertools.pairwise(chunks):
        assert b.first_unit - a.first_unit == stride
        assert a.end_unit - b.first_unit == size - stride  # the overlap, in units
        assert b.start == spans[b.first_unit][0]
        assert a.end == (b.start if stride == size else spans[a.end_unit - 1][1])
    assert chunks[-1].end_unit == n


def test_short_empty_and_one_token_documents_are_one_chunk_the_whole_text() -> None:
    for text in ["", "   ", "word", words(4)]:
        plan = plan_chunks(text, word_spans(text), 4, 3, max_chunks=2)
        assert [(c.start, c.end, c.text) for c in plan.chunks] == [(0, len(text), text)]
        assert not plan.capped


def test_more_windows_than_max_chunks_spread_evenly_and_say_so() -> None:
    text = words(100)
    spans = word_spans(text)
    plan = plan_chunks(text, spans, 10, 5, max_chunks=4)
    assert plan.windows_needed == 19 and len(plan.chunks) == 4 and plan.capped
    assert [c.first_unit for c in plan.chunks] == [0, 30, 60, 90]
    assert plan.chunks[0].start == 0 and plan.chunks[-1].end == len(text)
    assert plan.uncovered_units == 100 - 40
    one = plan_chunks(text, spans, 10, 5, max_chunks=1)
    assert [c.first_unit for c in one.chunks] == [0] and one.uncovered_units == 90


def test_unicode_spans_by_a_real_fast_tokenizer(tiny_ce: str) -> None:
    ce = CrossEncoderScorer(tiny_ce, device="cpu", dtype="float32")
    assert isinstance(ce, TokenizingScorer)
    text = "Caf\u00e9 na\u0308ive \u65e5\u672c\u8a9e\u306e\u6587 \U0001f9ec DNA \u2014 " * 12
    spans = ce.token_spans([text])[0]
    plan = MaxPassageScorer(ce, chunk_tokens=16, stride=12).plan([text])[0]
    assert len(plan.chunks) > 3
    covered: set[int] = set()
    for c in plan.chunks:
        assert c.text == text[c.start : c.end]
        covered.update(range(c.start, c.end))
        if c.index:
            assert c.start == spans[c.first_unit][0]
    assert covered == set(range(len(text)))


# -- aggregation and the trace ---------------------------------------------------------------


def chunk_texts(text: str, size: int, stride: int) -> list[str]:
    """The stripped chunk texts of ``text`` (windows of words, no cap)."""
    return [c.text.strip() for c in plan_chunks(text, word_spans(text), size, stride, 100).chunks]


def test_aggregation_math_is_exact() -> None:
    doc = words(12)
    parts = chunk_texts(doc, 4, 4)  # 3 chunks
    table = dict(zip(parts, [0.5, 2.25, -1.0], strict=True))
    expected = {"max": 2.25, "first": 0.5, "mean_top_k": (2.25 + 0.5) / 2}
    for aggregate, value in expected.items():
        script = ScriptScorer(table)
        mp = MaxPassageScorer(script, chunk_tokens=4, stride=4, aggregate=aggregate, k=2)
        out = mp.score_candidates("q", [Candidate(doc, id="d")])
        assert out.scores == [value] and type(out.scores[0]) is float
        best = out.details[0]["best_chunk"]
        if aggregate == "first":
            assert [c.text.strip() for c in script.calls[0]] == [parts[0]]  # only the first
            assert best["index"] == 0 and out.truncated == frozenset({0})
        else:
            assert best["index"] == 1 and best["score"] == 2.25
            assert doc[best["start"] : best["end"]].strip() == parts[1]
            assert out.details[0]["chunks"] == 3 and not out.truncated
    mean_all = MaxPassageScorer(ScriptScorer(table), chunk_tokens=4, stride=4,
                                aggregate="mean_top_k", k=10)  # fmt: skip
    assert mean_all.score_candidates("q", [Candidate(doc)]).scores == [
        pytest.approx((0.5 + 2.25 - 1.0) / 3, rel=1e-15)
    ]


def test_all_chunks_of_all_documents_in_one_call_as_new_candidates() -> None:
    meta = {"source": "x"}
    docs = [Candidate(words(9), id="a", metadata=meta, score=3.0), Candidate("w1"),
            Candidate(words(5, 100), id=7)]  # fmt: skip
    script = ScriptScorer()
    MaxPassageScorer(script, chunk_tokens=4, stride=3).score_candidates("q", docs)
    (call,) = script.calls
    assert [c.id for c in call] == ["a#0", "a#1", "a#2", None, "7#0", "7#1"]
    assert all(c.metadata == {} for c in call)  # the document's metadata is not the chunk's
    assert call[0].score == 3.0 and call[3].text == "w1"
    assert docs[0].metadata is meta and meta == {"source": "x"}
    assert chunk_id("a", 2) == "a#2" and chunk_id(None, 0) is None


def test_no_document_lost_duplicated_or_reordered() -> None:
    scorer = KeywordScorer()
    docs: list[str | Candidate] = [
        words(30) + " query",
        "query",
        Candidate("", id="empty", metadata={}),
        Candidate("query " * 7 + words(20), id=3, metadata={"k": 1}),
        "cherry",
    ]
    mp = MaxPassageScorer(scorer, chunk_tokens=6, stride=4)
    expected = []
    for d in docs:
        text = d.text if isinstance(d, Candidate) else d
        parts = chunk_texts(text, 6, 4)
        expected.append(max(scorer.score("query", parts)))
    out = mp.score_candidates("query", [d if isinstance(d, Candidate) else Candidate(d)
                                               for d in docs])  # fmt: skip
    assert out.scores == expected
    for top_k, norm in ((None, None), (2, "softmax"), (4, "minmax")):
        check_rerank_contract(
            MaxPassageScorer(KeywordScorer(), chunk_tokens=6, stride=4),
            docs, expected, top_k, norm, None,
        )  # fmt: skip


def test_trace_entry_has_the_best_chunk_and_the_cap() -> None:
    long_doc = words(50) + " needle"
    mp = MaxPassageScorer(ScriptScorer(), chunk_tokens=8, stride=8, max_chunks=3)
    table = {c.text.strip(): 5.0 for c in mp.plan([long_doc])[0].chunks if "needle" in c.text}
    mp.scorer.table = table  # type: ignore[attr-defined]
    result = Reranker(mp, top_k=1).rerank("q", [Candidate(words(3), id="s"), long_doc])
    entry = result.trace.entries[1]
    assert result[0].index == 1 and result[0].score == 5.0
    best = entry.details["best_chunk"]
    assert long_doc[best["start"] : best["end"]].endswith("needle") and best["index"] == 2
    assert entry.details["chunks_capped"] == {"windows_needed": 7, "max_chunks": 3,
                                             "unread_words": 51 - 24}  # fmt: skip
    assert entry.truncated and result.trace.truncated == 1
    assert result.trace.entries[0].details["chunks"] == 1
    assert result.trace.notes["max_passage"] == {
        "aggregate": "max", "unit": "words", "chunks_scored": 4, "documents_capped": 1,
    }  # fmt: skip
    json.loads(result.trace.to_json())


def test_tokens_of_the_wrapped_scorer_are_the_units() -> None:
    text = "abcdefghij"
    mp = MaxPassageScorer(CharScorer(), chunk_tokens=4, stride=3)
    out = mp.score_candidates("q", [Candidate(text)])
    assert [c.text for c in mp.scorer.calls[0]] == ["abcd", "defg", "ghij"]  # type: ignore[attr-defined]
    assert out.notes["max_passage"]["unit"] == "tokens"


def test_async_equals_sync_and_uses_the_async_path() -> None:
    docs = [Candidate(words(40) + " x", id=i) for i in range(3)] + [Candidate("x")]
    table = {c: float(len(c)) for d in docs for c in chunk_texts(d.text, 5, 4)}
    sync_scorer, async_scorer = ScriptScorer(table), ScriptScorer(table)
    sync = MaxPassageScorer(sync_scorer, chunk_tokens=5, stride=4).score_candidates("q", docs)
    mp = MaxPassageScorer(async_scorer, chunk_tokens=5, stride=4)
    got = asyncio.run(mp.ascore_candidates("q", docs))
    assert got == sync and async_scorer.async_calls == 1
    result = asyncio.run(Reranker(mp).arerank("q", docs))
    assert [e.details for e in result.trace.entries] == [dict(sync.details[i]) for i in range(4)]


def test_chunk_truncation_by_the_wrapped_scorer_marks_the_document() -> None:
    class Cuts(ScriptScorer):
        def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
            return ScoreOutput([1.0] * len(candidates), truncated=frozenset({1}), notes={"n": 1})

    out = MaxPassageScorer(Cuts(), chunk_tokens=4, stride=4).score_candidates(
        "q", [Candidate("a"), Candidate(words(8)), Candidate("b")]
    )
    assert out.truncated == frozenset({1})  # chunk 1 belongs to document 1
    assert out.notes["max_passage"]["scorer_notes"] == {"n": 1}


def test_bad_options_and_chunk_metadata_are_named() -> None:
    for kwargs, match in (
        ({"chunk_tokens": 0}, "chunk_tokens"),
        ({"chunk_tokens": 4, "stride": 5}, "stride"),
        ({"aggregate": "sum"}, "aggregate"),
        ({"max_chunks": True}, "max_chunks"),
        ({"k": 0}, "k must"),
    ):
        with pytest.raises(ValueError, match=match):
            MaxPassageScorer(ScriptScorer(), **kwargs)
    with pytest.raises(TypeError):
        MaxPassageScorer("not a scorer")  # type: ignore[arg-type]
    mp = MaxPassageScorer(ScriptScorer(), chunk_tokens=4, stride=4)
    bad = Candidate(words(8), id="doc-9", metadata={"chunk_metadata": [{}]})
    with pytest.raises(ValueError, match=r"document 1 \(id='doc-9'\).*1 entries.*2 chunks"):
        mp.score_candidates("q", [Candidate("a"), bad])
    with pytest.raises(ValueError, match="must be a mapping"):
        mp.score_candidates("q", [Candidate("a", metadata={"chunk_metadata": ["x"]})])
    with pytest.raises(ValueError, match="query"):
        mp.score_candidates(" ", [Candidate("a")])
    assert mp.score_candidates("q", []) == ScoreOutput([])


# -- under composers, with ColBERT, from a config, in the adapters ---------------------------


def test_under_cascade_and_fusion_the_details_follow_their_document() -> None:
    doc = words(20) + " needle"
    table = {c: 9.0 for c in chunk_texts(doc, 6, 6) if "needle" in c}
    docs = [Candidate(words(4, 50), id="a"), Candidate(doc, id="b"), Candidate("c", id="c")]
    cheap = ScriptScorer({"c": 1.0, doc: 2.0})
    mp = MaxPassageScorer(ScriptScorer(table), chunk_tokens=6, stride=6)
    cascade = Reranker(CascadeScorer(cheap, mp, keep=2)).rerank("q", docs)
    assert cascade[0].id == "b"
    assert cascade.trace.entries[1].details["best_chunk"]["index"] == 3
    assert cascade.trace.entries[0].details == {}  # pruned: never chunked
    fused = Reranker(FusionScorer([mp, KeywordScorer()])).rerank("q", docs)
    label = f"0:{mp.name}"
    assert fused.trace.entries[1].details["fusion"][label]["best_chunk"]["index"] == 3


def test_cached_max_passage_keeps_the_details_on_a_hit() -> None:
    from ragrerank import CachedScorer

    doc = Candidate(words(20) + " needle", id="d")
    script = ScriptScorer({"w18 w19 needle": 4.0})
    cached = CachedScorer(MaxPassageScorer(script, chunk_tokens=6, stride=6))
    first = cached.score_candidates("q", [doc])
    again = cached.score_candidates("q", [doc])
    assert len(script.calls) == 1 and again.notes["cache_hits"] == 1
    assert again.details == first.details and first.details[0]["best_chunk"]["index"] == 3
    assert hash(Reranker(cached).rerank("q", [doc]).trace.entries[0]) is not None


def test_colbert_chunk_vectors_from_metadata_or_a_store(tmp_path: Path) -> None:
    colbert = ColBERTScorer(build_plain(tmp_path / "enc"), device="cpu", dtype="float32")
    mp = MaxPassageScorer(colbert, chunk_tokens=8, stride=6)
    text = "aspirin lowers the risk of stroke in some patients but raises bleeding risk " * 3
    plan = mp.plan([text])[0]
    vectors = colbert.encode_documents([c.text for c in plan.chunks])
    query = "aspirin bleeding"
    fresh = MaxPassageScorer(ColBERTScorer(colbert.model_name, device="cpu", dtype="float32",
                                           cache_max_bytes=0), chunk_tokens=8, stride=6)  # fmt: skip
    encoded = fresh.score_candidates(query, [Candidate(text, id="d")])
    inner = encoded.notes["max_passage"]["scorer_notes"]["vector_sources"]
    assert inner["encoded"] == len(plan.chunks) and encoded.notes["max_passage"]["unit"] == "tokens"
    meta = {"chunk_metadata": [{"colbert_vectors": v} for v in vectors]}
    stored = fresh.score_candidates(query, [Candidate(text, id="d", metadata=meta)])
    assert stored.notes["max_passage"]["scorer_notes"]["vector_sources"]["metadata"] == len(vectors)
    assert stored.scores == pytest.approx(encoded.scores, abs=1e-5)

    class DictStore:
        scores_on_server = False

        def __init__(self) -> None:
            self.asked: list[Any] = []

        def check(self, dim: int) -> None:
            pass

        def fetch_vectors(self, ids: Sequence[Any]) -> dict[Any, np.ndarray]:
            self.asked += list(ids)
            return {chunk_id("d", k): v for k, v in enumerate(vectors) if chunk_id("d", k) in ids}

        def server_scores(self, q: np.ndarray, ids: Sequence[Any]) -> dict[Any, float]:
            raise AssertionError("not a server store")

    store = DictStore()
    by_store = MaxPassageScorer(ColBERTScorer(colbert.model_name, device="cpu", dtype="float32",
                                              cache_max_bytes=0, store=store),
                                chunk_tokens=8, stride=6)  # fmt: skip
    out = by_store.score_candidates(query, [Candidate(text, id="d")])
    assert store.asked == [f"d#{k}" for k in range(len(vectors))]
    assert out.scores == pytest.approx(encoded.scores, abs=1e-5)


def test_config_backend_max_passage(tmp_path: Path) -> None:
    config = tmp_path / "r.toml"
    config.write_text(
        '[[reranker]]\nname = "maxp"\nbackend = "max-passage"\n'
        'options = { chunk_tokens = 64, stride = 48, aggregate = "mean_top_k", k = 2 }\n'
        'member = { backend = "colbert", model = "@minilm" }\n'
    )
    (spec,) = load_config(config)
    scorer = build_scorer(spec)
    assert isinstance(scorer, MaxPassageScorer) and isinstance(scorer.scorer, ColBERTScorer)
    assert (scorer.chunk_tokens, scorer.stride, scorer.aggregate, scorer.k) == (
        64,
        48,
        "mean_top_k",
        2,
    )
    config.write_text('[[reranker]]\nname = "m"\nbackend = "max-passage"\n')
    with pytest.raises(ValueError, match="'member' is required"):
        load_config(config)
    config.write_text(
        '[[reranker]]\nname = "m"\nbackend = "fusion"\n'
        'member = { backend = "colbert", model = "@minilm" }\n'
    )
    with pytest.raises(ValueError, match="only for backend 'boost' or 'max-passage'"):
        load_config(config)


def test_fingerprint_follows_the_options() -> None:
    from ragrerank.scorer import fingerprint

    inner = KeywordScorer()
    a = MaxPassageScorer(inner, chunk_tokens=8)
    assert fingerprint(a) == fingerprint(MaxPassageScorer(inner, chunk_tokens=8))
    assert fingerprint(a) != fingerprint(MaxPassageScorer(inner, chunk_tokens=8, stride=8))
    assert a.stride == 6 and not math.isnan(len(repr(a)))


def test_langchain_and_llama_index_metadata_carry_the_best_chunk() -> None:
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.ragrerank import RagRerank as LlamaRerank

    from langchain_ragrerank import RagRerank as LangChainRerank

    doc = words(20) + " needle"
    table = {c: 9.0 for c in chunk_texts(doc, 6, 6) if "needle" in c}
    mp = MaxPassageScorer(ScriptScorer(table), chunk_tokens=6, stride=6)
    lc = LangChainRerank(mp, top_n=1).compress_documents(
        [Document(page_content="short", metadata={"a": 1}), Document(page_content=doc)], "q"
    )
    best = lc[0].metadata["best_chunk"]
    assert doc[best["start"] : best["end"]].endswith("needle") and lc[0].metadata["chunks"] == 4
    nodes = [NodeWithScore(node=TextNode(text=t), score=1.0) for t in ("short", doc)]
    (li,) = LlamaRerank(mp, top_n=1).postprocess_nodes(nodes, QueryBundle("q"))
    assert li.node.metadata["best_chunk"] == best
    assert "best_chunk" in li.node.excluded_llm_metadata_keys
    assert "best_chunk" not in nodes[1].node.metadata


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_remote_scorer_gets_every_chunk_as_a_document_in_batches(mode: str) -> None:
    from ragrerank import RemoteRerankScorer
    from tests.cohere_server import FakeRerankServer, relevance
    from tests.remote_helpers import run_async

    docs = [Candidate(words(12, 10 * k) + f" aspirin{k}", id=k) for k in range(3)]
    query = "aspirin1 w12 w13"
    with FakeRerankServer(api_key="k", api="cohere") as fake:
        remote = RemoteRerankScorer(fake.url, api="cohere", model="m", api_key="k", timeout=2.0,
                                    max_documents_per_request=4)  # fmt: skip
        mp = MaxPassageScorer(remote, chunk_tokens=4, stride=4)
        cands = list(docs)
        if mode == "sync":
            out = mp.score_candidates(query, cands)
        else:
            out = run_async(remote, mp.ascore_candidates(query, cands))
        remote.close()
        sent = [r.body["documents"] for r in fake.rerank_requests if r.status == 200]
    chunks = [[c.text for c in p.chunks] for p in mp.plan([d.text for d in docs])]
    assert [len(c) for c in chunks] == [4, 4, 4]  # 13 words in windows of 4
    assert [len(s) for s in sent] == [4, 4, 4]  # 12 chunks, 4 per request
    # requests may arrive in any order (sent concurrently); every chunk exactly once
    assert sorted(d for s in sent for d in s) == sorted(c for doc in chunks for c in doc)
    assert out.scores == [max(relevance(query, c) for c in doc) for doc in chunks]
    assert out.notes["max_passage"]["chunks_scored"] == 12
