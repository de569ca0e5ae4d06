"""Lexical scorers: `BM25Scorer` (a cheap member for fusion and the learned ranker)."""

from .bm25 import BM25Scorer

__all__ = ["BM25Scorer"]
