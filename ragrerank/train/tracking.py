"""Experiment tracking for the trainers (`TrainConfig.report_to`).

MLflow: the Hugging Face trainer's own callback logs the training arguments and every
logged value (loss, learning rate, ``eval_val_ndcg@10`` as ``eval_val_ndcg_10``) into a run
that `mlflow_run` opens, names after the output folder and ends; the run also gets the
`TrainConfig` (``ragrerank.*`` parameters) and the saved model folder as its ``model``
artifact. Without ``MLFLOW_TRACKING_URI`` the run goes to a local file store, ``./mlruns``
(no server; MLflow 3 keeps file stores in maintenance mode, so ``MLFLOW_ALLOW_FILE_STORE``
is set for them); the experiment is ``MLFLOW_EXPERIMENT_NAME`` or ``ragrerank-train``.

TensorBoard: event files in ``<out>/runs`` (``TENSORBOARD_LOGGING_DIR`` overrides).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import require
from .config import TrainConfig

__all__ = [
    "DEFAULT_EXPERIMENT",
    "TENSORBOARD_DIR",
    "check_trackers",
    "log_model_folder",
    "mlflow_run",
    "mlflow_tracking_uri",
    "tracker_callbacks",
    "trainer_report_to",
]

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "ragrerank-train"
DEFAULT_STORE = "mlruns"
TENSORBOARD_DIR = "runs"
#: The module each tracker needs, and the ragrerank extra that installs it.
_NEEDS = {"mlflow": ("mlflow", "mlflow"), "tensorboard": ("tensorboard", "tensorboard")}


def check_trackers(report_to: Sequence[str]) -> None:
    """Raise `ragrerank.errors.MissingDependencyError` naming the extra (e.g.
    ``pip install 'ragrerank[mlflow]'``) unless every tracker in ``report_to`` is installed."""
    for name in report_to:
        module, extra = _NEEDS[name]
        require(module, extra)


def trainer_report_to(report_to: Sequence[str]) -> list[str] | str:
    """``TrainingArguments.report_to``: the trackers the trainer sets up itself (TensorBoard
    is added by `tracker_callbacks`, to write into ``<out>/runs``)."""
    return [r for r in report_to if r != "tensorboard"] or "none"


def tracker_callbacks(report_to: Sequence[str], out: Path) -> list[Any]:
    """Trainer callbacks for the trackers `trainer_report_to` leaves out."""
    if "tensorboard" not in report_to:
        return []
    from transformers.integrations import integration_utils

    callback: Any = integration_utils.TensorBoardCallback()  # type: ignore[no-untyped-call]
    if callback.logging_dir is None:  # no TENSORBOARD_LOGGING_DIR: beside the model
        callback.logging_dir = str(out / TENSORBOARD_DIR)
    return [callback]


def mlflow_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` (or one set with ``mlflow.set_tracking_uri``), else the file
    store ``./mlruns`` as an absolute ``file:`` URI."""
    mlflow: Any = require("mlflow", "mlflow")
    if mlflow.is_tracking_uri_set():
        return str(mlflow.get_tracking_uri())
    return Path(DEFAULT_STORE).absolute().as_uri()


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or ("://" not in uri and not uri.startswith("databricks"))


@contextmanager
def mlflow_run(
    config: TrainConfig, out: Path, *, main: bool, info: Mapping[str, Any] | None = None
) -> Iterator[bool]:
    """An MLflow run around training when ``config.report_to`` has ``"mlflow"`` and this is
    the main process; yields whether one is open. A run already active (``mlflow.start_run``
    by the caller) is used and left open; the one opened here is ended, ``FAILED`` or
    ``KILLED`` when training raises."""
    if "mlflow" not in config.report_to or not main:
        yield False
        return
    mlflow: Any = require("mlflow", "mlflow")
    if mlflow.active_run() is not None:
        _log_params(mlflow, config, info)
        yield True
        mlflow.flush_async_logging()
        return
    uri = mlflow_tracking_uri()
    own_uri = not mlflow.is_tracking_uri_set()
    if _is_file_store(uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if own_uri:
        mlflow.set_tracking_uri(uri)
    status = "FINISHED"
    try:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment is not None else client.create_experiment(name)
        )
        run = mlflow.start_run(experiment_id=experiment_id, run_name=out.name)
        logger.info("MLflow run %s in experiment %r at %s", run.info.run_id, name, uri)
        _log_params(mlflow, config, info)
        try:
            yield True
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            mlflow.flush_async_logging()
            mlflow.end_run(status=status)
    finally:
        if own_uri:
            mlflow.set_tracking_uri(None)  # as before: unset


def _log_params(mlflow: Any, config: TrainConfig, info: Mapping[str, Any] | None) -> None:
    """The `TrainConfig` and the run's scalar facts (``info``) as ``ragrerank.*`` params (the
    trainer's callback logs its own arguments under their names)."""
    values = {**asdict(config), **dict(info or {})}
    params = {
        f"ragrerank.{k}": v
        for k, v in values.items()
        if isinstance(v, (str, int, float, bool, tuple)) and len(str(v)) <= 250
    }
    mlflow.log_params(params)


def log_model_folder(out: Path, *, skip: Sequence[str]) -> None:
    """Log the saved model folder ``out`` (its weights, ``train_log.json``, plot) as the
    active MLflow run's ``model`` artifact, leaving out the entries named in ``skip``."""
    import mlflow

    for path in sorted(out.iterdir()):
        if path.name in skip:
            continue
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=f"model/{path.name}")
        else:
            mlflow.log_artifact(str(path), artifact_path="model")
