"""`DenseEncoder`: a sentence-transformers bi-encoder, loaded once, encoding unit-length
float32 embeddings. `ragrerank.BiEncoderScorer` scores with it and `ragrerank.QdrantRetriever`
indexes and searches with it (one encoder, one set of rules).

It wraps a ``SentenceTransformer`` (which does the encoding, query and document prompts
included) only to load it once, on first use and thread-safely, through
`ragrerank.utils.model_source` (so a BM25-only run or a retriever that never encodes loads
nothing, and a mistyped model folder fails like everywhere else), to say which texts the
model's length limit cut, and to normalize in float32.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import require
from ...utils.hardware import check_dtype, resolve_device, resolve_dtype

__all__ = ["DenseEncoder"]

logger = logging.getLogger(__name__)

_DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # encode_document's order


class DenseEncoder:
    """A sentence-transformers bi-encoder: a model name/path, loaded on first `load` in
    ``dtype`` (default ``"float32"``; ``"auto"``: bfloat16 on hardware with native bf16,
    see `ragrerank.utils.hardware`), or a loaded ``SentenceTransformer``, used as it is
    (its ``name`` is then its class name). Embeddings are float32 and unit length whatever
    the dtype.

    float32 stays the default for the first stage: in ``benchmarks/results/dtype.md``
    bf16 indexed 2.2x faster but the dense top 10 agreed with float32's 0.988 of the time,
    under the 0.99 bar a default must meet, and an index must match the queries' dtype.

    Args:
        model: hub name, local folder or a loaded ``SentenceTransformer``.
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        dtype: as above; None: the checkpoint's own.
        max_length: tokens per text (prompt and special tokens included); default: the
            model's ``max_seq_length``. Longer texts are cut by sentence-transformers;
            `encode` says which.
    """

    def __init__(
        self,
        model: str | Path | Any,
        *,
        device: str | None = None,
        dtype: str | None = "float32",
        max_length: int | None = None,
    ) -> None:
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        self.device = device
        self.dtype = check_dtype(dtype)
        self.max_length = max_length
        self._model: Any
        if isinstance(model, (str, Path)):
            self.name = str(model)
            self._model = None
        else:
            self.name = type(model).__name__
            self._model = self._limit(model)
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()  # a fast tokenizer is not safe across threads

    def _limit(self, model: Any) -> Any:
        if self.max_length is not None:
            model.max_seq_length = self.max_length
        return model

    def load(self) -> Any:
        """The model, loaded the first time."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    require("sentence_transformers", "local")
                    from sentence_transformers import SentenceTransformer

                    from ...utils.model_source import resolve_model

                    ref, extra = resolve_model(self.name).pretrained()
                    device = resolve_device(self.device)
                    model = SentenceTransformer(ref, device=device, **extra)
                    self.dtype = resolve_dtype(self.dtype, device)
                    if self.dtype is not None:
                        import torch

                        model.to(getattr(torch, self.dtype))
                    logger.info("%s: loaded on %s in %s", self.name, device, self.dtype)
                    self._model = self._limit(model)
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded (then ``dtype`` is the one in use)."""
        return self._model is not None

    @property
    def dim(self) -> int:
        """Dimension of the embeddings (loads the model)."""
        model = self.load()
        get = getattr(model, "get_embedding_dimension", None)
        dim = get() if get is not None else model.get_sentence_embedding_dimension()
        if not isinstance(dim, int):
            raise ValueError(f"cannot tell the embedding size of {self.name}")
        return dim

    def embed(self, texts: list[str], *, query: bool, batch_size: int) -> np.ndarray:
        """Unit-length float32 embeddings ``[len(texts), dim]`` of queries or documents."""
        return self.encode(texts, query=query, batch_size=batch_size, count_truncated=False)[0]

    def encode(
        self, texts: list[str], *, query: bool, batch_size: int, count_truncated: bool = True
    ) -> tuple[np.ndarray, list[bool]]:
        """`embed`, and per text whether the model's length limit cut it (all False
        without ``count_truncated``)."""
        model = self.load()
        encode = getattr(model, "encode_query" if query else "encode_document", None)
        with self._encode_lock:
            truncated = [False] * len(texts)
            if count_truncated:
                truncated = self._truncated(model, texts, query, encode is not None)
            if encode is None:
                encode = model.encode
            out = encode(
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        vectors = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        # Normalized here, in float32: a bf16 model's own normalization is off by ~2e-3.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms != 0)
        return unit, truncated

    @staticmethod
    def _truncated(model: Any, texts: list[str], query: bool, prompted: bool) -> list[bool]:
        """Whether each text, with the prompt sentence-transformers puts before it, has more
        tokens than the model's ``max_seq_length``. Call with the encode lock held."""
        limit = getattr(model, "max_seq_length", None)
        tokenizer = getattr(model, "tokenizer", None)
        if not isinstance(limit, int) or tokenizer is None or not texts:
            return [False] * len(texts)
        prompts = getattr(model, "prompts", None) or {}
        names = ("query",) if query else _DOCUMENT_PROMPTS
        prompt = next((prompts[n] for n in names if n in prompts), None) if prompted else None
        prompt = prompt or ""
        ids = tokenizer([prompt + t for t in texts], verbose=False)["input_ids"]
        return [len(x) > limit for x in ids]
