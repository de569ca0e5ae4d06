"""Parity: the qdrant-edge engine returns what qdrant-client's local mode returns.

The same retriever settings index the same corpus into both engines; every query must give
the same ids in the same order, scores within float32 tolerance, and the same payloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("qdrant_edge")
pytest.importorskip("Stemmer")

from ragrerank.retrieval.qdrant import QdrantRetriever

WORDS = [
    *[
        "aspirin",
        "heart",
        "attack",
        "platelet",
        "vitamin",
        "bone",
        "calcium",
        "tower",
        "paris",
        "iron",
        "steel",
        "bridge",
    ],
    *[
        "river",
        "protein",
        "gene",
        "cell",
        "tumor",
        "insulin",
        "glucose",
        "liver",
        "kidney",
        "virus",
        "vaccine",
        "immune",
    ],
    *[
        "brain",
        "neuron",
        "memory",
        "sleep",
        "coffee",
        "tea",
        "sugar",
        "salt",
        "water",
        "ocean",
        "climate",
        "carbon",
        "forest",
    ],
    *["soil", "the", "of", "and"],
]


class SeededEmbedder:
    """Continuous embeddings: each word a fixed random vector, a text their normalised sum
    (no two documents tie, unlike a bag-of-buckets embedder)."""

    def __init__(self, dim: int = 24) -> None:
        self.dim = dim
        self.table = np.random.default_rng(7).normal(size=(len(WORDS), dim)).astype(np.float32)

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i] += self.table[WORDS.index(w)] if w in WORDS else 0.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def corpus(n: int = 60) -> list[dict[str, Any]]:
    """``n`` documents of distinct lengths (no stopwords), so BM25 scores never tie and the
    two engines' orders are comparable position by position."""
    rng = np.random.default_rng(3)
    content = WORDS[:-3]  # not the stopwords
    out = []
    for i, length in enumerate(rng.permutation(n) + 2):
        words = rng.choice(content, size=int(length), replace=True)
        out.append({"id": i if i % 3 else f"doc-{i}", "text": " ".join(words),
                    "metadata": {"group": i % 4, "n": i}})  # fmt: skip
    return out


QUERIES = [
    "aspirin heart attack",
    "vitamin bone calcium sugar",
    "tower paris bridge river steel",
    "gene cell tumor",
    "the of and",  # stopwords only: sparse is empty, hybrid falls back to dense
    "insulin glucose liver kidney virus vaccine immune",
]


@pytest.fixture(scope="module")
def pair() -> tuple[QdrantRetriever, QdrantRetriever]:
    docs = corpus()
    out = []
    for engine in ("edge", "client"):
        r = QdrantRetriever("parity", dense_model=SeededEmbedder(), engine=engine,  # type: ignore[arg-type]
                            batch_size=32, show_progress=False)  # fmt: skip
        assert r.index(docs).indexed == len(docs)
        out.append(r)
    return out[0], out[1]


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize("top_n", [1, 10, 50])
def test_edge_matches_local_mode(
    pair: tuple[QdrantRetriever, QdrantRetriever], mode: str, top_n: int
) -> None:
    edge, local = pair
    assert (edge.engine, local.engine) == ("edge", "client")
    got = edge.retrieve_batch(QUERIES, top_n=top_n, mode=mode)  # type: ignore[arg-type]
    want = local.retrieve_batch(QUERIES, top_n=top_n, mode=mode)  # type: ignore[arg-type]
    assert sum(len(w) for w in want) > 0
    if mode != "hybrid":  # RRF ties are broken by first appearance, in both engines
        assert all(len({c.score for c in w}) == len(w) for w in want), "the reference ties"
    for q, g, w in zip(QUERIES, got, want, strict=True):
        assert [c.id for c in g] == [c.id for c in w], (mode, q)
        assert [c.score for c in g] == pytest.approx([c.score for c in w], rel=1e-5, abs=1e-6)
        assert all(type(c.score) is float for c in g)
        assert [(c.text, c.metadata) for c in g] == [(c.text, c.metadata) for c in w]


def test_hybrid_with_a_prefetch_limit_and_a_filter_matches_local_mode(
    pair: tuple[QdrantRetriever, QdrantRetriever],
) -> None:
    from qdrant_client import models

    edge, local = pair
    only = models.Filter(
        must=[models.FieldCondition(key="metadata.group", match=models.MatchAny(any=[1, 2]))],
        must_not=[models.FieldCondition(key="metadata.n", range=models.Range(lt=20))],
    )
    for mode in ("dense", "sparse", "hybrid"):
        kw: dict[str, Any] = {"top_n": 15, "mode": mode, "prefetch_limit": 7, "query_filter": only}
        got, want = edge.retrieve_batch(QUERIES, **kw), local.retrieve_batch(QUERIES, **kw)
        for g, w in zip(got, want, strict=True):
            assert [c.id for c in g] == [c.id for c in w], mode
            assert all(c.metadata["group"] in (1, 2) and c.metadata["n"] >= 20 for c in g)
            assert [c.score for c in g] == pytest.approx([c.score for c in w], rel=1e-5)


def test_reindexing_a_changed_document_matches_local_mode(
    pair: tuple[QdrantRetriever, QdrantRetriever],
) -> None:
    docs = corpus()[:5]
    docs[2] = {**docs[2], "text": "coffee tea sugar salt water"}
    edge, local = pair
    reports = [r.index(docs) for r in pair]
    assert reports[0] == reports[1] and reports[0].indexed == 1
    got = edge.retrieve("coffee tea", top_n=5, mode="hybrid")
    want = local.retrieve("coffee tea", top_n=5, mode="hybrid")
    assert [c.id for c in got] == [c.id for c in want]
    assert [r.index(corpus()[:5]).indexed for r in pair] == [1, 1]  # restored for the others
