"""Offline comparison of two systems of one run (``ragrerank eval --compare A B``): the
per-query numbers hand-checked, `evaluate(compare=...)` on scripted rerankers, and the
command line writing them into report.json and summary.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")

from ragrerank.apps.cli import main
from ragrerank.evaluation.compare import check_pairs, compare_systems, comparisons_markdown
from ragrerank.evaluation.runner import evaluate
from tests.test_evaluate import PlaceRelevant, scripted_report, write_beir

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


def test_compare_systems_hand_worked() -> None:
    values = {
        "A": {"q1": 1.0, "q2": 0.5, "q3": 0.2, "q4": 0.3},
        "B": {"q1": 0.5, "q2": 0.5, "q3": 0.4, "q4": 0.0},
    }
    c = compare_systems("A", "B", values, ["q1", "q2", "q3", "q4"])
    assert (c["wins"], c["losses"], c["ties"], c["queries"]) == (2, 1, 1, 4)
    assert c["mean_a"] == pytest.approx(0.5) and c["mean_b"] == pytest.approx(0.35)
    assert c["mean_difference"] == pytest.approx(0.15)
    assert c["sign_test_p"] == 1.0  # 2 wins vs 1 loss: 2 * P(X <= 1 | n = 3) = 2 * 4/8, capped
    # Differences 0.5, -0.2, 0.3 (q2 ties): |sum| >= 0.6 for +-+, +++, -+-, ---: 4 of 8.
    assert c["randomization_p"] == pytest.approx(0.5)
    assert all(type(c[k]) is float for k in ("mean_a", "mean_difference", "sign_test_p"))
    # The other way round: wins and losses swap, the p-values stay.
    r = compare_systems("B", "A", values, ["q1", "q2", "q3", "q4"])
    assert (r["wins"], r["losses"]) == (1, 2) and r["randomization_p"] == c["randomization_p"]
    json.dumps(c, allow_nan=False)  # plain JSON
    md = "\n".join(comparisons_markdown([c]))
    assert "| A | B | 0.5000 | 0.3500 | +0.1500 | 2/1/1 | 1 | 0.5 |" in md


def test_check_pairs_names_the_problem() -> None:
    systems = ["first stage (bm25)", "x", "y"]
    assert check_pairs([["x", "y"], ("first stage (bm25)", "x")], systems) == [
        ("x", "y"),
        ("first stage (bm25)", "x"),
    ]
    with pytest.raises(ValueError, match=r"compare\[1\]: unknown system 'z'; systems of this"):
        check_pairs([("x", "y"), ("x", "z")], systems)
    with pytest.raises(ValueError, match=r"compare\[0\]: compares 'x' with itself"):
        check_pairs([("x", "x")], systems)
    with pytest.raises(ValueError, match=r"compare\[0\]: expected two system names"):
        check_pairs([("x", "y", "x")], systems)


def test_evaluate_compares_scripted_rerankers(tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "tiny")
    report = scripted_report(beir, tmp_path, latency_queries=0,
                             compare=[("top", "second"), ("second", "first stage (dense)")])  # fmt: skip
    first, second = report.comparisons
    # Every query: nDCG@10 1 (relevant first) vs 1/log2(3) (relevant second).
    assert (first["a"], first["b"], first["queries"]) == ("top", "second", 3)
    assert (first["wins"], first["losses"], first["ties"]) == (3, 0, 0)
    assert first["mean_difference"] == pytest.approx(1 - 1 / math.log2(3))
    assert first["sign_test_p"] == pytest.approx(0.25)  # 2 * (1/2)**3
    assert first["randomization_p"] == pytest.approx(0.25)  # 2 of the 8 sign patterns
    # Against the first stage: the counts agree with the report's own per-query values.
    pq = report.per_query
    qids = list(pq["second"])
    fs = pq["first stage (dense)"]
    assert second["wins"] == sum(pq["second"][q] > fs[q] + 1e-9 for q in qids)
    assert second["losses"] == sum(pq["second"][q] < fs[q] - 1e-9 for q in qids)
    assert second["wins"] == report.systems["second"].wins  # the same wins/losses code
    assert report.to_dict()["comparisons"] == report.comparisons
    assert "## Comparisons (per-query nDCG@10)" in report.markdown()


def test_evaluate_rejects_an_unknown_system_before_running(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown system 'first stage'"):
        evaluate(tmp_path / "nowhere", {"top": PlaceRelevant(1)}, first_stage="bm25",
                 compare=[("top", "first stage")], show_progress=False)  # fmt: skip


def write_bm25_config(path: Path) -> Path:
    path.write_text(
        '[[reranker]]\nname = "bm25-default"\nbackend = "bm25"\n\n'
        '[[reranker]]\nname = "bm25-flat"\nbackend = "bm25"\noptions = { k1 = 0.1, b = 0.0 }\n',
        encoding="utf-8",
    )
    return path


def test_cli_compare_writes_report_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = write_beir(tmp_path / "tiny")
    out = tmp_path / "out"
    argv = ["eval", "--data", str(beir), "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--first-stage", "bm25", "--candidates", "6", "--latency-queries", "0",
            "--no-progress", "--config", str(write_bm25_config(tmp_path / "r.toml")),
            "--compare", "bm25-default", "bm25-flat",
            "--compare", "first stage (bm25)", "bm25-default"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    pairs = [(c["a"], c["b"]) for c in report["comparisons"]]
    assert pairs == [("bm25-default", "bm25-flat"), ("first stage (bm25)", "bm25-default")]
    for c in report["comparisons"]:
        a, b = report["per_query"][c["a"]], report["per_query"][c["b"]]
        assert c["wins"] + c["losses"] + c["ties"] == c["queries"] == len(a) == 3
        assert c["mean_difference"] == pytest.approx(sum(a[q] - b[q] for q in a) / len(a))
        assert 0.0 < c["randomization_p"] <= 1.0 and 0.0 < c["sign_test_p"] <= 1.0
    summary = (out / "summary.md").read_text()
    assert "## Comparisons (per-query nDCG@10)" in summary
    assert "| bm25-default | bm25-flat |" in summary
    assert "| first stage (bm25) | bm25-default |" in summary
    assert "## Comparisons" in capsys.readouterr().out


def test_cli_compare_unknown_name_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = write_beir(tmp_path / "tiny")
    argv = ["eval", "--data", str(beir), "--out", str(tmp_path / "out"), "--first-stage", "bm25",
            "--config", str(write_bm25_config(tmp_path / "r.toml")),
            "--compare", "bm25-default", "bm25"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ragrerank eval: error: compare[0]: unknown system 'bm25'" in err
    assert not (tmp_path / "out").exists()


def test_cli_compares_two_config_files(tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "tiny")
    a = tmp_path / "a.toml"
    a.write_text('[[reranker]]\nname = "current"\nbackend = "bm25"\n', encoding="utf-8")
    b = tmp_path / "b.toml"
    b.write_text('[[reranker]]\nname = "challenger"\nbackend = "bm25"\n'
                 "options = { k1 = 0.1, b = 0.0 }\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    argv = ["eval", "--data", str(beir), "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--first-stage", "bm25", "--candidates", "6", "--latency-queries", "0",
            "--no-progress", "--config", str(a), "--config", str(b),
            "--compare", "current", "challenger"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert [(c["a"], c["b"]) for c in report["comparisons"]] == [("current", "challenger")]
    assert {"current", "challenger"} <= set(report["per_query"])


def test_cli_a_name_in_two_configs_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = write_beir(tmp_path / "tiny")
    one = write_bm25_config(tmp_path / "one.toml")
    two = write_bm25_config(tmp_path / "two.toml")
    argv = ["eval", "--data", str(beir), "--out", str(tmp_path / "out"), "--first-stage", "bm25",
            "--config", str(one), "--config", str(two)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"reranker name 'bm25-default' is in both {one} and {two}: rename one" in err
