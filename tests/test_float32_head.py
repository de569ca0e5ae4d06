"""float32_head: a bf16 body with the checkpoint's float32 classification head.

What holds on every bf16 kernel (AMX, AVX-512 BF16, CUDA) is structural: the head keeps the
checkpoint's exact fp32 weights and applies them in fp32 to the bf16 body's features, so its
scores are not rounded to bf16's 8 significant bits. Which of two bf16 variants lands closer to
fp32 depends on the kernel's rounding and is not asserted; drift is bounded via tests.numerics.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragrerank import CrossEncoderScorer
from tests.numerics import (
    bf16_grid_count,
    bf16_representable,
    bf16_score_bound,
    fp32_head_inputs,
)
from tests.test_cls_only import DOCS, QUERY


def _drift(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def _head_params(model: Any) -> dict[str, Any]:
    heads = {"classifier": model.classifier, "pooler": model.bert.pooler}
    return {f"{n}.{k}": v for n, m in heads.items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("fixture", ["tiny_ce", pytest.param("minilm_ce", marks=pytest.mark.slow)])
@pytest.mark.parametrize("cls_only", [True, False])
def test_float32_head_is_the_checkpoints_head_on_bf16_features(
    fixture: str, cls_only: bool, request: pytest.FixtureRequest
) -> None:
    import torch

    path = request.getfixturevalue(fixture)
    fp32, features, ref = fp32_head_inputs(path, QUERY, DOCS)
    fast = CrossEncoderScorer(path, dtype="bfloat16", cls_only=cls_only)
    assert fast.float32_head  # on by default
    fast.warm_up()
    model = fast._loaded.model
    assert model.bert.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16
    # The head's weights are the checkpoint's, bit for bit (not rounded through bf16).
    ours, theirs = _head_params(model), _head_params(ref)
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert value.dtype == torch.float32, name
        assert torch.equal(value, theirs[name]), name
    # Scores are that fp32 head applied to what the bf16 body hands it.
    seen: list[Any] = []
    hook = model.bert.pooler.register_forward_pre_hook(lambda _m, a: seen.append(a[0]))
    head32 = [fast.score(QUERY, [d])[0] for d in DOCS]
    hook.remove()
    with torch.inference_mode():
        expected = [float(ref.classifier(ref.bert.pooler(h.float()))[0, 0]) for h in seen]
    assert all(torch.equal(h, h.bfloat16().float()) for h in seen)  # the body's output is bf16
    assert head32 == pytest.approx(expected, abs=1e-6)
    assert not all(bf16_representable(x) for x in head32)  # fp32 precision, not bf16's
    assert len(set(head32)) == len(DOCS)  # every document its own score
    assert _drift(head32, fp32) <= bf16_score_bound(ref, features)


def test_bf16_head_rounds_scores_into_ties_on_the_tiny_model(tiny_ce: str) -> None:
    """Why the option exists: a bf16 head returns bf16 numbers; where fewer of them fit in the
    scores' range than there are documents, documents must tie (pigeonhole), on any kernel."""
    rounded = CrossEncoderScorer(tiny_ce, dtype="bfloat16", float32_head=False).score(QUERY, DOCS)
    assert all(bf16_representable(x) for x in rounded)
    assert bf16_grid_count(min(rounded), max(rounded)) < len(DOCS)
    assert len(set(rounded)) < len(DOCS)


def test_float32_dtype_is_untouched_and_option_round_trips(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, dtype="float32")
    scorer.warm_up()
    assert not scorer._loaded.model.classifier._forward_pre_hooks  # nothing to cast up
    off = CrossEncoderScorer(tiny_ce, dtype="bfloat16", float32_head=False)
    again = CrossEncoderScorer.from_dict(off.to_dict())
    assert again.float32_head is False
    assert "float32_head=False" in repr(off)
