"""BiEncoderScorer: parity with sentence-transformers' own normalized cosine on the real
all-MiniLM-L6-v2 (fp32), counted truncation, the bounded embedding cache, one load."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from ragrerank import BiEncoderScorer, Candidate
from ragrerank.scorer import fingerprint
from tests.conftest import SCIENCE_DOCS
from tests.test_reranker import check_rerank_contract

pytest.importorskip("sentence_transformers")

QUERY = "does aspirin prevent heart attacks"
LONG = "Aspirin and the heart. " + "Platelets clump together in the arteries. " * 40


@pytest.fixture(scope="module")
def reference(minilm: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm, device="cpu")


def st_cosines(model: Any, query: str, docs: list[str]) -> list[float]:
    q = model.encode([query], normalize_embeddings=True, convert_to_numpy=True)
    d = model.encode(docs, normalize_embeddings=True, convert_to_numpy=True)
    return [float(x) for x in (d @ q[0])]


@pytest.fixture(scope="module")
def scorer(minilm: str) -> BiEncoderScorer:
    return BiEncoderScorer(minilm, device="cpu")


def test_scores_equal_sentence_transformers_cosine(scorer: BiEncoderScorer, reference: Any) -> None:
    docs = [*SCIENCE_DOCS, LONG]
    got = scorer.score(QUERY, docs)
    expected = st_cosines(reference, QUERY, docs)
    assert np.allclose(got, expected, atol=1e-5, rtol=0)
    assert all(type(s) is float for s in got)
    assert max(range(len(got)), key=got.__getitem__) in (0, 4, len(docs) - 1)  # aspirin docs
    assert scorer.resolved_dtype == "float32"


def test_cache_returns_identical_scores_and_stays_within_its_bound(minilm: str) -> None:
    bound = 3 * 384 * 4  # three float32 MiniLM embeddings
    scorer = BiEncoderScorer(minilm, device="cpu", cache_max_bytes=bound)
    docs = list(SCIENCE_DOCS)
    first = scorer.score_candidates(QUERY, [Candidate(t) for t in docs])
    assert first.notes["cache_hits"] == 0
    assert len(scorer.cache) == 3 and scorer.cache.nbytes <= bound
    tail = [Candidate(t) for t in docs[-3:]]  # the three most recent are cached
    again = scorer.score_candidates(QUERY, tail)
    assert again.notes["cache_hits"] == 3
    assert again.scores == first.scores[-3:]  # identical, not merely close
    assert scorer.cache.nbytes <= bound
    uncached = BiEncoderScorer(minilm, device="cpu", cache_max_bytes=0)
    assert uncached.score(QUERY, docs) == first.scores and len(uncached.cache) == 0


def test_identical_texts_are_encoded_once_and_scored_alike(scorer: BiEncoderScorer) -> None:
    calls: list[int] = []
    real = scorer._encode_documents

    def counting(texts: list[str]) -> Any:
        calls.append(len(texts))
        return real(texts)

    scorer.cache.clear()
    scorer._encode_documents = counting  # type: ignore[method-assign]
    try:
        scores = scorer.score(QUERY, ["same text here", "other", "same text here"])
    finally:
        del scorer._encode_documents
    assert calls == [2] and scores[0] == scores[2]


def test_truncation_is_counted_and_matches_the_cut_reference(
    minilm: str, reference: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scorer = BiEncoderScorer(minilm, device="cpu", max_length=32)
    docs = ["Aspirin reduces heart attack risk.", LONG]
    with caplog.at_level(logging.WARNING):
        out = scorer.score_candidates(QUERY, [Candidate(t) for t in docs])
    assert out.truncated == frozenset({1})
    assert "1 of 2 documents exceed max_length=32" in caplog.text
    long_query = scorer.score_candidates(LONG, [Candidate(docs[0])])
    assert long_query.notes["query_truncated"] is True and not long_query.truncated
    old = reference.max_seq_length
    reference.max_seq_length = 32
    try:
        expected = st_cosines(reference, QUERY, docs)
    finally:
        reference.max_seq_length = old
    assert np.allclose(out.scores, expected, atol=1e-5, rtol=0)
    full = BiEncoderScorer(minilm, device="cpu").score(QUERY, docs)
    assert abs(full[1] - out.scores[1]) > 1e-4  # the cut changed the long document's score
    with pytest.raises(ValueError, match="max_length"):
        BiEncoderScorer(minilm, max_length=1)


def test_model_loads_once_across_threads_and_async(
    minilm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentence_transformers

    built: list[str] = []

    class Counting(sentence_transformers.SentenceTransformer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(str(args[0]))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Counting)
    scorer = BiEncoderScorer(minilm, device="cpu", cache_max_bytes=0)
    docs = list(SCIENCE_DOCS[:3])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: scorer.score(QUERY, docs), range(4)))
    results.append(asyncio.run(scorer.ascore(QUERY, docs)))
    assert len(built) == 1  # one load for five calls from four threads and the event loop
    assert all(np.allclose(r, results[0], atol=1e-6) for r in results)


def test_config_repr_and_reranker_contract(scorer: BiEncoderScorer, minilm: str) -> None:
    data = scorer.to_dict()
    assert data["init_parameters"]["model"] == minilm and data["resolved"]["dtype"] == "float32"
    again = BiEncoderScorer.from_dict(data)
    assert fingerprint(again) == fingerprint(scorer)
    assert fingerprint(BiEncoderScorer(minilm, max_length=64)) != fingerprint(scorer)
    assert "float32" in repr(scorer) and minilm in repr(scorer)
    with pytest.raises(ValueError, match="batch_size"):
        BiEncoderScorer(minilm, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        BiEncoderScorer(minilm, dtype="int4")
    docs: list[str | Candidate] = [
        Candidate(text=t, id=i, metadata={"k": [i]}) for i, t in enumerate(SCIENCE_DOCS)
    ]
    scores = scorer.score("query", [d.text for d in docs])  # type: ignore[union-attr]
    check_rerank_contract(scorer, docs, scores, 2, "softmax", None)
    assert scorer.score_candidates(QUERY, []).scores == []
