"""benchmarks/common.py: statistics, interleaving, metrics and where results are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import common


def test_latency_stats() -> None:
    stats = common.latency_stats([10.0, 20.0, 30.0, 40.0, 1000.0])
    assert stats["p50_ms"] == 30.0 and stats["runs"] == 5
    assert 40.0 < stats["p95_ms"] < 1000.0 and stats["mean_ms"] == pytest.approx(220.0)
    with pytest.raises(ValueError, match="no latency samples"):
        common.latency_stats([])


def test_interleaved_visits_every_system_once_per_rep_in_shuffled_orders() -> None:
    order: list[tuple[str, int]] = []
    systems = {name: (lambda rep, name=name: order.append((name, rep))) for name in "abcd"}
    samples = common.interleaved(systems, reps=6)
    assert {n: len(v) for n, v in samples.items()} == dict.fromkeys("abcd", 6)
    assert all(ms >= 0.0 for v in samples.values() for ms in v)
    per_rep = [[n for n, r in order if r == rep] for rep in range(6)]
    assert all(sorted(names) == list("abcd") for names in per_rep)
    assert len({tuple(names) for names in per_rep}) > 1  # not always the same order


def test_ir_metrics_hand_computed() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d9": 1}}
    run = {"q1": {"d2": 2.0, "d1": 1.0}, "q2": {"d3": 1.0}}
    m = common.ir_metrics(qrels, run)
    assert m["nDCG@10"] == pytest.approx((1 / 1.5849625) / 2, rel=1e-6)
    assert m["R@100"] == pytest.approx(0.5)


def test_machine_has_versions_and_the_old_load_key() -> None:
    m = common.machine("numpy", "surely-not-installed-package")
    assert m["numpy"] and m["surely_not_installed_package"] is None
    assert m["load_average_at_start"] == m["load_average"] and m["cores"] >= 1
    assert "Machine: " in common.machine_line(m)


def test_write_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def plot(path: Path) -> None:
        path.write_bytes(b"png")

    paths = common.write_results("x", {"a": 1}, "# x\n", plot, tmp_path, echo=False)
    assert json.loads(paths["json"].read_text()) == {"a": 1}
    assert paths["markdown"].read_text() == "# x\n" and paths["png"].read_bytes() == b"png"
    # Without --out, quick reports never land in benchmarks/results.
    monkeypatch.setattr(common, "QUICK_RESULTS", tmp_path / "quick")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    assert common.write_results("y", {"quick": True}, "", echo=False)["json"].parent == (
        tmp_path / "quick"
    )
    assert common.write_results("y", {"quick": False}, "", echo=False)["json"].parent == (
        tmp_path / "results"
    )
