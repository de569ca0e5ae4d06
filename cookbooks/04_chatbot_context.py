"""Chatbot context selection over a multi-turn conversation.

Run: ``python cookbooks/04_chatbot_context.py`` (``--smoke`` for the tiny CI version).
The follow-up "Is that effect seen in older adults too?" says nothing about its topic; the
rerank query is built from the recent user turns so the context stays on vitamin B12 and
homocysteine. Context is packed into a token budget, deduplicated, ordered best-at-the-edges
and cited; the prompt is printed for whatever LLM you use.
"""

from __future__ import annotations

from _common import UNTRAINED_NOTE, demo_cross_encoder, minilm, parse_args, scifact_slice, short
from sentence_transformers import SentenceTransformer

from ragrerank import (
    Candidate,
    ContextAssembler,
    CrossEncoderScorer,
    QdrantRetriever,
    RagPipeline,
    Reranker,
)
from ragrerank.context import conversation_query

args = parse_args(__doc__ or "")
ds = scifact_slice(args.smoke, query_ids=("36",))  # 36: vitamin B12 deficiency & homocysteine

dense = SentenceTransformer(minilm(), device="cpu")
if args.smoke:
    dense.max_seq_length = 128
retriever = QdrantRetriever("chat_demo", dense_model=dense, show_progress=not args.smoke)
docs = ds.documents()
# The same abstract ingested twice from another feed: the assembler drops the lower-ranked copy.
original = next(d for d in docs if d.id == "11705328")
mirror = Candidate(
    text=original.text + " (mirror)", id="mirror-11705328", metadata={"source": "mirror"}
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
    Reranker(CrossEncoderScorer(demo_cross_encoder(), device="cpu", max_length=256)),
    ContextAssembler(max_tokens=900 if args.smoke else 1500, order="edges"),
    top_n=6 if args.smoke else 20,
    retrieve_kwargs={"mode": "hybrid"},
)
result = pipeline.run_chat(conversation, window=2)
last_turn_only = conversation_query(conversation, window=1)

print(f"{UNTRAINED_NOTE}\n")
print(f"query from the last 2 user turns:\n  {result.query!r}")
print(f"(the last turn alone would be {last_turn_only!r})\n")
print(
    f"context: {result.context.tokens}/{result.context.max_tokens} tokens, "
    f"{len(result.context.items)} passages (ordered best at both ends):"
)
for c in result.context.items:
    print(f"  [{c.citation}] rerank #{c.item.rank:<2} {c.source:<16} {short(c.item.text, 50)}")
for d in result.context.dropped:
    print(f"  dropped {d.item.id}: {d.reason} ({d.detail})")
relevant = set(ds.qrels["36"])
found = [c.citation for c in result.context.items if c.item.id in relevant]
print(f"judged-relevant docs in the context: citations {found} of {sorted(relevant)}")

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
