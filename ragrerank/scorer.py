"""The one scorer contract every backend implements."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidScoresError, ScorerError
from .types import Candidate, ScoreOutput, check_text, validate_query
from .utils.model_source import folder_files, local_folder

__all__ = [
    "BaseScorer",
    "DetailedScorer",
    "Scorer",
    "TokenizingScorer",
    "ascore_output",
    "check_scores",
    "config_parameters",
    "fallback_note",
    "fingerprint",
    "first_stage_output",
    "score_order",
    "score_output",
    "scorer_name",
    "validate_query",
    "with_fallback_note",
]


@runtime_checkable
class Scorer(Protocol):
    """Raw relevance scores for (query, document) pairs, one per document, in input order.

    Any object with both methods is a scorer: `Reranker`, the composers and the adapters
    accept it. Subclass `BaseScorer` to get both from one method.
    """

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """One raw score per document, in input order; higher is more relevant."""
        ...

    async def ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        """`score` for async code: it must never block the event loop."""
        ...


@runtime_checkable
class DetailedScorer(Scorer, Protocol):
    """A scorer that also sees candidate ids/metadata and reports trace facts."""

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """Raw scores of ``candidates`` (input order), truncated indices and trace notes."""
        ...

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """`score_candidates` for async code, without blocking the event loop."""
        ...


@runtime_checkable
class TokenizingScorer(Protocol):
    """A scorer that can say how its own tokenizer cuts texts (cross-encoder, ColBERT,
    generative): `ragrerank.MaxPassageScorer` then chunks documents by those tokens."""

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """``(start, end)`` character offsets of each text's tokens, special tokens excluded."""
        ...


def scorer_name(scorer: object) -> str:
    """A scorer's display name: its ``name`` attribute when it is a str, else its class name."""
    name = getattr(scorer, "name", None)
    return name if isinstance(name, str) else type(scorer).__name__


def config_parameters(data: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The ``init_parameters`` of a `to_dict` config of scorer class ``kind``; a config of
    another type is a ``ValueError`` naming it (every ``from_dict`` starts here)."""
    if data.get("type") != f"ragrerank.{kind}":
        raise ValueError(f"not a {kind} config: type={data.get('type')!r}")
    return dict(data["init_parameters"])


def score_order(scores: Sequence[float]) -> list[int]:
    """Input indices, best score first; ties keep input (first-stage) order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def check_scores(scores: Sequence[object], expected: int, source: str) -> list[float]:
    """Convert scores to plain floats; raise `InvalidScoresError` on a wrong count, a
    non-number, NaN or infinity (a scorer's scores must be finite)."""
    if len(scores) != expected:
        raise InvalidScoresError(f"{source} returned {len(scores)} scores for {expected} documents")
    out: list[float] = []
    for i, s in enumerate(scores):
        try:
            value = float(s)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise InvalidScoresError(
                f"{source} returned a non-numeric score at index {i}: {s!r}"
            ) from None
        if not math.isfinite(value):
            kind = "NaN" if math.isnan(value) else "a non-finite score"
            raise InvalidScoresError(
                f"{source} returned {kind} at index {i}: {value!r} (scores must be finite)"
            )
        out.append(value)
    return out


def score_output(scorer: Scorer, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
    """Call ``scorer`` on candidates: `DetailedScorer` directly, else on their texts."""
    if isinstance(scorer, DetailedScorer):
        return scorer.score_candidates(query, candidates)
    return ScoreOutput(scorer.score(query, [c.text for c in candidates]))


async def ascore_output(scorer: Scorer, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
    """Async `score_output`."""
    if isinstance(scorer, DetailedScorer):
        return await scorer.ascore_candidates(query, candidates)
    return ScoreOutput(await scorer.ascore(query, [c.text for c in candidates]))


def fingerprint(scorer: object) -> str:
    """A stable id of a scorer's configuration (its ``to_dict()``, else its repr).

    Two scorers with the same fingerprint must give the same scores; caches key on it.
    """
    to_dict = getattr(scorer, "to_dict", None)
    if callable(to_dict):
        config = to_dict()
        params = config.get("init_parameters", {}) if isinstance(config, dict) else {}
        model = params.get("model") if isinstance(params, dict) else None
        folder = local_folder(model)
        if folder is not None:
            folder = folder.resolve()
            # One folder, one id, whether it was named by a relative or an absolute path.
            config = {**config, "init_parameters": {**params, "model": str(folder)}}
        desc = json.dumps(config, sort_keys=True, default=str)
        if folder is not None:
            # A local model folder can be retrained in place: its files are part of the id.
            desc += json.dumps(folder_files(folder))
    else:
        desc = f"{type(scorer).__module__}.{type(scorer).__qualname__}:{scorer!r}"
    return hashlib.sha256(desc.encode("utf-8")).hexdigest()[:16]


class BaseScorer(ABC):
    """Helper base: implement `score_candidates`; `score` and the async twins follow.

    The async methods run the sync work in a worker thread so the event loop never blocks.
    """

    @abstractmethod
    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """Score candidates for ``query``: the one method a backend implements.

        Args:
            query: the query (`Reranker` has validated it).
            candidates: the candidates, in first-stage order; ids and metadata included.

        Returns:
            One raw score per candidate in input order, the indices whose text was
            truncated, and backend facts for the trace (`ScoreOutput`).

        Raises:
            ScorerError: a backend failure (network, rate limit, malformed answer), so that
                ``Reranker(fallback=...)`` can take over; input errors stay `ValueError`.
        """

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        """`score_candidates` in a worker thread; a backend with real async I/O overrides it."""
        return await asyncio.to_thread(self.score_candidates, query, candidates)

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """Raw scores of plain-text ``documents``, in input order (`Scorer.score`)."""
        return self.score_candidates(query, _wrap(documents)).scores

    async def ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        """`score` without blocking the event loop (`Scorer.ascore`)."""
        return (await self.ascore_candidates(query, _wrap(documents))).scores


def _wrap(documents: Sequence[str]) -> list[Candidate]:
    if isinstance(documents, str):
        raise ValueError("documents must be a sequence of str, not a single str")
    out = []
    for i, d in enumerate(documents):
        out.append(Candidate(text=check_text(d, f"document {i}: text")))
    return out


def fallback_note(exc: ScorerError, used: str) -> dict[str, Any]:
    """The ``trace.notes["fallback"]`` entry: what was used instead, and why."""
    return {
        "fallback": {"used": used, "kind": exc.kind, "reason": str(exc), "attempts": exc.attempts}
    }


def with_fallback_note(output: ScoreOutput, exc: ScorerError, fallback: object) -> ScoreOutput:
    """A fallback scorer's output, its notes saying it stood in after ``exc``."""
    notes = {**output.notes, **fallback_note(exc, scorer_name(fallback))}
    return ScoreOutput(output.scores, output.truncated, notes, output.details)


def first_stage_output(n: int, exc: ScorerError) -> ScoreOutput:
    """Scores that keep the input order of ``n`` candidates, after ``exc``."""
    return ScoreOutput([float(n - i) for i in range(n)], notes=fallback_note(exc, "first_stage"))
