"""``ragrerank train cross-encoder|colbert|distill|ranker|calibrator|from-feedback`` (also
``python -m ragrerank.train``)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["main"]

QUICK = {
    "max_queries": 100,
    "max_docs": 500,
    "val_queries": 20,
    "num_layers": 2,
    "max_length": 128,
    "epochs": 1,
    "max_steps": 20,
    "batch_size": 8,
    "negatives": 3,
    "mine_depth": 10,
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="BEIR folder or JSONL file(s) folder")
    p.add_argument("--split", default="train", help="qrels split to train on (default: train)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--base", help="encoder checkpoint (default: all-MiniLM-L6-v2)")
    p.add_argument("--num-layers", type=int, help="keep only the first k layers of --base")
    p.add_argument(
        "--mine",
        default="bm25",
        choices=["bm25", "dense", "hybrid", "none"],
        help="first stage for hard negatives (default: bm25; none: given negatives only)",
    )
    p.add_argument("--mine-depth", type=int, default=30, help="mined candidates per query")
    p.add_argument("--val-queries", type=int, default=50, help="held-out training queries")
    p.add_argument(
        "--cross-fit",
        metavar="K/N",
        help="hold out fold K of N of the judged queries entirely (train one model per fold; "
        "see `ragrerank train ranker --cross-fit`)",
    )
    p.add_argument("--max-queries", type=int, help="use only the first N judged queries")
    p.add_argument("--max-docs", type=int, help="use only N corpus documents (positives kept)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16, help="queries per step")
    p.add_argument("--negatives", type=int, default=7, help="negatives per query per step")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.1, help="warmup fraction of steps")
    p.add_argument("--max-length", type=int, default=256, help="tokens per pair / document")
    p.add_argument("--eval-every", type=int, default=0, help="also validate every N steps")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--time-budget-min", type=float, help="stop after this many minutes")
    p.add_argument("--seed", type=int, default=0)
    precision = p.add_mutually_exclusive_group()
    precision.add_argument(
        "--bf16",
        dest="bf16",
        action="store_const",
        const=True,
        help="bf16 autocast even where it is emulated (default: where native)",
    )
    precision.add_argument(
        "--no-bf16", dest="bf16", action="store_const", const=False, help="fp32 throughout"
    )
    p.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer step")
    p.add_argument(
        "--title-queries",
        default="0",
        help="add N pseudo-queries from corpus titles (positive: the body), or 'all' (default 0)",
    )
    p.add_argument(
        "--title-only",
        action="store_true",
        help="train on the title pseudo-queries only; the judged queries serve validation only "
        "(a base model that never saw a judgement, e.g. for cross-fitting)",
    )
    p.add_argument(
        "--report-to",
        action="append",
        choices=["mlflow", "tensorboard"],
        default=[],
        help="experiment tracker (repeatable): MLflow to MLFLOW_TRACKING_URI (default: the file "
        "store ./mlruns), TensorBoard to <out>/runs",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints")
    p.add_argument("--cache", help="cache folder (default: ~/.cache/ragrerank/train)")
    p.add_argument("--dense-model", help="bi-encoder for dense/hybrid mining")
    p.add_argument(
        "--quick",
        action="store_true",
        help="CI mode: a subset of the data, a 2-layer model, 20 steps (a few minutes)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragrerank train", description="fine-tune rerankers on your data"
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    ce = sub.add_parser("cross-encoder", help="fine-tune a cross-encoder")
    _common(ce)
    ce.add_argument(
        "--loss",
        default="listwise",
        choices=["listwise", "lambda", "pairwise", "bce", "mnrl", "cached-mnrl"],
        help="default: listwise (see docs/training.md)",
    )
    cb = sub.add_parser("colbert", help="fine-tune a ColBERT (late-interaction) model")
    _common(cb)
    cb.add_argument("--dim", type=int, default=128, help="projection size (default 128)")
    cb.add_argument("--query-length", type=int, default=32)
    cb.add_argument(
        "--temperature", type=float, default=1.0, help="contrastive temperature (loss scale 1/T)"
    )
    ds = sub.add_parser("distill", help="distil a teacher scorer into a fast student")
    _common(ds)
    ds.add_argument(
        "--teacher",
        required=True,
        help="teacher: a cross-encoder folder / hub name, or a reranker config file (TOML/JSON)",
    )
    ds.add_argument("--teacher-name", help="which reranker of a --teacher config file")
    ds.add_argument(
        "--student",
        default="cross-encoder",
        choices=["cross-encoder", "colbert"],
        help="student kind (default: cross-encoder)",
    )
    ds.add_argument(
        "--teacher-negatives",
        type=int,
        default=15,
        help="mined negatives per query scored by the teacher (once, cached)",
    )
    ds.add_argument("--dim", type=int, default=128, help="ColBERT student projection size")
    ds.add_argument("--query-length", type=int, default=32, help="ColBERT student query length")
    ds.set_defaults(num_layers=3)
    from .calibration import add_parser as add_calibrator

    add_calibrator(sub)
    from .ranker_cli import add_parser as add_ranker

    add_ranker(sub)
    from .feedback import add_parser as add_from_feedback

    add_from_feedback(sub)
    return parser


def _apply_quick(args: argparse.Namespace, argv: Sequence[str]) -> None:
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in QUICK.items():
        if key not in given:
            setattr(args, key, value)


def _config(args: argparse.Namespace, loss: str) -> Any:
    from .config import TrainConfig

    return TrainConfig(
        loss=loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        negatives=args.negatives,
        lr=args.lr,
        warmup=args.warmup,
        max_length=args.max_length,
        bf16=args.bf16,
        eval_every=args.eval_every,
        max_steps=args.max_steps,
        time_budget_min=args.time_budget_min,
        seed=args.seed,
        show_progress=not args.no_progress,
        gradient_accumulation=args.grad_accum,
        report_to=tuple(dict.fromkeys(args.report_to)),
        resume=args.resume,
    )


def _title_queries(value: str) -> int | None:
    """``--title-queries``: 0 (none), N, or ``all`` (None)."""
    if value.strip().lower() == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--title-queries must be an integer or 'all', got {value!r}") from None
    if n < 0:
        raise ValueError(f"--title-queries must be >= 0, got {n}")
    return n


def _data(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from .data import TITLE_PREFIX, add_title_queries, load_training_data
    from .mining import mine_negatives

    titles = _title_queries(args.title_queries)
    data = load_training_data(
        args.data, args.split, max_queries=args.max_queries, max_docs=args.max_docs
    )
    cross_fit: dict[str, Any] | None = None
    if args.cross_fit:
        fold, folds = _fold(args.cross_fit)
        data, held_out = data.hold_out_fold(fold, folds)
        cross_fit = {"fold": fold, "folds": folds, "held_out_query_ids": held_out}
    train, val = data.split(args.val_queries, seed=args.seed)
    if titles != 0:  # validation queries' positives stay unseen
        held = [d for ex in (val.examples if val is not None else ()) for d in ex.positives]
        train = add_title_queries(train, titles, exclude=held, seed=args.seed)
    if args.title_only:
        if titles == 0:
            raise ValueError("--title-only needs --title-queries N or all")
        only = [ex for ex in train.examples if ex.query_id.startswith(TITLE_PREFIX)]
        if not only:
            raise ValueError("--title-only: no title pseudo-queries (titles of >= 3 words)")
        train = train.with_examples(only)
    t0 = time.perf_counter()
    if args.mine != "none":
        mine = {
            "method": args.mine,
            "depth": args.mine_depth,
            "cache_dir": args.cache,
            "dense_model": args.dense_model,
            "show_progress": not args.no_progress,
        }
        train = mine_negatives(train, **mine)
        val = mine_negatives(val, **mine) if val is not None else None
    info = {
        "data": str(args.data),
        "split": args.split,
        "mining": {"method": args.mine, "depth": args.mine_depth},
        "mining_s": round(time.perf_counter() - t0, 1),
        "title_queries": args.title_queries,
        "title_only": args.title_only,
    }
    if cross_fit is not None:
        info["cross_fit"] = cross_fit
    return train, val, info


def _fold(value: str) -> tuple[int, int]:
    """``--cross-fit K/N`` as (K, N)."""
    try:
        fold, folds = (int(x) for x in value.split("/"))
    except ValueError:
        raise ValueError(f"--cross-fit must be K/N (e.g. 0/2), got {value!r}") from None
    return fold, folds


def _run(args: argparse.Namespace, argv: Sequence[str]) -> Any:
    if args.quick:
        _apply_quick(args, argv)
    from .distributed import process_state
    from .tracking import check_trackers

    check_trackers(args.report_to)  # before minutes of mining
    # Under torchrun / accelerate launch: the first process mines (and fills the caches),
    # then the others read them.
    with process_state().main_process_first():
        train, val, info = _data(args)
    info["command"] = "ragrerank train " + shlex.join(argv)
    if args.kind == "cross-encoder":
        from .cross_encoder import train_cross_encoder

        return train_cross_encoder(
            train,
            args.out,
            base_model=args.base,
            val=val,
            config=_config(args, args.loss),
            num_layers=args.num_layers,
            info=info,
        )
    if args.kind == "colbert":
        from .colbert import train_colbert

        return train_colbert(
            train,
            args.out,
            base_model=args.base,
            val=val,
            config=_config(args, "listwise"),
            dim=args.dim,
            query_length=args.query_length,
            num_layers=args.num_layers,
            temperature=args.temperature,
            info=info,
        )
    from .distill import distill

    return distill(
        _teacher(args.teacher, args.teacher_name),
        train,
        args.out,
        student=args.student,
        base_model=args.base,
        num_layers=args.num_layers,
        val=val,
        config=_config(args, "margin_mse"),
        teacher_negatives=args.teacher_negatives,
        cache_dir=args.cache,
        dim=args.dim,
        query_length=args.query_length,
        info=info,
    )


def _teacher(spec: str, name: str | None) -> Any:
    """A reranker config file (TOML/JSON: the reranker ``name``, or its only one) or a
    cross-encoder folder / hub name (``dtype="auto"``: bfloat16 where native)."""
    path = Path(spec)
    if path.suffix.lower() in (".toml", ".json") and path.is_file():
        from ..evaluation.config import load_rerankers

        rerankers = load_rerankers(path)
        if name is None and len(rerankers) == 1:
            return next(iter(rerankers.values()))
        if name not in rerankers:
            raise ValueError(f"--teacher-name must be one of {sorted(rerankers)}, got {name!r}")
        return rerankers[name]
    from ..scorers.cross_encoder import CrossEncoderScorer

    return CrossEncoderScorer(spec, dtype="auto")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = _parser().parse_args(argv)
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun / accelerate launch set it
    logging.basicConfig(
        level=logging.INFO if main_process else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.kind == "calibrator":
            from .calibration import run_command

            print(run_command(args, argv))
            return 0
        if args.kind == "ranker":
            from .ranker_cli import run_command as run_ranker

            return run_ranker(args, argv)
        if args.kind == "from-feedback":
            from .feedback import run_command as from_feedback

            print(from_feedback(args, argv))
            return 0
        result = _run(args, argv)
    except (ValueError, FileNotFoundError, MissingDependencyError) as exc:
        print(f"ragrerank train: error: {exc}", file=sys.stderr)
        return 2
    if not main_process:
        return 0
    best = "-" if result.best_ndcg10 is None else f"{result.best_ndcg10:.4f}"
    print(
        f"saved {Path(args.out)} after {result.steps} steps in {result.wall_time_s / 60:.1f} min "
        f"(stopped by {result.stopped_by}); best val nDCG@10 {best} at step {result.best_step}"
    )
    return 0
