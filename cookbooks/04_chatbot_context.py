"""Chatbot context selection over a multi-turn conversation.

Run: ``python cookbooks/04_chatbot_context.py`` (``--smoke`` for the tiny CI version).
The follow-up "Is that effect seen in older adults too?" says nothing about its topic; the
rerank query is built from the recent user turns so the context stays on vitamin B12 and
homocysteine. Context is packed into a token budget, deduplicated, ordered best-at-the-edges
and cited; the prompt is printed for whatever LLM you use.
"""

from __future__ import annotations

from _common import choose_reranker, minilm, parse_args, scifact_slice, short
from sentence_transformers import SentenceTransformer

from ragrerank import (
    Candidate,
    ContextAssembler,
    QdrantRetriever,
    RagPipeline,
    Reranker,
)
from ragrerank.rag.context import conversation_query

args = parse_args(__doc__ or "")
RERANKER, RERANKER_NOTE = choose_reranker()
ds = scifact_slice(args.smoke, query_ids=("36",))  # 36: vitamin B12 deficiency & homocysteine

dense = SentenceTransformer(minilm(), device="cpu")
if args.smoke:
    dense.max_seq_length = 128
retriever = QdrantRetriever("chat_demo", dense_model=dense, show_progress=not args.smoke)
docs = ds.documents()
# The same abstract ingested a second time from another feed (a "mirror" of the corpus),
# under its own id and source label: the assembler keeps one copy, the higher-ranked one.
original = next(d for d in docs if d.id == "11705328")
MIRROR_SOURCE = "mirror feed"
mirror = Candidate(
    text=original.text + " (mirror)",
    id=f"mirror-{original.id}",
    metadata={"source": MIRROR_SOURCE, "copy_of": original.id},
)
retriever.index([*docs, mirror])

conversation = [
    {"role": "system", "content": "You answer questions about biomedical research."},
    {"role": "user", "content": "What happens to homocysteine when vitamin B12 is low?"},
    {"role": "assistant", "content": "Low B12 is linked to higher homocysteine levels. [1]"},
    {"role": "user", "content": "Is that effect seen in older adults too?"},
]

pipeline = RagPipeline(
    retriever,
    Reranker(RERANKER),
    ContextAssembler(max_tokens=900 if args.smoke else 1500, order="edges"),
    top_n=6 if args.smoke else 20,
    retrieve_kwargs={"mode": "hybrid"},
)
result = pipeline.run_chat(conversation, window=2)
last_turn_only = conversation_query(conversation, window=1)

print(f"{RERANKER_NOTE}\n")
print(f"query from the last 2 user turns:\n  {result.query!r}")
print(f"(the last turn alone would be {last_turn_only!r})\n")
print(
    f"indexed {len(docs)} SciFact abstracts plus one duplicate: abstract {original.id} again, "
    f"as if from a second feed\n  (id {mirror.id!r}, source label {MIRROR_SOURCE!r}), so the "
    "assembler has a near-duplicate to drop\n"
)
print(
    f"context: {result.context.tokens}/{result.context.max_tokens} tokens, "
    f"{len(result.context.items)} passages, in prompt order (best at both ends)."
)
print(
    '  Each passage goes into the prompt as "[n] (source: <label>)"; the LLM cites it as [n].\n'
    "  The label is the document's metadata['source'] (SciFact documents: 'scifact:<id>')."
)
print(f"  {'[n]':<4} {'rerank':<7} {'document id':<17} {'source label':<17} text")
for c in result.context.items:
    print(
        f"  {f'[{c.citation}]':<4} {f'#{c.item.rank}':<7} {c.item.id!s:<17} {c.source:<17} "
        f"{short(c.item.text, 40)}"
    )
over_budget = [d for d in result.context.dropped if d.reason == "budget"]
for d in result.context.dropped:
    if d.reason != "budget":
        print(f"  dropped {d.item.id} (rerank #{d.item.rank}): {d.reason}: {d.detail}")
if over_budget:
    shown = ", ".join(f"{d.item.id} (#{d.item.rank})" for d in over_budget[:4])
    more = f" and {len(over_budget) - 4} more" if len(over_budget) > 4 else ""
    print(f"  dropped {len(over_budget)} that did not fit the token budget: {shown}{more}")

# Which judged-relevant abstracts made it into the context, and under which citation.
relevant = sorted(ds.qrels["36"])
print(f"\njudged-relevant abstracts for this conversation (SciFact qrels of query 36): {relevant}")
for doc_id in relevant:
    direct = [c for c in result.context.items if c.item.id == doc_id]
    copies = [c for c in result.context.items if c.item.metadata.get("copy_of") == doc_id]
    dropped = [d for d in result.context.dropped if d.item.id == doc_id]
    if direct:
        where = f"in the context as [{direct[0].citation}]"
    elif copies:
        where = f"in the context as [{copies[0].citation}], via its copy {copies[0].item.id!r}"
    else:
        where = "not in the context"
    if dropped and copies and dropped[0].reason == "duplicate":
        where += " (the original ranked lower and was dropped as its near-duplicate)"
    elif dropped:
        where += f" (dropped: {dropped[0].reason}, {dropped[0].detail})"
    elif not direct and not copies:
        where += f" (not among the top {pipeline.top_n} retrieved)"
    print(f"  {doc_id}: {where}")

prompt = [
    {
        "role": "system",
        "content": "Answer from the sources and cite them as [n].\n\n" + result.context.text,
    },
    *conversation[1:],
]
print(
    f"\nprompt for the LLM: {len(prompt)} messages, system message "
    f"{len(prompt[0]['content'])} chars"
)
print("timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings_ms.items()))
