"""The faster forward of a loaded cross-encoder: a last layer that computes only the [CLS]
row (``cls_only``), a float32 classification head on a reduced-precision body
(``float32_head``) and ``torch.compile`` with an eager fallback. Imported only once a model
loads (it needs ``ragrerank[local]``).

Ours although sentence-transformers has neighbours:
- cls_only: ``CrossEncoder`` always runs the full last layer; this is 1.12x in fp32 at < 1e-5.
- float32_head: ``keep_in_fp32_modules`` uses the stored (bf16-rounded) weights; ours: exact fp32.
- compile: ``CrossEncoder.compile()`` has no fallback; here a failed build runs eager, warned once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import torch
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = ["ClsOnlyLayer", "cls_only_forward", "compiled", "fast_forward", "float32_head"]

logger = logging.getLogger(__name__)

Forward = Callable[..., Any]


def fast_forward(model: Any, *, cls_only: bool, torch_compile: bool, name: str) -> Forward | None:
    """The forward to call instead of ``model`` (None: ``model`` itself): CLS-only where the
    architecture allows it and ``cls_only`` asks for it, compiled with ``torch_compile``."""
    forward = cls_only_forward(model) if cls_only else None
    if cls_only and forward is None:
        logger.info("%s: cls_only is not supported for this architecture", name)
    if torch_compile:
        forward = compiled(forward or model, name)
    return forward


def compiled(forward: Forward, name: str) -> Forward:
    """``torch.compile(forward, dynamic=True)``, falling back to ``forward`` for good if
    compiling fails (compilation happens, and fails, on the first calls)."""
    fn: list[Forward] = [torch.compile(forward, dynamic=True)]

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


def float32_head(model: Any, dtype: torch.dtype) -> int:
    """Cast ``model`` to ``dtype`` except ``model.classifier`` and a BERT pooler, which keep
    the checkpoint's float32 weights (never rounded through ``dtype``) and cast their floating
    inputs up (forward pre-hooks); returns how many head modules were kept in float32."""

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


def cls_only_forward(model: Any) -> Forward | None:
    """A forward equal to ``model``'s whose last layer computes only the [CLS] row.

    Supported: BERT sequence classifiers (absolute positions, encoder only). Returns
    None for anything else. The returned callable shares ``model``'s weights.
    """
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
    encoder.layer = torch.nn.ModuleList([*layers[:-1], ClsOnlyLayer(layers[-1])])
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
