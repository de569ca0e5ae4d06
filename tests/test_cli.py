"""``ragrerank eval`` end to end on a tiny BEIR folder with tiny models, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")

from ragrerank.apps.cli import main
from tests.test_colbert import build_plain
from tests.test_evaluate import QUERIES, write_beir

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer plain BERT: the dense first stage (mean pooling) and a ColBERT encoder."""
    return build_plain(tmp_path_factory.mktemp("tiny_encoder"))


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")


def write_config(path: Path, tiny_ce: str, tiny_encoder: str) -> Path:
    path.write_text(
        f"""
[[reranker]]
name = "ce"
backend = "cross-encoder"
model = "{tiny_ce}"

[[reranker]]
name = "ce-bf16"
backend = "cross-encoder"
model = "{tiny_ce}"
options = {{ dtype = "bfloat16", batch_size = 4 }}

[[reranker]]
name = "colbert"
backend = "colbert"
model = "{tiny_encoder}"

[[reranker]]
name = "cascade"
backend = "cascade"
options = {{ keep = 2 }}
cheap = {{ backend = "colbert", model = "{tiny_encoder}" }}
expensive = {{ backend = "cross-encoder", model = "{tiny_ce}" }}

[[reranker]]
name = "trained"
backend = "cross-encoder"
model = "models/not-trained-yet"
optional = true
""",
        encoding="utf-8",
    )
    return path


def run_eval(
    beir: Path, tmp_path: Path, tiny_encoder: str, *extra: str
) -> tuple[int, Path, list[str]]:
    out = tmp_path / "out"
    argv = [
        "eval",
        "--data",
        str(beir),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--dense-model",
        tiny_encoder,
        "--no-progress",
        *extra,
    ]
    return main(argv), out, argv


def test_eval_end_to_end_writes_reports(
    beir: Path,
    tmp_path: Path,
    tiny_ce: str,
    tiny_encoder: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = write_config(tmp_path / "rerankers.toml", tiny_ce, tiny_encoder)
    code, out, _ = run_eval(
        beir, tmp_path, tiny_encoder, "--first-stage", "bm25", "--candidates", "5",
        "--config", str(config), "--latency-queries", "1",
    )  # fmt: skip
    assert code == 0
    stdout = capsys.readouterr().out
    assert "# Evaluation: " in stdout and "written: " in stdout
    files = {p.name for p in out.iterdir()}
    assert files == {"report.json", "summary.md", "lift_by_slice.png", "latency_vs_candidates.png",
                     "failure_taxonomy.png", "per_query_taxonomy.csv", "traces"}  # fmt: skip
    for png in ("lift_by_slice.png", "latency_vs_candidates.png", "failure_taxonomy.png"):
        assert (out / png).read_bytes()[:8] == PNG
    report = json.loads((out / "report.json").read_text())
    assert report["first_stage"] == "bm25" and report["candidates"] == 5
    assert report["n_queries"] == len(QUERIES)
    names = ["first stage (bm25)", "ce", "ce-bf16", "colbert", "cascade"]
    assert list(report["systems"]) == names  # the optional model is missing: skipped
    assert "skipping reranker 'trained'" in caplog.text
    for name in names:
        metrics = report["systems"][name]["metrics"]
        assert set(metrics) == {"nDCG@10", "RR@10", "R@10", "R@100", "nDCG@3"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # Reranking does not change the candidate set.
    assert {report["systems"][n]["metrics"]["R@100"] for n in names} == {
        report["systems"]["first stage (bm25)"]["metrics"]["R@100"]
    }
    assert set(report["latency_vs_candidates"]) == set(names[1:])
    assert report["machine"]["cores"] >= 1
    summary = (out / "summary.md").read_text()
    for name in names:
        assert f"| {name} |" in summary


def test_eval_first_stage_only_and_query_subset(
    beir: Path, tmp_path: Path, tiny_encoder: str
) -> None:
    code, out, _ = run_eval(beir, tmp_path, tiny_encoder, "--first-stage", "dense",
                            "--queries", "2", "--latency-queries", "0")  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_queries"] == 2
    assert list(report["systems"]) == ["first stage (dense)"]
    assert report["latency_vs_candidates"] == {}


def test_eval_bm25_loads_no_dense_model(
    beir: Path, tmp_path: Path, tiny_encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragrerank.retrieval.qdrant.encoders import DenseEncoder

    def no_dense(self: object) -> None:
        raise AssertionError("ragrerank eval --first-stage bm25 loaded the dense model")

    monkeypatch.setattr(DenseEncoder, "load", no_dense)
    code, out, _ = run_eval(beir, tmp_path, tiny_encoder, "--first-stage", "bm25",
                            "--latency-queries", "0")  # fmt: skip
    assert code == 0
    assert list(json.loads((out / "report.json").read_text())["systems"]) == ["first stage (bm25)"]


def test_eval_taxonomy_k(beir: Path, tmp_path: Path, tiny_encoder: str) -> None:
    code, out, _ = run_eval(beir, tmp_path, tiny_encoder, "--first-stage", "bm25",
                            "--taxonomy-k", "1", "--latency-queries", "0")  # fmt: skip
    assert code == 0
    taxonomy = json.loads((out / "report.json").read_text())["taxonomy"]
    assert taxonomy["k"] == 1
    counts = taxonomy["systems"]["first stage (bm25)"]
    assert (
        counts["n"] == len(QUERIES)
        and "## Failure taxonomy (top 1)" in (out / "summary.md").read_text()
    )
    rows = (out / "per_query_taxonomy.csv").read_text().splitlines()
    assert len(rows) == 1 + len(QUERIES)


def test_python_dash_m_ragrerank_eval(beir: Path, tmp_path: Path, tiny_encoder: str) -> None:
    """The installed entry point path: a fresh interpreter, ``python -m ragrerank eval``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "ragrerank", "eval", "--data", str(beir), "--out", str(out),
         "--cache", str(tmp_path / "cache"), "--dense-model", tiny_encoder,
         "--first-stage", "bm25", "--no-progress", "--latency-queries", "0"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "summary.md").is_file() and (out / "report.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--candidates", "0"], "--candidates must be >= 1, got 0"),
        (["--queries", "0"], "--queries must be >= 1, got 0"),
        (["--taxonomy-k", "0"], "--taxonomy-k must be >= 1, got 0"),
        (["--max-traces", "-1"], "--max-traces must be >= 0, got -1"),
        (["--split", "dev"], "qrels for split 'dev' not found"),
        (["--config", "missing.toml"], "reranker config not found: missing.toml"),
    ],
)
def test_eval_errors_exit_2_with_a_message(
    beir: Path,
    tmp_path: Path,
    tiny_encoder: str,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    code, out, _ = run_eval(beir, tmp_path, tiny_encoder, *extra)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("ragrerank eval: error: ") and message in err
    assert not out.exists()  # nothing half-written


def test_eval_missing_model_folder_is_one_line(
    beir: Path, tmp_path: Path, tiny_encoder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "typo.toml"
    config.write_text(
        '[[reranker]]\nname = "ce"\nbackend = "cross-encoder"\nmodel = "./models/typo"\n'
    )
    code, out, _ = run_eval(beir, tmp_path, tiny_encoder, "--config", str(config),
                            "--first-stage", "bm25", "--latency-queries", "0")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("ragrerank eval: error: model folder './models/typo' does not exist")
    assert not out.exists()


def test_eval_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "data set 'nope' not found" in err and "RAGRERANK_DATA" in err


def test_eval_bad_config_names_the_field(
    beir: Path, tmp_path: Path, tiny_encoder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[reranker]]\nname = "x"\nbackend = "splade"\nmodel = "m"\n')
    code, _, _ = run_eval(beir, tmp_path, tiny_encoder, "--config", str(config))
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.toml: reranker[0]: field 'backend' must be one of" in err and "'splade'" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    import ragrerank

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"ragrerank {version('ragrerank')}"
    assert ragrerank.__version__ == version("ragrerank")


def test_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--data", "x", "--out", "y", "--first-stage", "splade"])
    assert exc.value.code == 2
    assert "invalid choice: 'splade'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--out", "y"])
    assert exc.value.code == 2
    assert "--data" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
