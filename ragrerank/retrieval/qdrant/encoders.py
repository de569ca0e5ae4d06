"""The encoders a `QdrantRetriever` stores vectors of: the dense bi-encoder (`DenseEncoder`,
shared with `ragrerank.BiEncoderScorer`: `ragrerank.scorers.bi_encoder.encoder`) and the
ColBERT multivector encoder's protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ...scorers.bi_encoder.encoder import DenseEncoder

__all__ = ["DenseEncoder", "MultiVectorEncoder"]


@runtime_checkable
class MultiVectorEncoder(Protocol):
    """Late-interaction document encoder (e.g. ``ragrerank.ColBERTScorer``)."""

    @property
    def dim(self) -> int: ...

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]: ...
