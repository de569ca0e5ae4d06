"""``ragrerank train`` under ``torchrun`` with two CPU processes (gloo): one model, one log,
one MLflow run, written by the first process; the mining cache filled once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")
pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")

from ragrerank import CrossEncoderScorer
from tests.test_train import beir, tiny_encoder  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_torchrun_two_processes_train_one_model(
    beir: Path,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    out, cache, store = tmp_path / "ce", tmp_path / "cache", (tmp_path / "store").as_uri()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
        "MLFLOW_TRACKING_URI": store,
    }
    unset = ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_ALLOW_FILE_STORE", "RANK",
             "WORLD_SIZE", "LOCAL_RANK")  # fmt: skip
    for name in unset:
        env.pop(name, None)
    # 15 training queries, 4 per process and step: 2 steps per epoch on 2 processes.
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
              "--master_addr", "127.0.0.1", "--master_port", str(free_port())]  # fmt: skip
    train = ["-m", "ragrerank.train", "cross-encoder", "--data", str(beir), "--base",
             tiny_encoder, "--out", str(out), "--cache", str(cache), "--quick", "--no-progress",
             "--val-queries", "4", "--batch-size", "4", "--epochs", "2", "--max-steps", "10",
             "--max-length", "48", "--eval-every", "2", "--report-to", "mlflow"]  # fmt: skip
    budget = ["--time-budget-min", "30"]  # not reached; its clock is agreed on every step
    cmd = [*launch, *train, *budget]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("saved ") == 1, proc.stdout  # only the first process reports

    log = json.loads((out / "train_log.json").read_text())
    assert log["processes"] == 2 and log["effective_batch_size"] == 8
    assert log["steps"] == 4 and log["stopped_by"] == "epochs"  # 2 epochs, not 2 x 2
    steps = [v["step"] for v in log["validation"]]
    assert steps == [0, 2, 4]  # each evaluation recorded once
    assert [x["step"] for x in log["losses"]] == [1, 2, 3, 4]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == []  # no checkpoints left
    scores = CrossEncoderScorer(out, dtype="float32").score("does aspirin work", ["a", "b"])
    assert len(scores) == 2

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the training set it for itself
    client = MlflowClient(store)
    [experiment] = client.search_experiments(filter_string="name = 'ragrerank-train'")
    [run] = client.search_runs([experiment.experiment_id])  # one run, from the first process
    assert run.data.params["ragrerank.processes"] == "2"
    assert len(client.get_metric_history(run.info.run_id, "eval_val_ndcg_10")) == 3


def _agree(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from ragrerank.train.distributed import agreed

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)  # fmt: skip
    try:
        Path(out, f"{rank}.txt").write_text(repr(agreed(10.0 * rank + 0.25)))
    finally:
        dist.destroy_process_group()


def test_processes_agree_on_the_first_ones_value(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    from ragrerank.train.distributed import agreed

    assert agreed(3.5) == 3.5  # one process: itself
    mp.spawn(_agree, args=(free_port(), str(tmp_path)), nprocs=2)
    assert [float((tmp_path / f"{r}.txt").read_text()) for r in (0, 1)] == [0.25, 0.25]
