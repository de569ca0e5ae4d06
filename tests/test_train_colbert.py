"""ColBERT training on sentence-transformers' MultiVectorEncoderTrainer (tiny models): the
saved folder serves in `ColBERTScorer` as `MultiVectorEncoder` computes it, validation is the
served MaxSim, learning, distillation into a ColBERT student, the command line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from ragrerank import BaseScorer, Candidate, ColBERTScorer, ScoreOutput
from ragrerank.train import TrainConfig, TrainingExample
from ragrerank.train.colbert import (
    build_colbert,
    init_colbert,
    make_loss,
    save_colbert,
    train_colbert,
)
from ragrerank.train.distill import distill
from ragrerank.train.validation import validation_run
from tests.test_train import beir, mined, tiny_encoder  # noqa: F401  (fixtures)

QUERIES = ["does aspirin treatment work", "vitamin without treatment"]


def config(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {"batch_size": 4, "negatives": 3, "max_length": 48, "bf16": False}
    return TrainConfig(**{**base, "show_progress": False, **kw})


def maxsim(query: Any, docs: Sequence[Any]) -> list[float]:
    """The reference: per document, the sum over query vectors of their best dot product."""
    q = query.float()
    return [float((q @ d.float().T).max(dim=1).values.sum()) for d in docs]


class WordTeacher(BaseScorer):
    """Scores a document by how many of the query's words it has."""

    def to_dict(self) -> dict[str, object]:
        return {"type": "WordTeacher"}

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        words = set(query.split())
        return ScoreOutput([float(sum(w in words for w in c.text.split())) for c in candidates])


def test_the_model_being_trained_scores_as_its_saved_folder_serves(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    import torch

    torch.manual_seed(1)
    model = build_colbert(tiny_encoder, dim=16, query_length=12, document_length=24)
    for p in model.parameters():  # away from the orthonormal start
        p.data += 0.05 * torch.randn_like(p)
    save_colbert(model, tmp_path / "c")
    scorer = ColBERTScorer(tmp_path / "c", dtype="float32")
    long = " ".join([mined.text("d1")] * 4)  # cut to document_length
    docs = [mined.text("d0"), mined.text("x0"), long, "aspirin, (treatment)!"]
    for query in QUERIES:
        reference = maxsim(model.encode_query(query), model.encode_document(docs))
        assert scorer.score(query, docs) == pytest.approx(reference, rel=1e-5, abs=1e-5)


def test_trained_folder_scores_in_colbert_scorer_as_multi_vector_encoder_computes(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from sentence_transformers import MultiVectorEncoder

    train, val = mined.split(4)
    out = tmp_path / "colbert"
    result = train_colbert(
        train, out, base_model=tiny_encoder, val=val, config=config(max_steps=2), dim=16,
        query_length=12,
    )  # fmt: skip
    log = json.loads((out / "train_log.json").read_text())
    assert result.steps == 2 and log["kind"] == "colbert" and log["dim"] == 16
    assert not (out / "checkpoints").exists()
    scorer = ColBERTScorer(out, dtype="float32")
    assert scorer.dim == 16 and scorer.layout == "pylate"
    model = MultiVectorEncoder(str(out), device="cpu")
    docs = [mined.text(d) for d in ("d0", "x0", "d5", "x3")] + ["aspirin !"]
    for query in QUERIES:
        vectors = model.encode_query(query)
        assert vectors.shape == (12, 16)  # [MASK]-expanded to query_length
        reference = maxsim(vectors, model.encode_document(docs))
        assert scorer.score(query, docs) == pytest.approx(reference, rel=1e-5, abs=1e-5)
    # Validation ranks with the served MaxSim: the best model's recorded nDCG@10 is the
    # saved folder's in ColBERTScorer.
    assert result.best_ndcg10 is not None and result.validation
    assert validation_run(scorer.score, val) == pytest.approx(result.best_ndcg10, abs=1e-9)


def test_colbert_learns_a_learnable_task(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    import torch
    from safetensors.torch import load_file

    # Positives say "treatment", negatives "without"; one batch of all queries per step.
    n = len(mined.examples)
    data = mined.with_examples(
        [
            TrainingExample(
                ex.query_id, ex.query, ex.positives, tuple(f"x{(i + k) % n}" for k in range(3))
            )
            for i, ex in enumerate(mined.examples)
        ]
    )
    out = tmp_path / "colbert"
    result = train_colbert(
        data, out, base_model=tiny_encoder, dim=16, query_length=12,
        config=config(epochs=6, batch_size=n, lr=2e-3, warmup=0.0),
    )  # fmt: skip
    losses = [x["loss"] for x in result.losses]
    first, last = losses[0], sum(losses[-3:]) / 3
    untrained = init_colbert(tiny_encoder, tmp_path / "init", dim=16, query_length=12,
                             document_length=48)  # fmt: skip
    before = load_file(str(untrained / "1_Dense" / "model.safetensors"))["linear.weight"]
    after = load_file(str(out / "1_Dense" / "model.safetensors"))["linear.weight"]
    assert not torch.allclose(before, after)
    assert last < 0.7 * first, (first, last)


def test_distill_trains_a_colbert_student_on_teacher_margins(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from sentence_transformers import MultiVectorEncoder

    train, val = mined.split(3)
    out = tmp_path / "student"
    result = distill(
        WordTeacher(), train, out, student="colbert", base_model=tiny_encoder, num_layers=1,
        val=val, cache_dir=tmp_path, config=config(loss="margin_mse", max_steps=2),
        teacher_negatives=4, dim=16, query_length=12,
    )  # fmt: skip
    log = json.loads((out / "train_log.json").read_text())
    assert result.steps == 2 and log["student"] == "colbert" and log["num_layers"] == 1
    assert all(x["loss"] >= 0 for x in result.losses)
    assert ColBERTScorer(out, dtype="float32").dim == 16
    assert MultiVectorEncoder(str(out), device="cpu").get_embedding_dimension() == 16


def test_training_continues_from_a_colbert_folder(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    start = init_colbert(tiny_encoder, tmp_path / "start", dim=8, query_length=10,
                         document_length=40)  # fmt: skip
    out = tmp_path / "more"
    train_colbert(mined, out, base_model=start, config=config(max_steps=1), dim=16)
    settings = json.loads((out / "config_sentence_transformers.json").read_text())
    assert settings["query_length"] == 10 and settings["document_length"] == 40
    assert ColBERTScorer(out, dtype="float32").dim == 8  # the folder's own settings


def test_temperature_is_the_inverse_of_the_loss_scale(tiny_encoder: str) -> None:  # noqa: F811
    model = build_colbert(tiny_encoder, dim=8, query_length=8, document_length=32)
    assert make_loss("listwise", model, temperature=0.05).scale == pytest.approx(20.0)
    assert make_loss("cached-mnrl", model, temperature=0.5).scale == pytest.approx(2.0)
    with pytest.raises(ValueError, match="ColBERT loss must be one of"):
        make_loss("bce", model)


def test_bad_colbert_arguments_are_rejected(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match=r"num_layers must be in \[1, 2\]"):
        init_colbert(tiny_encoder, tmp_path / "c", num_layers=3)
    with pytest.raises(ValueError, match="dim must be an int >= 1, got 0"):
        init_colbert(tiny_encoder, tmp_path / "c", dim=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        train_colbert(mined, tmp_path / "c", base_model=tiny_encoder, temperature=0.0)
    with pytest.raises(ValueError, match="ColBERT loss must be one of"):
        train_colbert(mined, tmp_path / "c", base_model=tiny_encoder, config=config(loss="bce"))
    with pytest.raises(ValueError, match="needs teacher scores"):
        train_colbert(mined, tmp_path / "c", base_model=tiny_encoder,
                      config=config(loss="margin_mse"))  # fmt: skip
    assert not (tmp_path / "c").exists()


def test_cli_colbert_quick(beir: Path, tiny_encoder: str, tmp_path: Path) -> None:  # noqa: F811
    from ragrerank.apps.cli import main

    out = tmp_path / "m"
    argv = ["train", "colbert", "--data", str(beir), "--out", str(out), "--base", tiny_encoder,
            "--quick", "--val-queries", "3", "--max-steps", "2", "--mine-depth", "5",
            "--cache", str(tmp_path / "cache"), "--dim", "16", "--query-length", "12",
            "--temperature", "0.5", "--no-bf16", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["command"].startswith("ragrerank train colbert --data")
    assert log["steps"] == 2 and log["dim"] == 16 and log["temperature"] == 0.5
    assert log["num_layers"] == 2  # --quick's student size
    assert ColBERTScorer(out, dtype="float32").score("does aspirin treatment work", ["aspirin"])
