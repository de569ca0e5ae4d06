"""Rerank long documents by their best passage (MaxP) and show where each result's best chunk is.

Run: ``python cookbooks/08_long_documents.py`` (``--smoke`` for the tiny CI version).
Each SciFact abstract is buried at the end of a long document (other abstracts first), the
way a relevant paragraph sits deep in a report. A reranker that reads only the first 256
tokens never sees it; `MaxPassageScorer` splits every document into overlapping windows,
scores them all in one call and ranks each document by its best window. The trace (and the
LangChain / LlamaIndex adapters' metadata) says which window won and where it is, so the
printout highlights it.
"""

from __future__ import annotations

from _common import choose_reranker, parse_args, scifact_slice, short, timed

from ragrerank import Candidate, MaxPassageScorer, Reranker, RerankResult

args = parse_args(__doc__ or "")
ds = scifact_slice(args.smoke)
qid, query = next(iter(ds.queries.items()))
relevant = set(ds.qrels[qid])
scorer, note = choose_reranker()
print(note)

# 1. Long documents: each abstract after three non-relevant others (chosen by position).
ids = list(ds.corpus)
filler = [d for d in ids if d not in relevant]
docs = []
for k, doc_id in enumerate(ids[: 8 if args.smoke else 30]):
    before = [
        ds.text(filler[(k + j) % len(filler)])
        for j in (5, 9, 13)
        if filler[(k + j) % len(filler)] != doc_id
    ]
    docs.append(Candidate("\n\n".join([*before, ds.text(doc_id)]), id=doc_id))
maxp = MaxPassageScorer(scorer, chunk_tokens=200, stride=150, max_chunks=16)
plans = maxp.plan([d.text for d in docs])  # the windows it will score (units: the model's tokens)
long_tokens = sum(p.units for p in plans) / len(plans)
print(f"query {qid}: {query}\n{len(docs)} documents of ~{long_tokens:.0f} tokens; "
      f"the relevant abstract(s) {sorted(relevant)} at the end of theirs\n")  # fmt: skip

# 2. The same reranker reading the first tokens only, then by its best window.
timings: dict[str, float] = {}
with timed("head truncation", timings):
    head = Reranker(scorer, top_k=3).rerank(query, docs)
with timed("MaxP", timings):
    result = Reranker(maxp, top_k=3).rerank(query, docs)


def position_of_relevant(res: RerankResult) -> str:
    found = [e.final_position for e in res.trace.entries if e.id in relevant]
    return ", ".join(str(p) for p in sorted(found)) or "not among the candidates"


print(f"head truncation (first tokens only): relevant at position {position_of_relevant(head)}, "
      f"{head.trace.truncated} of {len(docs)} documents truncated")  # fmt: skip
notes = {k: v for k, v in result.trace.notes["max_passage"].items() if k != "scorer_notes"}
print(f"MaxP (best of {maxp.chunk_tokens}-token windows every {maxp.stride}): relevant at "
      f"position {position_of_relevant(result)}; trace.notes['max_passage']: {notes}\n")  # fmt: skip

# 3. Each result with its best chunk: index, character span, and the text of that span.
print("top 3 by MaxP, with the best chunk of each:")
for item in result:
    details = result.trace.entries[item.index].details
    best = details["best_chunk"]
    mark = "*" if item.id in relevant else " "
    span = item.text[best["start"] : best["end"]]
    print(f"{item.rank}. {mark} {item.id} score {item.score:.3f}: best chunk #{best['index']} "
          f"of {details['chunks']}, characters {best['start']}-{best['end']} of {len(item.text)}")  # fmt: skip
    print(f"     ...{short(span[-160:], 120)}")
print("(* = judged relevant)")
print("timings (ms): " + ", ".join(f"{name} {v:.0f}" for name, v in timings.items()))
