"""CascadeScorer: cheap pass prunes, expensive pass re-scores, nothing is lost."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ragrerank import BaseScorer, Candidate, Reranker, ScoreOutput
from ragrerank.composers.cascade import CascadeScorer
from tests.conftest import KeywordScorer


class LengthScorer(BaseScorer):
    """Expensive stand-in: longer text scores higher; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.seen.append([c.text for c in candidates])
        return ScoreOutput([float(len(c.text)) for c in candidates], truncated=frozenset({0}))


DOCS = ["x", "aspirin", "aspirin heart aspirin", "heart", "tower paris", "aspirin heart"]


def test_survivors_get_expensive_scores_and_pruned_rank_below() -> None:
    expensive = LengthScorer()
    cascade = CascadeScorer(KeywordScorer(), expensive, keep=3)
    out = cascade.score_candidates("aspirin heart", [Candidate(t) for t in DOCS])
    # Cheap (keyword) top 3: idx 2 (3 hits), 5 (2), then 1 and 3 tie (1) -> 1 first (stable).
    assert sorted(expensive.seen[0]) == sorted([DOCS[2], DOCS[5], DOCS[1]])
    survivors = {2, 5, 1}
    for i in survivors:
        assert out.scores[i] == float(len(DOCS[i]))
    floor = min(out.scores[i] for i in survivors)
    pruned = [i for i in range(len(DOCS)) if i not in survivors]
    assert all(out.scores[i] < floor for i in pruned)
    # Pruned keep their cheap order: 3 (1 hit) before 0 and 4 (0 hits, input order).
    assert sorted(pruned, key=lambda i: -out.scores[i]) == [3, 0, 4]
    assert out.notes == {"cascade_survivors": 3, "cascade_pruned": 3}
    # The expensive scorer's truncated index 0 maps back to the input index.
    assert len(out.truncated) == 1 and next(iter(out.truncated)) in survivors


def test_reranker_output_is_a_permutation() -> None:
    reranker = Reranker(CascadeScorer(KeywordScorer(), LengthScorer(), keep=0.5), normalize=None)
    result = reranker.rerank("aspirin heart", DOCS)
    assert sorted(result.documents) == sorted(DOCS)  # type: ignore[type-var]


def test_small_inputs_skip_the_cheap_pass() -> None:
    cheap, expensive = KeywordScorer(), LengthScorer()
    out = CascadeScorer(cheap, expensive, keep=10).score_candidates(
        "q", [Candidate(t) for t in DOCS]
    )
    assert cheap.calls == 0 and out.scores == [float(len(t)) for t in DOCS]
    assert CascadeScorer(cheap, expensive).score_candidates("q", []).scores == []


@pytest.mark.parametrize("keep", [0, -2, 0.0, 1.5, True, "3"])
def test_bad_keep(keep: object) -> None:
    with pytest.raises(ValueError, match="keep"):
        CascadeScorer(KeywordScorer(), LengthScorer(), keep=keep)  # type: ignore[arg-type]


def test_fraction_rounds_up() -> None:
    assert CascadeScorer(KeywordScorer(), LengthScorer(), keep=0.25).survivors(10) == 3


def test_numpy_keep_is_accepted_as_int_or_fraction() -> None:
    np = pytest.importorskip("numpy")
    whole = CascadeScorer(KeywordScorer(), LengthScorer(), keep=np.int64(3))
    assert whole.keep == 3 and type(whole.keep) is int and whole.survivors(10) == 3
    half = CascadeScorer(KeywordScorer(), LengthScorer(), keep=np.float32(0.5))
    assert type(half.keep) is float and half.survivors(10) == 5


def test_the_expensive_scorers_details_follow_their_candidates() -> None:
    from ragrerank import MetadataBoostScorer

    docs = [Candidate(t, id=t, metadata={"votes": v}) for t, v in [("a", 1), ("b b", 5), ("c", 3)]]
    expensive = MetadataBoostScorer(KeywordScorer(), field="votes", weight=0.5)
    for keep in (2, 3):  # pruning (re-indexed survivors) and the pass-through
        out = CascadeScorer(KeywordScorer(), expensive, keep=keep).score_candidates("b", docs)
        raw = {i: d["boosts"][0]["raw"] for i, d in out.details.items()}
        assert raw == ({1: 5, 0: 1} if keep == 2 else {0: 1, 1: 5, 2: 3})
