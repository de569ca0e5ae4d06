"""The one BM25 tokenizer: the terms `ragrerank.BM25Encoder` (first stage) and
`ragrerank.BM25Scorer` (reranking) both count.

Text is lowercased, split on ``\\b\\w\\w+\\b``, English stopwords (Lucene's 33-word list) are
removed and the rest is Snowball-stemmed with PyStemmer: bm25s ``tokenize(stopwords="en",
stemmer=Stemmer.Stemmer("english"))`` gives the same terms.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from typing import Any

from ..errors import require

__all__ = ["ENGLISH_STOPWORDS", "TOKEN_PATTERN", "TermTokenizer", "check_bm25_parameters"]

_LUCENE_ENGLISH = (
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with"
)
ENGLISH_STOPWORDS: frozenset[str] = frozenset(_LUCENE_ENGLISH.split(" "))
"""Lucene's default English stopwords (also bm25s ``stopwords="en"``)."""

TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def check_bm25_parameters(k1: float, b: float) -> tuple[float, float]:
    """``(k1, b)`` as floats, or a ValueError: ``k1 >= 0`` (saturation), ``b`` in [0, 1]."""
    if isinstance(k1, bool) or not isinstance(k1, (int, float)) or not k1 >= 0:
        raise ValueError(f"k1 must be a number >= 0, got {k1!r}")
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
        raise ValueError(f"b must be a number in [0, 1], got {b!r}")
    return float(k1), float(b)


class TermTokenizer:
    """Lowercase, split, drop stopwords, stem (thread-safe; the stemmer loads on first use).

    Args:
        language: Snowball stemmer language (PyStemmer, ``ragrerank[bm25]``); ``None``
            disables stemming.
        stopwords: words removed before stemming; default `ENGLISH_STOPWORDS`.
    """

    def __init__(
        self, *, language: str | None = "english", stopwords: Iterable[str] | None = None
    ) -> None:
        if isinstance(stopwords, str):
            raise ValueError("stopwords must be a collection of words, not a single str")
        self.language = language
        self.stopwords = (
            ENGLISH_STOPWORDS if stopwords is None else frozenset(w.lower() for w in stopwords)
        )
        self._split = re.compile(TOKEN_PATTERN).findall
        self._stemmer: Any = None
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        """What must match between two users of the same terms (plain data)."""
        words = ",".join(sorted(self.stopwords)).encode()
        return {
            "pattern": TOKEN_PATTERN,
            "language": self.language,
            "stopwords_sha1": hashlib.sha1(words).hexdigest(),
        }

    def tokenize(self, text: str) -> list[str]:
        """The terms of ``text``, in order (repeats kept)."""
        words = [w for w in self._split(text.lower()) if w not in self.stopwords]
        if self.language is None or not words:
            return words
        stemmer = self._get_stemmer()
        with self._lock:  # PyStemmer objects are not thread-safe
            return list(stemmer.stemWords(words))

    def _get_stemmer(self) -> Any:
        if self._stemmer is None:
            with self._lock:
                if self._stemmer is None:
                    stemmer_mod: Any = require("Stemmer", "bm25")
                    self._stemmer = stemmer_mod.Stemmer(self.language)
        return self._stemmer
