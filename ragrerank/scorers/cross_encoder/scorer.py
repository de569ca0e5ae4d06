"""Local cross-encoder backend (any transformers sequence-classification reranker)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import UntrainedHeadError, require
from ...scorer import BaseScorer, validate_query
from ...types import Candidate, ScoreOutput
from ...utils.model_source import ModelSource, resolve_model

if TYPE_CHECKING:
    import torch

__all__ = ["CrossEncoderScorer"]

logger = logging.getLogger(__name__)

_DTYPES = ("float32", "bfloat16", "float16")


def _read_st_max_length(source: ModelSource) -> int | None:
    """``max_seq_length`` from a sentence-transformers config, if the model has one."""
    cfg = source.find("sentence_bert_config.json")
    if cfg is not None:
        value = json.loads(cfg.read_text()).get("max_seq_length")
        return int(value) if isinstance(value, int) else None
    return None


def _check_head(model: Any, info: Mapping[str, Any], name: str, allow: bool) -> None:
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


class CrossEncoderScorer(BaseScorer):
    """Score (query, document) pairs jointly with a transformers cross-encoder.

    Scores are the raw logits (identity activation), equal to
    ``sentence_transformers.CrossEncoder(model).predict(pairs, activation_fn=identity)``.
    Pairs are batched by length to minimise padding; documents (never the query) are
    truncated to ``max_length`` and every truncation is counted in the trace.

    The model loads on first use (or `warm_up`) and is reused for every call.

    Args:
        model: hub name or local folder (which is which, and the errors for a missing
            folder or an uncached name: `ragrerank.utils.model_source`).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        batch_size: pairs per forward pass.
        max_length: tokens per pair; default: the model's limit.
        dtype: ``"float32"`` (default), ``"bfloat16"`` (much faster on AMX CPUs) or ``"float16"``.
        cls_only: in BERT-style classifiers only the [CLS] row of the last layer feeds the
            head, so compute just that row's attention and feed-forward there (same scores
            within float tolerance, ~1/7 less compute for 6 layers). Ignored (full forward)
            for architectures it does not know.
        float32_head: with a reduced ``dtype``, keep the classification head (``classifier``
            and BERT's pooler) in float32, its input cast up. The head sees one row per pair,
            so this costs nothing measurable, but it keeps the scores themselves from being
            rounded to 8 mantissa bits: in bfloat16 a logit near 5 moves in steps of 0.03,
            which ties and reorders close candidates.
        torch_compile: run the forward through ``torch.compile(dynamic=True)`` (inductor; on
            CPU it needs a C++ compiler). The first calls compile (tens of seconds). On a
            2-core AVX-512 CPU in bf16 later calls used ~7% less CPU time in isolation, but
            showed no wall-time gain in an interleaved benchmark: measure before relying on
            it. If compilation fails the eager forward is used from then on (with a warning).
        label: which logit to use for multi-label heads (required when ``num_labels > 1``).
        allow_untrained_head: load a checkpoint that lacks classification-head weights
            (a base or bi-encoder model) with a random head and a warning, instead of
            raising `UntrainedHeadError`.
        trust_remote_code: run code shipped with the checkpoint (off by default).
        allow_pickle_weights: also accept ``.bin`` (pickle) weights; safetensors only by default.
        revision: hub revision to pin.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        dtype: str | None = None,
        cls_only: bool = True,
        float32_head: bool = True,
        torch_compile: bool = False,
        label: int | None = None,
        allow_untrained_head: bool = False,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
        revision: str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if max_length is not None and (isinstance(max_length, bool) or max_length < 2):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES} or None, got {dtype!r}")
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.cls_only = bool(cls_only)
        self.float32_head = bool(float32_head)
        self.torch_compile = bool(torch_compile)
        self.label = label
        self.allow_untrained_head = bool(allow_untrained_head)
        self.trust_remote_code = trust_remote_code
        self.allow_pickle_weights = allow_pickle_weights
        self.revision = revision
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._warned_truncation = False

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"CrossEncoderScorer({self.model_name})"

    def __repr__(self) -> str:
        return (
            f"CrossEncoderScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r}, cls_only={self.cls_only}, float32_head={self.float32_head}, "
            f"torch_compile={self.torch_compile}, "
            f"batch_size={self.batch_size}, max_length={self.max_length})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments (see `from_dict`)."""
        return {
            "type": "ragrerank.CrossEncoderScorer",
            "init_parameters": {
                "model": self.model_name,
                "device": self.device,
                "batch_size": self.batch_size,
                "max_length": self.max_length,
                "dtype": self.dtype,
                "cls_only": self.cls_only,
                "float32_head": self.float32_head,
                "torch_compile": self.torch_compile,
                "label": self.label,
                "allow_untrained_head": self.allow_untrained_head,
                "trust_remote_code": self.trust_remote_code,
                "allow_pickle_weights": self.allow_pickle_weights,
                "revision": self.revision,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrossEncoderScorer:
        """Rebuild a scorer from `to_dict` output."""
        if data.get("type") != "ragrerank.CrossEncoderScorer":
            raise ValueError(f"not a CrossEncoderScorer config: type={data.get('type')!r}")
        return cls(**data["init_parameters"])

    # -- loading -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load tokenizer and model now (otherwise on first use). Idempotent and thread-safe."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            require("transformers", "local")
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            source = resolve_model(self.model_name, self.revision)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            ref, extra = source.pretrained()
            tokenizer = AutoTokenizer.from_pretrained(
                ref, revision=self.revision, trust_remote_code=self.trust_remote_code, **extra
            )
            model, info = AutoModelForSequenceClassification.from_pretrained(
                ref,
                **extra,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
                use_safetensors=None if self.allow_pickle_weights else True,
                output_loading_info=True,
            )
            _check_head(model, info, self.model_name, self.allow_untrained_head)
            num_labels = int(model.config.num_labels)
            if num_labels > 1 and self.label is None:
                raise ValueError(
                    f"{self.model_name} has {num_labels} output labels; pass label=<index> "
                    "to choose the relevance logit"
                )
            if self.label is not None and not 0 <= self.label < num_labels:
                raise ValueError(f"label={self.label} out of range for {num_labels} labels")
            if self.dtype is not None:
                if self.dtype != "float32" and self.float32_head:
                    _float32_head(model, getattr(torch, self.dtype))
                else:
                    model = model.to(getattr(torch, self.dtype))
            model.to(device).eval()
            declared = [
                _read_st_max_length(source),
                getattr(model.config, "max_position_embeddings", None),
                tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
            ]
            # An explicit max_length wins; otherwise the tightest limit the checkpoint declares.
            resolved = self.max_length
            if resolved is None:
                resolved = min([x for x in declared if isinstance(x, int) and x > 0] or [512])
            self._max_len = int(resolved)
            self._specials = int(tokenizer.num_special_tokens_to_add(pair=True))
            self._device = device
            self._tokenizer = tokenizer
            self._forward = _cls_only_forward(model) if self.cls_only else None
            if self.cls_only and self._forward is None:
                logger.info("%s: cls_only is not supported for this architecture", self.name)
            if self.torch_compile:
                self._forward = _compiled(self._forward or model, self.name)
            self._model = model

    # -- scoring -----------------------------------------------------------------------------

    def token_count(self, query: str, documents: Sequence[str]) -> list[int]:
        """Untruncated token count of each (query, document) pair, special tokens included."""
        self.warm_up()
        q_len, d_lens = self._lengths(query, list(documents))
        return [q_len + d + self._specials for d in d_lens]

    def _lengths(self, query: str, texts: list[str]) -> tuple[int, list[int]]:
        with self._tok_lock:
            q = self._tokenizer(query, add_special_tokens=False, verbose=False)["input_ids"]
            d = (
                self._tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
                if texts
                else []
            )
        return len(q), [len(x) for x in d]

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        self.warm_up()
        import torch

        texts = [c.text for c in candidates]
        q_len, d_lens = self._lengths(query, texts)
        budget = self._max_len - self._specials - q_len
        if budget < 1:
            raise ValueError(
                f"query is {q_len} tokens; max_length={self._max_len} leaves no room for documents"
            )
        truncated = frozenset(i for i, n in enumerate(d_lens) if n > budget)
        if truncated and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: %d of %d documents exceed max_length=%d and were truncated "
                "(counted in each trace; warned once per scorer)",
                self.name,
                len(truncated),
                len(texts),
                self._max_len,
            )
        with self._tok_lock:
            enc = self._tokenizer(
                [query] * len(texts), texts, truncation="only_second", max_length=self._max_len
            )
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
        scores = [0.0] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._pad({k: [enc[k][i] for i in idx] for k in keys})
                forward = self._forward or self._model
                logits = forward(**batch).logits
                col = logits[:, 0 if self.label is None else self.label].float().cpu().tolist()
                for i, s in zip(idx, col, strict=True):
                    scores[i] = float(s)
        return ScoreOutput(scores, truncated=truncated)

    def _pad(self, features: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
        import torch

        width = max(len(x) for x in features["input_ids"])
        pad_id = self._tokenizer.pad_token_id or 0
        out = {}
        for key, rows in features.items():
            fill = pad_id if key == "input_ids" else 0
            padded = [row + [fill] * (width - len(row)) for row in rows]
            out[key] = torch.tensor(padded, dtype=torch.long, device=self._device)
        return out


def _compiled(forward: Any, name: str) -> Any:
    """``torch.compile(forward, dynamic=True)``, falling back to ``forward`` for good if
    compiling fails (compilation happens, and fails, on the first calls)."""
    import torch

    fn: list[Any] = [torch.compile(forward, dynamic=True)]

    def call(**batch: Any) -> Any:
        current = fn[0]
        if current is forward:
            return forward(**batch)
        try:
            return current(**batch)
        except Exception as exc:  # inductor/C++ toolchain errors surface here
            logger.warning("%s: torch.compile failed, using the eager forward: %s", name, exc)
            fn[0] = forward
            return forward(**batch)

    return call


def _float32_head(model: Any, dtype: Any) -> int:
    """Cast ``model`` to ``dtype`` except ``model.classifier`` and a BERT pooler, which keep
    the checkpoint's float32 weights (never rounded through ``dtype``) and cast their floating
    inputs up (forward pre-hooks); returns how many head modules were kept in float32."""
    import torch

    def cast_up(_: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)

    found = (
        getattr(getattr(model, "bert", None), "pooler", None),
        getattr(model, "classifier", None),
    )
    heads = [h for h in found if isinstance(h, torch.nn.Module)]
    saved = [{k: v.detach().float().clone() for k, v in h.state_dict().items()} for h in heads]
    model.to(dtype)
    for head, state in zip(heads, saved, strict=True):
        head.float()
        head.load_state_dict(state)
        head.register_forward_pre_hook(cast_up)
    return len(heads)


def _cls_only_forward(model: Any) -> Any:
    """A forward equal to ``model``'s whose last layer computes only the [CLS] row.

    Supported: BERT sequence classifiers (absolute positions, encoder only). Returns
    None for anything else. The returned callable shares ``model``'s weights.
    """
    import copy

    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    config = model.config
    bert = getattr(model, "bert", None)
    if (
        getattr(config, "model_type", None) != "bert"
        or getattr(config, "position_embedding_type", "absolute") != "absolute"
        or getattr(config, "is_decoder", False)
        or bert is None
        or getattr(bert, "pooler", None) is None
        or not hasattr(model, "classifier")
    ):
        return None
    layers = list(bert.encoder.layer)
    body = copy.copy(bert)  # shallow: shares every parameter with ``model``
    body._modules = dict(bert._modules)
    encoder = copy.copy(bert.encoder)
    encoder._modules = dict(bert.encoder._modules)
    encoder.layer = torch.nn.ModuleList([*layers[:-1], _ClsOnlyLayer(layers[-1])])
    body.encoder = encoder
    classifier, dropout = model.classifier, model.dropout

    def forward(**batch: torch.Tensor) -> SequenceClassifierOutput:
        pooled = body(**batch).pooler_output  # the pooler reads row 0: the CLS row
        return SequenceClassifierOutput(logits=classifier(dropout(pooled)))

    return forward


def _cls_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """The CLS query row of an attention mask in any layout transformers passes."""
    if mask is None:
        return None
    if mask.dim() == 4:
        return mask[:, :, :1, :]
    if mask.dim() == 2:  # [batch, keys] of 1/0
        return mask[:, None, None, :].bool()
    raise ValueError(f"unexpected attention mask shape {tuple(mask.shape)}")


def _cls_only_layer_type() -> type:
    import torch

    class ClsOnlyLayer(torch.nn.Module):
        """A BERT layer whose output is only the CLS row: keys/values from every token."""

        def __init__(self, layer: Any) -> None:
            super().__init__()
            self.layer = layer

        def forward(
            self,
            hidden_states: torch.Tensor,
            attention_mask: torch.Tensor | None = None,
            *_: Any,
            **__: Any,
        ) -> torch.Tensor:
            att = self.layer.attention
            heads = att.self.num_attention_heads
            b, h = hidden_states.shape[0], hidden_states.shape[2]
            cls = hidden_states[:, :1]

            def split(x: torch.Tensor) -> torch.Tensor:
                return x.view(b, x.shape[1], heads, h // heads).transpose(1, 2)

            q = split(att.self.query(cls))
            k = split(att.self.key(hidden_states))
            v = split(att.self.value(hidden_states))
            mask = _cls_mask(attention_mask)
            if mask is not None and mask.dtype != torch.bool:
                mask = mask.to(q.dtype)
            ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            ctx = ctx.transpose(1, 2).reshape(b, 1, h)
            attended = att.output(ctx, cls)
            return self.layer.output(self.layer.intermediate(attended), attended)  # type: ignore[no-any-return]

    return ClsOnlyLayer


def _ClsOnlyLayer(layer: Any) -> Any:
    return _cls_only_layer_type()(layer)
