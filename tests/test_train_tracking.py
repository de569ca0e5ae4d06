"""Experiment tracking of ``ragrerank train`` (``report_to``): MLflow runs read back with
MLflow's own client, TensorBoard event files with TensorBoard's reader, missing extras."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")

from ragrerank.errors import MissingDependencyError
from ragrerank.train import train_cross_encoder
from ragrerank.train.tracking import DEFAULT_EXPERIMENT, mlflow_tracking_uri
from tests.test_train import beir, mined, quick, tiny_encoder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An MLflow file store in ``tmp_path`` (MLFLOW_TRACKING_URI), default experiment."""
    uri = (tmp_path / "store").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.delenv(name, raising=False)  # set by the run: restored after the test
    return uri


def test_mlflow_run_holds_params_metrics_and_the_model(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
    store: str,
) -> None:
    pytest.importorskip("mlflow")
    import mlflow
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    train, val = mined.split(4)
    out = tmp_path / "ce"
    config = quick(max_steps=4, eval_every=2, loss="pairwise", lr=3e-4, report_to=("mlflow",))
    train_cross_encoder(train, out, base_model=tiny_encoder, val=val, config=config)
    assert mlflow.active_run() is None  # ended, not left open

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name(DEFAULT_EXPERIMENT)
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "ce"
    params = run.data.params
    assert float(params["learning_rate"]) == 3e-4  # the trainer's arguments
    assert params["ragrerank.loss"] == "pairwise" and params["ragrerank.processes"] == "1"

    log = json.loads((out / "train_log.json").read_text())
    ndcg = client.get_metric_history(run.info.run_id, "eval_val_ndcg_10")
    # One entry per evaluation: before training, every 2 steps (the last is step 4).
    assert [v["step"] for v in log["validation"]] == [0, 2, 4]
    assert [(m.step, m.value) for m in sorted(ndcg, key=lambda m: m.step)] == [
        (v["step"], v["ndcg@10"]) for v in log["validation"]
    ]
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in loss) == [
        (x["step"], pytest.approx(x["loss"])) for x in log["losses"]
    ]

    names = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.safetensors", "model/train_log.json", "model/train_plot.png"} <= names
    assert "model/checkpoints" not in names and not (out / "checkpoints").exists()
    logged = download_artifacts(run_id=run.info.run_id, artifact_path="model/train_log.json",
                                dst_path=str(tmp_path / "dl"), tracking_uri=store)  # fmt: skip
    assert json.loads(Path(logged).read_text()) == log


def test_mlflow_default_store_is_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert mlflow_tracking_uri() == (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert mlflow_tracking_uri() == "sqlite:///elsewhere.db"


def test_tensorboard_events_hold_the_loss(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "ce"
    config = quick(max_steps=3, report_to=("tensorboard",))
    train_cross_encoder(mined, out, base_model=tiny_encoder, config=config)
    events = list((out / "runs").glob("events.out.tfevents.*"))
    assert len(events) == 1
    reader = EventAccumulator(str(out / "runs"))
    reader.Reload()
    losses = json.loads((out / "train_log.json").read_text())["losses"]
    scalars = [(e.step, e.value) for e in reader.Scalars("train/loss")]
    assert len(scalars) == len(losses) == 3
    assert scalars == [(x["step"], pytest.approx(x["loss"], rel=1e-6)) for x in losses]


@pytest.mark.parametrize("tracker", ["mlflow", "tensorboard"])
def test_missing_tracker_names_the_extra_before_training(
    tracker: str,
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ragrerank.apps.cli import main

    monkeypatch.setitem(sys.modules, tracker, None)  # `import tracker` raises ImportError
    out = tmp_path / "ce"
    extra = rf"pip install 'ragrerank\[{tracker}\]'"
    with pytest.raises(MissingDependencyError, match=extra):
        train_cross_encoder(mined, out, base_model=tiny_encoder,
                            config=quick(max_steps=1, report_to=(tracker,)))  # fmt: skip
    assert not out.exists()  # nothing trained or written
    # The command line says so before loading (here: missing) data or mining.
    argv = ["train", "cross-encoder", "--data", str(tmp_path / "missing"), "--out", str(out),
            "--report-to", tracker]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"pip install 'ragrerank[{tracker}]'" in err and str(tmp_path) not in err
    assert not out.exists()
