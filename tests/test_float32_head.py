"""float32_head: a bf16 body with a float32 classification head. Scores are no longer
rounded to bf16 (no ties between different documents) and drift less from fp32."""

from __future__ import annotations

import pytest

from ragrerank import CrossEncoderScorer
from tests.test_cls_only import DOCS, QUERY


def _drift(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fixture", ["tiny_ce", pytest.param("minilm_ce", marks=pytest.mark.slow)])
@pytest.mark.parametrize("cls_only", [True, False])
def test_float32_head_keeps_scores_distinct_and_closer_to_fp32(
    fixture: str, cls_only: bool, request: pytest.FixtureRequest
) -> None:
    import torch

    path = request.getfixturevalue(fixture)
    fp32 = CrossEncoderScorer(path, cls_only=cls_only).score(QUERY, DOCS)
    fast = CrossEncoderScorer(path, dtype="bfloat16", cls_only=cls_only)
    assert fast.float32_head  # on by default
    head32 = fast.score(QUERY, DOCS)
    rounded = CrossEncoderScorer(
        path, dtype="bfloat16", cls_only=cls_only, float32_head=False
    ).score(QUERY, DOCS)
    model = fast._model
    assert model.classifier.weight.dtype == torch.float32
    assert model.bert.pooler.dense.weight.dtype == torch.float32
    assert model.bert.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16
    assert len(set(head32)) == len(set(fp32)) == len(DOCS)  # every document its own score
    assert _drift(head32, fp32) <= _drift(rounded, fp32) + 1e-6
    assert _drift(head32, fp32) < 0.3 * (max(fp32) - min(fp32))


def test_bf16_head_ties_on_the_tiny_model(tiny_ce: str) -> None:
    """Why the option exists: a bf16 head rounds the tiny model's logits into ties."""
    rounded = CrossEncoderScorer(tiny_ce, dtype="bfloat16", float32_head=False).score(QUERY, DOCS)
    assert len(set(rounded)) < len(DOCS)


def test_float32_dtype_is_untouched_and_option_round_trips(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, dtype="float32")
    scorer.warm_up()
    assert not scorer._model.classifier._forward_pre_hooks  # nothing to cast up
    off = CrossEncoderScorer(tiny_ce, dtype="bfloat16", float32_head=False)
    again = CrossEncoderScorer.from_dict(off.to_dict())
    assert again.float32_head is False
    assert "float32_head=False" in repr(off)
