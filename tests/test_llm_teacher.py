"""A listwise LLM reranker as the teacher of `distill` (the production path: distil an LLM's
ordering into a fast cross-encoder), offline with a fake chat model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ragrerank import CrossEncoderScorer, ListwiseLLMScorer
from ragrerank.train.distill import distill, teacher_scores
from tests.test_listwise_llm import FakeChat
from tests.test_train import beir, mined, quick, tiny_encoder  # noqa: F401  (fixtures)

_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def reversed_order(prompt: str) -> str:
    """A fixed, checkable teacher: the passages of each window, last first."""
    ids = [int(i) for i, _ in _PASSAGE.findall(prompt)]
    return " > ".join(f"[{i}]" for i in reversed(ids))


def test_a_listwise_llm_teaches_a_cross_encoder_student(
    mined: Any,  # noqa: F811
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    llm = FakeChat(answer=reversed_order, prompts=[])
    teacher = ListwiseLLMScorer(llm, window=4, step=2)
    train, val = mined.split(3)
    result = distill(
        teacher, train, tmp_path / "student", base_model=tiny_encoder, num_layers=1, val=val,
        cache_dir=tmp_path, config=quick(loss="margin_mse", max_steps=2), teacher_negatives=4,
    )  # fmt: skip
    assert result.steps == 2 and llm.prompts  # the LLM was asked
    asked = len(llm.prompts)
    table = teacher_scores(teacher, train, cache_dir=tmp_path, show_progress=False)
    assert len(llm.prompts) == asked  # served from the teacher cache, not asked again
    for ex in train.examples:
        scores = table[ex.query_id]
        assert set(ex.positives) <= set(scores)  # every positive got a rank-derived score
        assert all(isinstance(s, float) for s in scores.values())
    log = json.loads((tmp_path / "student" / "train_log.json").read_text())
    assert 0 <= log["teacher_val_ndcg@10"] <= 1
    CrossEncoderScorer(tmp_path / "student", dtype="float32").score("q", ["a"])
