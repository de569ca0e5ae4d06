"""Every cookbook runs offline in --smoke mode and prints what a reader needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragrerank.datasets import data_dir

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (data_dir("scifact") / "corpus.jsonl").is_file(), reason="SciFact not available"
    ),
]

EXPECTED = {
    "01_langchain_rag.py": [
        "after RagRerank (top 3):",
        "answer: (fake LLM)",
        "UNTRAINED",
        "timings (ms):",
    ],
    "02_llamaindex_query_engine.py": [
        "after RagRerank (top 3):",
        "retrieval",
        "UNTRAINED",
        "timings (ms):",
    ],
    "03_hybrid_rerank_trace.py": [
        "dense  bm25  rrf",
        "cut by top_k",
        "UNTRAINED",
        "MaxSim",
        "'encoded': 0",  # ColBERT vectors come from Qdrant, not re-encoded
        "timings (ms):",
    ],
    "04_chatbot_context.py": [
        "query from the last 2 user turns",
        "duplicate",
        "UNTRAINED",
        "timings (ms):",
    ],
    "05_cohere_with_fallback.py": [
        "trace.notes['fallback']",
        "malformed_response",
        "billed search units",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cookbook_smoke(name: str) -> None:
    paths = [
        str(ROOT),
        str(ROOT / "integrations/langchain"),
        str(ROOT / "integrations/llama-index"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cookbooks" / name), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for needle in EXPECTED[name]:
        assert needle in proc.stdout, f"{name}: {needle!r} missing from output:\n{proc.stdout}"
