"""Loading a generative reranker: decoder-only checkpoints (``*ForCausalLM``) through
sentence-transformers' ``Transformer(transformer_task="text-generation")`` + ``LogitScore``
(its left padding, ``logits_to_keep=1`` and yes/no head), encoder-decoders (T5) through
transformers' ``AutoModelForSeq2SeqLM`` (sentence-transformers has no encoder-decoder path).

Our rules on both: the model comes from `ragrerank.utils.model_source`, safetensors only and no
remote code unless asked, the dtype policy of `CrossEncoderScorer`, and the two tokens must each
be one token of the vocabulary; a decoder's prompt starts with the special ids its tokenizer
puts first (Gemma's ``<bos>``, unless the template already has them). We build the two modules ourselves instead of calling
``CrossEncoder(name)``, whose default head insists on "yes"/"no" tokens even when others are
wanted. The LM head is not kept in float32 (it is vocabulary-sized); scores are upcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import require
from ...utils.hardware import resolve_device, resolve_dtype
from ...utils.model_source import ModelSource

__all__ = [
    "LoadedGenerative",
    "load_generative",
    "model_config",
    "special_prefix",
    "token_id",
]


@dataclass(frozen=True)
class LoadedGenerative:
    """``model``: a sentence-transformers CrossEncoder (decoder) or a seq2seq LM (encoder-decoder)."""

    model: Any
    tokenizer: Any
    device: str
    max_length: int
    seq2seq: bool
    true_id: int
    false_id: int
    prefix: tuple[int, ...] = ()  # what the tokenizer puts first (Gemma's <bos>), decoders only


def token_id(tokenizer: Any, token: str | int, name: str) -> int:
    """The id of ``token``, which must be exactly one known token (or an id of the vocabulary)."""
    if isinstance(token, int) and not isinstance(token, bool):
        if not 0 <= token < len(tokenizer):
            raise ValueError(f"{name} id {token} is outside this vocabulary of {len(tokenizer)}")
        return token
    if not isinstance(token, str) or not token:
        raise ValueError(f"{name} must be a non-empty string, got {token!r}")
    found = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    if found is None or (found == unk and token != getattr(tokenizer, "unk_token", None)):
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] == unk:
            raise ValueError(
                f"{name}={token!r} is not a single token of this model's vocabulary "
                f"(it tokenizes to {len(ids)} ids); pass a token the model was trained to answer"
            )
        found = ids[0]
    return int(found)


def special_prefix(tokenizer: Any) -> tuple[int, ...]:
    """The special ids the tokenizer puts before a text (Gemma/Llama: ``<bos>``; Qwen: none)."""
    plain = tokenizer("a b", add_special_tokens=False)["input_ids"]
    full = tokenizer("a b")["input_ids"]
    for k in range(len(full) - len(plain) + 1):
        if full[k : k + len(plain)] == plain:
            return tuple(int(i) for i in full[:k])
    return ()


def model_config(source: ModelSource, *, revision: str | None, trust_remote_code: bool) -> Any:
    """The checkpoint's transformers config (read once per load: it decides the model kind)."""
    require("transformers", "local")  # a bare ImportError would not name the extra
    from transformers import AutoConfig

    ref, extra = source.pretrained()
    return AutoConfig.from_pretrained(
        ref, revision=revision, trust_remote_code=trust_remote_code, **extra
    )


def load_generative(
    source: ModelSource,
    config: Any,
    *,
    true_token: str | int,
    false_token: str | int,
    device: str | None,
    dtype: str | None,
    max_length: int | None,
    trust_remote_code: bool,
    allow_pickle_weights: bool,
    revision: str | None,
) -> LoadedGenerative:
    require("transformers", "local")
    import torch

    ref, extra = source.pretrained()
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    model_kwargs: dict[str, Any] = {
        **extra,
        "revision": revision,
        "trust_remote_code": trust_remote_code,
        "use_safetensors": None if allow_pickle_weights else True,
    }
    if dtype is not None:
        model_kwargs["dtype"] = getattr(torch, dtype)
    arch = (getattr(config, "architectures", None) or [""])[0]
    if getattr(config, "is_encoder_decoder", False):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            ref, revision=revision, trust_remote_code=trust_remote_code, **extra
        )
        model = AutoModelForSeq2SeqLM.from_pretrained(ref, **model_kwargs).to(device).eval()
        seq2seq = True
    elif arch.endswith("ForCausalLM"):
        require("sentence_transformers", "local")
        from sentence_transformers import CrossEncoder
        from sentence_transformers.base.modules import Transformer
        from sentence_transformers.cross_encoder.modules import LogitScore

        body = Transformer(
            ref,
            transformer_task="text-generation",
            model_kwargs=model_kwargs,
            processor_kwargs={
                "revision": revision,
                "trust_remote_code": trust_remote_code,
                **extra,
            },
            config_kwargs={"revision": revision, "trust_remote_code": trust_remote_code, **extra},
        )
        tokenizer = body.tokenizer
        head = LogitScore(
            true_token_id=token_id(tokenizer, true_token, "true_token"),
            false_token_id=token_id(tokenizer, false_token, "false_token"),
        )
        model = CrossEncoder(modules=[body, head], device=device).eval()
        seq2seq = False
    else:
        raise ValueError(
            f"{source.name}: architecture {arch or config.model_type!r} is neither a decoder "
            "(*ForCausalLM) nor an encoder-decoder; for a sequence classifier use CrossEncoderScorer"
        )
    limits = [getattr(config, "max_position_embeddings", None)]
    if tokenizer.model_max_length < 100_000:
        limits.append(tokenizer.model_max_length)
    declared = min([x for x in limits if isinstance(x, int) and x > 0] or [512])
    return LoadedGenerative(
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_length=int(declared if max_length is None else max_length),
        seq2seq=seq2seq,
        true_id=token_id(tokenizer, true_token, "true_token"),
        false_id=token_id(tokenizer, false_token, "false_token"),
        prefix=() if seq2seq else special_prefix(tokenizer),
    )
