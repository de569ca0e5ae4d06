"""Hybrid retrieval, a first reranker keeps 20, then a chat LLM orders them listwise (RankGPT).

Run: ``python cookbooks/07_llm_listwise.py`` (``--smoke`` for the tiny CI version).
Qdrant hybrid search (BM25 + dense, RRF) over a SciFact slice; ``CascadeScorer`` lets the
cookbooks' reranker (a trained cross-encoder when one loads, else zero-shot ColBERT) keep the
best 20, and `ListwiseLLMScorer` orders those in sliding windows. It prints the final top
results and the LLM accounting from ``trace.notes["listwise_llm"]``.

Offline (the default) the "LLM" is a deterministic stand-in defined below that ranks by
query-word overlap: it exercises prompts, parsing, repair and accounting, not an LLM's
judgement. Set ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (optionally ``OPENAI_MODEL``) to
use a real OpenAI-compatible endpoint through ``langchain_openai.ChatOpenAI`` instead
(``pip install 'ragrerank[llm-openai]'``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from _common import choose_reranker, minilm, parse_args, scifact_slice, short, timed
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ragrerank import CascadeScorer, ListwiseLLMScorer, QdrantRetriever, Reranker
from ragrerank.scorers.llm.window import guaranteed_top, window_spans

_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
_QUERY = re.compile(r'search query: "(.*)"')
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({"and", "are", "for", "from", "has", "have", "that", "the", "was", "with"})


def _words(text: str) -> set[str]:
    """Content words, crudely stemmed to 5 letters ("inductive" ~ "induction")."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class OverlapChat(BaseChatModel):
    """A deterministic stand-in for a chat LLM (NOT an LLM): reads the query and the numbered
    passages of the listwise prompt and answers ``[i] > [j] > ...`` by query-word overlap
    (ties: window order). It reports ``usage_metadata`` (whitespace words) so the accounting
    shows tokens; a real model's malformed answers would show up under ``repairs``."""

    @property
    def _llm_type(self) -> str:
        return "overlap-stand-in"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = str(messages[-1].content)
        found = _QUERY.search(prompt)
        query = _words(found.group(1) if found else "")
        overlap = {int(i): len(query & _words(text)) for i, text in _PASSAGE.findall(prompt)}
        ranked = sorted(overlap, key=lambda i: (-overlap[i], i))
        answer = " > ".join(f"[{i}]" for i in ranked)
        usage = {
            "input_tokens": len(prompt.split()),
            "output_tokens": len(answer.split()),
            "total_tokens": len(prompt.split()) + len(answer.split()),
        }
        message = AIMessage(content=answer, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def chat_model() -> tuple[BaseChatModel, str]:
    """ChatOpenAI when OPENAI_BASE_URL and OPENAI_API_KEY are set, else the stand-in."""
    base_url, api_key = os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY")
    if base_url and api_key:
        from langchain_openai import ChatOpenAI  # the llm-openai extra

        model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
        llm = ChatOpenAI(model=model, base_url=base_url, api_key=api_key, temperature=0, timeout=60)
        return llm, f"LLM: {model} at {base_url} (langchain_openai.ChatOpenAI)"
    return OverlapChat(), (
        "NOTE: OPENAI_BASE_URL / OPENAI_API_KEY not set, so the 'LLM' is a stand-in "
        "(OverlapChat, query-word overlap): the final order below is NOT an LLM's ranking."
    )


args = parse_args(__doc__ or "")
ds = scifact_slice(args.smoke)
top_n = 16 if args.smoke else 50  # hybrid candidates
keep, window, step = (10, 6, 3) if args.smoke else (20, 10, 5)  # the first reranker keeps `keep`
timings: dict[str, float] = {}

# 1. Index and retrieve: BM25 + dense MiniLM in embedded Qdrant, fused by RRF (cookbook 03).
from sentence_transformers import SentenceTransformer  # noqa: E402

dense = SentenceTransformer(
    minilm(), device="cpu"
)  # real use: "sentence-transformers/all-MiniLM-L6-v2"
if args.smoke:
    dense.max_seq_length = 128  # faster CI run
retriever = QdrantRetriever("scifact_llm_demo", dense_model=dense, show_progress=not args.smoke)
with timed("index", timings):
    report = retriever.index(ds.documents())
qid, query = next(iter(ds.queries.items()))
relevant = set(ds.qrels[qid])
with timed("hybrid retrieve", timings):
    candidates = retriever.retrieve(query, top_n=top_n, mode="hybrid")
print(
    f"indexed {report.indexed} docs; hybrid (BM25 + dense, RRF) gave {len(candidates)} candidates"
)

# 2. The first reranker keeps `keep`; the LLM orders them in windows of `window` moved by `step`.
first, first_note = choose_reranker()
llm, llm_note = chat_model()
print(f"{first_note}\n{llm_note}")
listwise = ListwiseLLMScorer(llm, window=window, step=step)
cascade = CascadeScorer(first, listwise, keep=keep)
reranker = Reranker(cascade, top_k=5, normalize=None)  # LLM scores are ranks: no softmax
windows = len(window_spans(keep, window, step))
print(
    f"cascade: {type(first).__name__} scores all {len(candidates)} candidates and keeps {keep} "
    f"for the LLM (CascadeScorer keep={keep}); window={window}, step={step}: {windows} windows, "
    f"guaranteed (with a perfect LLM) to put the true top {guaranteed_top(keep, window, step)} "
    "first, in order"
)
with timed("rerank", timings):
    result = reranker.rerank(query, candidates)

# 3. The final top results and what the LLM calls cost.
print(f"\nquery {qid}: {query}\nrelevant: {sorted(relevant)}\n")
print(f"{'pos':>3} {'id':>10} {'hybrid':>6}  rel  text")
for item in result.items:
    mark = " *" if item.id in relevant else "  "
    e = next(e for e in result.trace.entries if e.id == item.id)
    print(f"{e.final_position:>3} {item.id!s:>10} {e.first_stage_rank:>6}  {mark}  {short(item.text, 60)}")  # fmt: skip
notes = result.trace.notes
llm_notes = notes["listwise_llm"]
repairs = llm_notes["repairs"]
print(
    f"\ncascade: {notes['cascade_survivors']} survivors, {notes['cascade_pruned']} pruned "
    "(pruned ones rank below every survivor, in the first reranker's order)"
)
print(
    f"LLM accounting (trace.notes['listwise_llm']): {llm_notes['requests']} requests over "
    f"{llm_notes['windows']} windows, {llm_notes['cache_hits']} cache hits, tokens "
    f"{llm_notes['input_tokens']} in / {llm_notes['output_tokens']} out, latency "
    f"{llm_notes['latency_s'] * 1000:.1f} ms, repairs {repairs['windows']} windows "
    f"({repairs['missing']} missing, {repairs['duplicates']} duplicate, "
    f"{repairs['out_of_range']} out-of-range ids), failures {llm_notes['failures']}"
)
if isinstance(llm, OverlapChat):
    print(
        "(stand-in: tokens are whitespace words, not a tokenizer's; latency is local "
        "Python, not a network round trip)"
    )
print("timings (ms): " + ", ".join(f"{name} {v:.0f}" for name, v in timings.items()))
