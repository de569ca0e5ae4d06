"""Cross-encoder fine-tuning from any encoder checkpoint (BERT, MiniLM, RoBERTa, ...) on
sentence-transformers' `CrossEncoderTrainer` and its ranking losses.

The saved folder is a sentence-transformers `CrossEncoder` whose root is a plain transformers
sequence classifier (one logit) plus its tokenizer: it loads in
`ragrerank.CrossEncoderScorer`, ``sentence_transformers.CrossEncoder`` and
``AutoModelForSequenceClassification``, and can be pushed to a model hub as-is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import require
from ..utils.model_source import ModelSource, resolve_model
from .config import TrainConfig, TrainResult
from .data import TrainingSet
from .rows import seed_everything, training_rows

if TYPE_CHECKING:
    pass

__all__ = ["LOSS_LAYOUT", "check_encoder", "load_cross_encoder", "make_loss", "train_cross_encoder"]

#: The row layout (`ragrerank.train.rows`) each loss reads.
LOSS_LAYOUT = {
    "listwise": "columns",
    "mnrl": "columns",
    "cached-mnrl": "columns",
    "margin_mse": "columns",
    "lambda": "list",
    "pairwise": "list",
    "bce": "pointwise",
}

logger = logging.getLogger(__name__)

_DECODER_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def default_base_model() -> str:
    """The offline all-MiniLM-L6-v2 weights when installed, else its hub name."""
    from ..evaluation.first_stage import default_dense_model

    return default_dense_model()


def check_encoder(model: str | Path | ModelSource) -> Any:
    """Load ``model``'s config; raise `ValueError` unless it is an encoder-only transformer
    (`ragrerank.errors.ModelNotFoundError` when the folder or hub name cannot be found)."""
    require("transformers", "local")
    from transformers import AutoConfig

    source = model if isinstance(model, ModelSource) else resolve_model(model)
    name = source.name
    ref, extra = source.pretrained()
    try:
        config = AutoConfig.from_pretrained(ref, **extra)
    except (OSError, ValueError) as exc:
        raise ValueError(f"base model {name!r} is not a transformers checkpoint: {exc}") from None
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    archs = [str(a) for a in (getattr(config, "architectures", None) or [])]
    kind = getattr(config, "model_type", "")
    # Decoder-only families (GPT-2, Llama, ...) have a causal-LM class but no masked-LM one.
    decoder_family = (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )
    if (
        decoder_family
        or getattr(config, "is_decoder", False)
        or getattr(config, "is_encoder_decoder", False)
        or any(a.endswith(_DECODER_SUFFIXES) for a in archs)
    ):
        raise ValueError(
            f"base model {name!r} ({config.model_type}, {archs or 'no architectures'}) is not an "
            "encoder: cross-encoders and ColBERT need an encoder-only model such as BERT/MiniLM"
        )
    return config


def layer_overrides(config: Any, num_layers: int | None, model: str | Path) -> dict[str, Any]:
    """``from_pretrained`` overrides keeping the first ``num_layers`` layers (none for None);
    raises `ValueError` unless 1 <= num_layers <= the checkpoint's layer count."""
    if num_layers is None:
        return {}
    total = int(getattr(config, "num_hidden_layers", 0))
    if not 1 <= num_layers <= total:
        raise ValueError(f"num_layers must be in [1, {total}] for {model}, got {num_layers}")
    return {"num_hidden_layers": num_layers}


def load_cross_encoder(model: str | Path, num_layers: int | None = None) -> tuple[Any, Any]:
    """(sequence classifier with one logit, tokenizer) from an encoder checkpoint.

    A new classification head is initialised when the checkpoint has none.
    ``num_layers`` keeps only the first k transformer layers (a smaller student).
    """
    source = resolve_model(model)
    config = check_encoder(source)
    ref, extra = source.pretrained()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    overrides: dict[str, Any] = {
        "num_labels": 1,
        **extra,
        **layer_overrides(config, num_layers, model),
    }
    if int(getattr(config, "num_labels", 1)) != 1:
        overrides["ignore_mismatched_sizes"] = True
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # "newly initialised head" is expected here
    try:
        classifier = AutoModelForSequenceClassification.from_pretrained(ref, **overrides)
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(ref, **extra)
    return classifier, tokenizer


def make_loss(name: str, model: Any, mini_batch_size: int = 64) -> Any:
    """The sentence-transformers loss behind a `TrainConfig.loss` name."""
    from sentence_transformers.cross_encoder import losses
    from torch import nn

    if name == "listwise":  # softmax cross-entropy over (positive, its hard negatives), raw logits

        class HardNegativesRankingLoss(losses.MultipleNegativesRankingLoss):
            """The positive against its own hard negatives only (no in-batch negatives)."""

            def get_in_batch_negatives(self, anchors: Any, candidates: Any) -> Any:
                return iter(())

        return HardNegativesRankingLoss(model, num_negatives=None, scale=1,
                                        activation_fn=nn.Identity())  # fmt: skip
    if (
        name == "mnrl"
    ):  # plus other queries' documents in the batch (sentence-transformers' defaults)
        return losses.MultipleNegativesRankingLoss(model)
    if name == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size)
    if name == "lambda":
        return losses.LambdaLoss(model, mini_batch_size=mini_batch_size)
    if name == "pairwise":
        return losses.RankNetLoss(model, mini_batch_size=mini_batch_size)
    if name == "bce":
        return losses.BinaryCrossEntropyLoss(model)
    if name == "margin_mse":
        return losses.MarginMSELoss(model)
    raise ValueError(f"unknown loss {name!r}")


def _to_sentence_transformers(model: Any, tokenizer: Any, max_length: int) -> Any:
    """Our loaded sequence classifier as a sentence-transformers `CrossEncoder` (through a
    temporary folder, so layer cuts and fresh heads carry over). Config and weights are
    written directly: under ``torchrun`` ``save_pretrained`` writes on the first process only."""
    import tempfile

    from safetensors.torch import save_model
    from sentence_transformers.cross_encoder import CrossEncoder

    with tempfile.TemporaryDirectory(prefix="ragrerank-ce-") as tmp:
        model.config.save_pretrained(tmp)
        save_model(model, str(Path(tmp) / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        return CrossEncoder(tmp, num_labels=1, max_length=max_length)


def _scorer(bf16: bool) -> Any:
    """Raw logits of a `CrossEncoder` for validation, in bf16 autocast when training is.

    All on this process (``device`` given): under several processes sentence-transformers
    would otherwise shard a query's candidates to processes outside this autocast."""
    import torch

    def score(model: Any, query: str, texts: Any) -> list[float]:
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            raw = model.predict([(query, t) for t in texts], batch_size=64, device=model.device,
                                activation_fn=torch.nn.Identity(), show_progress_bar=False)  # fmt: skip
        return [float(x) for x in raw]

    return score


def _save(model: Any, out: Path) -> None:
    model.save(str(out))


def train_cross_encoder(
    train: TrainingSet,
    out: str | Path,
    *,
    base_model: str | Path | None = None,
    val: TrainingSet | None = None,
    config: TrainConfig | None = None,
    num_layers: int | None = None,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
    info: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune a cross-encoder on ``train`` (negatives mined beforehand) and save to ``out``.

    ``base_model`` is any encoder checkpoint (default all-MiniLM-L6-v2); ``num_layers``
    keeps its first k layers. With ``val`` the best validation checkpoint is kept.
    ``teacher`` holds ``{query id: {doc id: score}}`` for ``loss="margin_mse"``.
    """
    config = config if config is not None else TrainConfig()
    from .hf import require_trainer, run_trainer

    require_trainer()
    layout = LOSS_LAYOUT[config.loss]
    rows, negatives = training_rows(train, config, layout=layout, teacher=teacher)
    base = str(base_model) if base_model is not None else default_base_model()
    seed_everything(config.seed)
    hf_model, tokenizer = load_cross_encoder(base, num_layers)
    from datasets import Dataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )

    model = _to_sentence_transformers(hf_model, tokenizer, config.max_length)
    per_row = 1 + negatives if layout == "pointwise" else 1  # pointwise: one row per document
    overrides: dict[str, Any] = {"per_device_train_batch_size": config.batch_size * per_row}
    if config.loss in ("mnrl", "cached-mnrl"):  # in-batch negatives: no query twice in a batch
        overrides["batch_sampler"] = BatchSamplers.NO_DUPLICATES
    log = {
        "kind": "cross-encoder",
        "base_model": base,
        "num_layers": int(hf_model.config.num_hidden_layers),
        "parameters": sum(p.numel() for p in hf_model.parameters()),
        "trainer": "sentence_transformers.CrossEncoderTrainer",
        "title_queries": train.notes.get("title_queries", 0),
        **dict(info or {}),
    }
    del hf_model
    logger.info("training a cross-encoder from %s: %s", base, asdict(config))
    return run_trainer(
        trainer_cls=CrossEncoderTrainer,
        args_cls=CrossEncoderTrainingArguments,
        model=model,
        dataset=Dataset.from_list(rows),
        loss=make_loss(config.loss, model),
        train=train,
        val=val,
        out=out,
        config=config,
        score=_scorer(config.use_bf16),
        save=_save,
        info=log,
        args_overrides=overrides,
    )
