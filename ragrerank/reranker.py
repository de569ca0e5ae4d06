"""`Reranker`: any scorer plus rank-based top-k, normalization, threshold and a score trace."""

from __future__ import annotations

import enum
import logging
import numbers
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .calibrator import Calibrator
from .errors import ScorerError
from .feedback.hook import FeedbackHook
from .feedback.records import FeedbackSink
from .fields import MissingField, RankedFields
from .normalize import NORMALIZERS, Normalization, normalize_scores
from .scorer import (
    Scorer,
    ascore_output,
    check_scores,
    fingerprint,
    first_stage_output,
    score_order,
    score_output,
    scorer_name,
    validate_query,
    with_fallback_note,
)
from .types import (
    Candidate,
    Document,
    RerankedItem,
    RerankResult,
    ScoreOutput,
    ScoreTrace,
    TraceEntry,
    as_candidate,
    finite_float,
)

__all__ = ["NORMALIZE_CHOICES", "Fallback", "RerankNormalization", "Reranker"]

logger = logging.getLogger(__name__)

Fallback = Scorer | Literal["first_stage"] | None
RerankNormalization = Normalization | Literal["calibrated"]
# The per-query normalizers plus "calibrated" (a fitted `Calibrator`: P(relevant)).
NORMALIZE_CHOICES: tuple[str, ...] = (*NORMALIZERS, "calibrated")


class _Default(enum.Enum):
    DEFAULT = "default"


_DEFAULT = _Default.DEFAULT


def _check_top_k(top_k: object) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
        raise ValueError(f"top_k must be a non-negative int or None, got {top_k!r}")
    return int(top_k)


class Reranker:
    """Re-score first-stage candidates with ``scorer`` and keep the best, in order.

    Args:
        scorer: any `Scorer` (cross-encoder, ColBERT, Cohere, your own).
        top_k: how many items to keep, by rank; ``None`` keeps all.
        normalize: ``"softmax"`` (over all candidates of the query), ``"sigmoid"``,
            ``"minmax"``, ``"calibrated"`` (``calibrator``'s P(relevant)) or ``None`` (raw).
        temperature: softmax temperature (a finite number > 0).
        score_threshold: drop kept items whose normalized score is below it (after top-k);
            a finite number.
        fallback: used when the scorer raises `ScorerError`: another scorer, or
            ``"first_stage"`` to keep the input order. The trace records it.
        text_template: build the text the scorer reads from each candidate's text and
            metadata, e.g. ``"{title}\\n{text}"`` (see `ragrerank.fields`); results keep
            the caller's documents untouched.
        rank_fields: or name the fields, rendered as ``"name: value"`` lines in order,
            e.g. ``["title", "text"]``.
        missing_field: ``"error"`` (a `ValueError` naming the document id) or
            ``"empty"``, for a field a candidate lacks.
        calibrator: with ``normalize="calibrated"``: a `Calibrator` or its JSON file,
            fitted on ``scorer``'s scores (its fingerprint must match, unless None). When a
            fallback scored the query, its scores are min-max normalized instead and
            ``score_threshold`` is not applied; ``trace.notes["calibration"]`` says so.
        feedback: a `ragrerank.FeedbackLog` (or any `FeedbackSink`) that records each
            non-empty result; the result carries its ``impression_id``. A failing log never
            fails a rerank: ``feedback_failures`` counts it and the first is warned about.
    """

    def __init__(
        self,
        scorer: Scorer,
        *,
        top_k: int | None = None,
        normalize: RerankNormalization = "softmax",
        temperature: float = 1.0,
        score_threshold: float | None = None,
        fallback: Fallback = None,
        text_template: str | None = None,
        rank_fields: Sequence[str] | None = None,
        missing_field: MissingField = "error",
        calibrator: Calibrator | str | Path | None = None,
        feedback: FeedbackSink | None = None,
    ) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement ragrerank.Scorer, got {type(scorer).__name__}")
        if normalize is not None and normalize not in NORMALIZE_CHOICES:
            raise ValueError(
                f"normalize must be one of {NORMALIZE_CHOICES} or None, got {normalize!r}"
            )
        self.calibrator = _calibrator_for(scorer, normalize, calibrator)
        temperature = finite_float(temperature, "temperature")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if score_threshold is not None:
            score_threshold = finite_float(score_threshold, "score_threshold")
        if fallback is not None and fallback != "first_stage" and not isinstance(fallback, Scorer):
            raise TypeError("fallback must be a Scorer, 'first_stage' or None")
        self.scorer = scorer
        self.top_k = _check_top_k(top_k)
        self.normalize: RerankNormalization = normalize
        self.temperature = temperature
        self.score_threshold = score_threshold
        self.fallback = fallback
        self.fields = (
            None
            if text_template is None and rank_fields is None
            else RankedFields(
                text_template=text_template, rank_fields=rank_fields, missing_field=missing_field
            )
        )
        self._hook = FeedbackHook(feedback, fingerprint)
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Reranker(scorer={scorer_name(self.scorer)}, top_k={self.top_k}, "
            f"normalize={self.normalize!r}, score_threshold={self.score_threshold}"
            + ("" if self.fields is None else f", fields={self.fields!r}")
            + ("" if self.calibrator is None else f", calibrator={self.calibrator!r}")
            + ("" if self._hook.sink is None else f", feedback={self._hook.sink!r}")
            + ")"
        )

    @property
    def feedback_failures(self) -> int:
        """How many results the feedback log failed to record."""
        return self._hook.failures

    @classmethod
    def of(cls, reranker_or_scorer: Reranker | Scorer, **options: Any) -> Reranker:
        """Return a ready `Reranker` as is, or build one from a scorer and ``options``."""
        if isinstance(reranker_or_scorer, Reranker):
            if options:
                raise ValueError(
                    f"got a ready Reranker and options {sorted(options)}; set them on the Reranker"
                )
            return reranker_or_scorer
        return cls(reranker_or_scorer, **options)

    # -- public API -------------------------------------------------------------------------

    def rerank(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        top_k: int | _Default | None = _DEFAULT,
        session: str | None = None,
        query_id: str | None = None,
    ) -> RerankResult:
        """Rerank ``documents`` for ``query``; ``top_k`` overrides the configured one.

        Args:
            query: a non-blank str.
            documents: ``str`` or `Candidate` objects, in first-stage order.
            top_k: items to keep for this call (None: all); default: the configured one.
            session: with ``feedback``: a session or user key logged with the impression.
            query_id: with ``feedback``: your id of the query, logged with it.

        Returns:
            The kept items, best first, and the trace of every candidate. Each item's
            ``document`` is the caller's object, untouched.

        Raises:
            ValueError: bad input, naming the offending index and id.
            ScorerError: the scorer failed and no ``fallback`` is set.
        """
        start = time.perf_counter()
        candidates = self._prepare(query, documents)
        k = self.top_k if top_k is _DEFAULT else _check_top_k(top_k)
        if not candidates:
            return self._build(query, documents, candidates, ScoreOutput([]), k, start)
        view = self._view(candidates)
        try:
            output = self._checked(self._call(self.scorer, query, view), view, self.scorer)
        except ScorerError as exc:
            if self.fallback is None:
                raise
            output = self._use_fallback(exc, query, view)
        result = self._build(query, documents, candidates, output, k, start)
        return self._hook.log(result, candidates, self.scorer, self.fallback, session, query_id)

    async def arerank(
        self,
        query: str,
        documents: Sequence[Document],
        *,
        top_k: int | _Default | None = _DEFAULT,
        session: str | None = None,
        query_id: str | None = None,
    ) -> RerankResult:
        """Async `rerank`; model work and the feedback log run off the event loop."""
        start = time.perf_counter()
        candidates = self._prepare(query, documents)
        k = self.top_k if top_k is _DEFAULT else _check_top_k(top_k)
        if not candidates:
            return self._build(query, documents, candidates, ScoreOutput([]), k, start)
        view = self._view(candidates)
        try:
            output = self._checked(await self._acall(self.scorer, query, view), view, self.scorer)
        except ScorerError as exc:
            if self.fallback is None:
                raise
            fb = self._fallback_scorer(exc)
            if fb is None:
                output = first_stage_output(len(view), exc)
            else:
                output = self._checked(await self._acall(fb, query, view), view, fb)
                output = with_fallback_note(output, exc, fb)
        result = self._build(query, documents, candidates, output, k, start)
        scorers = self.scorer, self.fallback
        return await self._hook.alog(result, candidates, *scorers, session, query_id)

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _prepare(query: object, documents: object) -> list[Candidate]:
        validate_query(query)
        if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
            raise ValueError(
                f"documents must be a sequence of str or Candidate, got {type(documents).__name__}"
            )
        return [as_candidate(d, i) for i, d in enumerate(documents)]

    def _view(self, candidates: list[Candidate]) -> list[Candidate]:
        """What the scorer reads: the candidates, or their ranked-field copies."""
        return candidates if self.fields is None else self.fields.apply(candidates)

    @staticmethod
    def _call(scorer: Scorer, query: str, candidates: list[Candidate]) -> ScoreOutput:
        return score_output(scorer, query, candidates)

    @staticmethod
    async def _acall(scorer: Scorer, query: str, candidates: list[Candidate]) -> ScoreOutput:
        return await ascore_output(scorer, query, candidates)

    @staticmethod
    def _checked(output: ScoreOutput, candidates: list[Candidate], scorer: Scorer) -> ScoreOutput:
        scores = check_scores(output.scores, len(candidates), scorer_name(scorer))
        return ScoreOutput(scores, output.truncated, output.notes, output.details)

    def _fallback_scorer(self, exc: ScorerError) -> Scorer | None:
        with self._lock:
            first = exc.kind not in self._warned
            self._warned.add(exc.kind)
        if first:
            logger.warning(
                "%s failed (%s); using fallback %s. Further %r failures are not logged.",
                scorer_name(self.scorer),
                exc,
                "first_stage order"
                if self.fallback == "first_stage"
                else scorer_name(self.fallback),
                exc.kind,
            )
        return None if self.fallback == "first_stage" else self.fallback

    def _use_fallback(
        self, exc: ScorerError, query: str, candidates: list[Candidate]
    ) -> ScoreOutput:
        fb = self._fallback_scorer(exc)
        if fb is None:
            return first_stage_output(len(candidates), exc)
        output = self._checked(self._call(fb, query, candidates), candidates, fb)
        return with_fallback_note(output, exc, fb)

    def _build(
        self,
        query: str,
        documents: Sequence[Document],
        candidates: list[Candidate],
        output: ScoreOutput,
        top_k: int | None,
        start: float,
    ) -> RerankResult:
        scores = output.scores
        norm, normalize, notes, threshold = self._normalized(output)
        order = score_order(scores)
        kept = order if top_k is None else order[:top_k]
        if threshold is not None:
            kept = [i for i in kept if norm[i] >= threshold]
        kept_set = set(kept)
        position = {idx: pos + 1 for pos, idx in enumerate(order)}
        items = tuple(
            RerankedItem(
                index=i,
                document=documents[i],
                score=scores[i],
                normalized_score=norm[i],
                rank=position[i],
                first_stage_rank=i + 1,
                first_stage_score=_float_or_none(candidates[i].score),
            )
            for i in kept
        )
        entries = tuple(
            TraceEntry(
                index=i,
                id=c.id,
                first_stage_rank=i + 1,
                first_stage_score=_float_or_none(c.score),
                score=scores[i],
                normalized_score=norm[i],
                final_position=position[i],
                kept=i in kept_set,
                truncated=i in output.truncated,
                details=dict(output.details.get(i, {})),
            )
            for i, c in enumerate(candidates)
        )
        if self.fields is not None:
            notes = {**notes, "ranked_fields": self.fields.describe()}
        trace = ScoreTrace(
            query=query,
            scorer=scorer_name(self.scorer),
            normalize=normalize,
            top_k=top_k,
            score_threshold=self.score_threshold,
            entries=entries,
            truncated=len(output.truncated),
            notes=notes,
            elapsed_ms=(time.perf_counter() - start) * 1000.0,
        )
        return RerankResult(query=query, items=items, trace=trace)

    def _normalized(self, output: ScoreOutput) -> _Normalized:
        """Normalized scores, the normalization applied, trace notes, the threshold to use."""
        if self.calibrator is not None:
            return _calibrated(self.calibrator, output, self.score_threshold)
        method: Normalization = self.normalize  # type: ignore[assignment]  # not "calibrated"
        norm = normalize_scores(output.scores, method, temperature=self.temperature)
        return norm, method, dict(output.notes), self.score_threshold


_Normalized = tuple[list[float], str | None, dict[str, Any], float | None]


def _calibrated(
    calibrator: Calibrator, output: ScoreOutput, threshold: float | None
) -> _Normalized:
    """P(relevant) of the scorer's scores; a fallback's scores are on another scale, so they
    are min-max normalized and no probability threshold applies (the trace says why)."""
    notes: dict[str, Any] = dict(output.notes)
    if "fallback" in notes:
        reason = f"scored by fallback {notes['fallback']['used']}"
        notes["calibration"] = {"applied": False, "reason": reason, "normalize": "minmax"}
        return normalize_scores(output.scores, "minmax"), "minmax", notes, None
    notes["calibration"] = {"applied": True, **calibrator.describe()}
    return calibrator(output.scores), "calibrated", notes, threshold


def _calibrator_for(
    scorer: Scorer, normalize: object, calibrator: Calibrator | str | Path | None
) -> Calibrator | None:
    """The calibrator ``normalize="calibrated"`` needs, loaded and checked against ``scorer``."""
    if normalize != "calibrated":
        if calibrator is not None:
            raise ValueError(f"calibrator needs normalize='calibrated', got {normalize!r}")
        return None
    if calibrator is None:
        raise ValueError("normalize='calibrated' needs calibrator= (a Calibrator or its JSON file)")
    calibrator = Calibrator.of(calibrator)
    calibrator.check_scorer(fingerprint(scorer), scorer_name(scorer))
    return calibrator


def _float_or_none(x: float | None) -> float | None:
    return None if x is None else float(x)
