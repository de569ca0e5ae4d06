"""Per (query, candidate) features for `ragrerank.LearnedRanker`: member scores, the first
stage, the text, truncation and named metadata fields, in the fixed column order
`FeatureSpec.names` gives."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..scorer import Scorer, fingerprint, scorer_name
from ..types import Candidate, ScoreOutput, document_label, real_float
from .rrf import ranks

__all__ = ["GROUPS", "FeatureSpec", "candidate_features"]

GROUPS = ("members", "first_stage", "text", "truncation", "metadata")
"""The feature groups, in column order."""

_MEMBER_COLUMNS = ("score", "rank", "z", "gap")
_FIRST_STAGE_COLUMNS = ("position", "reciprocal_rank", "score")
_TEXT_COLUMNS = ("doc_words", "query_words", "query_overlap")
_WORD = re.compile(r"\w+")
NAN = float("nan")


def _names(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{what} must be a sequence of str, got {values!r}")
    out = tuple(values)
    for i, v in enumerate(out):
        if not isinstance(v, str) or not v:
            raise ValueError(f"{what}[{i}] must be a non-empty str, got {v!r}")
    return out


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a learned ranker reads, and from which member scorers.

    Attributes:
        members: the member scorers' display names (labels ``m<i>:<name>``).
        fingerprints: the members' `ragrerank.scorer.fingerprint`, one per name.
        metadata_fields: numeric ``Candidate.metadata`` fields used as features.
        groups: the feature groups included, a subset of `GROUPS` (default: all).
    """

    members: tuple[str, ...]
    fingerprints: tuple[str, ...]
    metadata_fields: tuple[str, ...] = ()
    groups: tuple[str, ...] = GROUPS
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        members = _names(self.members, "members")
        prints = _names(self.fingerprints, "fingerprints")
        if not members:
            raise ValueError("a feature spec needs at least one member")
        if len(prints) != len(members):
            raise ValueError(f"got {len(prints)} fingerprints for {len(members)} members")
        fields = _names(self.metadata_fields, "metadata_fields")
        if len(set(fields)) != len(fields):
            raise ValueError(f"metadata_fields has duplicates: {list(fields)}")
        groups = _names(self.groups, "groups")
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown feature group(s) {unknown}; known: {list(GROUPS)}")
        groups = tuple(g for g in GROUPS if g in groups)  # column order, no duplicates
        if not groups:
            raise ValueError("groups must name at least one feature group")
        for name, value in (("members", members), ("fingerprints", prints),
                            ("metadata_fields", fields), ("groups", groups)):  # fmt: skip
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_names", tuple(self._column_names()))

    @classmethod
    def of(
        cls,
        members: Sequence[Scorer],
        *,
        names: Sequence[str] | None = None,
        metadata_fields: Sequence[str] = (),
        groups: Sequence[str] | None = None,
    ) -> FeatureSpec:
        """The spec of ``members`` (their fingerprints taken now).

        Args:
            members: the member scorers, in order.
            names: their display names (default: each scorer's name).
            metadata_fields: numeric metadata fields to include.
            groups: feature groups to include (default: all of `GROUPS`).

        Returns:
            The `FeatureSpec`.
        """
        labels = [scorer_name(m) for m in members] if names is None else list(names)
        return cls(
            tuple(labels),
            tuple(fingerprint(m) for m in members),
            tuple(metadata_fields),
            GROUPS if groups is None else tuple(groups),
        )

    def _column_names(self) -> list[str]:
        out: list[str] = []
        if "members" in self.groups:
            for i, name in enumerate(self.members):
                out += [f"m{i}:{name}:{c}" for c in _MEMBER_COLUMNS]
        if "first_stage" in self.groups:
            out += [f"first_stage:{c}" for c in _FIRST_STAGE_COLUMNS]
        if "text" in self.groups:
            out += [f"text:{c}" for c in _TEXT_COLUMNS]
        if "truncation" in self.groups:
            out.append("truncated")
        if "metadata" in self.groups:
            out += [f"metadata:{f}" for f in self.metadata_fields]
        return out

    @property
    def names(self) -> list[str]:
        """The feature columns, in order (``m<i>:<name>:score|rank|z|gap``,
        ``first_stage:...``, ``text:...``, ``truncated``, ``metadata:<field>``)."""
        return list(self._names)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (`from_dict` reads it back)."""
        return {
            "members": list(self.members),
            "fingerprints": list(self.fingerprints),
            "metadata_fields": list(self.metadata_fields),
            "groups": list(self.groups),
            "names": self.names,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """The spec `to_dict` wrote; `ValueError` on a missing field or a column list that
        does not match (a spec written by another version)."""
        try:
            spec = cls(
                tuple(data["members"]),
                tuple(data["fingerprints"]),
                tuple(data.get("metadata_fields", ())),
                tuple(data.get("groups", GROUPS)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a feature spec: missing or bad field {exc}") from None
        if "names" in data and list(data["names"]) != spec.names:
            raise ValueError("feature spec: its column names do not match its fields")
        return spec


def _member_columns(scores: Sequence[float] | None, n: int) -> list[list[float]]:
    if scores is None:  # the member failed: its features are missing
        return [[NAN] * len(_MEMBER_COLUMNS) for _ in range(n)]
    mean = math.fsum(scores) / n
    spread = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / n)
    best = max(scores)
    rank = ranks(scores)
    return [
        [float(s), float(r), (s - mean) / spread if spread > 0 else 0.0, best - s]
        for s, r in zip(scores, rank, strict=True)
    ]


def _metadata_value(cand: Candidate, index: int, name: str) -> float:
    value = cand.metadata.get(name)
    if value is None:
        return NAN
    number = real_float(value)
    if number is None or math.isinf(number):
        raise ValueError(
            f"{document_label(index, cand)}: metadata field {name!r} must be a finite number "
            f"(or absent), got {value!r}"
        )
    return number


def candidate_features(
    spec: FeatureSpec,
    query: str,
    candidates: Sequence[Candidate],
    outputs: Sequence[ScoreOutput | None],
) -> list[list[float]]:
    """One feature row per candidate, columns in ``spec.names`` order (plain floats).

    Args:
        spec: the features to compute.
        query: the query.
        candidates: the candidates, in first-stage order.
        outputs: each member's `ScoreOutput` (raw scores in input order), or None where that
            member failed (its features are NaN, LightGBM's missing value).

    Returns:
        ``len(candidates)`` rows of ``len(spec.names)`` floats.

    Raises:
        ValueError: a wrong number of outputs or scores, or a metadata field that is not a
            number (naming the candidate's index and id and the field).
    """
    if len(outputs) != len(spec.members):
        raise ValueError(f"got {len(outputs)} member outputs for {len(spec.members)} members")
    n = len(candidates)
    for i, out in enumerate(outputs):
        if out is not None and len(out.scores) != n:
            raise ValueError(f"member {i} gave {len(out.scores)} scores for {n} candidates")
    rows: list[list[float]] = [[] for _ in range(n)]
    if n == 0:
        return rows
    if "members" in spec.groups:
        for out in outputs:
            columns = _member_columns(None if out is None else out.scores, n)
            for row, values in zip(rows, columns, strict=True):
                row += values
    query_tokens = _WORD.findall(query.lower())
    query_words = set(query_tokens)
    truncated = set().union(*(out.truncated for out in outputs if out is not None))
    for j, (row, cand) in enumerate(zip(rows, candidates, strict=True)):
        if "first_stage" in spec.groups:
            row += [float(j + 1), 1.0 / (j + 1), NAN if cand.score is None else float(cand.score)]
        if "text" in spec.groups:
            words = _WORD.findall(cand.text.lower())
            seen = query_words.intersection(words)
            overlap = len(seen) / len(query_words) if query_words else 0.0
            row += [float(len(words)), float(len(query_tokens)), overlap]
        if "truncation" in spec.groups:
            row.append(1.0 if j in truncated else 0.0)
        if "metadata" in spec.groups:
            row += [_metadata_value(cand, j, f) for f in spec.metadata_fields]
    return rows
