"""``ragrerank train calibrator``: fit a `ragrerank.Calibrator` on a scorer's scores of
judged queries (first-stage candidates, labels from the qrels, unjudged = not relevant) and
measure it on another split: ECE before (sigmoid of the raw score, per-query min-max) and
after, with a reliability diagram.

Scores go through the evaluation's score cache (`ragrerank.evaluation.score_cache`), so
what ``ragrerank eval`` scored is reused here and the other way round.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..calibrator import (
    METHODS,
    CalibrationMethod,
    Calibrator,
    expected_calibration_error,
    reliability_bins,
)
from ..normalize import normalize_scores
from ..scorer import Scorer, fingerprint

__all__ = [
    "CalibrationResult",
    "JudgedScores",
    "add_parser",
    "calibration_measures",
    "fit_calibrator_on_pairs",
    "fit_calibrator_on_run",
    "judged_scores",
    "run_command",
]

BINS = 10
BEFORE = ("sigmoid", "minmax")  # what the raw scores would give without a calibrator


@dataclass(frozen=True)
class JudgedScores:
    """(score, label, query id) triples: a scorer's raw scores of judged candidates."""

    scores: list[float]
    labels: list[int]
    queries: list[str]

    @classmethod
    def from_run(
        cls, run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
    ) -> JudgedScores:
        """Every scored (query, document) of ``run``; label 1 where the qrels grade is > 0."""
        scores, labels, queries = [], [], []
        for q, docs in run.items():
            judged = qrels.get(q, {})
            for d, s in docs.items():
                scores.append(float(s))
                labels.append(1 if judged.get(d, 0) > 0 else 0)
                queries.append(q)
        return cls(scores, labels, queries)

    def minmax(self) -> list[float]:
        """The scores min-max normalized within each query."""
        by_query: dict[str, list[int]] = {}
        for i, q in enumerate(self.queries):
            by_query.setdefault(q, []).append(i)
        out = [0.0] * len(self.scores)
        for idx in by_query.values():
            for i, v in zip(
                idx, normalize_scores([self.scores[i] for i in idx], "minmax"), strict=True
            ):
                out[i] = v
        return out


def calibration_measures(
    calibrator: Calibrator, data: JudgedScores, bins: int = BINS
) -> dict[str, Any]:
    """ECE and reliability bins of ``data`` before (sigmoid, per-query min-max) and after."""
    probs = {
        "sigmoid": normalize_scores(data.scores, "sigmoid"),
        "minmax": data.minmax(),
        "calibrated": calibrator(data.scores),
    }
    return {
        "pairs": len(data.scores),
        "positives": sum(data.labels),
        "queries": len(set(data.queries)),
        "ece": {k: expected_calibration_error(p, data.labels, bins) for k, p in probs.items()},
        "bins": {k: reliability_bins(p, data.labels, bins) for k, p in probs.items()},
    }


@dataclass
class CalibrationResult:
    """A fitted calibrator and its measures on the fit data and, if given, an eval split."""

    calibrator: Calibrator
    fit: dict[str, Any]
    held_out: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"calibrator": self.calibrator.to_dict(), "fit": self.fit, "eval": self.held_out,
                **self.info}  # fmt: skip

    def markdown(self) -> str:
        """A short summary: ECE before and after, per split."""
        c = self.calibrator
        lines = [
            f"# Calibration: {c.method}, {c.n} judged pairs ({c.positives} relevant)",
            "",
            f"Scorer fingerprint: `{c.scorer}`. ECE: {BINS} equal-width bins, weighted by count "
            "(lower is better). Before: sigmoid of the raw score, or min-max within each query.",
            "",
            "| split | queries | pairs | relevant | ECE sigmoid | ECE min-max | ECE calibrated |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in (("fit", self.fit), ("eval", self.held_out)):
            if m is None:
                continue
            split = self.info.get(f"{name}_split", name)
            e = m["ece"]
            lines.append(
                f"| {split} ({name}) | {m['queries']} | {m['pairs']} | {m['positives']} | "
                f"{e['sigmoid']:.4f} | {e['minmax']:.4f} | {e['calibrated']:.4f} |"
            )
        lines += ["", "![reliability diagram](reliability.png)", ""]
        if "command" in self.info:
            lines += [f"Command: `{self.info['command']}`", ""]
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``calibrator.json``, ``calibration.json``, ``calibration.md`` and
        ``reliability.png`` (the eval split's diagram, else the fit data's)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "calibrator": self.calibrator.save(out / "calibrator.json"),
            "report": out / "calibration.json",
            "markdown": out / "calibration.md",
            "plot": out / "reliability.png",
        }
        paths["report"].write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        paths["markdown"].write_text(self.markdown(), encoding="utf-8")
        measured = self.held_out if self.held_out is not None else self.fit
        split = self.info.get("eval_split" if self.held_out is not None else "fit_split", "")
        plot_reliability(measured, paths["plot"], f"{self.calibrator.method}, {split}")
        return paths


def plot_reliability(measured: Mapping[str, Any], path: Path, title: str) -> None:
    """Reliability diagram (fraction relevant vs mean probability per bin, the diagonal)
    beside the bin counts, for each of sigmoid, min-max and calibrated."""
    from ..evaluation.report import pyplot

    plt = pyplot()
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    width = 0.8 / len(measured["bins"])
    for k, (name, table) in enumerate(measured["bins"].items()):
        full = [b for b in table if b["count"]]
        ece = measured["ece"][name]
        ax.plot([b["mean_prob"] for b in full], [b["frac_pos"] for b in full], marker="o",
                label=f"{name} (ECE {ece:.3f})")  # fmt: skip
        xs = [i + (k - (len(measured["bins"]) - 1) / 2) * width for i in range(len(table))]
        bars.bar(xs, [b["count"] for b in table], width, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability",
           ylabel="fraction relevant", title=f"Reliability ({title})")  # fmt: skip
    ax.legend(fontsize=8)
    table = next(iter(measured["bins"].values()))
    bars.set_xticks(range(len(table)), [f"{b['lo']:.1f}" for b in table])
    bars.set_yscale("log")
    bars.set(xlabel="bin (lower edge)", ylabel="pairs per bin (log)", title="Bin counts")
    bars.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def judged_scores(
    scorer: Scorer,
    dataset: Any,
    split: str,
    *,
    first_stage: str = "hybrid",
    candidates: int = 100,
    query_ids: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    dense_model: Any = None,
    show_progress: bool = True,
    name: str = "scorer",
) -> JudgedScores:
    """``scorer``'s raw scores of the top ``candidates`` first-stage documents of each judged
    query of ``split`` (or of ``query_ids``), from the evaluation's caches where they are."""
    from ..evaluation.first_stage import as_dataset, corpus_digest, default_cache, first_stage_run
    from ..evaluation.score_cache import ScoreCache, cached_run

    ds = as_dataset(dataset, split)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    runs = first_stage_run(ds, split, first_stage, candidates, cache, query_ids=query_ids,
                           dense_model=dense_model, show_progress=show_progress)  # fmt: skip
    store = ScoreCache.of(cache, ds, corpus_digest(ds), scorer)
    run, _ = cached_run(name, scorer, ds, runs, store, show_progress)
    return JudgedScores.from_run(run, ds.qrels)


def fit_calibrator_on_pairs(
    fit: JudgedScores,
    *,
    method: CalibrationMethod = "platt",
    scorer: str | None = None,
    held_out: JudgedScores | None = None,
) -> CalibrationResult:
    """Fit on ``fit``'s pairs (``scorer``: the fingerprint they came from) and measure on
    ``fit`` and ``held_out``."""
    calibrator = Calibrator.fit(fit.scores, fit.labels, method=method, scorer=scorer)
    measured = None if held_out is None else calibration_measures(calibrator, held_out)
    return CalibrationResult(calibrator, calibration_measures(calibrator, fit), measured)


def fit_calibrator_on_run(
    scorer: Scorer,
    dataset: Any,
    *,
    split: str = "train",
    eval_split: str | None = "test",
    method: CalibrationMethod = "platt",
    query_ids: Sequence[str] | None = None,
    **options: Any,
) -> CalibrationResult:
    """Fit a calibrator on ``scorer``'s scores of ``split`` (``query_ids``: held-out queries
    of the scorer's own training, see `ragrerank.evaluation.datasets.query_ids_from`) and
    measure it on ``eval_split``; ``options`` go to `judged_scores`.

    Raises:
        ValueError: as `Calibrator.fit` (e.g. no relevant document among the candidates).
    """
    started = time.perf_counter()
    fit = judged_scores(scorer, dataset, split, query_ids=query_ids, **options)
    measured = None if eval_split is None else judged_scores(scorer, dataset, eval_split, **options)
    result = fit_calibrator_on_pairs(
        fit, method=method, scorer=fingerprint(scorer), held_out=measured
    )
    result.info.update(fit_split=split, eval_split=eval_split,
                       wall_time_s=round(time.perf_counter() - started, 1))  # fmt: skip
    return result


def add_parser(sub: Any) -> None:
    """The ``calibrator`` subcommand of ``ragrerank train``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "calibrator", help="fit score calibration (P(relevant)) for a scorer on judged queries"
    )
    p.add_argument("--data", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument("--config", required=True, help="reranker config (TOML/JSON): the scorer")
    p.add_argument("--name", help="which [[reranker]] of --config (default: its only one)")
    p.add_argument("--split", default="train", help="qrels split to fit on (default: train)")
    p.add_argument("--first-stage", default="hybrid", choices=["bm25", "dense", "hybrid"])
    p.add_argument("--candidates", type=int, default=100, help="first-stage depth (default 100)")
    p.add_argument("--method", default="platt", choices=list(METHODS))
    p.add_argument("--queries-from", help="fit only on these query ids (a model folder: its "
                   "held-out queries; or a JSON/text file of ids)")  # fmt: skip
    p.add_argument("--eval-split", default="test", help="split to measure on ('none': skip)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cache", help="cache folder (default: ~/.cache/ragrerank/eval)")
    p.add_argument("--dense-model", help="sentence-transformers model for dense/hybrid")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Run ``ragrerank train calibrator``; returns the line to print."""
    from ..evaluation.config import load_rerankers
    from ..evaluation.datasets import query_ids_from
    from ..evaluation.report import machine_info

    query_ids = query_ids_from(args.queries_from) if args.queries_from else None
    rerankers = load_rerankers(args.config)
    if not rerankers:
        raise ValueError(f"{args.config}: no reranker to calibrate (a missing optional model?)")
    if args.name is None and len(rerankers) != 1:
        raise ValueError(f"--config has rerankers {sorted(rerankers)}: pick one with --name")
    name = args.name if args.name is not None else next(iter(rerankers))
    if name not in rerankers:
        raise ValueError(f"--name must be one of {sorted(rerankers)}, got {name!r}")
    eval_split = None if args.eval_split.lower() == "none" else args.eval_split
    result = fit_calibrator_on_run(
        rerankers[name],
        args.data,
        split=args.split,
        eval_split=eval_split,
        method=args.method,
        query_ids=query_ids,
        first_stage=args.first_stage,
        candidates=args.candidates,
        cache_dir=args.cache,
        dense_model=args.dense_model,
        show_progress=not args.no_progress,
        name=name,
    )
    result.info.update(command="ragrerank train " + shlex.join(argv), machine=machine_info())
    paths = result.write(args.out)
    m = result.held_out if result.held_out is not None else result.fit
    e = m["ece"]
    return (
        f"saved {paths['calibrator']} ({args.method} on {result.calibrator.n} pairs); "
        f"ECE on {eval_split or args.split}: sigmoid {e['sigmoid']:.4f}, min-max "
        f"{e['minmax']:.4f} -> calibrated {e['calibrated']:.4f}"
    )
