"""ColBERT fine-tuning on sentence-transformers' `MultiVectorEncoderTrainer` and its
multi-vector losses, on a ``MultiVectorEncoder`` (`build_colbert`; a ColBERT folder to continue
from loads as `ragrerank.ColBERTScorer` loads it, so trained and served vectors are computed
the same way).

The saved folder is in the PyLate layout (``modules.json``: Transformer at the root, ``1_Dense``
projection; ColBERT settings in ``config_sentence_transformers.json``), which
`ragrerank.ColBERTScorer`, ``sentence_transformers.MultiVectorEncoder`` and PyLate load.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import require
from ..utils.jsonio import write_json
from ..utils.model_source import resolve_model
from .config import TrainConfig, TrainResult
from .cross_encoder import check_encoder, default_base_model, layer_overrides
from .data import TrainingSet
from .rows import seed_everything, training_rows

__all__ = ["LOSSES", "build_colbert", "init_colbert", "make_loss", "save_colbert", "train_colbert"]

logger = logging.getLogger(__name__)

#: The `TrainConfig.loss` names a ColBERT model trains with.
LOSSES = ("listwise", "mnrl", "cached-mnrl", "margin_mse")
QUERY_MARKER = "[unused0]"
DOCUMENT_MARKER = "[unused1]"


def build_colbert(
    base_model: str | Path,
    *,
    dim: int = 128,
    query_length: int = 32,
    document_length: int = 256,
    num_layers: int | None = None,
    seed: int = 0,
) -> Any:
    """An untrained ColBERT ``MultiVectorEncoder``: ``base_model``'s encoder (its first
    ``num_layers`` layers), a ``dim``-d projection with orthonormal rows, the ``[unused0]`` /
    ``[unused1]`` markers as prompts, queries expanded with [MASK] to ``query_length`` (not
    attended), documents cut to ``document_length``, a punctuation skiplist on documents,
    L2-normalized token vectors.

    Raises:
        ValueError: ``base_model`` is not an encoder, ``dim`` or ``num_layers`` is out of
            range, or the vocabulary lacks the marker or [MASK] tokens.
    """
    require("sentence_transformers", "local")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    source = resolve_model(base_model)
    config = check_encoder(source)
    ref, extra = source.pretrained()
    overrides = layer_overrides(config, num_layers, base_model)
    import torch
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from transformers import AddedToken

    transformer = Transformer(
        ref,
        model_kwargs=dict(extra),
        processor_kwargs=dict(extra),
        config_kwargs={**extra, **overrides},
        document_length=document_length,
    )
    tokenizer = transformer.tokenizer
    unknown = (None, tokenizer.unk_token_id)
    for token in (QUERY_MARKER, DOCUMENT_MARKER, tokenizer.mask_token):
        if token is None or tokenizer.convert_tokens_to_ids(token) in unknown:
            raise ValueError(f"{base_model}: its vocabulary has no {token or '[MASK]'} token")
    transformer.query_expansion = {"strategy": "fixed", "attend": False, "length": query_length}
    # One token each, also where other tools tokenize the marker text put before a text.
    prompts = {"query": QUERY_MARKER, "document": DOCUMENT_MARKER}
    markers = [AddedToken(m, normalized=False, special=True) for m in prompts.values()]
    tokenizer.add_special_tokens({"additional_special_tokens": markers})
    torch.manual_seed(seed)
    hidden = int(transformer.get_embedding_dimension())
    dense = Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity(),
                  module_input_name="token_embeddings")  # fmt: skip
    # Orthonormal rows: a random subspace that keeps the encoder's token geometry, so the
    # untrained model already ranks about like MaxSim over the raw encoder vectors.
    torch.nn.init.orthogonal_(dense.linear.weight)
    modules = [
        transformer,
        dense,
        MultiVectorMask(skiplist_words=list(string.punctuation)),
        Normalize(module_input_name="token_embeddings"),
    ]
    return MultiVectorEncoder(modules=modules, prompts=prompts, device="cpu")


def save_colbert(model: Any, out: str | Path) -> None:
    """Write a ColBERT ``MultiVectorEncoder`` (Transformer, Dense, MultiVectorMask[, Normalize])
    in the PyLate layout, its settings read from its modules."""
    from sentence_transformers.base.modules import Dense
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    transformer = model[0]
    dense = next(m for m in model if isinstance(m, Dense))
    mask = next(m for m in model if isinstance(m, MultiVectorMask))
    transformer.save(str(out))  # weights, tokenizer, sentence_bert_config.json
    (out / "1_Dense").mkdir(exist_ok=True)
    dense.save(str(out / "1_Dense"))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    write_json(out / "modules.json", modules, indent=2)
    expansion = transformer.query_expansion
    settings = {
        "model_type": "ColBERT",  # how sentence-transformers recognizes a PyLate folder
        "query_prefix": model.prompts.get("query") or "",
        "document_prefix": model.prompts.get("document") or "",
        "query_length": expansion["length"] if expansion else transformer.query_length,
        "document_length": transformer.document_length,
        "do_query_expansion": expansion is not None,
        "attend_to_expansion_tokens": bool(expansion and expansion["attend"]),
        "skiplist_words": list(mask.skiplist_words),
        "similarity_fn_name": "MaxSim",
    }
    write_json(out / "config_sentence_transformers.json", settings, indent=2)


def init_colbert(
    base_model: str | Path,
    out: str | Path,
    *,
    dim: int = 128,
    query_length: int = 32,
    document_length: int = 256,
    num_layers: int | None = None,
    seed: int = 0,
) -> Path:
    """Save an untrained ColBERT (`build_colbert`) to ``out``; returns ``out``."""
    model = build_colbert(base_model, dim=dim, query_length=query_length,
                          document_length=document_length, num_layers=num_layers, seed=seed)  # fmt: skip
    save_colbert(model, out)
    return Path(out)


def _start_model(base: str, config: TrainConfig, dim: int, query_length: int,
                 num_layers: int | None) -> Any:  # fmt: skip
    """A ColBERT folder (PyLate or Stanford layout, loaded as `ColBERTScorer` loads it) to
    continue training, or a new model on a plain encoder."""
    from ..scorers.colbert.checkpoints import LoadOptions, load_checkpoint
    from ..scorers.colbert.layouts import read_settings

    if read_settings(resolve_model(base), base).projection is None:
        return build_colbert(base, dim=dim, query_length=query_length,
                             document_length=config.max_length, num_layers=num_layers,
                             seed=config.seed)  # fmt: skip
    from sentence_transformers.base.modules import Normalize

    model = load_checkpoint(LoadOptions(base, device="cpu", dtype="float32")).model
    model.append(Normalize(module_input_name="token_embeddings"))  # the scorer's own step
    return model


def make_loss(name: str, model: Any, temperature: float = 1.0, mini_batch_size: int = 32) -> Any:
    """The sentence-transformers multi-vector loss behind a `TrainConfig.loss` name
    (MaxSim scores times ``1 / temperature`` in the contrastive ones)."""
    from sentence_transformers.multi_vector_encoder import losses

    if name in ("listwise", "mnrl"):  # positive vs. its hard negatives and the batch's documents
        return losses.MultiVectorMultipleNegativesRankingLoss(model, scale=1.0 / temperature)
    if name == "cached-mnrl":
        return losses.CachedMultiVectorMultipleNegativesRankingLoss(
            model, scale=1.0 / temperature, mini_batch_size=mini_batch_size
        )
    if name == "margin_mse":
        return losses.MultiVectorMarginMSELoss(model)
    raise ValueError(f"ColBERT loss must be one of {LOSSES}, got {name!r}")


def _scorer(bf16: bool) -> Any:
    """MaxSim of the model's query and document vectors, for validation."""
    import torch

    def score(model: Any, query: str, texts: Sequence[str]) -> list[float]:
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            q = model.encode_query(query, show_progress_bar=False)
            docs = model.encode_document(list(texts), batch_size=64, show_progress_bar=False)
        return [float(x) for x in model.similarity([q.float()], [d.float() for d in docs])[0]]

    return score


def train_colbert(
    train: TrainingSet,
    out: str | Path,
    *,
    base_model: str | Path | None = None,
    val: TrainingSet | None = None,
    config: TrainConfig | None = None,
    dim: int = 128,
    query_length: int = 32,
    num_layers: int | None = None,
    temperature: float = 1.0,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
    info: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune a ColBERT model on ``train`` (negatives mined beforehand), save it to ``out``.

    ``base_model``: a plain encoder (default all-MiniLM-L6-v2; see `build_colbert`, documents
    of ``config.max_length`` tokens) or a ColBERT folder (training continues with its own
    settings). ``config.loss``: ``"listwise"``, ``"mnrl"`` or ``"cached-mnrl"`` (softmax
    cross-entropy of MaxSim / ``temperature`` over the positive, its hard negatives and the
    batch's other documents; ``mnrl`` puts no text twice in a batch) or ``"margin_mse"``
    (distils ``teacher``: ``{query id: {doc id: score}}``). With ``val`` the best validation
    checkpoint is kept.

    Raises:
        ValueError: a bad loss, temperature or base model.
    """
    config = config if config is not None else TrainConfig()
    from .hf import require_trainer, run_trainer

    require_trainer()
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if config.loss not in LOSSES:
        raise ValueError(f"ColBERT loss must be one of {LOSSES}, got {config.loss!r}")
    rows, _ = training_rows(train, config, layout="columns", teacher=teacher)
    base = str(base_model) if base_model is not None else default_base_model()
    seed_everything(config.seed)
    model = _start_model(base, config, dim, query_length, num_layers)
    import sentence_transformers as st
    from datasets import Dataset
    from sentence_transformers.base.sampler import BatchSamplers

    no_duplicates = {"batch_sampler": BatchSamplers.NO_DUPLICATES}  # for in-batch negatives
    log = {
        "kind": "colbert",
        "base_model": base,
        "dim": int(model.get_embedding_dimension()),
        "num_layers": int(model[0].auto_model.config.num_hidden_layers),
        "parameters": sum(p.numel() for p in model.parameters()),
        "temperature": temperature,
        "trainer": "sentence_transformers.MultiVectorEncoderTrainer",
        "title_queries": train.notes.get("title_queries", 0),
        **dict(info or {}),
    }
    logger.info("training ColBERT from %s: %s", base, asdict(config))
    return run_trainer(
        trainer_cls=st.MultiVectorEncoderTrainer,
        args_cls=st.MultiVectorEncoderTrainingArguments,
        model=model,
        dataset=Dataset.from_list(rows),
        loss=make_loss(config.loss, model, temperature),
        train=train,
        val=val,
        out=out,
        config=config,
        score=_scorer(config.use_bf16),
        save=save_colbert,
        info=log,
        args_overrides=no_duplicates if config.loss in ("mnrl", "cached-mnrl") else None,
    )
