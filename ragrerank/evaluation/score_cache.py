"""Reranker scores on disk, per data set, corpus and scorer fingerprint, so that a rerun of
`evaluate` scores only what it has not scored before (`ragrerank.scorer.fingerprint` names
the model, its weights and settings: a changed scorer gets a new file)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..scorer import Scorer, fingerprint, score_output
from ..types import Candidate, ScoreOutput
from ..utils.jsonio import read_json, write_json
from .datasets import BeirDataset
from .metrics import Run

__all__ = ["ScoreCache", "cached_output", "cached_run"]


class ScoreCache:
    """Reranker scores on disk: ``{qid: {"docs": {doc: score}, "ms": {n: ms}}}``, plus
    ``"truncated": {doc: 0 | 1}`` where the scorer's truncation was recorded."""

    @classmethod
    def of(cls, cache: Path, ds: BeirDataset, corpus: str, scorer: Scorer) -> ScoreCache:
        """The cache of ``scorer``'s scores on ``ds`` (``corpus``: its content digest)."""
        return cls(cls.path_of(cache, ds, corpus, scorer))

    @staticmethod
    def path_of(cache: Path, ds: BeirDataset, corpus: str, scorer: Scorer) -> Path:
        """The file `of` reads and writes (two scorers with one fingerprint share it)."""
        return cache / "scores" / f"{ds.name}-{corpus}-{fingerprint(scorer)}.json"

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

    def truncated(self, qid: str, ids: list[str]) -> list[bool] | None:
        """Whether the scorer truncated each of ``ids``; None unless recorded for all."""
        flags = self.data.get(qid, {}).get("truncated", {})
        if all(d in flags for d in ids):
            return [bool(flags[d]) for d in ids]
        return None

    def put(
        self,
        qid: str,
        ids: list[str],
        scores: list[float],
        ms: float,
        truncated: frozenset[int] | None = None,
    ) -> None:
        entry = self.data.setdefault(qid, {"docs": {}, "ms": {}})
        entry["docs"].update(zip(ids, scores, strict=True))
        entry["ms"][str(len(ids))] = ms
        if truncated is not None:
            flags = entry.setdefault("truncated", {})
            flags.update((d, int(i in truncated)) for i, d in enumerate(ids))
        self.dirty = True

    def save(self) -> None:
        if self.path is not None and self.dirty:
            write_json(self.path, self.data)
            self.dirty = False


def cached_output(
    scorer: Scorer,
    query: str,
    qid: str,
    cands: Sequence[Candidate],
    store: ScoreCache,
    *,
    need_truncation: bool = False,
) -> ScoreOutput:
    """``scorer``'s scores of ``cands`` for query ``qid``: from ``store`` where it has them
    (and, with ``need_truncation``, the truncated indices too), else scored, timed and
    stored (truncation included). Notes and details are not cached."""
    ids = [str(c.id) for c in cands]
    scores = store.get(qid, ids)
    flags = store.truncated(qid, ids) if need_truncation else None
    if scores is None or (need_truncation and flags is None):
        t0 = time.perf_counter()
        out = score_output(scorer, query, cands)
        ms = (time.perf_counter() - t0) * 1000.0
        scores = [float(s) for s in out.scores]
        store.put(qid, ids, scores, ms, out.truncated)
        return ScoreOutput(scores, out.truncated)
    truncated = frozenset(i for i, t in enumerate(flags or ()) if t)
    return ScoreOutput(scores, truncated)


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
        scores = cached_output(scorer, ds.queries[q], q, cands, store).scores
        if store.dirty and n_done % 25 == 0:
            store.save()
        ms_cached = store.latency(q, len(ids))
        if ms_cached is not None:
            samples.append(ms_cached)
        run[q] = {d: float(s) for d, s in zip(ids, scores, strict=True)}
    store.save()
    return run, samples
