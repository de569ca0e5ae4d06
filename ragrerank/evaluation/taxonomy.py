"""Failure taxonomy of a run: per query, was it a **candidate failure** (no relevant document
among the first stage's candidates: retrieval's fault), a **scoring failure** (relevant
candidates, none in the system's top k: the reranker's fault) or a **success** (at least one
relevant document in the top k); the counts per system and slice; the per-query table
(``per_query_taxonomy.csv``) and the score traces of failed queries (``traces/``).

Ranks are 1-based. A system's ranking is by its score, ties kept in first-stage order (as
`ragrerank.Reranker` does); the first stage's own ranking is by its score, ties in run order.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..scorer import score_order
from .first_stage import non_negative_int, positive_int
from .metrics import Run

__all__ = [
    "CATEGORIES",
    "QueryOutcome",
    "failure_taxonomy",
    "failure_trace",
    "summarize",
    "taxonomy_report",
    "write_taxonomy_files",
]

CATEGORIES = ("success", "scoring_failure", "candidate_failure")
TABLE_COLUMNS = (
    "qid", "query", "system", "category", "relevant_candidates", "relevant_in_top_k", "missed",
    "best_relevant_rank", "trace",
)  # fmt: skip


@dataclass(frozen=True)
class QueryOutcome:
    """One query's place in the taxonomy for one system.

    Attributes:
        category: ``"success"``, ``"scoring_failure"`` or ``"candidate_failure"``.
        relevant_candidates: judged-relevant documents (qrels > 0) among the candidates.
        relevant_in_top_k: of those, how many the system ranked in its top k.
        missed: relevant candidates ranked below k (or not ranked by the system at all).
        best_relevant_rank: the system's best rank of a relevant candidate, None if none.
    """

    category: str
    relevant_candidates: int
    relevant_in_top_k: int
    missed: int
    best_relevant_rank: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-compatible data."""
        return asdict(self)


def _first_stage_order(candidates: Mapping[str, float]) -> list[str]:
    docs = list(candidates)
    return [docs[i] for i in score_order([candidates[d] for d in docs])]


def _system_order(qid: str, fs_order: Sequence[str], system: Mapping[str, float]) -> list[str]:
    """The system's ranking of its documents: by score, ties in first-stage order."""
    known = set(fs_order)
    for doc, score in system.items():
        if doc not in known:
            raise ValueError(f"query {qid!r}: the system ranks {doc!r}, not a candidate")
        if math.isnan(score):
            raise ValueError(f"query {qid!r}: the score of {doc!r} is NaN")
    docs = [d for d in fs_order if d in system]
    return [docs[i] for i in score_order([system[d] for d in docs])]


def _outcome(relevant: set[str], candidates: Sequence[str], ranked: Sequence[str], k: int
             ) -> QueryOutcome:  # fmt: skip
    n_relevant = sum(d in relevant for d in candidates)
    in_top = sum(d in relevant for d in ranked[:k])
    best = next((r for r, d in enumerate(ranked, 1) if d in relevant), None)
    if n_relevant == 0:
        category = "candidate_failure"
    else:
        category = "success" if in_top else "scoring_failure"
    return QueryOutcome(category, n_relevant, in_top, n_relevant - in_top, best)


def _check_scores(qid: str, candidates: Mapping[str, float]) -> None:
    for doc, score in candidates.items():
        if math.isnan(score):
            raise ValueError(f"query {qid!r}: the first-stage score of {doc!r} is NaN")


def failure_taxonomy(
    qrels: Mapping[str, Mapping[str, int]],
    candidates_run: Run,
    system_run: Run,
    k: int = 10,
) -> dict[str, QueryOutcome]:
    """Classify every judged query of ``system_run`` (see the module docstring).

    Args:
        qrels: ``{qid: {doc: grade}}``; a grade > 0 is relevant. Its queries are the ones
            classified, in its order.
        candidates_run: the first stage's ``{qid: {doc: score}}`` (its N candidates); a
            query absent from it has no candidates.
        system_run: the system's ``{qid: {doc: score}}`` over those candidates (pass
            ``candidates_run`` again for the first stage itself); a query absent from it
            has an empty top k.
        k: the cut-off (10 matches nDCG@10).

    Returns:
        ``{qid: QueryOutcome}``.

    Raises:
        ValueError: ``k`` is not an int >= 1, a score is NaN, or the system ranks a
            document that is not one of the query's candidates (the ids are named).
    """
    positive_int(k, "k")
    out: dict[str, QueryOutcome] = {}
    for qid, judged in qrels.items():
        candidates = candidates_run.get(qid, {})
        _check_scores(qid, candidates)
        fs_order = _first_stage_order(candidates)
        ranked = _system_order(qid, fs_order, system_run.get(qid, {}))
        relevant = {str(d) for d, grade in judged.items() if grade > 0}
        out[qid] = _outcome(relevant, fs_order, ranked, k)
    return out


def summarize(outcomes: Mapping[str, QueryOutcome], qids: Sequence[str]) -> dict[str, Any]:
    """Counts of each category over ``qids``, their share of the queries and the total of
    relevant candidates ranked below k (``missed``)."""
    counts = {c: sum(outcomes[q].category == c for q in qids) for c in CATEGORIES}
    n = len(qids)
    return {
        "n": n,
        **counts,
        "share": {c: (counts[c] / n if n else 0.0) for c in CATEGORIES},
        "missed": sum(outcomes[q].missed for q in qids),
    }


def failure_trace(
    qid: str,
    qrels: Mapping[str, int],
    candidates: Mapping[str, float],
    system: Mapping[str, float],
    k: int,
) -> list[dict[str, Any]]:
    """One query's candidates in the system's final order (unranked ones last): id,
    first-stage rank and score, the system's raw score, final rank, in top k, judged grade
    and whether relevant."""
    fs_order = _first_stage_order(candidates)
    fs_rank = {d: r for r, d in enumerate(fs_order, 1)}
    ranked = _system_order(qid, fs_order, system)
    final = {d: r for r, d in enumerate(ranked, 1)}
    rows = []
    for doc in ranked + [d for d in fs_order if d not in final]:
        grade = int(qrels.get(doc, 0))
        rows.append({
            "id": doc,
            "first_stage_rank": fs_rank[doc],
            "first_stage_score": float(candidates[doc]),
            "score": float(system[doc]) if doc in system else None,
            "final_rank": final.get(doc),
            "in_top_k": final.get(doc, k + 1) <= k,
            "relevance": grade,
            "relevant": grade > 0,
        })  # fmt: skip
    return rows


def taxonomy_report(
    qrels: Mapping[str, Mapping[str, int]],
    system_runs: Mapping[str, Run],
    first_stage: str,
    queries: Mapping[str, str],
    groups: Mapping[str, Mapping[str, Sequence[str]]],
    k: int = 10,
    max_traces: int = 100,
) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]]]:
    """The taxonomy of every system and the traces of the rerankers' failed queries.

    Args:
        qrels: ``{qid: {doc: grade}}`` of the evaluated queries.
        system_runs: name -> run; ``first_stage`` names the candidates' run among them.
        first_stage: the first stage's name in ``system_runs``.
        queries: query text by id (the evaluated ids).
        groups: ``{slice: {bucket: [qid, ...]}}`` (`metrics.slice_groups`).
        k: the top-k cut-off.
        max_traces: at most this many traces per reranker (scoring failures first, then
            candidate failures, each in query order); 0 writes none.

    Returns:
        ``(report, traces)``: the JSON-ready ``report`` (``k``, ``categories``,
        ``systems``, ``slices``, ``per_query``, ``queries``) and ``{system: {qid: trace}}``.
    """
    positive_int(k, "taxonomy_k")
    non_negative_int(max_traces, "max_traces")
    base = system_runs[first_stage]
    qids = list(queries)
    outcomes = {n: failure_taxonomy(qrels, base, run, k) for n, run in system_runs.items()}
    traces: dict[str, dict[str, dict[str, Any]]] = {}
    for name, per_q in outcomes.items():
        if name == first_stage:
            continue
        failed = [q for c in CATEGORIES[1:] for q in qids if per_q[q].category == c]
        traces[name] = {
            q: {
                "qid": q,
                "query": queries[q],
                "system": name,
                "k": k,
                **per_q[q].to_dict(),
                "candidates": failure_trace(
                    q, qrels[q], base.get(q, {}), system_runs[name].get(q, {}), k
                ),
            }
            for q in failed[:max_traces]
        }
    report = {
        "k": k,
        "categories": list(CATEGORIES),
        "systems": {n: summarize(o, qids) for n, o in outcomes.items()},
        "slices": {
            s: {
                b: {"n": len(m), "systems": {n: summarize(o, m) for n, o in outcomes.items()}}
                for b, m in buckets.items()
            }
            for s, buckets in groups.items()
        },
        "per_query": {n: {q: o[q].to_dict() for q in qids} for n, o in outcomes.items()},
        "queries": dict(queries),
    }
    return report, traces


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"
    slug, i = base, 1
    while slug.lower() in taken:
        i += 1
        slug = f"{base}-{i}"
    taken.add(slug.lower())
    return slug


def write_taxonomy_files(
    report: Mapping[str, Any], traces: Mapping[str, Mapping[str, Any]], out: Path
) -> tuple[Path, Path]:
    """Write ``traces/<system>/<qid>.json`` and ``per_query_taxonomy.csv`` (one row per
    query and system; ``trace`` is the trace's path relative to ``out``, empty when none was
    written); return both paths."""
    trace_dir = out / "traces"
    trace_dir.mkdir(parents=True, exist_ok=True)
    written: dict[tuple[str, str], str] = {}
    systems: set[str] = set()
    for name, by_qid in traces.items():
        folder = _slug(name, systems)
        files: set[str] = set()
        for qid, trace in by_qid.items():
            rel = f"traces/{folder}/{_slug(qid, files)}.json"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(json.dumps(trace, indent=1, allow_nan=False), "utf-8")
            written[(name, qid)] = rel
    table = out / "per_query_taxonomy.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        for name, by_qid in report.get("per_query", {}).items():
            for qid, row in by_qid.items():
                writer.writerow({
                    "qid": qid,
                    "query": report["queries"].get(qid, ""),
                    "system": name,
                    **row,
                    "best_relevant_rank": row["best_relevant_rank"] or "",
                    "trace": written.get((name, qid), ""),
                })  # fmt: skip
    return table, trace_dir
