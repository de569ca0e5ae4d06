"""``python -m benchmarks.run --quick`` on a tiny BEIR folder with tiny models: every
benchmark runs and writes its markdown, JSON and PNG with the documented structure."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")
pytest.importorskip("bm25s")
pytest.importorskip("langchain_classic")
pytest.importorskip("llama_index.core")

from tests.test_colbert import build_plain
from tests.test_evaluate import write_beir

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, tiny_ce: str) -> Path:
    tmp = tmp_path_factory.mktemp("bench")
    data = write_beir(tmp / "tiny")
    encoder = build_plain(tmp / "encoder")
    config = tmp / "rerankers.toml"
    config.write_text(
        f"""
[[reranker]]
name = "tiny CE"
backend = "cross-encoder"
model = "{tiny_ce}"
options = {{ dtype = "bfloat16" }}

[[reranker]]
name = "tiny ColBERT"
backend = "colbert"
model = "{encoder}"

[[reranker]]
name = "not trained yet"
backend = "cross-encoder"
model = "models/not-trained-yet"
optional = true
"""
    )
    out = tmp / "results"
    quality_args = ["--config", str(config), "--dense-model", encoder,
                    "--cache", str(tmp / "cache"), "--no-progress"]  # fmt: skip
    cmd = [
        sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out), "--data", str(data),
        "--speed-args", f"--model {shlex.quote(tiny_ce)}",
        "--quality-args", shlex.join(quality_args),
        "--colbert-args", f"--model {shlex.quote(encoder)}",
        "--dtype-args", f"--dense-model {shlex.quote(encoder)}",
        "--long_docs-args", f"--model {shlex.quote(encoder)} --no-progress",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp, check=False
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    assert "results in" in proc.stdout
    return out


def _load(results: Path, name: str) -> dict[str, Any]:
    for ext in ("md", "json", "png"):
        assert (results / f"{name}.{ext}").is_file(), f"{name}.{ext} missing"
    assert (results / f"{name}.png").read_bytes()[:8] == PNG
    md = (results / f"{name}.md").read_text()
    assert "Quick smoke run" in md and "Machine: " in md
    data: dict[str, Any] = json.loads((results / f"{name}.json").read_text())
    assert data["quick"] is True
    assert {"cpu", "cores", "load_average", "date_utc", "torch"} <= set(data["machine"])
    return data


def test_speed_results(results: Path) -> None:
    from benchmarks.speed import DEFAULT, PEERS, REFERENCE

    data = _load(results, "speed")
    assert data["inputs"]["candidates"] == [5, 10] and data["inputs"]["reps"] == 2
    systems = data["systems"]
    assert set(PEERS) | {REFERENCE, DEFAULT, "ragrerank bf16 (fastest)"} <= set(systems)
    for name, row in systems.items():
        assert row["kind"] in ("peer", "ragrerank")
        for n in ("5", "10"):
            point = row["by_candidates"][n]
            assert 0 < point["p50_ms"] <= point["p95_ms"] and point["runs"] == 2
        assert row["by_candidates"]["10"]["top10_agreement_mean"] <= 1.0
        if row["kind"] == "ragrerank" and name != REFERENCE and "cascade" not in name:
            assert row["by_candidates"]["10"]["max_score_drift"] >= 0.0
    assert any("cascade" in name for name in systems)
    # The fp32 reference agrees with itself; same weights and inputs: so do the fp32 peers.
    assert systems[REFERENCE]["by_candidates"]["10"]["top10_agreement_mean"] == 1.0
    assert systems[PEERS[2]]["by_candidates"]["10"]["top10_agreement_mean"] == 1.0
    fastest = data["ratios"]["ragrerank bf16 (fastest)"]
    assert set(fastest) == set(PEERS) and set(fastest[PEERS[0]]) == {"5", "10"}
    verdict = data["verdict"]["ragrerank bf16 (fastest)"]
    assert verdict["candidates"] == 10 and isinstance(verdict["met"], bool)
    amx = "AMX-BF16" in data["machine"]["matrix_features"]
    assert data["verdict"][DEFAULT]["target_speedup"] == (3.0 if amx else 2.5)
    assert data["verdict"][DEFAULT]["target_agreement"] == 0.99
    md = (results / "speed.md").read_text()
    assert "## 10 candidates" in md and "Speedup (peer p50 / ragrerank p50)" in md


def test_dtype_results(results: Path) -> None:
    data = _load(results, "dtype")
    float32, auto = data["rows"]
    assert (float32["dtype"], float32["resolved"], auto["dtype"]) == ("float32", "float32", "auto")
    assert auto["resolved"] == data["machine"]["auto_dtype_cpu"]
    for mode in ("dense", "hybrid"):
        assert float32["agreement"][mode] == 1.0  # the reference agrees with itself
        assert 0.0 <= auto["agreement"][mode] <= 1.0
        for row in (float32, auto):
            assert 0.0 <= row[mode]["metrics"]["nDCG@10"] <= 1.0
    assert float32["documents"] == auto["documents"] > 0 and auto["docs_per_s"] > 0
    md = (results / "dtype.md").read_text()
    assert f"| auto ({auto['resolved']}) |" in md


def test_quality_results(results: Path) -> None:
    data = _load(results, "quality")
    assert set(data["first_stages"]) == {"bm25", "dense", "hybrid"}
    for m in data["first_stages"].values():
        assert 0.0 <= m["nDCG@10"] <= 1.0 and 0.0 <= m["R@100"] <= 1.0
    best = data["rerank_first_stage"]
    assert best in data["first_stages"]
    assert set(data["rerankers"]) == {"tiny CE", "tiny ColBERT"}
    assert data["skipped_optional"] == ["not trained yet"]
    for r in data["rerankers"].values():
        assert r["first_stage"] == best
        assert r["first_stage_R@100"] == data["first_stages"][best]["R@100"]
        assert r["metrics"]["R@100"] == pytest.approx(r["first_stage_R@100"])
    assert set(data["anchors"]) and data["candidates"] == 20
    md = (results / "quality.md").read_text()
    assert f"| {best} + tiny CE |" in md and "BM25 + CE" in md


def test_colbert_results(results: Path) -> None:
    data = _load(results, "colbert")
    assert data["speed"]["candidates"] == 20
    assert data["speed"]["ragrerank_stored_cache"]["runs"] == 3
    assert {"bm25", "maxsim_float32", "maxsim_uint8"} <= set(data["quality"])


def test_long_docs_results(results: Path) -> None:
    from benchmarks.long_docs import POSITIONS

    data = _load(results, "long_docs")
    assert data["inputs"]["queries"] == 3 and data["inputs"]["tokens"] == 600
    rows = data["rows"]
    assert set(rows) == {"BM25 (first stage)", "ColBERT head", "ColBERT head_tail", "ColBERT MaxP"}
    for name, row in rows.items():
        for where in ("short", *POSITIONS) if row["family"] != "bm25" else ("short",):
            assert 0.0 <= row[where] <= 1.0, (name, where)
    assert rows["ColBERT head"]["short"] == rows["ColBERT MaxP"]["short"]  # the same model
    assert rows["ColBERT MaxP"]["chunks_per_document_mean"] > 1
    by_chunks = data["latency"]["by_chunks"]
    assert list(by_chunks) == ["1", "2", "4", "8", "16"]
    assert [v["chunks_per_query"] for v in by_chunks.values()] == [2, 4, 8, 16, 32]
    assert data["ce_model"] is None
    md = (results / "long_docs.md").read_text()
    assert "| ColBERT MaxP |" in md and "No cross-encoder rows" in md
