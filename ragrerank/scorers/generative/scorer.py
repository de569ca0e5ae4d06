"""`GenerativeScorer`: pointwise rerankers that answer yes/no (or true/false) with a language
model. Decoder-only (Qwen3-Reranker, bge-reranker-v2-gemma style): score =
``logit[true] - logit[false]`` at the last position (sentence-transformers' ``LogitScore``;
``sigmoid`` of it is p(true) over the two tokens). Encoder-decoder (MonoT5): score =
``log_softmax([true, false])[true]`` at the first decoder step. Loading: `loading`; templates:
`template`.

Ours, not ``CrossEncoder.predict``: the template is tokenized piece by piece and only the
document is cut (counted in ``ScoreOutput.truncated``); predict would cut the whole prompt from
the right (the answer suffix first). Batches are sorted by token length and left-padded here,
then run through the sentence-transformers modules' forward.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ...scorer import BaseScorer, config_parameters, validate_query
from ...types import Candidate, ScoreOutput
from ...utils.hardware import check_dtype
from ...utils.model_source import resolve_model
from ...utils.tokens import Truncation, token_spans
from .loading import LoadedGenerative, load_generative, model_config
from .template import (
    DECODER_TEMPLATE,
    DEFAULT_INSTRUCTION,
    SEQ2SEQ_TEMPLATE,
    Template,
    read_folder,
    read_sentence_transformers,
)

__all__ = ["GenerativeScorer"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class GenerativeScorer(BaseScorer):
    """Score (query, document) pairs by a generative model's relevance-token logits.

    Args:
        model: hub name or local folder (`ragrerank.utils.model_source`).
        template: prompt with ``{query}``, ``{document}`` and optionally ``{instruction}``;
            default: the folder's ``generative_reranker.json``, else a sentence-transformers
            save's default prompt as ``<prompt>{query}{document}``, else Qwen3-Reranker's prompt
            (decoders) or MonoT5's ``Query: {query} Document: {document} Relevant:``.
        true_token: the answer token meaning relevant (default: the folder's json, else the
            ids of a sentence-transformers LogitScore head, else "yes" for decoders,
            "▁true" for T5).
        false_token: the answer token meaning not relevant ("no", "▁false"; defaults as above).
        instruction: fills ``{instruction}`` (default: the folder's, else a web-search one).
        device: as in `CrossEncoderScorer`.
        batch_size: pairs per forward pass.
        max_length: as in `CrossEncoderScorer`.
        dtype: as in `CrossEncoderScorer` (``"auto"`` accepted), but the default is None:
            the checkpoint's own dtype, as LLM checkpoints declare one.
        trust_remote_code: as in `CrossEncoderScorer`.
        allow_pickle_weights: as in `CrossEncoderScorer`.
        revision: as in `CrossEncoderScorer`.
        truncation: as in `CrossEncoderScorer`.
        head_tokens: as in `CrossEncoderScorer`.
        tail_tokens: as in `CrossEncoderScorer`.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        template: str | None = None,
        true_token: str | None = None,
        false_token: str | None = None,
        instruction: str | None = None,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
        revision: str | None = None,
        truncation: str = "head",
        head_tokens: int | None = None,
        tail_tokens: int | None = None,
    ) -> None:
        self.truncation = Truncation(truncation, head_tokens, tail_tokens)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        check_dtype(dtype)
        if template is not None:
            Template.parse(template)  # fail early
        self.model_name = str(model)
        self.template = template
        self.true_token = true_token
        self.false_token = false_token
        self.instruction = instruction
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.trust_remote_code = trust_remote_code
        self.allow_pickle_weights = allow_pickle_weights
        self.revision = revision
        self._loaded: LoadedGenerative | None = None
        self._template: Template | None = None
        self._values: dict[str, str] = {}
        self._load_lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._warned_truncation = False

    @property
    def name(self) -> str:
        return f"GenerativeScorer({self.model_name})"

    def __repr__(self) -> str:
        return (
            f"GenerativeScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r}, batch_size={self.batch_size}, max_length={self.max_length})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments (see `from_dict`)."""
        keys = (
            "template", "true_token", "false_token", "instruction", "device", "batch_size",
            "max_length", "dtype", "trust_remote_code", "allow_pickle_weights", "revision",
        )  # fmt: skip
        params = {"model": self.model_name, **{k: getattr(self, k) for k in keys}}
        params.update(self.truncation.params())
        return {"type": "ragrerank.GenerativeScorer", "init_parameters": params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerativeScorer:
        """Rebuild a scorer from `to_dict` output."""
        return cls(**config_parameters(data, "GenerativeScorer"))

    def warm_up(self) -> None:
        """Load tokenizer and model now (otherwise on first use). Idempotent and thread-safe."""
        self._ready()

    def _ready(self) -> LoadedGenerative:
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._load()
        assert self._loaded is not None
        return self._loaded

    def _load(self) -> None:
        source = resolve_model(self.model_name, self.revision)
        # constructor > generative_reranker.json > sentence-transformers' save > defaults
        shipped: dict[str, Any] = {**read_sentence_transformers(source), **read_folder(source)}
        config = model_config(
            source, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        defaults = (
            (SEQ2SEQ_TEMPLATE, "▁true", "▁false") if seq2seq else (DECODER_TEMPLATE, "yes", "no")
        )
        # `is None`, not `or`: an explicit "" instruction is a value, "" tokens are refused
        template = Template.parse(_first(self.template, shipped.get("template"), defaults[0]))
        loaded = load_generative(
            source,
            config,
            true_token=_first(self.true_token, shipped.get("true_token"), defaults[1]),
            false_token=_first(self.false_token, shipped.get("false_token"), defaults[2]),
            device=self.device,
            dtype=self.dtype,
            max_length=self.max_length,
            trust_remote_code=self.trust_remote_code,
            allow_pickle_weights=self.allow_pickle_weights,
            revision=self.revision,
        )
        instruction = _first(self.instruction, shipped.get("instruction"), DEFAULT_INSTRUCTION)
        self._template, self._values = template, {"instruction": instruction}
        self._loaded = loaded

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens (`ragrerank.TokenizingScorer`)."""
        tokenizer = self._ready().tokenizer
        with self._tok_lock:
            return token_spans(tokenizer, texts)

    def prompt(self, query: str, document: str) -> str:
        """The untruncated prompt for one pair, as the model sees it."""
        self._ready()
        assert self._template is not None
        return self._template.render({**self._values, "query": query, "document": document})

    def _encode(
        self, loaded: LoadedGenerative, query: str, texts: list[str]
    ) -> tuple[list[list[int]], frozenset[int]]:
        assert self._template is not None
        tokenizer, template = loaded.tokenizer, self._template

        def tokenize(parts: list[str]) -> list[list[int]]:
            return [
                tokenizer(p, add_special_tokens=False, verbose=False)["input_ids"] if p else []
                for p in parts
            ]

        eos = (
            [tokenizer.eos_token_id]
            if loaded.seq2seq and tokenizer.eos_token_id is not None
            else []
        )
        out: list[list[int]] = []
        cut: set[int] = set()
        with self._tok_lock:
            for i, text in enumerate(texts):
                values = {**self._values, "query": query, "document": text}
                head, doc, tail = template.encode(tokenize, values)
                prefix = list(loaded.prefix)
                if prefix and head[: len(prefix)] != prefix:
                    head = prefix + head
                budget = loaded.max_length - len(head) - len(tail) - len(eos)
                if budget < 1:
                    raise ValueError(
                        f"the prompt without the document is {len(head) + len(tail)} tokens; "
                        f"max_length={loaded.max_length} leaves no room for documents"
                    )
                if len(doc) > budget:
                    cut.add(i)
                out.append(head + self.truncation.cut_ids(doc, budget) + tail + eos)
        return out, frozenset(cut)

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        loaded = self._ready()
        import torch

        texts = [c.text for c in candidates]
        rows, truncated = self._encode(loaded, query, texts)
        if truncated and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: %d of %d documents exceed max_length=%d and were truncated "
                "(counted in each trace; warned once per scorer)",
                self.name, len(truncated), len(texts), loaded.max_length,
            )  # fmt: skip
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        scores = [0.0] * len(rows)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = [rows[i] for i in idx]
                col = (_seq2seq if loaded.seq2seq else _decoder)(loaded, batch)
                for i, s in zip(idx, col, strict=True):
                    scores[i] = float(s)
        notes = {"truncated": len(truncated)} if truncated else {}
        return ScoreOutput(scores, truncated=truncated, notes=notes)


def _first(*values: _T | None) -> _T:
    """The first value that is not None (the last is the default)."""
    return next(v for v in values if v is not None)


def _left_pad(rows: list[list[int]], pad: int, device: str) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = [[pad] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return (
        torch.tensor(ids, dtype=torch.long, device=device),
        torch.tensor(mask, dtype=torch.long, device=device),
    )


def _decoder(loaded: LoadedGenerative, rows: list[list[int]]) -> list[float]:
    """Left-padded batch through the sentence-transformers modules (last-position LogitScore)."""
    pad = loaded.tokenizer.pad_token_id
    ids, mask = _left_pad(rows, 0 if pad is None else int(pad), loaded.device)
    features = {"input_ids": ids, "attention_mask": mask, "logits_to_keep": 1, "modality": "text"}
    scores = loaded.model(features)["scores"]
    return [float(x) for x in scores[:, 0].float().cpu().tolist()]


def _seq2seq(loaded: LoadedGenerative, rows: list[list[int]]) -> list[float]:
    """log p(true) over {true, false} at the first decoder step (MonoT5)."""
    import torch

    pad = loaded.tokenizer.pad_token_id
    width = max(len(r) for r in rows)
    fill = 0 if pad is None else int(pad)
    ids = torch.tensor([r + [fill] * (width - len(r)) for r in rows], device=loaded.device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=loaded.device)
    start = loaded.model.config.decoder_start_token_id
    decoder = torch.full((len(rows), 1), int(start or 0), dtype=torch.long, device=loaded.device)
    logits = loaded.model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder).logits
    pair = logits[:, 0, [loaded.true_id, loaded.false_id]].float()
    return [float(x) for x in torch.log_softmax(pair, dim=-1)[:, 0].cpu().tolist()]
