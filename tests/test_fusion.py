"""FusionScorer: weighted reciprocal-rank fusion of scorers and the first-stage order."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from ragrerank import BaseScorer, Candidate, Reranker, ScoreOutput
from ragrerank.composers.fusion import FusionScorer
from ragrerank.evaluation.config import build_scorer, load_config
from ragrerank.scorer import fingerprint
from tests.conftest import KeywordScorer


class FixedScorer(BaseScorer):
    """Returns the given scores (by input position) and optional truncation/notes."""

    def __init__(
        self,
        scores: Sequence[float],
        truncated: frozenset[int] = frozenset(),
        notes: dict[str, object] | None = None,
        name: str = "fixed",
    ) -> None:
        self.scores = list(scores)
        self.truncated = truncated
        self.notes = notes or {}
        self.name = name

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        return ScoreOutput(self.scores[: len(candidates)], self.truncated, self.notes)


def rrf(ranks: Sequence[int], weights: Sequence[float], k: float = 60.0) -> float:
    return sum(w / (k + r) for r, w in zip(ranks, weights, strict=True))


CANDS = [Candidate(t, id=i) for i, t in enumerate(["a", "b", "c", "d"])]


def test_scores_are_weighted_reciprocal_ranks() -> None:
    one = FixedScorer([0.1, 0.9, 0.5, -3.0])  # ranks 3, 1, 2, 4
    two = FixedScorer([10.0, 0.0, 20.0, 5.0])  # ranks 2, 4, 1, 3
    fused = FusionScorer([one, two], weights=[2.0, 1.0], first_stage=0.5, k=10)
    out = fused.score_candidates("q", CANDS)
    expected = [
        rrf([3, 2, 1], [2.0, 1.0, 0.5], 10),
        rrf([1, 4, 2], [2.0, 1.0, 0.5], 10),
        rrf([2, 1, 3], [2.0, 1.0, 0.5], 10),
        rrf([4, 3, 4], [2.0, 1.0, 0.5], 10),
    ]
    assert out.scores == pytest.approx(expected, rel=1e-12)
    assert all(type(s) is float for s in out.scores)


def test_rank_fusion_ignores_score_scale() -> None:
    """A member with huge logits does not drown one with small probabilities."""
    big = FixedScorer([1000.0, 999.0, -1000.0])  # ranks 1, 2, 3
    small = FixedScorer([0.01, 0.03, 0.02])  # ranks 3, 1, 2
    out = FusionScorer([big, small]).score_candidates("q", CANDS[:3])
    # Doc 1 is 2nd and 1st: best overall, although doc 0 has by far the largest raw score.
    assert max(range(3), key=lambda i: out.scores[i]) == 1


def test_first_stage_weight_breaks_ties_toward_retriever_order() -> None:
    flat = FixedScorer([1.0, 1.0, 1.0, 1.0])
    out = FusionScorer([flat], first_stage=1.0).score_candidates("q", CANDS)
    assert out.scores == sorted(out.scores, reverse=True)
    without = FusionScorer([FixedScorer([0.0, 0.0, 0.0, 9.0])]).score_candidates("q", CANDS)
    with_fs = FusionScorer([FixedScorer([0.0, 0.0, 0.0, 9.0])], first_stage=5.0).score_candidates(
        "q", CANDS
    )
    best = max(range(4), key=lambda i: without.scores[i])
    assert best == 3  # the member alone puts doc 3 first
    assert max(range(4), key=lambda i: with_fs.scores[i]) == 0  # a heavy first stage wins


def test_a_zero_score_is_a_score_not_missing() -> None:
    out = FusionScorer([FixedScorer([0.0, -1.0, -2.0])]).score_candidates("q", CANDS[:3])
    assert out.scores[0] > out.scores[1] > out.scores[2]


def test_truncation_and_notes_of_members_are_kept() -> None:
    a = FixedScorer([1, 2, 3], truncated=frozenset({0}), notes={"cache_hits": 2}, name="A")
    b = FixedScorer([3, 2, 1], truncated=frozenset({2}), name="B")
    out = FusionScorer([a, b]).score_candidates("q", CANDS[:3])
    assert out.truncated == frozenset({0, 2})
    assert out.notes == {"fusion_notes": {"0:A": {"cache_hits": 2}}}


def test_reranker_over_fusion_keeps_every_document_and_orders_by_fused_rank() -> None:
    docs = [
        Candidate("aspirin heart", id="x", metadata={"m": 1}),
        Candidate("tower", id="y"),
        Candidate("aspirin", id="z"),
    ]
    fused = FusionScorer([KeywordScorer(), FixedScorer([0.0, 5.0, 1.0])], first_stage=1.0)
    result = Reranker(fused, normalize=None).rerank("aspirin heart", docs)
    assert sorted(str(i.id) for i in result.items) == ["x", "y", "z"]
    assert result.items[0].id == "x" and result.items[0].metadata == {"m": 1}
    scores = [i.score for i in result.items]
    assert scores == sorted(scores, reverse=True)


def test_wrong_member_output_is_named() -> None:
    fused = FusionScorer([KeywordScorer(), FixedScorer([1.0], name="short")])
    with pytest.raises(ValueError, match=r"1:short returned 1 scores for 3 documents"):
        fused.score_candidates("q", CANDS[:3])
    nan = FusionScorer([FixedScorer([1.0, math.nan], name="bad")])
    with pytest.raises(ValueError, match="bad returned NaN at index 1"):
        nan.score_candidates("q", CANDS[:2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scorers": []}, "non-empty sequence"),
        ({"scorers": [object()]}, r"scorers\[0\] must implement"),
        ({"weights": [1.0, 2.0]}, "got 2 weights for 1 scorers"),
        ({"weights": [-1.0]}, r"weights\[0\] must be a finite number >= 0"),
        ({"weights": [0.0]}, "at least one scorer needs a weight > 0"),
        ({"weights": [True]}, r"weights\[0\] must be a number"),
        ({"first_stage": math.inf}, "first_stage must be a finite number"),
        ({"k": 0}, "k must be > 0"),
        ({"k": "60"}, "k must be a number"),
    ],
)
def test_bad_configuration_raises_naming_the_option(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"scorers": [KeywordScorer()], **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        FusionScorer(**args)  # type: ignore[arg-type]


def test_empty_candidates_and_bad_query() -> None:
    fused = FusionScorer([KeywordScorer()])
    assert fused.score_candidates("q", []).scores == []
    with pytest.raises(ValueError, match="query must not be empty"):
        fused.score_candidates(" ", CANDS)


def test_fingerprint_follows_members_and_options() -> None:
    member = FixedScorer([1.0], name="A")
    a = FusionScorer([member], first_stage=1.0)
    assert fingerprint(a) == fingerprint(FusionScorer([member], first_stage=1.0))
    assert fingerprint(a) != fingerprint(FusionScorer([member]))
    assert fingerprint(a) != fingerprint(FusionScorer([member], first_stage=1.0, k=10))
    assert fingerprint(a) != fingerprint(FusionScorer([KeywordScorer()], first_stage=1.0))
    assert a.name == "FusionScorer(A*1 + first_stage*1, k=60)"


class RendezvousScorer(BaseScorer):
    """Waits at a barrier that only opens when every member is scoring at the same time."""

    def __init__(self, barrier: threading.Barrier | None, scores: Sequence[float]) -> None:
        self.barrier, self.scores = barrier, list(scores)
        self.threads: set[int] = set()

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.threads.add(threading.get_ident())
        if self.barrier is not None:
            self.barrier.wait()  # BrokenBarrierError after its timeout if run one by one
        return ScoreOutput(self.scores[: len(candidates)])


def test_async_runs_members_concurrently_off_the_loop_and_matches_sync() -> None:
    sync = FusionScorer(
        [RendezvousScorer(None, [1.0, 2.0, 3.0]), RendezvousScorer(None, [3.0, 1.0, 2.0])],
        first_stage=0.5,
    ).score_candidates("q", CANDS[:3])
    barrier = threading.Barrier(2, timeout=10)
    a = RendezvousScorer(barrier, [1.0, 2.0, 3.0])
    b = RendezvousScorer(barrier, [3.0, 1.0, 2.0])
    fused = FusionScorer([a, b], first_stage=0.5)
    out = asyncio.run(fused.ascore_candidates("q", CANDS[:3]))
    assert out.scores == sync.scores
    assert threading.get_ident() not in a.threads | b.threads  # never on the caller's thread


def test_config_builds_a_fusion_of_its_members(tmp_path: Path, tiny_ce: str) -> None:
    path = tmp_path / "rerankers.toml"
    path.write_text(
        f"""
[[reranker]]
name = "blend"
backend = "fusion"
options = {{ weights = [2, 1], first_stage = 0.5, k = 30 }}
members = [
  {{ backend = "cross-encoder", model = "{tiny_ce}" }},
  {{ backend = "cross-encoder", model = "{tiny_ce}", options = {{ max_length = 16 }} }},
]
""",
        encoding="utf-8",
    )
    (spec,) = load_config(path)
    assert [m.name for m in spec.members] == [
        "rerankers.toml: reranker[0].members[0]",
        "rerankers.toml: reranker[0].members[1]",
    ]
    scorer = build_scorer(spec)
    assert isinstance(scorer, FusionScorer)
    assert scorer.weights == [2.0, 1.0] and scorer.first_stage == 0.5 and scorer.k == 30.0
    out = scorer.score_candidates("aspirin", [Candidate("aspirin heart"), Candidate("tower")])
    assert len(out.scores) == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('backend = "fusion"\nmodel = "x"', "a fusion has no 'model'"),
        ('backend = "fusion"', "field 'members' must be a non-empty list"),
        ('backend = "fusion"\nmembers = []', "field 'members' must be a non-empty list"),
        ('backend = "cross-encoder"\nmodel = "x"\nmembers = [{}]', "only for backend 'fusion'"),
        (
            'backend = "fusion"\nmembers = [{ backend = "nope", model = "x" }]',
            r"members\[0\]: field 'backend' must be one of",
        ),
    ],
)
def test_bad_fusion_config_names_the_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[[reranker]]\nname = "f"\n{entry}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_numpy_weights_and_k_are_plain_floats() -> None:
    np = pytest.importorskip("numpy")
    fused = FusionScorer(
        [KeywordScorer()], weights=[np.float32(2.0)], first_stage=np.int64(1), k=np.float16(10)
    )
    assert fused.weights == [2.0] and fused.first_stage == 1.0 and fused.k == 10.0
    assert [type(x) for x in (*fused.weights, fused.first_stage, fused.k)] == [float] * 3
