"""Command line: ``ragrerank eval ...`` and ``ragrerank train ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="ragrerank", description="ragrerank command line")
    parser.add_argument("--version", action="version", version=f"ragrerank {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser(
        "eval",
        help="evaluate the first stage and rerankers on a BEIR-layout data set",
        description="First stage (Qdrant) -> N candidates -> each reranker of --config; "
        "writes report.json, summary.md, PNG plots, per_query_taxonomy.csv and traces/ "
        "to --out.",
    )
    ev.add_argument(
        "--data", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/"
    )
    ev.add_argument("--split", default="test", help="qrels split (default: test)")
    ev.add_argument(
        "--first-stage",
        default="hybrid",
        choices=["bm25", "dense", "hybrid"],
        help="default: hybrid",
    )
    ev.add_argument("--candidates", type=int, default=100, help="first-stage depth N (default 100)")
    ev.add_argument(
        "--config",
        action="append",
        default=[],
        help="reranker config (TOML/JSON); repeatable (e.g. two configs to --compare); "
        "none: first stage only",
    )
    ev.add_argument("--out", required=True, help="output folder")
    ev.add_argument("--queries", type=int, help="only the first N judged queries (smoke runs)")
    ev.add_argument("--cache", help="cache folder (default: ~/.cache/ragrerank/eval)")
    ev.add_argument("--dense-model", help="sentence-transformers model for dense/hybrid")
    ev.add_argument(
        "--latency-queries",
        type=int,
        default=5,
        help="queries per point of the latency sweep (0: off)",
    )
    ev.add_argument(
        "--taxonomy-k",
        type=int,
        default=10,
        help="failure taxonomy: success = a relevant document in the top K (default 10)",
    )
    ev.add_argument(
        "--max-traces",
        type=int,
        default=100,
        help="score traces of failed queries written per reranker (default 100; 0: none)",
    )
    ev.add_argument(
        "--compare",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="compare two systems of the run query by query (per-query nDCG@10 W/L/T, mean "
        "difference, sign and randomization test p-values); repeatable",
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub.add_parser(
        "train", help="fine-tune rerankers (ragrerank.train)", add_help=False
    ).add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _rerankers(configs: list[str]) -> dict[str, Any]:
    """The rerankers of every ``--config``, in order; a name in two configs is an error."""
    from ..evaluation.config import load_rerankers

    found: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in configs:
        for name, reranker in load_rerankers(path).items():
            if name in found:
                raise ValueError(f"reranker name {name!r} is in both {origin[name]} and {path}: "
                                 "rename one")  # fmt: skip
            found[name], origin[name] = reranker, path
    return found


def _eval(args: argparse.Namespace) -> int:
    from ..evaluation.datasets import load_beir
    from ..evaluation.runner import evaluate

    data = Path(args.data)
    if args.candidates < 1:
        raise ValueError(f"--candidates must be >= 1, got {args.candidates}")
    if args.taxonomy_k < 1:
        raise ValueError(f"--taxonomy-k must be >= 1, got {args.taxonomy_k}")
    if args.max_traces < 0:
        raise ValueError(f"--max-traces must be >= 0, got {args.max_traces}")
    if args.queries is not None and args.queries < 1:
        raise ValueError(f"--queries must be >= 1, got {args.queries}")
    ds = load_beir(data.name, args.split, path=data)
    rerankers = _rerankers(args.config)
    query_ids = list(ds.queries)[: args.queries] if args.queries else None
    report = evaluate(
        ds,
        rerankers,
        split=args.split,
        first_stage=args.first_stage,
        candidates=args.candidates,
        query_ids=query_ids,
        cache_dir=args.cache,
        dense_model=args.dense_model,
        latency_queries=args.latency_queries,
        show_progress=not args.no_progress,
        taxonomy_k=args.taxonomy_k,
        max_traces=args.max_traces,
        compare=[(a, b) for a, b in args.compare],
    )
    paths = report.write(args.out)
    print(report.markdown())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _train(argv: list[str]) -> int:
    try:
        from ..train.cli import main as train_main  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise SystemExit(
            f"ragrerank train is not available ({exc}); it needs the ragrerank.train package "
            "and its extras"
        ) from None
    return int(train_main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ragrerank`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if argv and argv[0] == "train":
        return _train(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _eval(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"ragrerank eval: error: {exc}", file=sys.stderr)
        return 2
