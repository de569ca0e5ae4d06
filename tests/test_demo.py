"""The offline demo (`make demo`) runs and its ColBERT stage ranks the on-topic passages first."""

from __future__ import annotations

import re

import pytest

from ragrerank import demo


@pytest.mark.slow
def test_demo_runs_offline_and_ranks_aspirin_first(
    minilm_ce: str, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.main(["--model", minilm_ce])
    out = capsys.readouterr().out
    colbert = out.split("== ColBERT", 1)[1].split("\n==", 1)[0]
    top3 = re.findall(r"^\d\. \[([\w-]+)\]", colbert, flags=re.M)[:3]
    assert top3 and all(doc_id.startswith("med-aspirin") for doc_id in top3), top3
    assert "cross-encoder float32" in out and "cross-encoder bfloat16" in out
    assert "'first_stage_rank': 1" in out  # the trace is printed
