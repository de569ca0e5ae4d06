"""`LearnedRanker`: a LightGBM lambdarank model over features of member scorers, the first
stage and the text (`ragrerank.composers.features`); trained by ``ragrerank train ranker``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ScorerError, require
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
from ..types import Candidate, ScoreOutput
from ..utils.jsonio import read_json, write_json
from .features import FeatureSpec, candidate_features
from .fusion import member_scorers

__all__ = ["MODEL_FILE", "SPEC_FILE", "LearnedRanker"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.txt"
SPEC_FILE = "spec.json"
_POLICIES = ("raise", "missing")


def _lightgbm() -> Any:
    return require("lightgbm", "ranker")


def model_digest(model_text: str) -> str:
    """16 hex digits of a LightGBM text model (what `LearnedRanker.to_dict` names)."""
    return hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:16]


class LearnedRanker(BaseScorer):
    """Rank candidates with a LightGBM lambdarank model over per-candidate features.

    Each member scorer scores the candidates; `candidate_features` turns their scores, the
    first-stage order and score, the texts, truncation and metadata into one row per
    candidate; the model predicts one score per row. Scores are lambdarank outputs: a
    ranking, not probabilities (calibrate them for a threshold).

    Members run one after another (sync) or concurrently (async). Truncation is the union of
    the members'; their notes are kept under ``learned_notes`` and each candidate's member
    scores under ``details["learned_members"]`` (label ``"m<i>:<name>"``; a failed member
    is absent).

    Args:
        members: the member scorers, in the order of ``spec.members``; their fingerprints
            must match the spec's.
        model: a LightGBM text model (``model.txt``'s content) or a ``lightgbm.Booster``.
        spec: the features the model was trained on.
        on_member_error: a member's `ScorerError`: ``"raise"`` re-raises it (so
            ``Reranker(fallback=...)`` applies); ``"missing"`` makes that member's features
            NaN and names it in ``notes["learned"]["failed_members"]`` (all members failing
            still raises).

    Raises:
        ValueError: a member count or fingerprint that differs from the spec (naming the
            member index, the expected and the got fingerprint), or a model whose feature
            count differs from the spec's.
        MissingDependencyError: lightgbm is not installed (extra ``ranker``).
    """

    def __init__(
        self,
        members: Sequence[Scorer],
        model: str | Any,
        spec: FeatureSpec,
        *,
        on_member_error: Literal["raise", "missing"] = "raise",
    ) -> None:
        lgb = _lightgbm()
        self.members = member_scorers(members, "members")
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"spec must be a FeatureSpec, got {type(spec).__name__}")
        check_members(spec, self.members)
        if on_member_error not in _POLICIES:
            raise ValueError(f"on_member_error must be one of {_POLICIES}, got {on_member_error!r}")
        if isinstance(model, str):
            text = model
        elif isinstance(model, lgb.Booster):
            text = model.model_to_string()
        else:
            raise TypeError(f"model must be LightGBM model text or a Booster, got {type(model)}")
        self.booster = lgb.Booster(model_str=text)
        if self.booster.num_feature() != len(spec.names):
            raise ValueError(
                f"the model reads {self.booster.num_feature()} features, the spec names "
                f"{len(spec.names)}"
            )
        self.model_text = text
        self.digest = model_digest(text)
        self.spec = spec
        self.on_member_error = on_member_error

    @property
    def name(self) -> str:
        return f"LearnedRanker({' + '.join(scorer_name(m) for m in self.members)})"

    def __repr__(self) -> str:
        return f"LearnedRanker({self.members!r}, model={self.digest}, spec={self.spec!r})"

    def to_dict(self) -> dict[str, Any]:
        """Identifying configuration (used for cache fingerprints)."""
        return {
            "type": "ragrerank.LearnedRanker",
            "members": [fingerprint(m) for m in self.members],
            "model": self.digest,
            "spec": self.spec.to_dict(),
            "on_member_error": self.on_member_error,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``model.txt`` (the LightGBM text model) and ``spec.json`` (the feature
        spec with the members' fingerprints, the lightgbm version) to ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / MODEL_FILE).write_text(self.model_text, encoding="utf-8")
        data = {
            "type": "ragrerank.LearnedRanker",
            "spec": self.spec.to_dict(),
            "model_digest": self.digest,
            "lightgbm": _lightgbm().__version__,
        }
        write_json(out / SPEC_FILE, data, indent=1)
        return out

    @classmethod
    def load(cls, folder: str | Path, members: Sequence[Scorer], **kwargs: Any) -> LearnedRanker:
        """The ranker `save` wrote to ``folder``, over ``members`` (the same scorers, in the
        same order, as it was trained on; ``kwargs`` go to the constructor).

        Raises:
            FileNotFoundError: ``folder`` lacks ``model.txt`` or ``spec.json``.
            ValueError: members that differ from the saved spec (naming the index and both
                fingerprints).
        """
        path = Path(folder)
        for name in (MODEL_FILE, SPEC_FILE):
            if not (path / name).is_file():
                raise FileNotFoundError(f"{path}: no {name} (not a LearnedRanker folder)")
        data = read_json(path / SPEC_FILE)
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
            raise ValueError(f"{path / SPEC_FILE}: not a LearnedRanker spec")
        spec = FeatureSpec.from_dict(data["spec"])
        return cls(members, (path / MODEL_FILE).read_text(encoding="utf-8"), spec, **kwargs)

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        results: list[ScoreOutput | ScorerError] = []
        for i, member in enumerate(self.members):
            try:
                out: ScoreOutput | ScorerError = score_output(member, query, candidates)
            except ScorerError as exc:
                out = exc
            results.append(self._checked(i, out, len(candidates)))
        return self._predict(query, candidates, results)

    async def ascore_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])

        async def one(member: Scorer) -> ScoreOutput | ScorerError:
            try:
                return await ascore_output(member, query, candidates)
            except ScorerError as exc:
                return exc

        gathered = await asyncio.gather(*(one(m) for m in self.members))
        results = [self._checked(i, r, len(candidates)) for i, r in enumerate(gathered)]
        return await asyncio.to_thread(self._predict, query, candidates, results)

    def _checked(
        self, index: int, result: ScoreOutput | ScorerError, n: int
    ) -> ScoreOutput | ScorerError:
        """A member's output with checked scores, or its `ScorerError` under "missing"."""
        try:
            if isinstance(result, ScorerError):
                raise result
            label = f"m{index}:{scorer_name(self.members[index])}"
            scores = check_scores(result.scores, n, label)
            return ScoreOutput(scores, result.truncated, result.notes, result.details)
        except ScorerError as exc:
            if self.on_member_error == "raise":
                raise
            logger.warning(
                "learned ranker: member %d failed (%s); its features are NaN", index, exc
            )
            return exc

    def _predict(
        self,
        query: str,
        candidates: Sequence[Candidate],
        results: Sequence[ScoreOutput | ScorerError],
    ) -> ScoreOutput:
        failed = {i: r for i, r in enumerate(results) if isinstance(r, ScorerError)}
        if len(failed) == len(results):
            first = next(iter(failed.values()))
            raise ScorerError(f"every member of the learned ranker failed: {first}",
                              kind=first.kind) from first  # fmt: skip
        outputs = [None if isinstance(r, ScorerError) else r for r in results]
        rows = candidate_features(self.spec, query, candidates, outputs)
        predicted = self.booster.predict(np.asarray(rows, dtype=np.float64), num_threads=1)
        scores = [float(x) for x in predicted]
        truncated: set[int] = set()
        notes: dict[str, Any] = {}
        member_notes: dict[str, Any] = {}
        details: list[dict[str, float]] = [{} for _ in candidates]
        for i, out in enumerate(outputs):
            if out is None:
                continue
            label = f"m{i}:{scorer_name(self.members[i])}"
            truncated.update(out.truncated)
            if out.notes:
                member_notes[label] = dict(out.notes)
            for d, s in zip(details, out.scores, strict=True):
                d[label] = s
        if member_notes:
            notes["learned_notes"] = member_notes
        if failed:
            notes["learned"] = {
                "failed_members": [
                    {"index": i, "member": scorer_name(self.members[i]), "kind": e.kind,
                     "error": str(e)}
                    for i, e in failed.items()
                ]
            }  # fmt: skip
        per_candidate = {j: {"learned_members": d} for j, d in enumerate(details)}
        return ScoreOutput(scores, frozenset(truncated), notes, per_candidate)


def check_members(spec: FeatureSpec, members: Sequence[Scorer]) -> None:
    """`ValueError` unless ``members`` match ``spec`` in count and fingerprints (naming the
    first member index that differs, the expected and the got fingerprint)."""
    if len(members) != len(spec.members):
        raise ValueError(
            f"the ranker was trained on {len(spec.members)} members ({list(spec.members)}), "
            f"got {len(members)}"
        )
    for i, (member, expected) in enumerate(zip(members, spec.fingerprints, strict=True)):
        got = fingerprint(member)
        if got != expected:
            raise ValueError(
                f"member {i} ({scorer_name(member)}) differs from the one the ranker was "
                f"trained on ({spec.members[i]}): expected fingerprint {expected}, got {got}"
            )
