"""Every cookbook runs offline in --smoke mode and prints what a reader needs."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ragrerank.evaluation.datasets import data_dir

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (data_dir("scifact") / "corpus.jsonl").is_file(), reason="SciFact not available"
    ),
]

# Which reranker a cookbook uses depends on what is here: a trained cross-encoder (models/, after
# docs/training.md) or, without one, zero-shot ColBERT; either way the output says which.
RERANKER_LINE = (
    "reranks zero-shot with ColBERT MaxSim over all-MiniLM-L6-v2",
    "reranker: cross-encoder",
)
EXPECTED: dict[str, list[str | tuple[str, ...]]] = {
    "01_langchain_rag.py": [
        "after RagRerank (top 3):",
        "answer: (fake LLM)",
        RERANKER_LINE,
        "timings (ms):",
    ],
    "02_llamaindex_query_engine.py": [
        "after RagRerank (top 3):",
        "retrieval",
        RERANKER_LINE,
        "timings (ms):",
    ],
    "03_hybrid_rerank_trace.py": [
        "dense  bm25  rrf",
        "cut by top_k",
        ("no trained cross-encoder here", "reranker: cross-encoder"),
        "MaxSim",
        "'encoded': 0",  # ColBERT vectors come from Qdrant, not re-encoded
        "timings (ms):",
    ],
    "04_chatbot_context.py": [
        "query from the last 2 user turns",
        "duplicate",
        RERANKER_LINE,
        "timings (ms):",
    ],
    "06_remote_tei.py": [
        "8 candidates in 2 requests of 4",
        "3 attempt(s)",
        "'used': 'first_stage', 'kind': 'server_error'",
    ],
    "05_cohere_with_fallback.py": [
        "trace.notes['fallback']",
        "malformed_response",
        "billed search units",
    ],
    "08_long_documents.py": [
        RERANKER_LINE,
        "at the end of theirs",
        "head truncation (first tokens only): relevant at position",
        "8 of 8 documents truncated",
        "'unit': 'tokens'",
        "top 3 by MaxP, with the best chunk of each:",
        "best chunk #",
        "timings (ms):",
    ],
    "07_llm_listwise.py": [
        "the 'LLM' is a stand-in",
        "NOT an LLM's ranking",
        RERANKER_LINE,
        "keeps 10 for the LLM (CascadeScorer keep=10); window=6, step=3: 3 windows",
        "true top 3 first",
        "cascade: 10 survivors, 6 pruned",
        "LLM accounting (trace.notes['listwise_llm']): 3 requests over 3 windows",
        "timings (ms):",
    ],
}


EMPTY_HF_HOME = Path(tempfile.mkdtemp(prefix="ragrerank-cookbooks-hf-"))


@functools.cache
def run(name: str) -> subprocess.CompletedProcess[str]:
    """``cookbooks/<name> --smoke`` (once per session: several tests read its output)."""
    paths = [
        str(ROOT),
        str(ROOT / "integrations/langchain"),
        str(ROOT / "integrations/llama-index"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(EMPTY_HF_HOME),  # no cached cross-encoder: the zero-shot path, always
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "cookbooks" / name), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cookbook_smoke(name: str) -> None:
    proc = run(name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for needle in EXPECTED[name]:
        options = (needle,) if isinstance(needle, str) else needle
        assert any(n in proc.stdout for n in options), f"{name}: {options} missing:\n{proc.stdout}"


def test_cohere_cookbook_logs_each_scenario_under_its_header() -> None:
    """Every retry / fallback log line comes after the header of the scenario that logged
    it (it used to print above it) and before the next header."""
    proc = run("05_cohere_with_fallback.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sections = re.split(r"^== ", proc.stdout, flags=re.M)
    by_title = {s.split("\n", 1)[0]: s for s in sections[1:]}
    flaky = next(s for t, s in by_title.items() if t.startswith("2. Cohere flaky"))
    assert "HTTP 429" in flaky and "attempt 1/3" in flaky and "3 attempt(s)" in flaky
    for number, needle in (("3.", "503"), ("4.", "timeout"), ("5.", "malformed_response")):
        section = next(s for t, s in by_title.items() if t.startswith(number))
        log = section.index("[log WARNING]")
        assert needle in section[log:].split("\n", 1)[0], section
        assert log < section.index("trace.notes['fallback']"), "log after the result table"
    healthy = next(s for t, s in by_title.items() if t.startswith("1. Cohere healthy"))
    assert "[log" not in healthy and "[log" not in sections[0]


def test_chatbot_cookbook_says_what_citations_and_sources_are() -> None:
    """The context table maps each citation marker [n] to a document id and its source
    label, the duplicate "mirror" document is explained, and every judged-relevant
    abstract is reported with the citation it is under (directly or via its copy)."""
    proc = run("04_chatbot_context.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "the LLM cites it as [n]" in out and "source label 'mirror feed'" in out
    assert "citations [" not in out  # the old "citations [1] of [...]" line
    rows = dict(re.findall(r"^  \[(\d+)\]\s+#\d+\s+(\S+)\s+\S", out, flags=re.M))
    assert rows and sorted(rows, key=int) == [str(n) for n in range(1, len(rows) + 1)]
    report = out.split("judged-relevant abstracts", 1)[1].split("\n\n", 1)[0]
    lines = re.findall(r"^  (\d+): (.+)$", report, flags=re.M)
    assert lines, report
    for doc_id, where in lines:
        cited = re.match(r"in the context as \[(\d+)\]", where)
        if cited:  # the cited passage is that abstract or its mirror copy
            assert rows[cited.group(1)] in (doc_id, f"mirror-{doc_id}"), (doc_id, where, rows)
        else:
            assert where.startswith("not in the context"), where


def test_long_documents_cookbook_prints_a_best_chunk_per_result() -> None:
    """Each of the 3 results names one of its chunks and a span inside its text."""
    proc = run("08_long_documents.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.findall(r"best chunk #(\d+) of (\d+), characters (\d+)-(\d+) of (\d+)", proc.stdout)
    assert len(found) == 3, proc.stdout
    for index, chunks, start, end, total in (tuple(map(int, f)) for f in found):
        assert 0 <= index < chunks and 0 <= start < end <= total
