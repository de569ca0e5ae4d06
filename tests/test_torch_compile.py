"""torch_compile: the compiled forward gives the eager scores; a failed compile falls back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ragrerank import CrossEncoderScorer
from tests.test_cls_only import DOCS, QUERY


def _drift(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow  # inductor compiles C++ on the first call (10-20 s)
def test_compiled_forward_matches_eager(tiny_ce: str) -> None:
    eager = CrossEncoderScorer(tiny_ce, batch_size=5, dtype="float32").score(QUERY, DOCS)
    compiled = CrossEncoderScorer(tiny_ce, batch_size=5, torch_compile=True, dtype="float32")
    assert _drift(compiled.score(QUERY, DOCS), eager) < 1e-5
    assert _drift(compiled.score(QUERY, DOCS[:7]), eager[:7]) < 1e-5  # new shapes: no error


def test_failed_compile_falls_back_to_eager(
    tiny_ce: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    calls = []

    def broken_compile(fn: Any, **_: Any) -> Any:
        def run(**batch: Any) -> Any:
            calls.append(1)
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = CrossEncoderScorer(tiny_ce, dtype="float32").score(QUERY, DOCS)
    scorer = CrossEncoderScorer(tiny_ce, torch_compile=True, dtype="float32")
    with caplog.at_level(logging.WARNING, logger="ragrerank.scorers.cross_encoder"):
        assert _drift(scorer.score(QUERY, DOCS), eager) < 1e-6
        assert _drift(scorer.score(QUERY, DOCS), eager) < 1e-6
    assert len(calls) == 1  # tried once, then eager for good
    assert "torch.compile failed, using the eager forward: no C++ compiler" in caplog.text
    assert CrossEncoderScorer.from_dict(scorer.to_dict()).torch_compile is True
