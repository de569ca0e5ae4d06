"""Dense bi-encoder scoring: `BiEncoderScorer` (a cheap member for fusion and the learned
ranker) and `DenseEncoder` (its encoder, shared with `ragrerank.QdrantRetriever`)."""

from .encoder import DenseEncoder
from .scorer import BiEncoderScorer

__all__ = ["BiEncoderScorer", "DenseEncoder"]
