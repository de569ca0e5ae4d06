"""`MetadataBoostScorer`: blend a scorer's ranking with a numeric metadata field or recency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..fields import field_value
from ..normalize import NORMALIZERS, Normalization, normalize_scores
from ..scorer import (
    BaseScorer,
    Scorer,
    ascore_output,
    check_scores,
    fingerprint,
    score_output,
    scorer_name,
    validate_query,
)
from ..types import Candidate, ScoreOutput, document_label
from .boost_values import as_datetime, as_half_life, as_number, decay, json_value
from .rrf import check_weight, ranks, reciprocal_rank_fusion

__all__ = ["BoostMode", "MetadataBoostScorer", "MissingPolicy"]

BoostMode = Literal["linear", "rrf"]
MissingPolicy = Literal["keep", "bottom", "error"]
_MODES = ("linear", "rrf")
_POLICIES = ("keep", "bottom", "error")
NEUTRAL = 0.5
"""The boost of a document without the field under ``missing="keep"`` (mid-scale)."""


@dataclass(frozen=True)
class _Values:
    raws: list[Any]
    values: list[float | None]
    now: dt.datetime | None


class MetadataBoostScorer(BaseScorer):
    """Blend ``scorer``'s ranking with a metadata field: a number, or a date's recency.

    The wrapped scorer runs once. Each candidate gets a boost ``b`` in [0, 1]:

    - a **numeric field** (``half_life=None``): its value min-max normalized over the
      query's candidates that have it (all equal: 1.0, the `normalize_scores` rule);
      a bool is not a number, NaN and infinity are refused;
    - **recency** (``half_life`` set): ``0.5 ** (age / half_life)`` with ``age = now -
      date``; a date after ``now`` counts as ``now`` (1.0). Dates are ISO 8601 strings,
      `date` or `datetime`; naive ones are UTC.

    ``mode="linear"``: ``(1 - weight) * s + weight * b``, ``s`` the scorer's scores under
    ``normalize`` (min-max by default). ``mode="rrf"``: weighted reciprocal-rank fusion
    (the same code as `FusionScorer`) of the scorer's ranking (weight ``1 - weight``) and
    the boost's ranking (``weight``): ``(1 - weight) / (k + rank_s) + weight / (k + rank_b)``,
    ties keeping input order.

    A candidate without the field (absent or ``None``), by ``missing``: ``"keep"`` gives it
    the neutral boost 0.5; ``"bottom"`` the lowest (0.0; in ``rrf`` it ranks after every
    candidate with a value); ``"error"`` raises `ValueError` naming its index and id, as a
    bad value always does. This ranks a document low on the boost, it does not force it
    below every other document (``weight=1`` does).

    Boosts compose by nesting: the outer one normalizes the inner one's blended scores.
    Each candidate's `TraceEntry.details["boosts"]` lists, innermost first, the raw value,
    its boost, its contribution to the blended score and the missing policy applied; the
    trace notes' ``"metadata_boosts"`` list each boost's configuration (with the ``now``
    used).

    Args:
        scorer: the scorer whose ranking is boosted.
        field: the metadata key (dotted for nested mappings, as in `ragrerank.fields`).
        weight: the boost's share of the blend, in [0, 1] (0: the scorer alone).
        mode: ``"linear"`` or ``"rrf"``.
        half_life: a `timedelta` or days: makes ``field`` a date and the boost recency.
        now: the reference time for recency (`datetime`, `date` or ISO string; naive is
            UTC); ``None`` uses the time of each call, recorded in the trace.
        missing: ``"keep"``, ``"bottom"`` or ``"error"``.
        normalize: how the scorer's scores are normalized in ``linear`` mode
            (`Reranker`'s options; ``None`` when they already are in [0, 1]).
        k: the RRF constant (> 0) in ``rrf`` mode.
    """

    def __init__(
        self,
        scorer: Scorer,
        *,
        field: str,
        weight: float,
        mode: BoostMode = "linear",
        half_life: dt.timedelta | float | None = None,
        now: dt.datetime | dt.date | str | None = None,
        missing: MissingPolicy = "keep",
        normalize: Normalization = "minmax",
        k: float = 60.0,
    ) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement ragrerank.Scorer, got {type(scorer).__name__}")
        if not isinstance(field, str) or not field:
            raise ValueError(f"field must be a non-empty str, got {field!r}")
        self.weight = check_weight(weight, "weight")
        if self.weight > 1:
            raise ValueError(f"weight must be in [0, 1], got {weight!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if missing not in _POLICIES:
            raise ValueError(f"missing must be one of {_POLICIES}, got {missing!r}")
        if normalize is not None and normalize not in NORMALIZERS:
            raise ValueError(f"normalize must be one of {NORMALIZERS} or None, got {normalize!r}")
        self.k = check_weight(k, "k")
        if self.k == 0:
            raise ValueError("k must be > 0")
        self.half_life = None if half_life is None else as_half_life(half_life)
        if now is not None and self.half_life is None:
            raise ValueError("now is only for recency: set half_life too")
        try:
            self.now = None if now is None else as_datetime(now)
        except ValueError as exc:
            raise ValueError(f"now {exc}") from None
        self.scorer = scorer
        self.field = field
        self.mode: BoostMode = mode
        self.missing: MissingPolicy = missing
        self.normalize: Normalization = normalize

    @property
    def name(self) -> str:
        what = "recency" if self.half_life is not None else "value"
        return (
            f"MetadataBoostScorer({scorer_name(self.scorer)} + {what}({self.field})"
            f"*{self.weight:g}, {self.mode})"
        )

    def __repr__(self) -> str:
        return (
            f"MetadataBoostScorer({self.scorer!r}, field={self.field!r}, weight={self.weight!r}, "
            f"mode={self.mode!r}, half_life={self.half_life!r}, now={self.now!r}, "
            f"missing={self.missing!r}, normalize={self.normalize!r}, k={self.k!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.MetadataBoostScorer",
            "scorer": fingerprint(self.scorer),
            **self._config(self.now),
        }

    def _config(self, now: dt.datetime | None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "field": self.field,
            "weight": self.weight,
            "mode": self.mode,
            "missing": self.missing,
        }
        if self.mode == "linear":
            config["normalize"] = self.normalize
        else:
            config["k"] = self.k
        if self.half_life is not None:
            config["half_life_days"] = self.half_life / dt.timedelta(days=1)
            config["now"] = None if now is None else now.isoformat()
        return config

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        values = self._values(candidates)  # bad metadata fails before the model runs
        return self._blend(values, score_output(self.scorer, query, candidates))

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        values = self._values(candidates)
        return self._blend(values, await ascore_output(self.scorer, query, candidates))

    # -- the blend ----------------------------------------------------------------------------

    def _values(self, candidates: Sequence[Candidate]) -> _Values:
        """Each candidate's raw field value and its parsed value (a number or the decay;
        None when missing); `ValueError` naming the document for a bad or missing one."""
        now = None
        if self.half_life is not None:
            now = self.now if self.now is not None else dt.datetime.now(dt.timezone.utc)
        raws, values = [], []
        for i, cand in enumerate(candidates):
            raw = field_value(cand, self.field)
            value: float | None = None
            if raw is None and self.missing == "error":
                raise ValueError(
                    f"{document_label(i, cand)}: metadata field {self.field!r} is missing "
                    "(missing='error')"
                )
            if raw is not None:
                try:
                    if self.half_life is None:
                        value = as_number(raw)
                    else:
                        assert now is not None
                        value = decay(as_datetime(raw), now, self.half_life)
                except ValueError as exc:
                    raise ValueError(
                        f"{document_label(i, cand)}: metadata field {self.field!r} {exc}"
                    ) from None
            raws.append(raw)
            values.append(value)
        return _Values(raws, values, now)

    def _boosts(self, values: list[float | None]) -> list[float]:
        """The boost in [0, 1] of each candidate (missing ones by the policy)."""
        present = [v for v in values if v is not None]
        if self.half_life is None:
            present = normalize_scores(present, "minmax")
        it = iter(present)
        fill = NEUTRAL if self.missing == "keep" else 0.0
        return [fill if v is None else next(it) for v in values]

    def _blend(self, found: _Values, out: ScoreOutput) -> ScoreOutput:
        raws, values, n = found.raws, found.values, len(found.values)
        scores = check_scores(out.scores, n, scorer_name(self.scorer))
        boosts = self._boosts(values)
        w = self.weight
        rank_b: list[int] | None = None
        if self.mode == "linear":
            parts = [(1.0 - w) * s for s in normalize_scores(scores, self.normalize)]
            contributions = [w * b for b in boosts]
        else:
            bottom = self.missing == "bottom"
            keys = [
                -1.0 if bottom and v is None else b for v, b in zip(values, boosts, strict=True)
            ]
            rank_b = ranks(keys)  # a bottom candidate ranks after every one with a value
            parts = reciprocal_rank_fusion([ranks(scores)], [1.0 - w], self.k)
            contributions = reciprocal_rank_fusion([rank_b], [w], self.k)
        blended = [p + c for p, c in zip(parts, contributions, strict=True)]
        details: dict[int, dict[str, Any]] = {}
        for i in range(n):
            entry: dict[str, Any] = {
                "field": self.field,
                "raw": json_value(raws[i]),
                "boost": boosts[i],
                "contribution": contributions[i],
                "scorer_part": parts[i],
                "missing": None if values[i] is not None else self.missing,
            }
            if rank_b is not None:
                entry["rank"] = rank_b[i]
            inner = dict(out.details.get(i, {}))
            details[i] = {**inner, "boosts": [*inner.get("boosts", []), entry]}
        notes = {
            **out.notes,
            "metadata_boosts": [*out.notes.get("metadata_boosts", []), self._config(found.now)],
        }
        return ScoreOutput(blended, out.truncated, notes, details)
