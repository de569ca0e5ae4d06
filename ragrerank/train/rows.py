"""Training rows for the sentence-transformers trainers: each (query, positive) pair with
negatives drawn from its mined list, one row per pair and epoch, in the column layout a
loss reads (``columns``: query, positive, negative_1..n; ``list``: query, docs, labels;
``pointwise``: query, document, label)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .config import TrainConfig
from .data import TrainingExample, TrainingSet

__all__ = ["LAYOUTS", "epoch_rows", "fill_negatives", "seed_everything", "training_rows"]

LAYOUTS = ("columns", "list", "pointwise")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fill_negatives(data: TrainingSet, n: int, seed: int = 0) -> TrainingSet:
    """Pad each example's negatives to at least ``n`` with random corpus documents.

    Random documents never include the query's judged positives. Deterministic for a seed.
    Raises `ValueError` when the corpus has no document that could be a negative.
    """
    rng = random.Random(seed)
    ids = sorted(data.dataset.corpus)
    examples = []
    for ex in data.examples:
        if len(ex.negatives) >= n:
            examples.append(ex)
            continue
        banned = {*ex.positives, *ex.negatives}
        banned.update(d for d, r in data.dataset.qrels.get(ex.query_id, {}).items() if r > 0)
        pool = [d for d in ids if d not in banned]
        if not pool and not ex.negatives:
            raise ValueError(
                f"query {ex.query_id!r}: no negative documents (the corpus holds only its "
                "positives); add negatives or a larger corpus"
            )
        extra = rng.sample(pool, min(len(pool), n - len(ex.negatives)))
        examples.append(replace(ex, negatives=(*ex.negatives, *extra)))
    return data.with_examples(examples)


def _draw(ex: TrainingExample, n: int, rng: random.Random) -> list[str]:
    negs = list(ex.negatives)
    return rng.sample(negs, n) if len(negs) >= n else [*negs, *rng.choices(negs, k=n - len(negs))]


def epoch_rows(
    train: TrainingSet,
    *,
    epochs: int,
    negatives: int,
    layout: str,
    seed: int = 0,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """(rows, pairs per epoch). Every epoch shuffles the pairs and draws fresh negatives
    (seeded). With ``teacher`` (``{query id: {doc id: score}}``) a ``columns`` row also
    holds ``labels``: the teacher's scores of the positive and of each negative."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    missing = [ex.query_id for ex in train.examples if not ex.negatives]
    if missing:
        raise ValueError(
            f"{len(missing)} training queries have no negatives (e.g. {missing[0]!r}); "
            "mine them first (mine_negatives) or pad them (fill_negatives)"
        )
    if teacher is not None:
        absent = [ex.query_id for ex in train.examples if ex.query_id not in teacher]
        if absent:
            raise ValueError(f"no teacher scores for {len(absent)} queries (e.g. {absent[0]!r})")
    rng = random.Random(seed)
    pairs = [(ex, p) for ex in train.examples for p in ex.positives]
    rows: list[dict[str, Any]] = []
    for _ in range(epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for i in order:
            ex, pos = pairs[i]
            negs = _draw(ex, negatives, rng)
            text = train.pair_text
            if layout == "columns":
                row: dict[str, Any] = {"query": ex.query, "positive": text(ex, pos)}
                row.update({f"negative_{k}": text(ex, d) for k, d in enumerate(negs, 1)})
                if teacher is not None:
                    table = teacher[ex.query_id]
                    row["labels"] = [float(table[d]) for d in (pos, *negs)]
                rows.append(row)
            elif layout == "list":
                docs = [text(ex, d) for d in (pos, *negs)]
                rows.append({"query": ex.query, "docs": docs, "labels": [1.0] + [0.0] * len(negs)})
            else:
                rows.append({"query": ex.query, "document": text(ex, pos), "label": 1.0})
                rows += [{"query": ex.query, "document": text(ex, d), "label": 0.0} for d in negs]
    return rows, len(pairs)


def training_rows(
    train: TrainingSet,
    config: TrainConfig,
    *,
    layout: str,
    teacher: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """(rows, negatives per row) a trainer trains on, as `epoch_rows` builds them from
    ``config``. Without ``teacher`` each query is padded to ``config.negatives`` negatives
    (`fill_negatives`); with one, a row holds as many as every query has scores for (at most
    ``config.negatives``). ``loss="margin_mse"`` without ``teacher`` is a `ValueError`."""
    if config.loss == "margin_mse" and teacher is None:
        raise ValueError("loss 'margin_mse' needs teacher scores (see ragrerank.train.distill)")
    negatives = config.negatives
    if teacher is None:
        train = fill_negatives(train, negatives, config.seed)
    else:
        negatives = min(negatives, min(len(ex.negatives) for ex in train.examples))
    rows, _ = epoch_rows(train, epochs=config.epochs, negatives=negatives, layout=layout,
                         seed=config.seed, teacher=teacher)  # fmt: skip
    return rows, negatives
