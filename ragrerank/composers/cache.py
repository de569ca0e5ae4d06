"""`CachedScorer`: an LRU cache of scores for repeated (query, document) pairs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..scorer import (
    BaseScorer,
    Scorer,
    check_scores,
    fingerprint,
    score_output,
    scorer_name,
    validate_query,
)
from ..types import Candidate, ScoreOutput
from ..utils.lru import LRUCache

__all__ = ["CachedScorer"]

_Key = tuple[str, str, str, str | int | None, bytes]
_Entry = tuple[float, bool, Mapping[str, Any]]


def _text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CachedScorer(BaseScorer):
    """Wrap ``scorer`` so that a (query, document) pair seen before is not scored again.

    Keys are ``(scorer fingerprint, query, document id, sha256 of the document text)``:
    a document is only a hit when both its id and its content match, so two documents
    with the same text but different ids are scored separately and an edited document is
    re-scored. Misses of one call go to the wrapped scorer in one batch. Thread-safe;
    at most ``max_entries`` scores are kept (least recently used evicted first).

    Hits and misses are counted in ``hits`` / ``misses`` and in each output's notes; a
    candidate's details (`ScoreOutput.details`) are cached with its score.

    Args:
        scorer: the scorer whose scores are cached.
        max_entries: the most scores kept.
    """

    def __init__(self, scorer: Scorer, max_entries: int = 100_000) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement ragrerank.Scorer, got {type(scorer).__name__}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        self.scorer = scorer
        self.max_entries = max_entries
        self._fingerprint = fingerprint(scorer)
        self._entries: LRUCache[_Key, _Entry] = LRUCache(max_entries)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        inner = scorer_name(self.scorer)
        return f"CachedScorer({inner})"

    def __repr__(self) -> str:
        return f"CachedScorer({self.scorer!r}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every cached score."""
        self._entries.clear()

    def _key(self, query: str, cand: Candidate) -> _Key:
        return ("v1", self._fingerprint, query, cand.id, _text_hash(cand.text))

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        keys = [self._key(query, c) for c in candidates]
        found: dict[int, _Entry] = {}
        for i, key in enumerate(keys):
            entry = self._entries.get(key)
            if entry is not None:
                found[i] = entry
        todo = [i for i in range(len(candidates)) if i not in found]
        if todo:
            out = score_output(self.scorer, query, [candidates[i] for i in todo])
            scores = check_scores(out.scores, len(todo), self.name)
            for j, (i, s) in enumerate(zip(todo, scores, strict=True)):
                found[i] = (s, j in out.truncated, dict(out.details.get(j, {})))
                self._entries.put(keys[i], found[i])
        with self._lock:
            self.hits += len(candidates) - len(todo)
            self.misses += len(todo)
        return ScoreOutput(
            [found[i][0] for i in range(len(candidates))],
            truncated=frozenset(i for i, (_, t, _) in found.items() if t),
            notes={"cache_hits": len(candidates) - len(todo), "cache_misses": len(todo)},
            details={i: dict(d) for i, (_, _, d) in found.items() if d},
        )
