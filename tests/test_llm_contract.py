"""The `Reranker` contract's properties (tests/test_reranker.py) over the two model-backed
scorers: GenerativeScorer on the tiny Qwen2 of tests/test_generative.py and ListwiseLLMScorer
with the oracle chat model of tests/test_listwise_llm.py. Few examples: each runs a model."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragrerank import Candidate, GenerativeScorer, ListwiseLLMScorer
from tests import test_generative, test_listwise_llm
from tests.test_reranker import candidates, check_rerank_contract, texts

qwen = test_generative.qwen  # the module's tiny Qwen2 fixture, reused

options = {
    "top_k": st.none() | st.integers(min_value=0, max_value=30),
    "normalize": st.sampled_from(["softmax", "sigmoid", "minmax", None]),
    "threshold": st.none() | st.floats(min_value=0, max_value=1),
}
few = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _text(doc: str | Candidate) -> str:
    return doc.text if isinstance(doc, Candidate) else doc


@few
@given(docs=st.lists(texts | candidates, max_size=12), **options)
def test_generative_output_is_an_intact_subset(
    qwen: tuple[Path, object, object],
    docs: list[str | Candidate],
    top_k: int | None,
    normalize: str | None,
    threshold: float | None,
) -> None:
    scorer = _generative(qwen[0])
    scores = scorer.score("query", [_text(d) for d in docs])
    check_rerank_contract(scorer, docs, scores, top_k, normalize, threshold)


_GENERATIVE: dict[Path, GenerativeScorer] = {}


def _generative(folder: Path) -> GenerativeScorer:
    """One loaded scorer per folder across the examples (batch_size 5: several batches)."""
    if folder not in _GENERATIVE:
        _GENERATIVE[folder] = GenerativeScorer(folder, device="cpu", batch_size=5)
    return _GENERATIVE[folder]


@st.composite
def listwise_docs(draw: st.DrawFn) -> tuple[list[str | Candidate], dict[int, float]]:
    """Documents of which some carry the ``doc-N`` label the oracle ranks by (the rest it
    leaves out of its answer: a partial reply to repair), and the oracle's relevance."""
    raw = draw(st.lists(texts | candidates, max_size=25))
    docs: list[str | Candidate] = []
    for i, doc in enumerate(raw):
        if draw(st.booleans()):
            label = f"doc-{i} "
            if isinstance(doc, Candidate):
                doc = dataclasses.replace(doc, text=label + doc.text)
            else:
                doc = label + doc
        docs.append(doc)
    rel = draw(st.lists(st.floats(0, 1), min_size=len(docs), max_size=len(docs)))
    return docs, dict(enumerate(rel))


@few
@given(
    drawn=listwise_docs(),
    window=st.integers(min_value=3, max_value=8),
    passes=st.integers(min_value=1, max_value=2),
    **options,
)
def test_listwise_output_is_an_intact_subset(
    drawn: tuple[list[str | Candidate], dict[int, float]],
    window: int,
    passes: int,
    top_k: int | None,
    normalize: str | None,
    threshold: float | None,
) -> None:
    docs, rel = drawn
    # unknown labels (a "doc-7" inside drawn text) rank as 0.0 instead of raising KeyError
    llm = test_listwise_llm.oracle_llm(defaultdict(float, rel))
    scorer = ListwiseLLMScorer(llm, window=window, step=window // 2, passes=passes, cache_size=0)
    scores = scorer.score("query", [_text(d) for d in docs])
    assert sorted(scores) == [float(r) for r in range(1, len(docs) + 1)]  # ranks: none lost
    check_rerank_contract(scorer, docs, scores, top_k, normalize, threshold)
