"""ColBERT late-interaction backend: documents encoded once, MaxSim at query time.

`ColBERTScorer` owns the scoring: its arguments and configuration, one lazy thread-safe load,
the stored-vector lookup per call (candidate metadata, a vector store such as
`ragrerank.retrieval.colbert_store`, the in-process cache, else encoded on the fly and cached;
`lookup.py`), MaxSim against the query's vectors and the truncation warning. The pieces:
`layouts.py` and `checkpoints.py` (reading and loading a checkpoint), `encoder.py` (encoding,
on sentence-transformers' ``MultiVectorEncoder``), `maxsim.py`, `vectors.py` (quantization,
the bounded cache, the store protocol).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...scorer import BaseScorer, config_parameters, validate_query
from ...types import Candidate, ScoreOutput, check_text
from ...utils.hardware import check_dtype, resolve_dtype
from ...utils.tokens import Truncation
from .checkpoints import Checkpoint, LoadOptions, load_checkpoint
from .encoder import ColBERTEncoder
from .lookup import VectorLookup
from .maxsim import maxsim_scores
from .vectors import METADATA_KEY, DocumentVectorCache, DocumentVectorStore, check_vectors

if TYPE_CHECKING:
    import torch

__all__ = ["ColBERTScorer"]

logger = logging.getLogger(__name__)


class ColBERTScorer(BaseScorer):
    """Late-interaction (ColBERT) scorer with stored document vectors.

    Loads three checkpoint layouts, each from its own config files (`checkpoints.py`;
    encoding is sentence-transformers' ``MultiVectorEncoder``, `encoder.py`):

    * PyLate / sentence-transformers (``modules.json`` with a Transformer module and a
      Dense projection in a subfolder; prefixes, lengths, query expansion and skiplist
      from ``config_sentence_transformers.json``), e.g. ``answerdotai/answerai-colbert-small-v1``;
    * Stanford ColBERT (HF encoder plus ``linear.weight`` in the same weights file, settings
      from ``artifact.metadata``), e.g. ``colbert-ir/colbertv2.0``;
    * any plain encoder (no projection, no markers), e.g. ``all-MiniLM-L6-v2``.

    Token vectors are L2-normalized. Document vectors are looked up, per candidate, in
    ``candidate.metadata[vectors_key]``, then ``store``, then the in-process cache, and
    only then encoded (and cached); the trace notes say which. A document with no content
    tokens (after the skiplist) has no vectors and scores 0.0.

    Args:
        model: hub name or local folder (which is which, and the errors for a missing
            folder or an uncached name: `ragrerank.utils.model_source`).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        batch_size: texts per forward pass.
        dtype: encoder dtype: ``"auto"`` (default; the rule of `CrossEncoderScorer`:
            bfloat16 on CPUs and GPUs with native bf16, float32 elsewhere), ``"float32"``,
            ``"bfloat16"``, ``"float16"`` or None (the checkpoint's own). In use:
            `resolved_dtype`. Vectors are L2-normalized in float32 whatever the dtype.
        query_length: override the checkpoint's query length (tokens, markers included).
        document_length: override the checkpoint's document length (tokens, markers included).
        skiplist_words: override the tokens dropped from documents (default: the
            checkpoint's, else ``string.punctuation``).
        cache_max_bytes: bound of the in-process document-vector cache; 0 disables it.
        store: a `DocumentVectorStore` to read stored vectors from, by candidate id.
        vectors_key: `Candidate.metadata` key that may hold stored vectors.
        trust_remote_code: run code shipped with the checkpoint (off by default).
        allow_pickle_weights: also accept ``.bin`` (pickle) weights; safetensors only by default.
        revision: hub revision to pin.
        truncation: how a document longer than ``document_length`` is cut before encoding,
            as in `CrossEncoderScorer` (queries are never cut this way: their length is the
            checkpoint's, [MASK]-expanded).
        head_tokens: with ``"head_tail"``, the first tokens kept (as in `CrossEncoderScorer`).
        tail_tokens: with ``"head_tail"``, the last tokens kept (as in `CrossEncoderScorer`).
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        dtype: str | None = "auto",
        query_length: int | None = None,
        document_length: int | None = None,
        skiplist_words: Sequence[str] | None = None,
        cache_max_bytes: int = 256 * 2**20,
        store: DocumentVectorStore | None = None,
        vectors_key: str = METADATA_KEY,
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
        check_dtype(dtype)
        for name, value in (("query_length", query_length), ("document_length", document_length)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 4
            ):
                raise ValueError(f"{name} must be an int >= 4, got {value!r}")
        if isinstance(skiplist_words, str):
            raise ValueError("skiplist_words must be a sequence of str, not a str")
        if store is not None and not isinstance(store, DocumentVectorStore):
            raise TypeError(f"store must implement DocumentVectorStore, got {type(store).__name__}")
        if not isinstance(vectors_key, str) or not vectors_key:
            raise ValueError(f"vectors_key must be a non-empty str, got {vectors_key!r}")
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self.query_length_override = query_length
        self.document_length_override = document_length
        self.skiplist_words = None if skiplist_words is None else list(skiplist_words)
        self.cache = DocumentVectorCache(cache_max_bytes)
        self.store = store
        self.vectors_key = vectors_key
        self.trust_remote_code = trust_remote_code
        self.allow_pickle_weights = allow_pickle_weights
        self.revision = revision
        self._encoder: ColBERTEncoder | None = None
        self._checked_store = False
        self._load_lock = threading.Lock()
        self._warned_truncation = False

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"ColBERTScorer({self.model_name})"

    def __repr__(self) -> str:
        return (
            f"ColBERTScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r} ({self.resolved_dtype}), batch_size={self.batch_size}, "
            f"cache_max_bytes={self.cache.max_bytes}, store={self.store!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments (see `from_dict`); ``store`` is not included."""
        return {
            "type": "ragrerank.ColBERTScorer",
            "init_parameters": {
                "model": self.model_name,
                "device": self.device,
                "batch_size": self.batch_size,
                "dtype": self.dtype,
                "query_length": self.query_length_override,
                "document_length": self.document_length_override,
                "skiplist_words": self.skiplist_words,
                "cache_max_bytes": self.cache.max_bytes,
                "vectors_key": self.vectors_key,
                "trust_remote_code": self.trust_remote_code,
                "allow_pickle_weights": self.allow_pickle_weights,
                "revision": self.revision,
                **self.truncation.params(),
            },
            # What "auto" chose here: part of the fingerprint, so caches never mix dtypes.
            "resolved": {"dtype": self.resolved_dtype},
        }

    @property
    def resolved_dtype(self) -> str | None:
        """The dtype the encoder runs in (``dtype`` with ``"auto"`` resolved for ``device``)."""
        if self._encoder is not None:
            return self._encoder.checkpoint.options.dtype
        return resolve_dtype(self.dtype, self.device)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, store: DocumentVectorStore | None = None
    ) -> ColBERTScorer:
        """Rebuild a scorer from `to_dict` output (pass the ``store`` again if you use one)."""
        return cls(**config_parameters(data, "ColBERTScorer"), store=store)

    @property
    def dim(self) -> int:
        """Dimension of the token vectors (loads the model)."""
        return self._loaded().checkpoint.dim

    @property
    def layout(self) -> str:
        """Checkpoint layout: ``"pylate"``, ``"stanford"`` or ``"plain"`` (loads the model)."""
        return self._loaded().checkpoint.layout

    @property
    def query_length(self) -> int:
        return self._loaded().checkpoint.query_length

    @property
    def document_length(self) -> int:
        return self._loaded().checkpoint.document_length

    # -- loading -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load tokenizer, encoder and projection now (otherwise on first use). Thread-safe."""
        if self._encoder is not None:
            return
        with self._load_lock:
            if self._encoder is None:
                self._encoder = ColBERTEncoder(self._load(), self.truncation)

    def _load(self) -> Checkpoint:
        words = None if self.skiplist_words is None else tuple(self.skiplist_words)
        return load_checkpoint(
            LoadOptions(
                model=self.model_name,
                revision=self.revision,
                device=self.device,
                dtype=self.dtype,
                query_length=self.query_length_override,
                document_length=self.document_length_override,
                skiplist_words=words,
                trust_remote_code=self.trust_remote_code,
                allow_pickle_weights=self.allow_pickle_weights,
            )
        )

    def _loaded(self) -> ColBERTEncoder:
        self.warm_up()
        assert self._encoder is not None
        return self._encoder

    # -- encoding ----------------------------------------------------------------------------

    def encode_query(self, query: str) -> np.ndarray:
        """Query token vectors ``[n_query_tokens, dim]`` (float32)."""
        validate_query(query)
        vectors, _ = self._encode_query(query)
        return vectors.cpu().numpy()

    def _encode_query(self, query: str) -> tuple[torch.Tensor, bool]:
        encoder = self._loaded()
        vectors, truncated = encoder.encode_query(query)
        if truncated:
            length = encoder.checkpoint.query_length
            logger.debug("%s: query truncated to %d tokens", self.name, length)
        return vectors, truncated

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> list[np.ndarray]:
        """Token vectors of each document, ``float32 [n_tokens, dim]``, for indexing.

        Skiplisted and padding tokens are dropped; a document with no content tokens gets
        an empty ``[0, dim]`` array. The cache is neither read nor filled.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a sequence of str, not a single str")
        for i, t in enumerate(texts):
            check_text(t, f"document {i}: text")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        vectors, _ = self._encode_documents(
            list(texts),
            batch_size=self.batch_size if batch_size is None else batch_size,
            show_progress=show_progress,
        )
        return vectors

    def _encode_documents(
        self, texts: list[str], *, batch_size: int, show_progress: bool = False
    ) -> tuple[list[np.ndarray], list[bool]]:
        return self._loaded().encode_documents(
            texts, batch_size=batch_size, show_progress=show_progress
        )

    # -- scoring -----------------------------------------------------------------------------

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens (`ragrerank.TokenizingScorer`)."""
        return self._loaded().token_spans(texts)

    def _check(self, raw: object, where: str) -> np.ndarray:
        return check_vectors(raw, self._loaded().checkpoint.dim, where, self.model_name)

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        checkpoint = self._loaded().checkpoint
        found = VectorLookup(candidates, self._check)
        found.from_metadata(self.vectors_key)
        q_vectors, q_truncated = self._encode_query(query)
        if self.store is not None:
            if not self._checked_store:
                self.store.check(checkpoint.dim)
                self._checked_store = True
            found.from_store(self.store, q_vectors)
        found.from_cache_or_encoded(
            self.cache,
            checkpoint.fingerprint + repr(sorted(self.truncation.params().items())),
            lambda texts: self._encode_documents(texts, batch_size=self.batch_size),
        )
        local = found.unscored()
        documents = [found.vectors[i] for i in local]
        local_scores = maxsim_scores(q_vectors, documents, device=checkpoint.device)
        for i, score in zip(local, local_scores, strict=True):
            found.scores[i] = score
        self._warn_truncation(len(found.truncated), len(candidates))
        output = found.output(query_truncated=q_truncated)
        notes = {**output.notes, "dtype": checkpoint.options.dtype}
        return ScoreOutput(output.scores, output.truncated, notes)

    def _warn_truncation(self, count: int, total: int) -> None:
        if count and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: %d of %d documents exceed document_length=%d tokens and were truncated "
                "(counted in each trace; warned once per scorer)",
                self.name,
                count,
                total,
                self.document_length,
            )
