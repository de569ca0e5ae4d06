"""CLS-only last layer: same scores as the full forward and as plain transformers."""

from __future__ import annotations

import pytest

from ragrerank import CrossEncoderScorer
from ragrerank.scorers.cross_encoder.fast_forward import cls_only_forward
from tests.numerics import bf16_score_bound, fp32_head_inputs

QUERY = "does aspirin prevent heart attacks in older adults?"
# Very different lengths, so batches are padded and the mask matters.
DOCS = [("aspirin lowers the risk of heart attack " * (1 + 3 * i)).strip() for i in range(12)]


def _plain_transformers(path: str) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    enc = tok([QUERY] * len(DOCS), DOCS, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        return [float(x) for x in model(**enc).logits[:, 0]]


def _max_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fixture", ["tiny_ce", pytest.param("minilm_ce", marks=pytest.mark.slow)])
def test_parity_with_full_forward_and_transformers(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(fixture)
    fast = CrossEncoderScorer(path, batch_size=5, dtype="float32")
    assert fast.cls_only  # on by default: justified by this test
    fast_scores = fast.score(QUERY, DOCS)
    full_scores = CrossEncoderScorer(path, batch_size=5, cls_only=False, dtype="float32").score(
        QUERY, DOCS
    )
    assert fast._forward is not None  # the CLS-only path really ran
    assert _max_diff(fast_scores, full_scores) < 1e-5
    assert _max_diff(fast_scores, _plain_transformers(path)) < 1e-5
    assert len(set(fast_scores)) > 1  # not a degenerate constant


def test_bfloat16_cls_only_close_to_full(tiny_ce: str) -> None:
    # Different shapes may take different bf16 kernels: each is within the bf16 bound of fp32.
    fp32, features, ref = fp32_head_inputs(tiny_ce, QUERY, DOCS)
    bound = bf16_score_bound(ref, features)
    fast = CrossEncoderScorer(tiny_ce, dtype="bfloat16").score(QUERY, DOCS)
    full = CrossEncoderScorer(tiny_ce, dtype="bfloat16", cls_only=False).score(QUERY, DOCS)
    assert _max_diff(fast, fp32) <= bound and _max_diff(full, fp32) <= bound


def test_unknown_architecture_falls_back_to_full_forward() -> None:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(
        vocab_size=100, dim=32, n_layers=1, n_heads=2, hidden_dim=64, num_labels=1
    )
    assert cls_only_forward(DistilBertForSequenceClassification(config)) is None


def test_option_in_config_round_trip(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, cls_only=False, dtype="float32")
    again = CrossEncoderScorer.from_dict(scorer.to_dict())
    assert again.cls_only is False
