"""`CrossEncoderScorer`: its options, tokenization with document-only truncation, token-length
sorted batches and scoring. Loading: `loading`; the faster forward: `fast_forward`.

Ours, not ``sentence_transformers.CrossEncoder.predict`` (equal scores within 1e-4 in fp32):
- truncation: predict cuts ``longest_first`` (a longer query too), uncounted; we cut documents, counted.
- batching: predict sorts by characters and tokenizes each batch; we tokenize once, sort by tokens.
- forward: predict runs the full model; cls_only is 1.12x at equal scores (docs/benchmarks.md).
- padding: ``tokenizer.pad`` follows ``padding_side``; absolute positions need right padding.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ...scorer import BaseScorer, config_parameters, validate_query
from ...types import Candidate, ScoreOutput
from ...utils.hardware import check_dtype, resolve_dtype
from ...utils.tokens import Truncation, splice_second, token_spans
from .loading import LoadedModel, load_model
from .openvino import BACKENDS, check_calibration, check_openvino, openvino_forward

if TYPE_CHECKING:
    import torch

__all__ = ["CrossEncoderScorer"]

logger = logging.getLogger(__name__)


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
        dtype: ``"auto"`` (default): ``bfloat16`` where the hardware multiplies it natively
            (AMX or AVX-512 BF16 CPUs, CUDA compute capability >= 8.0), ``float16`` on older
            CUDA GPUs, ``float32`` elsewhere (`ragrerank.utils.hardware`); or ``"float32"``
            (exact), ``"bfloat16"``, ``"float16"``, None (the checkpoint's own dtype). The
            dtype in use is `resolved_dtype`, shown in the repr, `to_dict` and trace notes.
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
        truncation: how a document longer than its budget is cut
            (`ragrerank.utils.tokens.Truncation`): ``"head"`` keeps its first tokens,
            ``"head_tail"`` its first ``head_tokens`` and last ``tail_tokens``.
        head_tokens: with ``"head_tail"``, the first tokens kept (default: half the budget,
            or what ``tail_tokens`` leaves).
        tail_tokens: with ``"head_tail"``, the last tokens kept (default: the rest).
        backend: ``"torch"`` (default) or ``"openvino"`` (``ragrerank[openvino]``; CPU only):
            the same tokenization, batching and truncation, the forward compiled by OpenVINO,
            with ``dtype`` ``"float32"``, ``"bfloat16"``, ``"int8"`` (static, calibrated) or
            ``"auto"`` (OpenVINO's default); export and calibration run once and are cached
            (`ragrerank.scorers.cross_encoder.openvino`, docs/int8.md).
        calibration: with ``backend="openvino", dtype="int8"``: the (query, document) pairs
            that fix the int8 ranges (your own candidates fit best); default: a built-in
            sample of 64 generic pairs.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        dtype: str | None = "auto",
        cls_only: bool = True,
        float32_head: bool = True,
        torch_compile: bool = False,
        label: int | None = None,
        allow_untrained_head: bool = False,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
        revision: str | None = None,
        truncation: str = "head",
        head_tokens: int | None = None,
        tail_tokens: int | None = None,
        backend: str = "torch",
        calibration: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.truncation = Truncation(truncation, head_tokens, tail_tokens)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if max_length is not None and (isinstance(max_length, bool) or max_length < 2):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "openvino":
            check_openvino(dtype, device, torch_compile)
        else:
            check_dtype(dtype)
        self.calibration = check_calibration(calibration, backend, dtype)
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
        self.backend = backend
        self._loaded: LoadedModel | None = None
        self._forward: Any = None  # None: the model's own forward
        self._load_lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._warned_truncation = False
        self._notes: Mapping[str, Any] = MappingProxyType({})  # facts of the load, per output

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"CrossEncoderScorer({self.model_name})"

    def __repr__(self) -> str:
        return (
            f"CrossEncoderScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r} ({self.resolved_dtype}), cls_only={self.cls_only}, "
            f"float32_head={self.float32_head}, "
            f"torch_compile={self.torch_compile}, backend={self.backend!r}, "
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
                **self.truncation.params(),
                "backend": self.backend,
                "calibration": None if self.calibration is None else list(self.calibration),
            },
            # What "auto" chose here: part of the fingerprint, so caches never mix dtypes.
            "resolved": {"dtype": self.resolved_dtype},
        }

    @property
    def resolved_dtype(self) -> str | None:
        """The dtype the model runs in (``dtype`` with ``"auto"`` resolved for ``device``;
        with OpenVINO, ``"auto"`` by the same CPU rule and None as ``"float32"``)."""
        if self.backend == "openvino":
            if self.dtype == "int8":
                return "int8"
            return resolve_dtype(self.dtype or "float32", "cpu")
        if self._loaded is not None:
            return self._loaded.dtype
        return resolve_dtype(self.dtype, self.device)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrossEncoderScorer:
        """Rebuild a scorer from `to_dict` output."""
        return cls(**config_parameters(data, "CrossEncoderScorer"))

    # -- loading -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load tokenizer and model now (otherwise on first use). Idempotent and thread-safe."""
        self._ready()

    def _ready(self) -> LoadedModel:
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    openvino = self.backend == "openvino"
                    loaded = load_model(
                        self.model_name,
                        revision=self.revision,
                        device="cpu" if openvino else self.device,
                        dtype="float32" if openvino else self.dtype,
                        float32_head=self.float32_head,
                        label=self.label,
                        max_length=self.max_length,
                        allow_untrained_head=self.allow_untrained_head,
                        trust_remote_code=self.trust_remote_code,
                        allow_pickle_weights=self.allow_pickle_weights,
                    )
                    from .fast_forward import fast_forward

                    self._forward = fast_forward(
                        loaded.model,
                        cls_only=self.cls_only,
                        torch_compile=self.torch_compile,
                        name=self.name,
                    )
                    if openvino:
                        self._forward = openvino_forward(
                            loaded,
                            self._forward,
                            dtype=self.resolved_dtype or "float32",
                            calibration=self.calibration,
                            cls_only=self.cls_only,
                            name=self.name,
                        )
                    in_use = self.resolved_dtype if openvino else loaded.dtype
                    self._notes = MappingProxyType({"dtype": in_use})  # before _loaded is seen
                    self._loaded = loaded
        return self._loaded

    # -- scoring -----------------------------------------------------------------------------

    def token_count(self, query: str, documents: Sequence[str]) -> list[int]:
        """Untruncated token count of each (query, document) pair, special tokens included."""
        loaded = self._ready()
        q_len, d_lens = self._lengths(loaded.tokenizer, query, list(documents))
        return [q_len + d + loaded.specials for d in d_lens]

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens (`ragrerank.TokenizingScorer`)."""
        tokenizer = self._ready().tokenizer
        with self._tok_lock:
            return token_spans(tokenizer, texts)

    def _lengths(self, tokenizer: Any, query: str, texts: list[str]) -> tuple[int, list[int]]:
        with self._tok_lock:
            q = tokenizer(query, add_special_tokens=False, verbose=False)["input_ids"]
            d = (
                tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
                if texts
                else []
            )
        return len(q), [len(x) for x in d]

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        loaded = self._ready()
        import torch

        texts = [c.text for c in candidates]
        max_len, tokenizer = loaded.max_length, loaded.tokenizer
        q_len, d_lens = self._lengths(tokenizer, query, texts)
        budget = max_len - loaded.specials - q_len
        if budget < 1:
            raise ValueError(
                f"query is {q_len} tokens; max_length={max_len} leaves no room for documents"
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
                max_len,
            )
        with self._tok_lock:
            enc = tokenizer(
                [query] * len(texts), texts, truncation="only_second", max_length=max_len
            )
            if self.truncation.strategy == "head_tail":
                for i in sorted(truncated):  # the kept head and tail replace the head cut
                    ids = tokenizer(texts[i], add_special_tokens=False, verbose=False)["input_ids"]
                    rows = {k: enc[k][i] for k in enc}
                    splice_second(rows, enc.sequence_ids(i), self.truncation.cut_ids(ids, budget))
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
        forward = self._forward or loaded.model
        column = 0 if self.label is None else self.label
        scores = [0.0] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = _pad(loaded, {k: [enc[k][i] for i in idx] for k in keys})
                col = forward(**batch).logits[:, column].float().cpu().tolist()
                for i, s in zip(idx, col, strict=True):
                    scores[i] = float(s)
        return ScoreOutput(scores, truncated=truncated, notes=self._notes)


def _pad(loaded: LoadedModel, features: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
    """Right-pad each row to the batch's longest, as tensors on the model's device."""
    import torch

    width = max(len(x) for x in features["input_ids"])
    pad_id = loaded.tokenizer.pad_token_id or 0
    out = {}
    for key, rows in features.items():
        fill = pad_id if key == "input_ids" else 0
        padded = [row + [fill] * (width - len(row)) for row in rows]
        out[key] = torch.tensor(padded, dtype=torch.long, device=loaded.device)
    return out
