"""Token vectors of queries and documents, encoded by sentence-transformers.

`ColBERTEncoder` runs a loaded `Checkpoint` through ``MultiVectorEncoder.encode_query`` /
``encode_document`` (markers, truncation, [MASK] query expansion, the skiplist, batching) and,
for training, through its ``preprocess`` and modules with gradients (`features`, `forward`),
so trained and served vectors are computed the same way.

Ours on top, because sentence-transformers does not do it: one lock around every use of the
tokenizer (a fast tokenizer fails when two threads set its truncation at once); PyLate's
strip of each text; which texts truncation cut (the score trace counts them); and a document
with no content token left after truncation and the skiplist gets no vectors (it scores 0.0),
where sentence-transformers would still return its [CLS], marker and [SEP] vectors. Vectors
are L2-normalized here, in float32 (sentence-transformers' ``Normalize`` module normalizes in
the model's dtype: under ``dtype="bfloat16"`` that moved components by up to 2.8e-3).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...utils.tokens import Truncation, token_spans
from .checkpoints import Checkpoint

if TYPE_CHECKING:
    import torch

__all__ = ["ColBERTEncoder"]


class ColBERTEncoder:
    """Encodes with one loaded checkpoint; safe to share between threads."""

    def __init__(self, checkpoint: Checkpoint, truncation: Truncation | None = None) -> None:
        self.checkpoint = checkpoint
        self.truncation = Truncation() if truncation is None else truncation
        tokenizer = checkpoint.tokenizer
        ids = (tokenizer.convert_tokens_to_ids(w) for w in checkpoint.skiplist_words)
        self._skiplist = frozenset(
            i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id
        )
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.checkpoint.dim

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens, special tokens excluded."""
        with self._lock:
            return token_spans(self.checkpoint.tokenizer, texts)

    def encode_query(self, query: str) -> tuple[torch.Tensor, bool]:
        """``[n_query_tokens, dim]`` float32 vectors (on the model's device), and truncated."""
        (text,) = self._texts([query])
        with self._lock:
            truncated, _ = self._inspect([text], is_query=True)
            vectors = self.checkpoint.model.encode_query(text, show_progress_bar=False)
        return _normalized(vectors), truncated[0]

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int, show_progress: bool = False
    ) -> tuple[list[np.ndarray], list[bool]]:
        """Float32 ``[n_tokens, dim]`` per document (``[0, dim]`` without content), truncated."""
        out = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        if not texts:
            return out, []
        texts = self._texts(texts)
        with self._lock:
            truncated, has_content = self._inspect(texts, is_query=False)
            if self.truncation.strategy == "head_tail" and any(truncated):
                texts = self._head_tail(texts, truncated)
                _, has_content = self._inspect(texts, is_query=False)
            todo = [i for i in range(len(texts)) if has_content[i]]
            encoded = (
                self.checkpoint.model.encode_document(
                    [texts[i] for i in todo], batch_size=batch_size, show_progress_bar=show_progress
                )
                if todo
                else []
            )
        for i, vectors in zip(todo, encoded, strict=True):
            out[i] = _normalized(vectors).cpu().numpy()
        return out, truncated

    def features(self, texts: Sequence[str], *, is_query: bool) -> dict[str, Any]:
        """Model inputs for a batch (training), on the model's device."""
        from sentence_transformers.util import batch_to_device

        model = self.checkpoint.model
        with self._lock:
            features = model.preprocess(
                self._texts(texts),
                prompt=self.checkpoint.prompt(is_query=is_query),
                task="query" if is_query else "document",
            )
        return dict(batch_to_device(features, model.device))

    def forward(
        self, features: dict[str, Any], *, is_query: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[batch, tokens, dim]`` vectors and the ``[batch, tokens]`` mask of scored tokens
        (queries: real and expansion tokens; documents: real tokens not in the skiplist)."""
        out = self.checkpoint.model(features, task="query" if is_query else "document")
        return _normalized(out["token_embeddings"]), out["attention_mask"].bool()

    def _texts(self, texts: Sequence[str]) -> list[str]:
        if self.checkpoint.layout == "pylate":
            return [t.strip() for t in texts]  # as PyLate (sentence-transformers < 6) does
        return list(texts)

    def _head_tail(self, texts: list[str], truncated: list[bool]) -> list[str]:
        """The truncated texts cut to their first and last tokens (`Truncation.cut_text`).
        A cut text can re-tokenize a token longer at the joint: cut it again (at most twice
        more), so sentence-transformers' own truncation never drops the tail's end. Call with
        the lock held."""
        ckpt = self.checkpoint
        budget = ckpt.document_length - ckpt.tokenizer.num_special_tokens_to_add(pair=False)
        budget -= 1 if ckpt.prompt(is_query=False) else 0
        out = list(texts)
        todo = [i for i, cut in enumerate(truncated) if cut]
        for _ in range(3):
            spans = token_spans(ckpt.tokenizer, [out[i] for i in todo])
            todo_spans = [(i, s) for i, s in zip(todo, spans, strict=True) if len(s) > budget]
            for i, s in todo_spans:
                out[i] = self.truncation.cut_text(out[i], s, budget)
            todo = [i for i, _ in todo_spans]
            if not todo:
                break
        return out

    def _inspect(self, texts: Sequence[str], *, is_query: bool) -> tuple[list[bool], list[bool]]:
        """Per text: whether truncation cuts it, and whether a content token survives both
        truncation and the skiplist. Call with the lock held.

        A sequence is the tokenizer's special tokens around at most ``length - specials -
        marker`` content tokens (the marker is the prefix token after the first token).
        """
        ckpt = self.checkpoint
        length = ckpt.query_length if is_query else ckpt.document_length
        marker = 1 if ckpt.prompt(is_query=is_query) else 0
        enc = ckpt.tokenizer(
            list(texts), add_special_tokens=True, return_special_tokens_mask=True, verbose=False
        )
        truncated: list[bool] = []
        has_content: list[bool] = []
        for ids, special in zip(enc["input_ids"], enc["special_tokens_mask"], strict=True):
            budget = length - sum(special) - marker
            if budget < 1:
                raise ValueError(f"length {length} leaves no room for content tokens")
            content = [tok for tok, is_special in zip(ids, special, strict=True) if not is_special]
            truncated.append(len(content) > budget)
            has_content.append(any(tok not in self._skiplist for tok in content[:budget]))
        return truncated, has_content


def _normalized(vectors: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.nn.functional.normalize(vectors.float(), p=2, dim=-1)
