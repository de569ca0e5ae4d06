"""The small immutable data model: candidates in, ranked items and a score trace out."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "Candidate",
    "Document",
    "RerankResult",
    "RerankedItem",
    "ScoreOutput",
    "ScoreTrace",
    "TraceEntry",
    "text_id",
    "validate_query",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NO_DETAILS: Mapping[int, Mapping[str, Any]] = MappingProxyType({})
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Candidate:
    """A first-stage candidate: its text plus what the retriever knew about it.

    ``metadata`` is kept by reference and never modified by ragrerank. A real-number
    ``score`` (int, float, numpy scalar) is stored as a plain ``float``.

    Attributes:
        text: the text the scorer sees.
        id: the caller's id (named in errors and the trace), or None.
        metadata: anything the caller keeps with it (a late-interaction backend finds stored
            vectors here, under ``"colbert_vectors"``).
        score: the first-stage score, or None.

    Example:
        ``Candidate("Aspirin inhibits platelet aggregation.", id="d1", score=12.3)``
    """

    text: str
    id: str | int | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    score: float | None = None

    def __post_init__(self) -> None:
        score = real_float(self.score)
        if score is not None:  # numpy and other real scalars are kept as a plain float
            object.__setattr__(self, "score", score)


Document = str | Candidate
"""What `Reranker.rerank` accepts per candidate: plain text or a `Candidate`."""


@dataclass(frozen=True)
class ScoreOutput:
    """What a scorer returns for one query: raw scores plus facts for the trace.

    Attributes:
        scores: one raw score per candidate, in input order.
        truncated: the input indices whose text was cut to the model's maximum length.
        notes: backend facts (fallbacks, cache hits, attempts, dtype) carried into the trace.
        details: input index -> JSON-ready facts about that one candidate (e.g. a metadata
            boost's value, `MaxPassageScorer`'s best chunk), copied into its `TraceEntry`.
    """

    scores: list[float]
    truncated: frozenset[int] = frozenset()
    notes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    details: Mapping[int, Mapping[str, Any]] = field(default_factory=lambda: _NO_DETAILS)


@dataclass(frozen=True)
class TraceEntry:
    """One candidate's path through the reranker, kept or not.

    Attributes:
        index: position in the input (0-based).
        id: the candidate's id, or None for plain text.
        first_stage_rank: input position, 1-based.
        first_stage_score: ``Candidate.score``, or None.
        score: the raw rerank score.
        normalized_score: the score after normalization.
        final_position: 1-based position after reranking, kept or not.
        kept: whether it is in the result (top-k and threshold).
        truncated: whether its text was cut to the model's maximum length.
        details: the scorer's facts about this candidate (`ScoreOutput.details`), e.g. a
            metadata boost's value or the best chunk of a long document.
    """

    index: int
    id: str | int | None
    first_stage_rank: int
    first_stage_score: float | None
    score: float
    normalized_score: float
    final_position: int
    kept: bool
    truncated: bool
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ScoreTrace:
    """Per-query record of every candidate's scores and positions, serializable to JSON.

    Attributes:
        query: the query.
        scorer: the scorer's name.
        normalize: the normalization used (None: raw scores).
        top_k: the top-k in force for this call.
        score_threshold: the threshold in force, or None.
        entries: one `TraceEntry` per candidate, in input order.
        truncated: how many candidates were truncated.
        notes: backend facts (``vector_sources``, ``fallback``, ``cohere``, ...).
        elapsed_ms: wall time of the call in milliseconds.
    """

    query: str
    scorer: str
    normalize: str | None
    top_k: int | None
    score_threshold: float | None
    entries: tuple[TraceEntry, ...]
    truncated: int = 0
    notes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-compatible data."""
        data = asdict(self)
        data["entries"] = [asdict(e) for e in self.entries]
        data["notes"] = dict(self.notes)
        return data

    def to_json(self, **kwargs: Any) -> str:
        """Serialize to strict JSON (keyword arguments go to `json.dumps`; never NaN or
        Infinity: ``allow_nan=False`` always)."""
        options: dict[str, Any] = {"default": str, **kwargs, "allow_nan": False}
        return json.dumps(self.to_dict(), **options)


@dataclass(frozen=True)
class RerankedItem:
    """A kept candidate with its scores; ``document`` is the caller's object, untouched.

    Attributes:
        index: position in the input (0-based).
        document: the caller's ``str`` or `Candidate`, the same object.
        score: the raw rerank score (a plain ``float``).
        normalized_score: the score after normalization.
        rank: final position, 1-based.
        first_stage_rank: input position, 1-based.
        first_stage_score: ``Candidate.score``, or None.
    """

    index: int
    document: Document
    score: float
    normalized_score: float
    rank: int
    first_stage_rank: int
    first_stage_score: float | None

    @property
    def text(self) -> str:
        """The document's text."""
        return self.document.text if isinstance(self.document, Candidate) else self.document

    @property
    def id(self) -> str | int | None:
        """The `Candidate`'s id; None for plain text."""
        return self.document.id if isinstance(self.document, Candidate) else None

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The `Candidate`'s metadata (the same mapping); empty for plain text."""
        return self.document.metadata if isinstance(self.document, Candidate) else _EMPTY


@dataclass(frozen=True)
class RerankResult(Sequence[RerankedItem]):
    """Kept items, best first, plus the trace of every candidate.

    A sequence: ``len(result)``, ``result[0]``, ``for item in result``.

    Attributes:
        query: the query.
        items: the kept `RerankedItem`s, best first.
        trace: the `ScoreTrace` of every candidate, kept or not.
        impression_id: the feedback log's id of this result when ``Reranker(feedback=...)``
            logged it (join clicks to it); None otherwise.
    """

    query: str
    items: tuple[RerankedItem, ...]
    trace: ScoreTrace
    impression_id: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[RerankedItem]:
        return iter(self.items)

    def __getitem__(self, i: Any) -> Any:
        return self.items[i]

    @property
    def documents(self) -> list[Document]:
        """The kept input documents, best first."""
        return [item.document for item in self.items]


def text_id(text: str) -> str:
    """The deterministic id of a text given without one: ``"t"`` + the first 16 hex digits
    of the SHA-1 of its UTF-8 bytes (JSONL training data and plain-string indexing)."""
    return "t" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def real_float(value: object) -> float | None:
    """``value`` as a plain float if it is a real number (int, float, numpy scalar; not a
    bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # a Python int beyond the float range
        return math.inf if isinstance(value, int) and value > 0 else -math.inf


def finite_float(value: object, what: str) -> float:
    """``value`` as a plain float; `ValueError` naming ``what`` unless a finite real number."""
    out = real_float(value)
    if out is None or not math.isfinite(out):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return out


def int_at_least(value: object, what: str, low: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``low``, else `ValueError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value!r}")
    return value


def check_text(text: object, label: str) -> str:
    """Return ``text`` if it is a str of valid Unicode, else raise `ValueError` starting
    with ``label`` (e.g. ``"document 3: text"``, ``"query"``).

    The one text check for queries and documents: a lone surrogate (e.g. from
    ``json.loads('"\\ud800"')``) cannot be encoded and would fail inside a tokenizer.
    """
    if not isinstance(text, str):
        raise ValueError(f"{label} must be a str, got {type(text).__name__}")
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise ValueError(
            f"{label} contains a lone surrogate U+{ord(bad.group()):04X} at position "
            f"{bad.start()}: not valid Unicode (decode with errors='replace' to drop it)"
        )
    return text


def validate_query(query: object) -> str:
    """Return ``query`` if it is a non-blank str of valid Unicode, else raise `ValueError`."""
    text = check_text(query, "query")
    if not text.strip():
        raise ValueError("query must not be empty")
    return text


def document_label(index: int, cand: Candidate) -> str:
    """How errors name a candidate: ``"document 3"``, or ``"document 3 (id='a')"``."""
    return f"document {index}" + ("" if cand.id is None else f" (id={cand.id!r})")


def as_candidate(doc: object, index: int) -> Candidate:
    """Validate one input document and return it as a `Candidate`."""
    if isinstance(doc, Candidate):
        text: object = doc.text
        cand = doc
    elif isinstance(doc, str):
        text = doc
        cand = Candidate(text=doc)
    else:
        raise ValueError(
            f"document {index}: expected str or ragrerank.Candidate, got {type(doc).__name__}"
        )
    check_text(text, f"document {index}: text")
    if cand.score is not None:
        score = real_float(cand.score)
        if score is None or not math.isfinite(score):
            raise ValueError(
                f"{document_label(index, cand)}: first-stage score must be a finite number, got {cand.score!r}"
            )
    return cand
