"""Hybrid search on Qdrant (BM25 + dense, RRF fusion), then cross-encoder and ColBERT rerank, with a trace.

Run: ``python cookbooks/03_hybrid_rerank_trace.py`` (``--smoke`` for the tiny CI version).
For one SciFact query it prints each candidate's rank in the dense list, the BM25 list, the
fused (RRF) list and after reranking by a cross-encoder and by ColBERT MaxSim over document
vectors stored in the same Qdrant collection, so you can see why the order changed.
"""

from __future__ import annotations

from _common import (
    minilm,
    parse_args,
    scifact_slice,
    short,
    timed,
    trained_cross_encoder,
)

from ragrerank import ColBERTScorer, QdrantRetriever, Reranker

args = parse_args(__doc__ or "")
ds = scifact_slice(args.smoke)
top_n = 8 if args.smoke else 30
timings: dict[str, float] = {}

# 1. Index: dense MiniLM vectors, BM25 sparse vectors and ColBERT token vectors (multivector,
#    computed once here and never again at query time) in one embedded Qdrant collection.
from sentence_transformers import SentenceTransformer  # noqa: E402

dense = SentenceTransformer(
    minilm(), device="cpu"
)  # real use: "sentence-transformers/all-MiniLM-L6-v2"
if args.smoke:
    dense.max_seq_length = 128  # faster CI run
colbert = ColBERTScorer(minilm(), device="cpu")  # real use: a ColBERT checkpoint
retriever = QdrantRetriever(
    "scifact_demo", dense_model=dense, colbert=colbert, show_progress=not args.smoke
)
with timed("index", timings):
    report = retriever.index(ds.documents())
print(f"indexed {report.indexed} docs ({report.collection_size} in the collection)")

# 2. Retrieve: each list alone (for the trace) and the hybrid RRF fusion we rerank.
qid, query = next(iter(ds.queries.items()))
relevant = set(ds.qrels[qid])
rank_in = {
    mode: {c.id: r for r, c in enumerate(retriever.retrieve(query, top_n=top_n, mode=mode), 1)}
    for mode in ("dense", "sparse")
}
with timed("hybrid retrieve", timings):
    candidates = retriever.retrieve(query, top_n=top_n, mode="hybrid")

# 3. Rerank with a trained cross-encoder, when one loads here (see the note printed below).
ce, ce_note = trained_cross_encoder()
if ce is not None:
    with timed("rerank", timings):
        result = Reranker(ce, top_k=5).rerank(query, candidates)

# 4. Rerank the same candidates by MaxSim, reading the stored vectors back from Qdrant.
late = Reranker(ColBERTScorer(minilm(), store=retriever.colbert_store()), top_k=5)
late.scorer.warm_up()  # type: ignore[attr-defined]
with timed("colbert rerank", timings):
    late_result = late.rerank(query, candidates)
late_pos = {e.id: (e.score, e.final_position) for e in late_result.trace.entries}
print(f"ColBERT document vectors: {late_result.trace.notes['vector_sources']}")
if ce is None:
    ce_note += "; the table shows the ColBERT rerank only"
    result = late_result
ce_pos = {e.id: (e.score, e.final_position) for e in result.trace.entries} if ce else {}

print(f"\nquery {qid}: {query}\nrelevant: {sorted(relevant)}\n{ce_note}\n")
ce_head = f"{'CE score':>9} {'CE pos':>6} " if ce else ""
print(f"{'id':>10} {'dense':>5} {'bm25':>5} {'rrf':>4} {'rrf score':>9} {ce_head}{'MaxSim':>7} {'pos':>4}  rel  text")  # fmt: skip
for e in sorted(result.trace.entries, key=lambda e: e.final_position):
    dense_r, bm25_r = rank_in["dense"].get(e.id, "-"), rank_in["sparse"].get(e.id, "-")
    mark = " *" if e.id in relevant else "  "
    keep = "" if e.kept else " (cut by top_k)"
    ce_cols = f"{ce_pos[e.id][0]:>9.3f} {ce_pos[e.id][1]:>6} " if ce else ""
    print(
        f"{e.id!s:>10} {dense_r!s:>5} {bm25_r!s:>5} {e.first_stage_rank:>4} "
        f"{e.first_stage_score:>9.4f} {ce_cols}"
        f"{late_pos[e.id][0]:>7.3f} {late_pos[e.id][1]:>4}  {mark}  "
        f"{short(candidates[e.index].text, 50)}{keep}"
    )
print(
    "\nHow to read it: 'dense'/'bm25' are the ranks in each list ('-' = not in its top "
    f"{top_n}); RRF sums 1/(k + rank) over both lists, so documents found by both rise; "
    "the cross-encoder then reads query and document together and reorders by its score; "
    "ColBERT (MaxSim) matches each query token to its best document token using vectors "
    "stored at indexing time, so only the query is encoded now."
)
print("timings (ms): " + ", ".join(f"{name} {v:.0f}" for name, v in timings.items()))
