"""benchmarks/train_bench.py: the distillation summary and the markdown, from a report."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.train_bench import distillation, markdown

CE, STUDENT = "CE fine-tuned (MiniLM, 6 layers)", "CE student (3 layers, distilled)"


def _report() -> dict[str, Any]:
    run = {
        "kind": "cross-encoder",
        "steps": 10,
        "stopped_by": "time_budget",
        "wall_time_s": 600,
        "mining_s": 60,
        "parameters": 22e6,
        "command": "ragrerank train ...",
    }
    return {
        "machine": {
            "cpu": "x",
            "cores": 2,
            "torch": "2",
            "torch_threads": 2,
            "date_utc": "now",
            "load_average": [0.1, 0.1, 0.1],
        },
        "first_stages": ["hybrid"],
        "quality": {
            "hybrid": {
                "first stage": {"nDCG@10": 0.7},
                CE: {"nDCG@10": 0.64},
                STUDENT: {"nDCG@10": 0.56},
            }
        },
        "training": {
            CE: {**run, "best_val_ndcg@10": 0.77},
            STUDENT: {
                **run,
                "best_val_ndcg@10": 0.70,
                "teacher_val_ndcg@10": 0.77,
                "teacher": "CrossEncoderScorer(models/ce-minilm-scifact)",
            },
        },
        "speed": {
            CE: {"p50_ms": 1600.0, "p95_ms": 1700.0, "runs": 5},
            STUDENT: {"p50_ms": 800.0, "p95_ms": 900.0, "runs": 5},
        },
    }


def test_distillation_compares_student_with_its_teacher_on_test() -> None:
    report = _report()
    d = distillation(report, STUDENT)
    assert d["teacher_system"] == CE
    assert d["quality_kept"] == pytest.approx(0.56 / 0.64)
    assert d["speedup"] == pytest.approx(2.0)
    report["distillation"] = d
    md = markdown(report)
    assert "keeps 87.5% of the teacher's nDCG@10" in md and "2.00x faster" in md
    assert "| CE student (3 layers, distilled) | 0.5600 | 0.7000 |" in md


def test_teacher_is_matched_by_its_exact_folder_not_a_prefix() -> None:
    """A benchmarked 'ce-minilm-scifact-deep' is not the teacher 'ce-minilm-scifact'."""
    deep = "CE fine-tuned, deep negatives (MiniLM, 6 layers)"
    report = _report()
    training = report["training"]
    report["training"] = {**training, deep: dict(training[CE])}  # the prefix comes first
    report["quality"]["hybrid"][deep] = {"nDCG@10": 0.70}
    report["speed"][deep] = {"p50_ms": 1500.0, "p95_ms": 1600.0, "runs": 5}
    assert distillation(report, STUDENT)["teacher_system"] == CE
    training[STUDENT]["teacher"] = "CrossEncoderScorer(models/ce-minilm-scifact-deep)"
    report["training"][STUDENT]["teacher"] = training[STUDENT]["teacher"]
    assert distillation(report, STUDENT)["teacher_system"] == deep


def test_distillation_without_the_teacher_benchmarked_reports_validation_only() -> None:
    report = _report()
    report["training"][STUDENT]["teacher"] = "CohereScorer(rerank-v3.5)"
    d = distillation(report, STUDENT)
    assert "teacher_system" not in d and d["student_val"] == 0.70
    report["distillation"] = d
    assert "keeps" not in markdown(report)


def test_reproduce_commands_carry_no_machine_paths() -> None:
    """A command recorded with an absolute --data is shown as run from the repository
    root, with the documented relative path (docs/training.md)."""
    from benchmarks.common import ROOT

    report = _report()
    data = ROOT.parent / "shared" / "data" / "scifact"
    report["training"][CE]["command"] = f"ragrerank train cross-encoder --data {data} --seed 0"
    md = markdown(report)
    assert "ragrerank train cross-encoder --data ../shared/data/scifact --seed 0" in md
    assert str(ROOT.parent) + "/" not in md
