"""Reranker scores on disk, per data set, corpus and scorer fingerprint, so that a rerun of
`evaluate` scores only what it has not scored before (`ragrerank.scorer.fingerprint` names
the model, its weights and settings: a changed scorer gets a new file)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..scorer import Scorer, fingerprint, score_output
from ..types import Candidate
from ..utils.jsonio import read_json, write_json
from .datasets import BeirDataset
from .metrics import Run

__all__ = ["ScoreCache", "cached_run"]


class ScoreCache:
    """Reranker scores on disk: ``{qid: {"docs": {doc: score}, "ms": {n: ms}}}``."""

    @classmethod
    def of(cls, cache: Path, ds: BeirDataset, corpus: str, scorer: Scorer) -> ScoreCache:
        """The cache of ``scorer``'s scores on ``ds`` (``corpus``: its content digest)."""
        return cls(cache / "scores" / f"{ds.name}-{corpus}-{fingerprint(scorer)}.json")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        stored = read_json(path) if path is not None else None
        self.data: dict[str, dict[str, Any]] = stored if isinstance(stored, dict) else {}
        self.dirty = False

    def get(self, qid: str, ids: list[str]) -> list[float] | None:
        docs = self.data.get(qid, {}).get("docs", {})
        if all(d in docs for d in ids):
            return [float(docs[d]) for d in ids]
        return None

    def latency(self, qid: str, n: int) -> float | None:
        ms = self.data.get(qid, {}).get("ms", {}).get(str(n))
        return float(ms) if isinstance(ms, (int, float)) else None

    def put(self, qid: str, ids: list[str], scores: list[float], ms: float) -> None:
        entry = self.data.setdefault(qid, {"docs": {}, "ms": {}})
        entry["docs"].update(zip(ids, scores, strict=True))
        entry["ms"][str(len(ids))] = ms
        self.dirty = True

    def save(self) -> None:
        if self.path is not None and self.dirty:
            write_json(self.path, self.data)
            self.dirty = False


def cached_run(
    name: str,
    scorer: Scorer,
    ds: BeirDataset,
    runs: Mapping[str, Sequence[Candidate]],
    store: ScoreCache,
    show_progress: bool,
) -> tuple[Run, list[float]]:
    """``scorer``'s run over the first-stage ``runs`` (scores from ``store`` where it has
    them, the rest scored, timed and stored) and its per-query latencies in ms."""
    from tqdm.auto import tqdm

    run: Run = {}
    samples: list[float] = []
    for n_done, q in enumerate(tqdm(list(runs), desc=f"rerank: {name}", unit="q",
                                    disable=not show_progress), 1):  # fmt: skip
        cands = runs[q]
        ids = [str(c.id) for c in cands]
        scores = store.get(q, ids)
        if scores is None:
            t0 = time.perf_counter()
            scores = score_output(scorer, ds.queries[q], cands).scores
            ms = (time.perf_counter() - t0) * 1000.0
            store.put(q, ids, [float(s) for s in scores], ms)
            if n_done % 25 == 0:
                store.save()
        ms_cached = store.latency(q, len(ids))
        if ms_cached is not None:
            samples.append(ms_cached)
        run[q] = {d: float(s) for d, s in zip(ids, scores, strict=True)}
    store.save()
    return run, samples
