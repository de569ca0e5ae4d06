"""`MaxPassageScorer`: score long documents by their best passage (MaxP / FirstP / mean of top k)."""

from __future__ import annotations

import asyncio
import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..scorer import (
    BaseScorer,
    Scorer,
    TokenizingScorer,
    ascore_output,
    check_scores,
    fingerprint,
    score_output,
    scorer_name,
    validate_query,
)
from ..types import Candidate, ScoreOutput
from .chunking import ChunkPlan, plan_chunks, word_spans

__all__ = ["AGGREGATES", "CHUNK_METADATA_KEY", "MaxPassageScorer", "chunk_id"]

logger = logging.getLogger(__name__)

AGGREGATES = ("max", "first", "mean_top_k")
CHUNK_METADATA_KEY = "chunk_metadata"
"""`Candidate.metadata` key that may hold one metadata mapping per chunk (e.g. stored ColBERT
vectors per chunk); chunk candidates get that mapping, never the document's own metadata."""


def chunk_id(doc_id: str | int | None, index: int) -> str | None:
    """The id of chunk ``index`` of document ``doc_id``: ``"<doc id>#<index>"`` (None without
    an id). Index chunk vectors in a store under these ids."""
    return None if doc_id is None else f"{doc_id}#{index}"


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class _Prepared:
    plans: list[ChunkPlan]
    owners: list[int]  # owner document of each chunk candidate, in order
    chunks: list[Candidate]
    unit: str


class MaxPassageScorer(BaseScorer):
    """Split each document into overlapping windows, score every window with ``scorer`` in
    one batched call, and give each document an aggregate of its windows' scores.

    Windows are cut by the wrapped scorer's own tokenizer when it has one (a
    `ragrerank.scorer.TokenizingScorer`: the cross-encoder, ColBERT and generative scorers),
    else by whitespace-separated words. A document that fits in one window is scored as is.
    Every input document gets exactly one score, in input order: a document is never
    replaced by a chunk. Each document's `TraceEntry.details` says which chunk won
    (``best_chunk``: ``index``, character ``start``/``end`` into the document's text and
    ``score``), how many chunks were scored, and, when ``max_chunks`` bound, ``chunks_capped``
    (windows needed, units left unread). A document counts as truncated when some of its text
    was not read (a capped or ``first`` document with more than one window, or a chunk the
    wrapped scorer itself cut).

    Chunk candidates are new objects: id ``"<doc id>#<chunk index>"`` (`chunk_id`; None for a
    document without an id), the document's first-stage score, and metadata from the
    document's ``metadata["chunk_metadata"][k]`` when given (one mapping per chunk, e.g.
    ``{"colbert_vectors": ...}``), else none: the document's own metadata describes the whole
    document (whole-document stored vectors would be wrong for a chunk). Remote APIs count
    each chunk as a document (Cohere bills per document; their batching splits the call).

    Args:
        scorer: the scorer of each chunk.
        chunk_tokens: units (tokens or words) per window.
        stride: units between window starts (``<= chunk_tokens``); default: three quarters
            of ``chunk_tokens``, i.e. a quarter overlap.
        aggregate: ``"max"`` (MaxP: the best chunk), ``"first"`` (FirstP: only the first
            chunk is scored) or ``"mean_top_k"`` (mean of the ``k`` best chunks).
        max_chunks: at most this many windows per document (bounds the cost of a very long
            document; the trace says when it binds).
        k: the ``k`` of ``mean_top_k``.

    Raises:
        ValueError: a bad option, or a ``chunk_metadata`` list that does not have one entry
            per chunk (naming the document's index and id).
    """

    def __init__(
        self,
        scorer: Scorer,
        *,
        chunk_tokens: int = 256,
        stride: int | None = None,
        aggregate: str = "max",
        max_chunks: int = 32,
        k: int = 3,
    ) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement ragrerank.Scorer, got {type(scorer).__name__}")
        self.chunk_tokens = _positive(chunk_tokens, "chunk_tokens")
        self.stride = (
            max(1, self.chunk_tokens * 3 // 4) if stride is None else _positive(stride, "stride")
        )
        if self.stride > self.chunk_tokens:
            raise ValueError(
                f"stride ({self.stride}) must be <= chunk_tokens ({self.chunk_tokens}): "
                "a larger stride would skip text between windows"
            )
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        self.scorer = scorer
        self.aggregate = aggregate
        self.max_chunks = _positive(max_chunks, "max_chunks")
        self.k = _positive(k, "k")

    @property
    def name(self) -> str:
        return f"MaxPassageScorer({scorer_name(self.scorer)}, {self.aggregate})"

    def __repr__(self) -> str:
        return (
            f"MaxPassageScorer({self.scorer!r}, chunk_tokens={self.chunk_tokens}, "
            f"stride={self.stride}, aggregate={self.aggregate!r}, max_chunks={self.max_chunks}, "
            f"k={self.k})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.MaxPassageScorer",
            "scorer": fingerprint(self.scorer),
            "chunk_tokens": self.chunk_tokens,
            "stride": self.stride,
            "aggregate": self.aggregate,
            "max_chunks": self.max_chunks,
            "k": self.k,
        }

    # -- chunking ----------------------------------------------------------------------------

    def _spans(self, texts: list[str]) -> tuple[list[list[tuple[int, int]]], str]:
        if isinstance(self.scorer, TokenizingScorer):
            spans = self.scorer.token_spans(texts)
            if len(spans) != len(texts):
                raise ValueError(
                    f"{scorer_name(self.scorer)}.token_spans returned {len(spans)} rows "
                    f"for {len(texts)} texts"
                )
            return spans, "tokens"
        return [word_spans(t) for t in texts], "words"

    def plan(self, texts: Sequence[str]) -> list[ChunkPlan]:
        """The windows of each text, as `score_candidates` cuts them (for indexing chunk
        vectors, or to look at the chunks)."""
        if isinstance(texts, str):
            raise ValueError("texts must be a sequence of str, not a single str")
        spans, _ = self._spans(list(texts))
        return [self._plan(t, s) for t, s in zip(texts, spans, strict=True)]

    def _plan(self, text: str, spans: list[tuple[int, int]]) -> ChunkPlan:
        max_chunks = 1 if self.aggregate == "first" else self.max_chunks
        return plan_chunks(text, spans, self.chunk_tokens, self.stride, max_chunks)

    def _prepare(self, candidates: Sequence[Candidate]) -> _Prepared:
        spans, unit = self._spans([c.text for c in candidates])
        plans, owners, chunks = [], [], []
        for i, (cand, doc_spans) in enumerate(zip(candidates, spans, strict=True)):
            plan = self._plan(cand.text, doc_spans)
            extra = self._chunk_metadata(cand, i, len(plan.chunks))
            for chunk in plan.chunks:
                meta = {} if extra is None else extra[chunk.index]
                chunks.append(
                    Candidate(chunk.text, chunk_id(cand.id, chunk.index), meta, cand.score)
                )
                owners.append(i)
            plans.append(plan)
        return _Prepared(plans, owners, chunks, unit)

    @staticmethod
    def _chunk_metadata(cand: Candidate, i: int, n: int) -> Sequence[Mapping[str, Any]] | None:
        extra = cand.metadata.get(CHUNK_METADATA_KEY) if cand.metadata else None
        if extra is None:
            return None
        where = f"document {i}" + ("" if cand.id is None else f" (id={cand.id!r})")
        if isinstance(extra, (str, bytes)) or not isinstance(extra, Sequence):
            raise ValueError(
                f"{where}: metadata[{CHUNK_METADATA_KEY!r}] must be a list of mappings"
            )
        if len(extra) != n:
            raise ValueError(
                f"{where}: metadata[{CHUNK_METADATA_KEY!r}] has {len(extra)} entries but the "
                f"document has {n} chunks (index chunks with MaxPassageScorer.plan)"
            )
        for k, entry in enumerate(extra):
            if not isinstance(entry, Mapping):
                raise ValueError(
                    f"{where}: metadata[{CHUNK_METADATA_KEY!r}][{k}] must be a mapping, "
                    f"got {type(entry).__name__}"
                )
        return extra

    # -- scoring -----------------------------------------------------------------------------

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        prepared = self._prepare(candidates)
        return self._aggregate(prepared, score_output(self.scorer, query, prepared.chunks))

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        prepared = await asyncio.to_thread(self._prepare, candidates)  # tokenizing is CPU work
        return self._aggregate(prepared, await ascore_output(self.scorer, query, prepared.chunks))

    def _aggregate(self, prepared: _Prepared, out: ScoreOutput) -> ScoreOutput:
        chunk_scores = check_scores(out.scores, len(prepared.chunks), scorer_name(self.scorer))
        per_doc: list[list[int]] = [[] for _ in prepared.plans]
        for j, owner in enumerate(prepared.owners):
            per_doc[owner].append(j)
        scores: list[float] = []
        truncated: set[int] = set()
        details: dict[int, dict[str, Any]] = {}
        for i, (plan, rows) in enumerate(zip(prepared.plans, per_doc, strict=True)):
            values = [chunk_scores[j] for j in rows]
            best = max(range(len(values)), key=lambda c: values[c])  # first of equal scores
            scores.append(self._combine(values, best))
            chunk = plan.chunks[best]
            entry: dict[str, Any] = {
                "best_chunk": {
                    "index": chunk.index,
                    "start": chunk.start,
                    "end": chunk.end,
                    "score": values[best],
                },
                "chunks": len(rows),
            }
            inner = out.details.get(rows[best])
            if inner:
                entry["best_chunk"]["details"] = dict(inner)
            if plan.capped:
                entry["chunks_capped"] = {
                    "windows_needed": plan.windows_needed,
                    "max_chunks": len(plan.chunks),
                    f"unread_{prepared.unit}": plan.uncovered_units,
                }
            if plan.uncovered_units or any(j in out.truncated for j in rows):
                truncated.add(i)
            details[i] = entry
        capped = sum(1 for p in prepared.plans if p.capped)
        if capped and self.aggregate != "first":
            logger.debug(
                "%s: max_chunks=%d bound for %d documents", self.name, self.max_chunks, capped
            )
        notes: dict[str, Any] = {
            "max_passage": {
                "aggregate": self.aggregate,
                "unit": prepared.unit,
                "chunks_scored": len(prepared.chunks),
                "documents_capped": capped,
            }
        }
        if out.notes:
            notes["max_passage"]["scorer_notes"] = dict(out.notes)
        return ScoreOutput(scores, frozenset(truncated), notes, details)

    def _combine(self, values: list[float], best: int) -> float:
        if self.aggregate == "mean_top_k":
            top = sorted(values, reverse=True)[: self.k]
            return float(sum(top) / len(top))
        return float(values[0] if self.aggregate == "first" else values[best])
