"""``ragrerank train from-feedback``: click labels from a feedback log (IPS-weighted with an
examination curve, or naive) to train the learned ranker or to export cross-encoder
training data; and `feedback_dataset`, the library path to the same labels."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..evaluation.datasets import BeirDataset, load_beir
from ..feedback.clicks import LoggedRecords
from ..feedback.ips import click_estimates, feedback_qrels
from ..feedback.propensity import Propensity, estimate_propensity
from ..feedback.records import FeedbackEvent, Impression
from ..types import int_at_least

__all__ = ["add_parser", "export_cross_encoder", "feedback_dataset", "read_log", "run_command"]

logger = logging.getLogger(__name__)


def feedback_dataset(ds: BeirDataset, qrels: Mapping[str, Mapping[str, int]]) -> BeirDataset:
    """``ds`` with its qrels replaced by ``qrels`` (e.g. `ragrerank.feedback.feedback_qrels`)
    and its queries restricted to theirs; the corpus is kept whole.

    Train on it with ``train_ranker(feedback_dataset(ds, qrels), members, out=...,
    split=ds.split, query_ids=list(qrels), judged_only=True)``: only the labelled
    candidates become rows.

    Raises:
        ValueError: a query id not among ``ds``'s queries, or a doc id not in its corpus
            (the first few named).
    """
    unknown = [q for q in qrels if q not in ds.queries]
    if unknown:
        raise ValueError(f"{len(unknown)} feedback query ids are not queries of "
                         f"{ds.name}/{ds.split}: {unknown[:5]}")  # fmt: skip
    missing = [(q, d) for q, docs in qrels.items() for d in docs if d not in ds.corpus]
    if missing:
        raise ValueError(f"{len(missing)} labelled documents are not in the corpus of "
                         f"{ds.name}: (query, doc) {missing[:5]}")  # fmt: skip
    return replace(
        ds,
        queries={q: ds.queries[q] for q in qrels},
        qrels={q: dict(docs) for q, docs in qrels.items()},
    )


def export_cross_encoder(
    records: LoggedRecords,
    qrels: Mapping[str, Mapping[str, int]],
    ds: BeirDataset,
    path: str | Path,
    *,
    positive_grade: int,
    key: str = "query_id",
) -> tuple[int, int]:
    """Write ``{"query", "positives", "negatives"}`` JSONL rows (the format ``ragrerank
    train cross-encoder --data FILE`` reads): positives are the labels >= ``positive_grade``,
    negatives the labels 0; documents by their text in ``ds``.

    Query text: ``ds``'s query of that ``query_id``, else the text a logged impression
    stored. Queries without a positive are not written.

    Returns:
        (rows written, queries without a positive).

    Raises:
        ValueError: no query text for a query (naming an impression), or a labelled
            document not in the corpus.
    """
    int_at_least(positive_grade, "positive_grade", 1)
    texts: dict[str, str] = {}
    first: dict[str, str] = {}
    for impression, _ in records:
        q = impression.query_id if key == "query_id" else impression.query_key
        if q is None or q not in qrels:
            continue
        first.setdefault(q, impression.impression_id)
        qid = impression.query_id
        if q not in texts and qid is not None and qid in ds.queries:
            texts[q] = ds.queries[qid]
        if q not in texts and impression.query:
            texts[q] = impression.query
    written = skipped = 0
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for q, labels in qrels.items():
            positives = [d for d, g in labels.items() if g >= positive_grade]
            if not positives:
                skipped += 1
                continue
            if q not in texts:
                raise ValueError(f"impression {first.get(q)!r} (query {q!r}): no query text: "
                                 "the log does not store queries and --data lacks it")  # fmt: skip
            lost = [d for d in labels if d not in ds.corpus]
            if lost:
                raise ValueError(f"query {q!r}: doc ids {lost[:5]} are not in the corpus")
            negatives = [d for d, g in labels.items() if g == 0]
            row = {"query": texts[q], "positives": [ds.text(d) for d in positives],
                   "negatives": [ds.text(d) for d in negatives]}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    return written, skipped


def read_log(log: str) -> list[tuple[Impression, list[FeedbackEvent]]]:
    """Every record of the feedback log at ``log`` (a SQLite path or an SQLAlchemy URL),
    read through ``ragrerank.feedback.log.FeedbackLog`` (imported when called)."""
    module: Any = importlib.import_module("ragrerank.feedback.log")
    store = module.FeedbackLog(log)
    try:
        return [(imp, list(events)) for imp, events in store.records()]
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def add_parser(sub: Any) -> None:
    """The ``from-feedback`` subcommand of ``ragrerank train``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "from-feedback", help="train on click labels from a feedback log (position-debiased)"
    )
    p.add_argument("--log", required=True, help="feedback log: SQLite path or SQLAlchemy URL")
    p.add_argument("--model", required=True, choices=["learned", "cross-encoder"])
    p.add_argument("--data", required=True, help="BEIR folder: the logged queries and documents")
    p.add_argument("--split", default="train", help="its split holding the queries (default train)")
    curve = p.add_mutually_exclusive_group(required=True)
    curve.add_argument("--propensity", help="examination curve JSON (Propensity.save)")
    curve.add_argument("--estimate-propensity", action="store_true",
                       help="estimate it from the log's swap-randomized traffic")  # fmt: skip
    curve.add_argument("--naive", action="store_true", help="no correction: raw click rates")
    p.add_argument("--positions", type=int, default=10, help="curve length when estimating")
    p.add_argument("--key", default="query_id", choices=["query_id", "query_key"])
    p.add_argument("--kind", action="append", dest="event_kinds",
                   choices=["click", "dwell", "rating"],
                   help="event kinds that count as clicks (repeatable; default click)")  # fmt: skip
    p.add_argument("--objective", default="clicks", choices=["clicks", "graded"],
                   help="learned: 'clicks' (default) fits the IPS-weighted click likelihood on "
                   "every shown pair; 'graded' fits lambdarank on --grades labels")  # fmt: skip
    p.add_argument("--grades", type=int, default=4, help="top label grade (default 4)")
    p.add_argument("--min-exposure", type=float, default=1.0,
                   help="expected examinations a label needs (default 1.0)")  # fmt: skip
    p.add_argument("--members", help="learned: reranker config (TOML/JSON) of the members")
    p.add_argument("--out", help="learned: output ranker folder")
    p.add_argument("--first-stage", default="hybrid", choices=["bm25", "dense", "hybrid"])
    p.add_argument("--candidates", type=int, default=100, help="first-stage depth (default 100)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", help="evaluation cache folder (default: ~/.cache/ragrerank/eval)")
    p.add_argument("--dense-model", help="bi-encoder of the dense/hybrid first stage")
    p.add_argument("--export", help="cross-encoder: the training JSONL to write")
    p.add_argument("--positive-grade", type=int,
                   help="cross-encoder: least label of a positive (default: half the grades)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _propensity(args: argparse.Namespace, records: LoggedRecords, kinds: Any) -> Propensity | None:
    if args.naive:
        return None
    if args.estimate_propensity:
        return estimate_propensity(records, positions=args.positions, kinds=kinds)
    return Propensity.load(args.propensity)


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Run ``ragrerank train from-feedback``; returns the lines to print."""
    if args.model == "learned" and (args.members is None or args.out is None):
        raise ValueError("--model learned needs --members and --out")
    if args.model == "learned" and args.key != "query_id":
        raise ValueError("--model learned needs --key query_id (the data set's query ids)")
    if args.model == "cross-encoder" and args.export is None:
        raise ValueError("--model cross-encoder needs --export FILE.jsonl")
    kinds = tuple(dict.fromkeys(args.event_kinds or ["click"]))
    folder = Path(args.data)
    ds = load_beir(folder.name, args.split, path=folder)
    records = read_log(args.log)
    propensity = _propensity(args, records, kinds)
    estimates = click_estimates(records, propensity, key=args.key, kinds=kinds)
    qrels = feedback_qrels(estimates, grades=args.grades, min_exposure=args.min_exposure)
    settings = {
        "log": args.log, "key": args.key, "kinds": list(kinds), "grades": args.grades,
        "min_exposure": args.min_exposure, "impressions": len(records),
        "labelled_queries": len(qrels), "labelled_pairs": sum(map(len, qrels.values())),
        "propensity": None if propensity is None else propensity.to_dict(), "data": str(folder),
    }  # fmt: skip
    curve = "naive (no correction)" if propensity is None else f"propensity {propensity.method}"
    if args.model == "cross-encoder":
        grade = math.ceil(args.grades / 2) if args.positive_grade is None else args.positive_grade
        rows, skipped = export_cross_encoder(records, qrels, ds, args.export,
                                             positive_grade=grade, key=args.key)  # fmt: skip
        return (
            f"wrote {args.export}: {rows} queries ({skipped} without a label >= {grade} "
            f"left out; {curve})\nnext: ragrerank train cross-encoder --data "
            f"{shlex.quote(str(args.export))} --out MODEL_DIR"
        )
    from ..evaluation.config import load_rerankers
    from .ranker import train_ranker

    command = "ragrerank train " + shlex.join(argv)
    if args.objective == "clicks":  # every pair shown within the curve is a row
        qrels = {q: {d: int(e.clicks > 0) for d, e in docs.items() if e.exposure > 0}
                 for q, docs in estimates.items()}  # fmt: skip
        qrels = {q: docs for q, docs in qrels.items() if docs}
        settings.update(objective="clicks", labelled_pairs=sum(map(len, qrels.values())),
                        labelled_queries=len(qrels))  # fmt: skip
    ranker = train_ranker(
        feedback_dataset(ds, qrels),
        load_rerankers(args.members),
        out=args.out,
        split=args.split,
        first_stage=args.first_stage,
        candidates=args.candidates,
        query_ids=list(qrels),
        folds=args.folds,
        seed=args.seed,
        cache_dir=args.cache,
        show_progress=not args.no_progress,
        dense_model=args.dense_model,
        info={"command": command, "members": args.members, "feedback": settings},
        judged_only=True,
        clicks=estimates if args.objective == "clicks" else None,
    )
    log = json.loads((Path(args.out) / "train_log.json").read_text(encoding="utf-8"))
    cv = log["cv"]
    measure = (f"cv IPS log-loss {cv['mean_loss']:.4f}" if args.objective == "clicks"
               else f"cv nDCG@10 {cv['mean_ndcg@10']:.4f}")  # fmt: skip
    return (
        f"saved {Path(args.out)}: {ranker.name} on {log['rows']} labelled pairs of "
        f"{log['queries']} queries ({curve}, objective {args.objective}); {measure}"
    )
