"""The main demo (`make demo`): hybrid retrieval, then a real reranking with its trace."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ragrerank.apps import demo

ROOT = Path(__file__).resolve().parents[1]
RELEVANT = {"med-aspirin-1", "med-aspirin-2", "med-aspirin-3"}


def _top(out: str, section: str) -> list[str]:
    block = out.split(f"== {section}", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\d+\. \[([\w-]+)\]", block, flags=re.M)


@pytest.mark.slow
def test_offline_without_a_cross_encoder_reranks_zero_shot_and_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "DEFAULT_MODEL", "ragrerank-test/not-a-cached-model")
    demo.main([])
    out = capsys.readouterr().out
    first = _top(out, "first stage")
    reranked = _top(out, "reranked by ColBERT MaxSim")
    assert len(first) == len(reranked) == 3
    assert not set(first) <= RELEVANT  # the hybrid top 3 holds a lexical trap ...
    assert set(reranked) == RELEVANT  # ... the zero-shot rerank replaces it
    assert "ragrerank-test/not-a-cached-model is not available" in out
    assert demo.TRAIN_HINT in out and 'make demo ARGS="--model ' in demo.TRAIN_HINT
    assert "cross-encoder" not in out.split("== reranked by", 1)[1].split("\n", 1)[0]
    trace = out.split("score trace", 1)[1]
    assert len(re.findall(r"^ +[\w-]+ +#\d+ ", trace, flags=re.M)) == 10  # every candidate
    assert "'encoded': 0" in trace  # document vectors came from the cache, not re-encoded


@pytest.mark.slow
def test_the_default_hub_cross_encoder_is_used_when_it_loads(
    hub_models: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    demo.main(["--top-k", "2"])  # the hub name resolves from the session's seeded cache
    out = capsys.readouterr().out
    assert "== reranked by cross-encoder cross-encoder/ms-marco-MiniLM-L-6-v2" in out
    assert "not available" not in out and "ColBERT" not in out
    assert len(_top(out, "reranked by")) == 2


def test_an_explicit_model_that_does_not_load_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(SystemExit, match=re.escape(str(missing))):
        demo.main(["--model", str(missing)])


def test_make_demo_passes_args_through() -> None:
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", "ARGS=--model models/ce-minilm-scifact"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "-m ragrerank.apps.demo --model models/ce-minilm-scifact" in out
