"""``ragrerank train ranker``: the command line of `train_ranker` (members from a reranker
config, cross-fitted fold models of a member)."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run_command"]


def add_parser(sub: Any) -> None:
    """The ``ranker`` subcommand's parser, on ``sub`` (an argparse subparsers action)."""
    p = sub.add_parser("ranker", help="fit a LightGBM learned ranker over members")
    p.add_argument("--data", required=True, help="BEIR folder")
    p.add_argument("--members", required=True, help="reranker config (TOML/JSON): the members")
    p.add_argument("--split", default="train", help="qrels split to train on (default: train)")
    p.add_argument("--first-stage", default="hybrid", choices=["bm25", "dense", "hybrid"])
    p.add_argument("--candidates", type=int, default=100, help="first-stage depth (default 100)")
    p.add_argument(
        "--queries-from",
        help="train on these queries only: a trained model folder (its held-out queries) or "
        "a JSON/text file of ids",
    )
    p.add_argument(
        "--cross-fit",
        action="append",
        default=[],
        metavar="NAME=FOLDER[,FOLDER...]",
        help="member NAME's training features from these fold models (trained with --cross-fit "
        "K/N; each query's from one that never saw it); repeatable",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metadata-field", action="append", default=[], help="numeric metadata feature")
    p.add_argument(
        "--exclude-group",
        action="append",
        default=[],
        choices=["members", "first_stage", "text", "truncation", "metadata"],
        help="leave a feature group out (repeatable; for ablations)",
    )
    p.add_argument("--cache", help="evaluation cache folder (default: ~/.cache/ragrerank/eval)")
    p.add_argument("--dense-model", help="bi-encoder of the dense/hybrid first stage")
    p.add_argument("--out", required=True, help="output ranker folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run ``ragrerank train ranker``; the exit status."""
    from ..composers.features import GROUPS
    from ..evaluation.config import load_rerankers
    from ..evaluation.datasets import query_ids_from
    from .ranker import train_ranker

    ranker = train_ranker(
        args.data,
        load_rerankers(args.members),
        out=args.out,
        split=args.split,
        first_stage=args.first_stage,
        candidates=args.candidates,
        query_ids=query_ids_from(args.queries_from) if args.queries_from else None,
        metadata_fields=args.metadata_field,
        groups=[g for g in GROUPS if g not in args.exclude_group],
        folds=args.folds,
        seed=args.seed,
        cache_dir=args.cache,
        show_progress=not args.no_progress,
        dense_model=args.dense_model,
        info={"command": "ragrerank train " + shlex.join(argv), "members": args.members},
        cross_fit=_cross_fit_members(args.members, args.cross_fit),
    )
    log = json.loads((Path(args.out) / "train_log.json").read_text(encoding="utf-8"))
    print(
        f"saved {Path(args.out)}: {ranker.name}; cv nDCG@10 {log['cv']['mean_ndcg@10']:.4f} "
        f"over {log['queries'] - log['dropped_queries']} queries "
        f"({log['dropped_queries']} without a relevant candidate dropped)"
    )
    return 0


def _cross_fit_members(members: str, values: Sequence[str]) -> dict[str, Any]:
    """``--cross-fit NAME=FOLDER,...``: per member name, its `FoldMember` models (the
    member's config entry with each folder as the model)."""
    from dataclasses import replace

    from ..evaluation.config import build_scorer, load_config
    from .ranker import FoldMember

    specs = {spec.name: spec for spec in load_config(members)}
    out: dict[str, Any] = {}
    for value in values:
        name, sep, folders = value.partition("=")
        paths = [f for f in folders.split(",") if f.strip()]
        if not sep or not name or not paths:
            raise ValueError(f"--cross-fit must be NAME=FOLDER[,FOLDER...], got {value!r}")
        if name not in specs:
            raise ValueError(f"--cross-fit {name!r}: no such member in {members}: {sorted(specs)}")
        if name in out:
            raise ValueError(f"--cross-fit {name!r} given twice")
        if specs[name].model is None:
            raise ValueError(f"--cross-fit {name!r}: a {specs[name].backend} member has no model")
        out[name] = [
            FoldMember.from_folder(build_scorer(replace(specs[name], model=str(Path(f)))), f)
            for f in paths
        ]
    return out
