"""MaxSim: ``sum_i max_j q_i . d_j`` of one query's token vectors against many documents.

Ours rather than sentence-transformers' ``util.similarity.maxsim``: that one scores an empty
document with a sentinel (we score it 0.0) and needs the sentence-transformers import (~2 s),
which the pure vector paths (Qdrant stores, benchmarks) should not pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_float32", "maxsim_scores"]

# Pad/truncation budget for MaxSim: at most this many similarity entries per chunk.
_MAXSIM_CHUNK_ELEMENTS = 1 << 24


def maxsim_scores(
    query: Any, documents: Sequence[Any], *, device: str | None = None
) -> list[float]:
    """MaxSim of one query against many documents, batched and padded in torch.

    ``query`` is ``[n_query_tokens, dim]``; each document ``[n_tokens, dim]`` (numpy or torch).
    A document with no vectors scores 0.0. Documents are grouped by length into padded
    batches (masked), so there is no Python loop over documents in the arithmetic.
    """
    import torch

    q = as_float32(query)
    if q.ndim != 2:
        raise ValueError(f"query vectors must be 2-D [n_tokens, dim], got shape {q.shape}")
    docs = [as_float32(d) for d in documents]
    for i, d in enumerate(docs):
        if d.ndim != 2 or (d.shape[0] and d.shape[1] != q.shape[1]):
            raise ValueError(
                f"document {i}: vectors must be [n_tokens, {q.shape[1]}], got {d.shape}"
            )
    q_t = torch.from_numpy(q).to(device)
    out = np.zeros(len(docs), dtype=np.float32)
    order = sorted(
        (i for i in range(len(docs)) if docs[i].shape[0]), key=lambda i: docs[i].shape[0]
    )
    start = 0
    while start < len(order):
        # Grow the chunk while the padded similarity tensor stays within budget.
        stop = start + 1
        while (
            stop < len(order)
            and (stop - start + 1) * docs[order[stop]].shape[0] * q.shape[0]
            <= _MAXSIM_CHUNK_ELEMENTS
        ):
            stop += 1
        idx = order[start:stop]
        width = docs[idx[-1]].shape[0]
        padded = np.zeros((len(idx), width, q.shape[1]), dtype=np.float32)
        lengths = np.array([docs[i].shape[0] for i in idx])
        for row, i in enumerate(idx):
            padded[row, : lengths[row]] = docs[i]
        d_t = torch.from_numpy(padded).to(device)
        valid = (
            torch.arange(width, device=d_t.device)[None, :]
            < torch.from_numpy(lengths).to(d_t.device)[:, None]
        )
        # float32 even under a caller's autocast (e.g. a training loop's bf16 validation).
        with torch.autocast(device_type=d_t.device.type, enabled=False):
            sims = (d_t @ q_t.T).masked_fill(~valid[:, :, None], float("-inf"))
        out[idx] = sims.amax(dim=1).sum(dim=1).cpu().numpy()
        start = stop
    return [float(x) for x in out]


def as_float32(x: Any) -> np.ndarray:
    """A numpy float32 view of ``x`` (array-like, or a torch tensor of any float dtype)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)
