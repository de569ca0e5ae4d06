"""Loading a cross-encoder for scoring: where the model comes from, our loading rules
(safetensors only, no remote code, no untrained head), label, dtype, device and the pair limit.

transformers' ``from_pretrained``, not ``sentence_transformers.CrossEncoder``, because:
- sentence-transformers is no dependency of ``ragrerank[local]`` (torch, transformers, safetensors).
- CrossEncoder returns no loading info (and sets ``num_labels=1`` on a head-less checkpoint), so
  an untrained head (`UntrainedHeadError`) could not be detected.
- pair limit: CrossEncoder's (tokenizer's, capped at ``max_position_embeddings``), plus an older
  ``sentence_bert_config.json``'s ``max_seq_length`` and 512 where nothing declares one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import UntrainedHeadError, require
from ...utils.hardware import resolve_device, resolve_dtype
from ...utils.model_source import ModelSource, resolve_model

__all__ = ["LoadedModel", "check_head", "load_model"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A cross-encoder ready to score: ``model`` in eval mode on ``device``, its tokenizer,
    the tokens a pair may have (``max_length``), the special tokens a pair adds, the dtype
    its body runs in (None: the checkpoint's own) and where the model came from
    (``source``)."""

    model: Any
    tokenizer: Any
    device: str
    max_length: int
    specials: int
    dtype: str | None = None
    source: ModelSource | None = None


def load_model(
    name: str,
    *,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    float32_head: bool = True,
    label: int | None = None,
    max_length: int | None = None,
    allow_untrained_head: bool = False,
    trust_remote_code: bool = False,
    allow_pickle_weights: bool = False,
) -> LoadedModel:
    """Load ``name`` (see `CrossEncoderScorer` for the options)."""
    require("transformers", "local")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model(name, revision)
    ref, extra = source.pretrained()
    tokenizer = AutoTokenizer.from_pretrained(
        ref, revision=revision, trust_remote_code=trust_remote_code, **extra
    )
    model, info = AutoModelForSequenceClassification.from_pretrained(
        ref,
        **extra,
        revision=revision,
        trust_remote_code=trust_remote_code,
        use_safetensors=None if allow_pickle_weights else True,
        output_loading_info=True,
    )
    check_head(model, info, name, allow_untrained_head)
    num_labels = int(model.config.num_labels)
    if num_labels > 1 and label is None:
        raise ValueError(
            f"{name} has {num_labels} output labels; pass label=<index> "
            "to choose the relevance logit"
        )
    if label is not None and not 0 <= label < num_labels:
        raise ValueError(f"label={label} out of range for {num_labels} labels")
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    if dtype is not None:
        if dtype != "float32" and float32_head:
            from .fast_forward import float32_head as keep_head

            keep_head(model, getattr(torch, dtype))
        else:
            model = model.to(getattr(torch, dtype))
    model.to(device).eval()
    logger.info("%s: loaded on %s in %s", name, device, dtype or "the checkpoint's dtype")
    declared = _declared_max_length(source, model, tokenizer)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_length=declared if max_length is None else max_length,  # an explicit one wins
        specials=int(tokenizer.num_special_tokens_to_add(pair=True)),
        dtype=dtype,
        source=source,
    )


def _declared_max_length(source: ModelSource, model: Any, tokenizer: Any) -> int:
    """The tightest pair limit the checkpoint declares, else 512."""
    declared = [
        _read_st_max_length(source),
        getattr(model.config, "max_position_embeddings", None),
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
    ]
    return int(min([x for x in declared if isinstance(x, int) and x > 0] or [512]))


def _read_st_max_length(source: ModelSource) -> int | None:
    """``max_seq_length`` from a sentence-transformers config, if the model has one."""
    cfg = source.find("sentence_bert_config.json")
    if cfg is not None:
        value = json.loads(cfg.read_text()).get("max_seq_length")
        return int(value) if isinstance(value, int) else None
    return None


def check_head(model: Any, info: Mapping[str, Any], name: str, allow: bool) -> None:
    """Raise `UntrainedHeadError` (or warn, with ``allow``) when ``from_pretrained`` had to
    initialise weights at random because the checkpoint lacks them."""
    missing = sorted(str(k) for k in info.get("missing_keys") or ())
    if not missing:
        return
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    head_only = all(not k.startswith(prefix) or ".pooler." in k for k in missing)
    what = (
        "it looks like a base or bi-encoder (embedding) model, not a cross-encoder"
        if head_only
        else "the checkpoint is incomplete or of another architecture"
    )
    shown = ", ".join(missing[:6]) + (f" (+{len(missing) - 6} more)" if len(missing) > 6 else "")
    message = (
        f"{name} has no weights for {shown}: they would be initialised at random, so the "
        f"scores would be noise; {what}"
    )
    if allow:
        logger.warning("%s (allow_untrained_head=True: scoring with them anyway)", message)
        return
    raise UntrainedHeadError(
        f"{message}. Pass a trained cross-encoder (or one fine-tuned with `ragrerank train "
        "cross-encoder`), or allow_untrained_head=True to score with random weights anyway",
        missing=missing,
    )
