"""benchmarks/learned_bench.py: its table helpers against references computed here, and the
markdown of its committed result."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightgbm")

from benchmarks.learned_bench import markdown, rrf, subset, top_rows
from ragrerank import BaseScorer, Candidate, FusionScorer, ScoreOutput
from ragrerank.composers.features import FeatureSpec
from ragrerank.evaluation.datasets import BeirDataset
from ragrerank.train.ranker import ranking_table

ROOT = Path(__file__).resolve().parents[1]


class Table(BaseScorer):
    """Scores looked up by candidate id."""

    def __init__(self, name: str, scores: dict[str, float]) -> None:
        self.name, self.scores = name, scores

    def to_dict(self) -> dict[str, str]:
        return {"type": "Table", "name": self.name}

    def score_candidates(self, query: str, candidates: list[Candidate]) -> ScoreOutput:  # type: ignore[override]
        return ScoreOutput([self.scores[str(c.id)] for c in candidates])


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Any, list[Table], dict[str, list[Candidate]]]:
    rng = random.Random(1)
    corpus: dict[str, dict[str, str]] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    runs: dict[str, list[Candidate]] = {}
    a: dict[str, float] = {}
    b: dict[str, float] = {}
    for q in range(6):
        qid = f"q{q}"
        queries[qid] = f"question {q}"
        qrels[qid] = {f"{qid}-d{rng.randrange(12)}": 1}
        runs[qid] = []
        for j in range(12):
            doc = f"{qid}-d{j}"
            corpus[doc] = {"title": "", "text": f"passage {j}"}
            a[doc] = rng.random()
            b[doc] = rng.choice([0.0, 0.5, 1.0])  # ties: ranks keep input order
            runs[qid].append(Candidate(corpus[doc]["text"], id=doc, score=12.0 - j))
    ds = BeirDataset("synthetic", "test", corpus, queries, qrels)
    members = [Table("a", a), Table("b", b)]
    table = ranking_table(
        ds, members, runs, FeatureSpec.of(members), cache_dir=tmp_path, show_progress=False
    )
    return table, members, runs


def test_rrf_matches_fusion_scorer(
    setup: tuple[Any, list[Table], dict[str, list[Candidate]]],
) -> None:
    table, members, runs = setup
    fused = rrf(table, ["m0:a:score", "m1:b:score"])
    reference = FusionScorer(members, first_stage=1.0)
    expected = [s for q in runs for s in reference.score_candidates(q, runs[q]).scores]
    assert fused == pytest.approx(expected, abs=1e-15)


def test_subset_keeps_whole_queries_and_their_groups(
    setup: tuple[Any, list[Table], dict[str, list[Candidate]]],
) -> None:
    table, _, _ = setup
    part = subset(table, ["q4", "q1"])
    assert part.groups == [12, 12]
    assert part.query_ids == ["q1"] * 12 + ["q4"] * 12  # the table's order, not the argument's
    rows = [i for i, q in enumerate(table.query_ids) if q in ("q1", "q4")]
    assert (part.features == table.features[rows]).all()
    assert part.labels == [table.labels[i] for i in rows]


def test_top_rows_marks_each_querys_best_k(
    setup: tuple[Any, list[Table], dict[str, list[Candidate]]],
) -> None:
    table, _, runs = setup
    scores = [float(x) for x in table.features[:, 0]]
    mask = top_rows(table, scores, k=3)
    start = 0
    for _ in runs:
        block = scores[start : start + 12]
        best = sorted(range(12), key=lambda i: -block[i])[:3]
        assert [i for i in range(12) if mask[start + i]] == sorted(best)
        start += 12


def test_markdown_of_the_committed_result() -> None:
    path = ROOT / "benchmarks" / "results" / "learned.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    md = markdown(report)
    for name, system in report["systems"].items():
        if not system.get("ablation"):
            assert f"| {name} | {system['ndcg@10']:.4f} |" in md
    assert "Ablations by feature group" in md and "ECE" in md
