"""BM25Scorer: parity with bm25s (Lucene variant) computed here, both statistics modes,
the shared tokenizer, configs and the reranker contract."""

from __future__ import annotations

import asyncio

import pytest

from ragrerank import BM25Encoder, BM25Scorer, Candidate, Reranker
from tests.conftest import SCIENCE_DOCS
from tests.test_reranker import check_rerank_contract

bm25s = pytest.importorskip("bm25s")
Stemmer = pytest.importorskip("Stemmer")

DOCS = [
    *SCIENCE_DOCS,
    "Vaccines train the immune system: the immune response to a vaccine is a rehearsal.",
    "The runner kept running; runners ran the marathon route twice, running slowly.",
    "Aspirin, aspirin and more aspirin: heart patients take aspirin daily.",
]
QUERIES = [
    "aspirin risk of heart attack prevention",
    "how do vaccines train the immune system",
    "the of and",  # stopwords only
    "running runners ran",  # stems
]


def bm25s_scores(corpus: list[str], query: str, k1: float, b: float) -> list[float]:
    """bm25s's own tokenization and Lucene BM25 (float64) over ``corpus``; the query's
    distinct terms, as BM25Scorer and Qdrant's IDF sparse vectors count them."""
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
    model.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False))
    vocab = model.vocab_dict
    terms = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False)[0]
    known = [t for t in dict.fromkeys(terms) if t in vocab]
    if not known:
        return [0.0] * len(corpus)
    return [float(s) for s in model.get_scores(known)]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.0), (0.9, 1.0)])
def test_candidate_statistics_equal_bm25s_over_the_candidates(
    query: str, k1: float, b: float
) -> None:
    docs = list(DOCS)
    got = BM25Scorer(k1=k1, b=b).score(query, docs)
    assert got == pytest.approx(bm25s_scores(docs, query, k1, b), rel=1e-12, abs=1e-12)
    assert all(type(s) is float for s in got)
    assert any(s > 0 for s in got) or query == "the of and"


@pytest.mark.parametrize("query", QUERIES)
def test_corpus_statistics_equal_full_corpus_bm25s(query: str) -> None:
    corpus = list(DOCS)
    scorer = BM25Scorer(corpus=corpus)
    expected = bm25s_scores(corpus, query, 1.5, 0.75)
    subset = [7, 0, 6, 4, 8]  # candidates: a few corpus documents, in another order
    got = scorer.score(query, [corpus[i] for i in subset])
    assert got == pytest.approx([expected[i] for i in subset], rel=1e-12, abs=1e-12)
    # Candidate statistics over the same subset differ (the parity is not by accident).
    own = BM25Scorer().score(query, [corpus[i] for i in subset])
    if any(s > 0 for s in got):
        assert own != pytest.approx(got, rel=1e-6)


def test_non_matching_documents_score_zero_and_terms_are_the_encoders() -> None:
    docs = ["Heart attack risk", "Completely unrelated gardening text", "", "the of"]
    scores = BM25Scorer().score("heart attacks", docs)
    assert scores[0] > 0 and scores[1:] == [0.0, 0.0, 0.0]
    text = "The runners were running in the studies"
    assert BM25Scorer().terms.tokenize(text) == BM25Encoder().tokenize(text)


def test_term_frequency_saturates_and_length_normalizes() -> None:
    scorer = BM25Scorer(k1=1.2, b=0.75)
    one, two, long = scorer.score("cat", ["cat dog", "cat cat dog", "cat " + "dog " * 20])
    assert two > one > long > 0


def test_bad_options_name_the_problem() -> None:
    with pytest.raises(ValueError, match="k1"):
        BM25Scorer(k1=-1)
    with pytest.raises(ValueError, match="b must"):
        BM25Scorer(b=1.5)
    with pytest.raises(ValueError, match="at least one"):
        BM25Scorer(corpus=[])
    with pytest.raises(ValueError, match=r"corpus\[1\]"):
        BM25Scorer(corpus=["fine", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="single str"):
        BM25Scorer(corpus="one text")
    with pytest.raises(ValueError, match="query"):
        BM25Scorer().score("  ", ["x"])


def test_to_dict_round_trips_and_fingerprints_the_corpus() -> None:
    from ragrerank.scorer import fingerprint

    plain = BM25Scorer(k1=1.2, b=0.5)
    again = BM25Scorer.from_dict(plain.to_dict())
    assert again.to_dict() == plain.to_dict() and fingerprint(again) == fingerprint(plain)
    fitted = BM25Scorer(corpus=SCIENCE_DOCS)
    other = BM25Scorer(corpus=SCIENCE_DOCS[:-1])
    assert len({fingerprint(plain), fingerprint(fitted), fingerprint(other)}) == 3
    assert BM25Scorer.from_dict(fitted.to_dict(), corpus=SCIENCE_DOCS).corpus_size == len(
        SCIENCE_DOCS
    )
    with pytest.raises(ValueError, match="fitted on corpus"):
        BM25Scorer.from_dict(fitted.to_dict(), corpus=SCIENCE_DOCS[:-1])
    assert "corpus of" in repr(fitted) and "k1=1.2" in repr(plain)


def test_reranker_contract_and_async() -> None:
    docs: list[str | Candidate] = [
        Candidate(text=t, id=f"d{i}", metadata={"i": i}) for i, t in enumerate(SCIENCE_DOCS)
    ]
    scorer = BM25Scorer()
    query = "query"
    scores = scorer.score(query, [d.text for d in docs])  # type: ignore[union-attr]
    check_rerank_contract(scorer, docs, scores, 3, "minmax", None)
    result = Reranker(scorer, top_k=2).rerank(QUERIES[0], docs)
    assert result.trace.notes["statistics"] == "candidates"
    async_scores = asyncio.run(scorer.ascore(QUERIES[0], list(SCIENCE_DOCS)))
    assert async_scores == scorer.score(QUERIES[0], list(SCIENCE_DOCS))
