"""Cross-encoder fine-tuning from any encoder checkpoint (BERT, MiniLM, RoBERTa, ...).

The saved folder is a plain transformers sequence classifier (one logit) plus its
tokenizer: it loads in `ragrerank.CrossEncoderScorer` and ``sentence_transformers.CrossEncoder``
and can be pushed to a model hub as-is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import require
from ..utils.model_source import ModelSource, resolve_model
from .config import Sample, TrainConfig, TrainResult
from .data import TrainingSet
from .loop import fill_negatives, fit, seed_everything

if TYPE_CHECKING:
    import torch

__all__ = ["check_encoder", "load_cross_encoder", "train_cross_encoder"]

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


class CrossEncoderTask:
    """A sequence classifier trained on (query, document) groups."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    def named_parameters(self) -> Any:
        return self.model.named_parameters()

    def train_mode(self, on: bool) -> None:
        self.model.train(on)

    def logits(self, queries: Sequence[str], texts: Sequence[str]) -> torch.Tensor:
        # The longer side is cut first: in practice the document (queries are short).
        enc = self.tokenizer(
            list(queries),
            list(texts),
            truncation="longest_first",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        out: torch.Tensor = self.model(**enc).logits[:, 0]
        return out

    def loss(self, samples: Sequence[Sample], loss: str) -> torch.Tensor:
        groups = len(samples[0].texts)
        queries = [s.query for s in samples for _ in s.texts]
        texts = [t for s in samples for t in s.texts]
        scores = self.logits(queries, texts).float().view(len(samples), groups)
        return group_loss(scores, loss, samples)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                chunk = texts[i : i + 64]
                out += [float(x) for x in self.logits([query] * len(chunk), chunk).float()]
        return out

    def save(self, out: Path) -> None:
        # Scorers then default to the length the model was trained with.
        self.tokenizer.model_max_length = self.max_length
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)


def group_loss(scores: torch.Tensor, loss: str, samples: Sequence[Sample]) -> torch.Tensor:
    """Loss of ``[queries, 1 + negatives]`` scores whose column 0 is the positive."""
    import torch
    import torch.nn.functional as F

    if loss == "listwise":
        target = torch.zeros(scores.shape[0], dtype=torch.long)
        return F.cross_entropy(scores, target)
    if loss == "pairwise":
        return F.softplus(scores[:, 1:] - scores[:, :1]).mean()
    if loss == "bce":
        labels = torch.zeros_like(scores)
        labels[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(scores, labels)
    if loss == "margin_mse":
        teacher = torch.tensor([s.teacher for s in samples], dtype=torch.float32)
        student_margin = scores[:, :1] - scores[:, 1:]
        teacher_margin = teacher[:, :1] - teacher[:, 1:]
        return F.mse_loss(student_margin, teacher_margin)
    raise ValueError(f"unknown loss {loss!r}")


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
    base = str(base_model) if base_model is not None else default_base_model()
    require("torch", "local")
    seed_everything(config.seed)
    model, tokenizer = load_cross_encoder(base, num_layers)
    if teacher is None:
        train = fill_negatives(train, config.negatives, config.seed)
    task = CrossEncoderTask(model, tokenizer, config.max_length)
    log = {
        "kind": "cross-encoder",
        "base_model": base,
        "num_layers": int(model.config.num_hidden_layers),
        "parameters": sum(p.numel() for p in model.parameters()),
        **dict(info or {}),
    }
    logger.info("training a cross-encoder from %s: %s", base, asdict(config))
    return fit(task, train, val, out, config, info=log, teacher=teacher)
