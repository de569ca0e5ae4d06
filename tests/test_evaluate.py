"""ragrerank.evaluation: metrics (hand-checked), caches, slices, report files, bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")

from ragrerank import BaseScorer, Candidate, ScoreOutput
from ragrerank.evaluation import EvalReport
from ragrerank.evaluation.first_stage import first_stage_run
from ragrerank.evaluation.metrics import query_length_bucket
from ragrerank.evaluation.runner import evaluate
from tests.conftest import KeywordScorer
from tests.test_qdrant import HashEmbedder

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

DOCS = {
    "d1": ("Aspirin", "Aspirin reduces the risk of heart attack."),
    "d2": ("Eiffel", "The Eiffel Tower is in Paris."),
    "d3": ("Vitamin D", "Vitamin D deficiency raises fracture risk."),
    "d4": ("Photosynthesis", "Plants convert light into chemical energy."),
    "d5": ("Aspirin dose", "Low-dose aspirin prevents cardiovascular events."),
    "d6": ("Python", "Python is a programming language."),
}
QUERIES = {
    "q1": "does aspirin prevent heart attack",
    "q2": "vitamin d and bone fracture risk in older adults living at home alone",
    "q3": "where is the eiffel tower",
}
QRELS = {"q1": {"d1": 1}, "q2": {"d3": 1}, "q3": {"d2": 1}}


def write_beir(root: Path, splits: Sequence[str] = ("test",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w") as f:
        for i, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": i, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as f:
        for q, text in QUERIES.items():
            f.write(json.dumps({"_id": q, "text": text}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    for split in splits:
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"{q}\t{d}\t{r}" for q, rel in QRELS.items() for d, r in rel.items()]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


class PlaceRelevant(BaseScorer):
    """Puts each query's relevant doc at a fixed rank (1-based); counts calls."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.calls = 0

    def to_dict(self) -> dict[str, object]:
        return {"type": "PlaceRelevant", "rank": self.rank}

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls += 1
        qid = next(q for q, t in QUERIES.items() if t == query)
        relevant = set(QRELS[qid])
        others = [c for c in candidates if c.id not in relevant]
        order = others[: self.rank - 1] + [c for c in candidates if c.id in relevant]
        order += others[self.rank - 1 :]
        rank_of = {c.id: r for r, c in enumerate(order)}
        return ScoreOutput([float(len(order) - rank_of[c.id]) for c in candidates])


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")


def scripted_report(beir: Path, tmp_path: Path, **options: Any) -> EvalReport:
    """A dense run of two scripted rerankers: relevant documents first ("top") and second."""
    return evaluate(
        beir,
        {"top": PlaceRelevant(1), "second": PlaceRelevant(2)},
        first_stage="dense",
        candidates=6,
        cache_dir=tmp_path / "cache",
        dense_model=HashEmbedder(),
        show_progress=False,
        **options,
    )


def test_metrics_match_hand_computed_values(beir: Path, tmp_path: Path) -> None:
    report = scripted_report(beir, tmp_path, latency_points=(2, 6), latency_queries=1)
    top, second = report.systems["top"].metrics, report.systems["second"].metrics
    assert top["nDCG@10"] == pytest.approx(1.0)
    assert top["RR@10"] == pytest.approx(1.0)
    assert second["RR@10"] == pytest.approx(0.5)
    assert second["nDCG@10"] == pytest.approx(1 / math.log2(3))
    assert second["R@10"] == top["R@100"] == pytest.approx(1.0)
    # Lift@3 is nDCG@3 minus the first stage's; wins + losses + ties = queries.
    fs = report.systems["first stage (dense)"]
    assert report.systems["top"].lift_at_3 == pytest.approx(1.0 - fs.metrics["nDCG@3"])
    r = report.systems["second"]
    assert r.wins + r.losses + r.ties == 3
    assert r.latency_ms is not None and r.latency_ms["n"] == 3
    assert set(report.latency_vs_candidates["top"]) == {"2", "6"}
    # Slices: the default query-length buckets cover every query.
    buckets = report.slices["query length"]
    assert sum(b["n"] for b in buckets.values()) == 3
    assert report.per_query["top"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0}


def test_rerun_reuses_first_stage_and_scores(beir: Path, tmp_path: Path) -> None:
    embedder, scorer = HashEmbedder(), PlaceRelevant(1)
    kwargs = dict(
        first_stage="hybrid",
        candidates=4,
        cache_dir=tmp_path / "cache",
        latency_queries=0,
        show_progress=False,
    )
    first = evaluate(beir, {"r": scorer}, dense_model=embedder, **kwargs)  # type: ignore[arg-type]
    assert scorer.calls == 3 and embedder.calls  # indexed and scored
    embedder2 = HashEmbedder()
    again = evaluate(beir, {"r": scorer}, dense_model=embedder2, **kwargs)  # type: ignore[arg-type]
    assert scorer.calls == 3  # every score came from the disk cache
    assert embedder2.calls == []  # no indexing, no query encoding
    assert again.systems["r"].metrics == first.systems["r"].metrics
    # Latency of cached queries is the one measured when they were scored.
    assert again.systems["r"].latency_ms == first.systems["r"].latency_ms


def test_first_stage_run_is_ranked_and_keeps_scores(beir: Path, tmp_path: Path) -> None:
    runs = first_stage_run(beir, "test", "bm25", 3, tmp_path / "c", dense_model=HashEmbedder(),
                           show_progress=False)  # fmt: skip
    assert set(runs) == set(QUERIES)
    for cands in runs.values():
        assert len(cands) <= 3
        scores = [c.score for c in cands]
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert runs["q1"][0].id == "d1"
    assert runs["q1"][0].text == "Aspirin Aspirin reduces the risk of heart attack."


def test_bm25_first_stage_never_uses_a_dense_encoder(
    beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to dense-encode the whole corpus (most of a SciFact run) for nothing.
    spy = HashEmbedder()
    runs = first_stage_run(beir, "test", "bm25", 6, tmp_path / "c", dense_model=spy,
                           show_progress=False)  # fmt: skip
    assert spy.calls == []
    from ragrerank.retrieval.qdrant import QdrantRetriever
    from ragrerank.retrieval.qdrant.encoders import DenseEncoder

    with QdrantRetriever(dense_model=HashEmbedder(), show_progress=False) as both:
        both.index({"id": d, "text": f"{t} {x}"} for d, (t, x) in DOCS.items())
        for q, text in QUERIES.items():
            ref = [(c.id, c.score) for c in both.retrieve(text, top_n=6, mode="sparse")]
            assert [(c.id, c.score) for c in runs[q]] == ref  # the same BM25 ranking
    # The default dense model is not loaded either (the `ragrerank eval` path).
    monkeypatch.setattr(DenseEncoder, "load", _no_dense)
    assert first_stage_run(beir, "test", "bm25", 6, tmp_path / "c2", show_progress=False) == runs


def _no_dense(self: object) -> None:
    raise AssertionError("a bm25 first stage loaded a dense model")


def test_custom_slices_and_subset_of_queries(beir: Path, tmp_path: Path) -> None:
    report = evaluate(
        beir,
        {"kw": KeywordScorer()},
        first_stage="dense",
        candidates=6,
        query_ids=["q1", "q3"],
        slices={"has digit": lambda q: "yes" if any(ch.isdigit() for ch in q) else "no"},
        cache_dir=tmp_path / "cache",
        dense_model=HashEmbedder(),
        latency_queries=0,
        show_progress=False,
    )
    assert report.n_queries == 2
    assert set(report.slices) == {"query length", "has digit"}
    assert report.slices["has digit"]["no"]["n"] == 2


def test_report_files(beir: Path, tmp_path: Path) -> None:
    report = evaluate(beir, {"kw": KeywordScorer()}, first_stage="dense", candidates=6,
                      cache_dir=tmp_path / "c", dense_model=HashEmbedder(),
                      latency_points=(3,), latency_queries=1, show_progress=False)  # fmt: skip
    paths = report.write(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["systems"]["kw"]["metrics"]["nDCG@10"] == report.systems["kw"].metrics["nDCG@10"]
    md = paths["markdown"].read_text()
    assert "| kw |" in md and "lift@3" in md and "By query length" in md
    for key in ("lift_plot", "latency_plot"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_inputs(beir: Path, tmp_path: Path) -> None:
    common = dict(cache_dir=tmp_path / "c", show_progress=False, dense_model=HashEmbedder())
    with pytest.raises(FileNotFoundError, match="qrels for split 'dev'"):
        evaluate(beir, {}, split="dev", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="candidates"):
        evaluate(beir, {}, candidates=0, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first_stage"):
        evaluate(beir, {}, first_stage="splade", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="query ids"):
        evaluate(beir, {}, query_ids=["nope"], **common)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'x'"):
        evaluate(beir, {"x": object()}, **common)  # type: ignore[arg-type, dict-item]


def test_query_length_buckets() -> None:
    assert query_length_bucket("a b c").startswith("short")
    assert query_length_bucket(" ".join("w" * 1 for _ in range(12))).startswith("medium")
    assert query_length_bucket(" ".join(["w"] * 20)).startswith("long")
