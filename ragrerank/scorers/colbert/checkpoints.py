"""Loading a ColBERT checkpoint into a sentence-transformers ``MultiVectorEncoder``.

`load_checkpoint` reads the layout's settings (`layouts.py`), checks our loading rules, and
assembles ``MultiVectorEncoder(modules=[Transformer, Dense (if the checkpoint has a
projection), MultiVectorMask])``. Tokenization, the marker tokens, truncation, [MASK] query
expansion, the skiplist mask, the forward pass and batching are then sentence-transformers'
code (see `encoder.py`).

Ours rather than ``MultiVectorEncoder(path)``, because that one: appends a randomly
initialised 128-d projection to a plain encoder (its MaxSim is noise until trained; we score
with the encoder's own token vectors), reads some PyLate/Stanford configs differently (see
`layouts.py`), and loads a Dense from ``pytorch_model.bin`` when there is no safetensors file.
Our loading rules (`ragrerank.utils.model_source`): folder vs hub name and the clear
`ModelNotFoundError`; safetensors only unless ``allow_pickle_weights``;
``trust_remote_code=False``; a projection without weights is an error, never random; Dense
activations Identity or Tanh; lengths capped at the model's position limit.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ...errors import require
from ...utils.hardware import resolve_device, resolve_dtype
from ...utils.model_source import ModelSource, resolve_model
from .layouts import Layout, Settings, read_json, read_settings

if TYPE_CHECKING:
    import torch

__all__ = ["Checkpoint", "LoadOptions", "load_checkpoint"]

_ACTIVATIONS = ("torch.nn.modules.linear.Identity", "torch.nn.modules.activation.Tanh")


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    """The scorer arguments that decide how a checkpoint loads."""

    model: str
    revision: str | None = None
    device: str | None = None
    dtype: str | None = None
    query_length: int | None = None
    document_length: int | None = None
    skiplist_words: tuple[str, ...] | None = None
    trust_remote_code: bool = False
    allow_pickle_weights: bool = False


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the sentence-transformers model and the settings it encodes with."""

    model: Any  # sentence_transformers.MultiVectorEncoder
    options: LoadOptions
    layout: Layout
    query_length: int
    document_length: int
    skiplist_words: tuple[str, ...]
    lowercase: bool
    device: str

    @cached_property
    def fingerprint(self) -> str:
        """What decides a document's vectors (the document-vector cache key's first part)."""
        o = self.options
        marker = self.prompt(is_query=False)
        words = sorted(self.skiplist_words)
        key = [o.model, o.revision, self.layout, marker, self.document_length, words]
        return json.dumps([*key, self.lowercase, o.dtype])

    @property
    def transformer(self) -> Any:
        return self.model[0]

    @property
    def tokenizer(self) -> Any:
        return self.transformer.tokenizer

    @property
    def projection(self) -> torch.nn.Linear | None:
        """The Dense projection's ``Linear``, or None (plain encoder)."""
        from sentence_transformers.base.modules import Dense

        return next((m.linear for m in self.model if isinstance(m, Dense)), None)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def prompt(self, *, is_query: bool) -> str:
        """The marker text put before each text ("" for a plain encoder)."""
        return str(self.model.prompts.get("query" if is_query else "document") or "")


def load_checkpoint(options: LoadOptions) -> Checkpoint:
    """Detect the layout, check our loading rules, then assemble the model."""
    require("transformers", "local")
    require("sentence_transformers", "local")
    import torch
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    files = resolve_model(options.model, options.revision)
    settings = read_settings(files, options.model)
    projection = _projection(files, settings, options)  # checked before the encoder loads
    ref, extra = files.pretrained(settings.transformer_dir)
    common = {"revision": options.revision, "trust_remote_code": options.trust_remote_code}
    common.update(extra)
    use_safetensors = None if options.allow_pickle_weights else True
    transformer = Transformer(
        ref,
        model_kwargs={**common, "use_safetensors": use_safetensors},
        processor_kwargs=dict(common),
        config_kwargs=dict(common),
        do_lower_case=settings.lowercase,
    )
    tokenizer = transformer.tokenizer
    query_length, document_length = _lengths(settings, options, transformer)
    if settings.expansion:
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{options.model}: query expansion needs a [MASK] token")
        expansion = {"strategy": "fixed", "attend": settings.attend, "length": query_length}
        transformer.query_expansion = expansion
    else:
        transformer.query_length = query_length
    transformer.document_length = document_length
    prompts = {}
    kind = "prefix" if settings.layout == "pylate" else "marker"
    markers = {"query": settings.query_marker, "document": settings.document_marker}
    for role, marker in markers.items():
        if marker is not None:
            _check_token(tokenizer, marker, f"{role} {kind}", options.model)
            # A PyLate prefix is the token's text ("[Q] "); a Stanford marker the token.
            prompts[role] = marker if settings.layout == "pylate" else f"{marker} "
    _keep_whole(tokenizer, [m for m in markers.values() if m is not None])
    if options.skiplist_words is not None:
        words = options.skiplist_words
    elif settings.skiplist_words is not None:
        words = settings.skiplist_words
    else:
        words = _first_tokens(tokenizer, string.punctuation)
    modules = [transformer, *([projection] if projection is not None else [])]
    # No Normalize module: `ColBERTEncoder` L2-normalizes in float32 (see its header).
    modules.append(MultiVectorMask(skiplist_words=list(words)))
    device = resolve_device(options.device)
    # "auto" resolved here, so the checkpoint's fingerprint names the dtype really used.
    options = replace(options, dtype=resolve_dtype(options.dtype, device))
    model = MultiVectorEncoder(modules=modules, device=device, prompts=prompts)
    if options.dtype is not None:
        model.to(getattr(torch, options.dtype))
    model.eval()
    logger.info(
        "%s: loaded on %s in %s", options.model, device, options.dtype or "the checkpoint's dtype"
    )
    return Checkpoint(
        model=model,
        options=options,
        layout=settings.layout,
        query_length=query_length,
        document_length=document_length,
        skiplist_words=tuple(words),
        lowercase=settings.lowercase,
        device=device,
    )


def _lengths(settings: Settings, options: LoadOptions, transformer: Any) -> tuple[int, int]:
    """The checkpoint's lengths capped at the model's limit, or the constructor overrides."""
    tokenizer = transformer.tokenizer
    declared = [
        getattr(transformer.auto_model.config, "max_position_embeddings", None),
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
    ]
    limit = min([x for x in declared if isinstance(x, int) and x > 0] or [512])
    for name, value in (
        ("query_length", options.query_length),
        ("document_length", options.document_length),
    ):
        if value is not None and value > limit:
            raise ValueError(f"{name}={value} exceeds {options.model}'s limit of {limit} tokens")
    if settings.layout == "plain":
        limit = min(limit, settings.max_length) if settings.max_length is not None else limit
        query, document = limit, limit
    else:
        query, document = min(settings.query_length, limit), min(settings.document_length, limit)
    return (
        query if options.query_length is None else options.query_length,
        document if options.document_length is None else options.document_length,
    )


# -- weights --------------------------------------------------------------------------------


def _projection(files: ModelSource, settings: Settings, options: LoadOptions) -> Any:
    """The Dense projection (PyLate ``1_Dense/``, Stanford inline ``linear``), or None."""
    if settings.projection is None:
        return None
    from sentence_transformers.base.modules import Dense
    from torch import nn

    kind, subfolder = settings.projection
    if kind == "inline":
        weight = _read_weights(files, "", ("linear.weight",), options).get("linear.weight")
        if weight is None:
            raise ValueError(f"{options.model}: Stanford ColBERT checkpoint has no 'linear.weight'")
        bias = None
        activation: Any = nn.Identity()
    else:
        config = read_json(files.find(f"{subfolder}/config.json"))
        name = str(config.get("activation_function", _ACTIVATIONS[0]))
        if name not in _ACTIVATIONS:
            raise ValueError(
                f"{options.model}: unsupported Dense activation {name!r} "
                f"(supported: {sorted(_ACTIVATIONS)})"
            )
        state = _read_weights(files, subfolder, ("linear.weight", "linear.bias"), options)
        if "linear.weight" not in state:
            raise ValueError(f"{options.model}: {subfolder}/ has no 'linear.weight'")
        weight, bias = state["linear.weight"], state.get("linear.bias")
        activation = nn.Identity() if name == _ACTIVATIONS[0] else nn.Tanh()
    return Dense(
        int(weight.shape[1]),
        int(weight.shape[0]),
        bias=bias is not None,
        activation_function=activation,
        init_weight=weight,
        init_bias=bias,
        module_input_name="token_embeddings",
    )


def _read_weights(
    files: ModelSource, subfolder: str, keys: Sequence[str], options: LoadOptions
) -> dict[str, torch.Tensor]:
    """Read ``keys`` from a (possibly sharded) safetensors file, or a pickle if allowed."""
    prefix = f"{subfolder}/" if subfolder else ""
    path = files.find(f"{prefix}model.safetensors")
    if path is None:
        index = files.find(f"{prefix}model.safetensors.index.json")
        if index is not None:
            weight_map = read_json(index).get("weight_map", {})
            shard = next((weight_map[k] for k in keys if k in weight_map), None)
            path = files.find(f"{prefix}{shard}") if isinstance(shard, str) else None
    if path is not None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            return {k: f.get_tensor(k) for k in keys if k in names}
    pickle = files.find(f"{prefix}pytorch_model.bin")
    if pickle is None:
        raise ValueError(f"{options.model}: no weights file in {prefix or 'the root folder'}")
    if not options.allow_pickle_weights:
        raise ValueError(
            f"{options.model}: {prefix}pytorch_model.bin is a pickle file; "
            "pass allow_pickle_weights=True to load it"
        )
    import torch

    state = torch.load(str(pickle), map_location="cpu", weights_only=True)
    return {k: state[k] for k in keys if k in state}


# -- tokens and small readers ---------------------------------------------------------------


def _check_token(tokenizer: Any, token: str, what: str, model: str) -> None:
    value = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(value, int) or value < 0 or value == tokenizer.unk_token_id:
        raise ValueError(f"{model}: {what} {token!r} is not a single token of its tokenizer")


def _keep_whole(tokenizer: Any, markers: Sequence[str]) -> None:
    """Register markers as non-normalized special tokens, so the marker text put before a
    text is one token (``[unused0]`` would otherwise split into pieces, and an added ``[Q] ``
    would not match on a lowercasing tokenizer), as sentence-transformers does for the
    checkpoints it reads itself."""
    from transformers import AddedToken

    pending = [m for m in dict.fromkeys(markers) if tokenizer.tokenize(m) != [m]]
    if pending:
        tokens = [AddedToken(m, normalized=False, special=True) for m in pending]
        tokenizer.add_special_tokens({"additional_special_tokens": tokens})


def _first_tokens(tokenizer: Any, symbols: str) -> tuple[str, ...]:
    """The first token of each symbol (Stanford ColBERT's punctuation skiplist)."""
    encoded = tokenizer(list(symbols), add_special_tokens=False)["input_ids"]
    return tuple(dict.fromkeys(tokenizer.convert_ids_to_tokens(ids[0]) for ids in encoded if ids))
