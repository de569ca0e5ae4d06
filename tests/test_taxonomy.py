"""ragrerank.evaluation.taxonomy: candidate failure / scoring failure / success per query,
hand-worked on constructed runs, then through `evaluate` and the report files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from ragrerank import failure_taxonomy
from ragrerank.evaluation.report import EvalReport
from ragrerank.evaluation.taxonomy import QueryOutcome, taxonomy_report, write_taxonomy_files

# First-stage candidates: each query's docs with descending first-stage scores.
CANDIDATES = {
    "qa": {"a1": 0.4, "a2": 0.9, "a3": 0.3},
    "qb": {"b1": 0.9, "b2": 0.8},
    "qc": {"c1": 0.9, "c2": 0.8, "c3": 0.7, "c4": 0.6, "c5": 0.5},
    "qd": {},
    "qe": {"e1": 0.5, "e2": 0.4},
    "qf": {"f1": 0.9, "f2": 0.1},
}
QRELS = {
    "qa": {"a1": 1, "a2": 0},  # a1 is the only relevant one (a2 is judged not relevant)
    "qb": {"b9": 2},  # b9 was never retrieved
    "qc": {"c4": 1, "c5": 2},
    "qd": {"d1": 1},  # no candidates at all
    "qe": {"e1": 0},  # only a grade-0 judgement: nothing relevant
    "qf": {"f2": 1},  # the system below returns nothing for qf
}
SYSTEM = {
    "qa": {"a1": 5.0, "a2": 1.0, "a3": 0.0},  # a1 moved from first-stage rank 2 to 1
    "qb": {"b1": 1.0, "b2": 2.0},
    "qc": {"c1": 5.0, "c2": 4.0, "c3": 3.0, "c4": 2.0, "c5": 1.0},  # relevant at 4 and 5
    "qe": {"e1": 1.0, "e2": 0.0},
}


def test_hand_worked_categories() -> None:
    got = failure_taxonomy(QRELS, CANDIDATES, SYSTEM, k=3)
    assert list(got) == list(QRELS)
    # qa: a1 (relevant) is ranked 1st of 3 -> success.
    assert got["qa"] == QueryOutcome("success", 1, 1, 0, 1)
    # qb: the relevant b9 is not among the candidates -> candidate failure, whatever the order.
    assert got["qb"] == QueryOutcome("candidate_failure", 0, 0, 0, None)
    # qc: two relevant candidates, ranked 4 and 5 > k=3 -> scoring failure, both missed.
    assert got["qc"] == QueryOutcome("scoring_failure", 2, 0, 2, 4)
    # qd: no candidates; qe: a grade 0 is not relevant -> both candidate failures.
    assert got["qd"].category == got["qe"].category == "candidate_failure"
    assert got["qe"].relevant_candidates == 0 and got["qe"].best_relevant_rank is None
    # qf: f2 is a candidate but the system ranked nothing (empty top k) -> scoring failure.
    assert got["qf"] == QueryOutcome("scoring_failure", 1, 0, 1, None)
    # With k=5 qc's two relevant candidates are in the top k: a success, nothing missed.
    assert failure_taxonomy(QRELS, CANDIDATES, SYSTEM, k=5)["qc"] == QueryOutcome(
        "success", 2, 2, 0, 4
    )


def test_first_stage_as_its_own_system() -> None:
    got = failure_taxonomy(QRELS, CANDIDATES, CANDIDATES, k=1)
    # qa: the first stage ranks a2 (0.9) above a1 (0.4): a1 is at rank 2 > k=1.
    assert got["qa"] == QueryOutcome("scoring_failure", 1, 0, 1, 2)
    assert got["qf"] == QueryOutcome("scoring_failure", 1, 0, 1, 2)
    assert got["qb"].category == "candidate_failure"


def test_ties_keep_first_stage_order() -> None:
    qrels = {"q": {"t3": 1}}
    candidates = {"q": {"t1": 0.9, "t2": 0.8, "t3": 0.7}}
    # All three tie, listed in reverse: the tie keeps the first-stage order t1, t2, t3.
    system = {"q": {"t3": 1.0, "t2": 1.0, "t1": 1.0}}
    assert failure_taxonomy(qrels, candidates, system, k=2)["q"] == QueryOutcome(
        "scoring_failure", 1, 0, 1, 3
    )
    assert failure_taxonomy(qrels, candidates, system, k=3)["q"].category == "success"
    # Tied first-stage scores: run order decides (t3 listed first -> rank 1).
    tied = {"q": {"t3": 0.5, "t1": 0.5, "t2": 0.5}}
    assert failure_taxonomy(qrels, tied, tied, k=1)["q"] == QueryOutcome("success", 1, 1, 0, 1)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10", None])
def test_k_must_be_a_positive_int(k: object) -> None:
    with pytest.raises(ValueError, match=r"k must be an int >= 1"):
        failure_taxonomy(QRELS, CANDIDATES, SYSTEM, k=k)  # type: ignore[arg-type]


def test_bad_runs_name_the_query_and_document() -> None:
    with pytest.raises(ValueError, match=r"query 'qa'.*'zz', not a candidate"):
        failure_taxonomy(QRELS, CANDIDATES, {"qa": {"zz": 1.0}})
    with pytest.raises(ValueError, match=r"query 'qc'.*'c2' is NaN"):
        failure_taxonomy(QRELS, CANDIDATES, {"qc": {"c2": math.nan}})
    with pytest.raises(ValueError, match=r"first-stage score of 'b1' is NaN"):
        failure_taxonomy(QRELS, {**CANDIDATES, "qb": {"b1": math.nan}}, SYSTEM)


def _report(max_traces: int = 100) -> tuple[dict[str, Any], dict[str, Any]]:
    queries = {q: f"query {q}" for q in QRELS}
    groups = {"letter": {"early": ["qa", "qb", "qc"], "late": ["qd", "qe", "qf"]}}
    runs = {"fs": CANDIDATES, "rr": SYSTEM}
    return taxonomy_report(QRELS, runs, "fs", queries, groups, 3, max_traces)


def test_counts_per_system_and_slice() -> None:
    report, traces = _report()
    rr = report["systems"]["rr"]
    assert (rr["success"], rr["scoring_failure"], rr["candidate_failure"]) == (1, 2, 3)
    assert rr["n"] == 6 and rr["share"]["candidate_failure"] == pytest.approx(0.5)
    assert rr["missed"] == 3  # qc's two and qf's one
    # Candidate failures are the first stage's: the same count for both systems.
    assert report["systems"]["fs"]["candidate_failure"] == 3
    late = report["slices"]["letter"]["late"]["systems"]["rr"]
    assert (late["n"], late["success"], late["scoring_failure"], late["candidate_failure"]) == (
        3, 0, 1, 2,
    )  # fmt: skip
    assert report["per_query"]["rr"]["qc"]["best_relevant_rank"] == 4
    json.dumps(report, allow_nan=False)  # JSON-serializable as is
    # Traces for the reranker's failures only (not the first stage's), not its success.
    assert set(traces) == {"rr"} and set(traces["rr"]) == {"qb", "qc", "qd", "qe", "qf"}


def test_trace_ranks() -> None:
    trace = _report()[1]["rr"]["qc"]
    assert trace["category"] == "scoring_failure" and trace["query"] == "query qc"
    rows = trace["candidates"]
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4", "c5"]
    assert [r["final_rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["relevant"] for r in rows] == [False, False, False, True, True]
    assert [r["in_top_k"] for r in rows] == [True, True, True, False, False]
    assert rows[4]["relevance"] == 2 and rows[4]["score"] == 1.0
    qb = _report()[1]["rr"]["qb"]["candidates"]  # b2 outscored b1: reversed first-stage order
    assert [(r["id"], r["first_stage_rank"], r["final_rank"]) for r in qb] == [
        ("b2", 2, 1), ("b1", 1, 2),
    ]  # fmt: skip
    # qf: the system ranked nothing; its candidates are listed unranked, first-stage order.
    qf = _report()[1]["rr"]["qf"]["candidates"]
    assert [(r["id"], r["score"], r["final_rank"]) for r in qf] == [
        ("f1", None, None), ("f2", None, None),
    ]  # fmt: skip


def test_trace_cap_prefers_scoring_failures_and_keeps_rows(tmp_path: Path) -> None:
    report, traces = _report(max_traces=1)
    assert list(traces["rr"]) == ["qc"]  # the first scoring failure before candidate ones
    assert _report(max_traces=0)[1] == {"rr": {}}
    table, trace_dir = write_taxonomy_files(report, traces, tmp_path)
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 2 * len(QRELS)  # every query of every system keeps its row
    by = {(r["system"], r["qid"]): r for r in rows}
    assert by[("rr", "qc")]["trace"] == "traces/rr/qc.json"
    assert by[("rr", "qb")]["trace"] == "" and by[("rr", "qb")]["category"] == "candidate_failure"
    assert (
        by[("rr", "qc")]["best_relevant_rank"] == "4"
        and by[("rr", "qb")]["best_relevant_rank"] == ""
    )
    assert json.loads((tmp_path / "traces/rr/qc.json").read_text())["candidates"][3]["id"] == "c4"
    assert sorted(p.name for p in trace_dir.rglob("*.json")) == ["qc.json"]


def test_trace_paths_are_safe_and_distinct(tmp_path: Path) -> None:
    trace = {"qid": "x", "candidates": []}
    traces = {"ce/v1": {"../q 1": trace}, "ce v1": {"q": trace}}
    write_taxonomy_files({}, traces, tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    assert files == ["traces/ce-v1-2/q.json", "traces/ce-v1/q-1.json"]


def test_old_report_without_taxonomy_still_writes(tmp_path: Path) -> None:
    report = EvalReport("d", "test", "bm25", 5, 0, {}, {}, {}, {}, {})
    assert "Failure taxonomy" not in report.markdown()
    paths = report.write(tmp_path)
    assert "taxonomy_plot" not in paths and not (tmp_path / "per_query_taxonomy.csv").exists()
    assert json.loads(paths["json"].read_text())["taxonomy"] == {}


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_evaluate_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("ir_measures")
    pytest.importorskip("qdrant_client")
    from ragrerank.evaluation.first_stage import first_stage_run
    from ragrerank.evaluation.runner import evaluate
    from tests.test_evaluate import QRELS as TINY_QRELS
    from tests.test_evaluate import PlaceRelevant, write_beir
    from tests.test_qdrant import HashEmbedder

    beir, cache = write_beir(tmp_path / "tiny"), tmp_path / "cache"
    report = evaluate(beir, {"top": PlaceRelevant(1), "third/x": PlaceRelevant(3)},
                      first_stage="dense", candidates=6, cache_dir=cache,
                      dense_model=HashEmbedder(), latency_queries=0, show_progress=False,
                      taxonomy_k=2)  # fmt: skip
    tax = report.taxonomy
    assert tax["k"] == 2
    # All 6 documents are candidates: no candidate failure. "top" puts the relevant one
    # first (success), "third/x" third, below k=2 (scoring failure, best rank 3).
    assert tax["systems"]["top"]["success"] == 3
    third = tax["systems"]["third/x"]
    assert (third["scoring_failure"], third["missed"]) == (3, 3)
    assert {r["best_relevant_rank"] for r in tax["per_query"]["third/x"].values()} == {3}
    # The first stage's categories, from its own ranked candidates (reference: the run).
    runs = first_stage_run(beir, "test", "dense", 6, cache, dense_model=HashEmbedder(),
                           show_progress=False)  # fmt: skip
    fs_ids = {q: [str(c.id) for c in cands] for q, cands in runs.items()}
    fs_rank = {q: fs_ids[q].index(next(iter(TINY_QRELS[q]))) + 1 for q in runs}
    fs = tax["per_query"]["first stage (dense)"]
    assert {q: fs[q]["best_relevant_rank"] for q in fs} == fs_rank
    assert {q: fs[q]["category"] for q in fs} == {
        q: "success" if r <= 2 else "scoring_failure" for q, r in fs_rank.items()
    }
    # Slices: every query-length bucket's counts add up to its queries.
    for bucket in tax["slices"]["query length"].values():
        counts = bucket["systems"]["third/x"]
        assert (
            sum(counts[c] for c in ("success", "scoring_failure", "candidate_failure"))
            == (bucket["n"])
        )
    paths = report.write(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["taxonomy"]["systems"]["third/x"]["scoring_failure"] == 3
    assert "failure_traces" not in data
    md = paths["markdown"].read_text()
    assert "## Failure taxonomy (top 2)" in md and "### third/x" in md
    assert "| all | 3 | 0 (0%) | 3 (100%) | 0 (0%) | 3 |" in md
    assert "| all | 3 | 3 (100%) | 0 (0%) | 0 (0%) | 0 |" in md  # "top"
    assert paths["taxonomy_plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(paths["taxonomy_table"].open()))
    assert len(rows) == 3 * 3  # 3 queries x (first stage + 2 rerankers)
    trace_rows = [r for r in rows if r["trace"]]
    assert {r["system"] for r in trace_rows} == {"third/x"} and len(trace_rows) == 3
    q1 = next(r for r in trace_rows if r["qid"] == "q1")
    assert q1["query"] == "does aspirin prevent heart attack"
    trace = json.loads((paths["json"].parent / q1["trace"]).read_text())
    assert q1["trace"] == "traces/third-x/q1.json" and trace["qid"] == "q1"
    entries = trace["candidates"]
    assert [e["final_rank"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e["relevant"] for e in entries] == [False, False, True, False, False, False]
    assert entries[2]["id"] == "d1" and entries[2]["in_top_k"] is False
    assert [e["first_stage_rank"] for e in entries] == [
        fs_ids["q1"].index(e["id"]) + 1 for e in entries
    ]
    assert [e["score"] for e in entries] == sorted((e["score"] for e in entries), reverse=True)


def test_evaluate_checks_taxonomy_options(tmp_path: Path) -> None:
    pytest.importorskip("ir_measures")
    from ragrerank.evaluation.runner import evaluate

    for kwargs, message in (({"taxonomy_k": 0}, "taxonomy_k"), ({"max_traces": -1}, "max_traces")):
        with pytest.raises(ValueError, match=message):
            evaluate(tmp_path / "none", {}, cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
