"""The encoders a `QdrantRetriever` stores vectors of: the dense bi-encoder and the ColBERT
multivector encoder's protocol.

`DenseEncoder` wraps a sentence-transformers ``SentenceTransformer`` (which does the
encoding, query and document prompts included) only to load it once, on first use and
thread-safely, through `ragrerank.utils.model_source` (so a BM25-only run or a retriever
that never encodes loads nothing, and a mistyped model folder fails like everywhere else).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...errors import require
from ...utils.hardware import check_dtype, resolve_device, resolve_dtype

__all__ = ["DenseEncoder", "MultiVectorEncoder"]

logger = logging.getLogger(__name__)


@runtime_checkable
class MultiVectorEncoder(Protocol):
    """Late-interaction document encoder (e.g. ``ragrerank.ColBERTScorer``)."""

    @property
    def dim(self) -> int: ...

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]: ...


class DenseEncoder:
    """A sentence-transformers bi-encoder: a model name/path, loaded on first `load` in
    ``dtype`` (default ``"float32"``; ``"auto"``: bfloat16 on hardware with native bf16,
    see `ragrerank.utils.hardware`), or a loaded ``SentenceTransformer``, used as it is
    (its ``name`` is then its class name). Embeddings are float32 and unit length whatever
    the dtype.

    float32 stays the default for the first stage: in ``benchmarks/results/dtype.md``
    bf16 indexed 2.2x faster but the dense top 10 agreed with float32's 0.988 of the time,
    under the 0.99 bar a default must meet, and an index must match the queries' dtype.
    """

    def __init__(
        self, model: str | Path | Any, *, device: str | None = None, dtype: str | None = "float32"
    ) -> None:
        self.device = device
        self.dtype = check_dtype(dtype)
        self._model: Any
        if isinstance(model, (str, Path)):
            self.name = str(model)
            self._model = None
        else:
            self.name = type(model).__name__
            self._model = model
        self._lock = threading.Lock()

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
                    self._model = model
        return self._model

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
        model = self.load()
        encode = getattr(model, "encode_query" if query else "encode_document", None)
        if encode is None:
            encode = model.encode
        out = encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        vectors = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        # Normalized here, in float32: a bf16 model's own normalization is off by ~2e-3.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms != 0)
        return unit
