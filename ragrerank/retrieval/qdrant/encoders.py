"""The encoders a `QdrantRetriever` stores vectors of: the dense bi-encoder and the ColBERT
multivector encoder's protocol.

`DenseEncoder` wraps a sentence-transformers ``SentenceTransformer`` (which does the
encoding, query and document prompts included) only to load it once, on first use and
thread-safely, through `ragrerank.utils.model_source` (so a BM25-only run or a retriever
that never encodes loads nothing, and a mistyped model folder fails like everywhere else).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...errors import require

__all__ = ["DenseEncoder", "MultiVectorEncoder"]


@runtime_checkable
class MultiVectorEncoder(Protocol):
    """Late-interaction document encoder (e.g. ``ragrerank.ColBERTScorer``)."""

    @property
    def dim(self) -> int: ...

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]: ...


class DenseEncoder:
    """A sentence-transformers bi-encoder: a model name/path, loaded on first `load`, or a
    loaded ``SentenceTransformer`` (its ``name`` is then its class name)."""

    def __init__(self, model: str | Path | Any, *, device: str | None = None) -> None:
        self.device = device
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
                    self._model = SentenceTransformer(ref, device=self.device, **extra)
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
        out = encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
