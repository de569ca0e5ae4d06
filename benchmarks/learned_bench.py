"""The learned final ranker (LightGBM lambdarank) and calibrated scores on SciFact test.

Run: ``python -m benchmarks.learned_bench`` (writes benchmarks/results/learned.{md,json,png}).
``--train-missing`` first trains the member models that are not in ``models/`` with their
documented commands (docs/training.md; about 80 minutes on 2 CPU cores), so one command
reproduces everything from a fresh clone.

Members (benchmarks/configs/learned_members.toml): the project's CE and ColBERT, BM25 and
dense (all-MiniLM-L6-v2) cosine, over the hybrid top 100. The CE and ColBERT trained on 759
of the 809 train queries; the 50 they held out (their ``train_log.json``) are what the
ranker and the calibrators are fitted on (protocol "held-out"). Two more protocols show the
alternatives: all 809 train queries with every member (the members' scores there are
over-confident: they trained on those queries), and all 809 with only the untrained members
(BM25, dense). Nothing is fitted or chosen on test; test is scored once per system.
"""

from __future__ import annotations

import argparse
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    fmt,
    machine,
    machine_line,
    portable_command,
    portable_path,
    pyplot,
    save_figure,
    write_results,
)
from benchmarks.learned_report import BASE, add_run_options, systems_barh

MEMBERS = ROOT / "benchmarks" / "configs" / "learned_members.toml"
HELD_OUT_FROM = "models/ce-minilm-scifact"
GROUPS = ("members", "first_stage", "text", "truncation")  # metadata: none in BEIR
UNTRAINED = ("BM25", "dense")
K = 10

# The documented commands (docs/training.md) of the trained members, run by --train-missing.
TRAIN_COMMANDS = {
    "models/ce-minilm-scifact": (
        "ragrerank train cross-encoder --data {data} --split train --out models/ce-minilm-scifact"
        " --loss listwise --title-queries all --mine hybrid --mine-depth 100 --val-queries 50"
        " --epochs 1 --batch-size 16 --negatives 7 --lr 1e-4 --warmup 0.1 --max-length 192"
        " --eval-every 100 --time-budget-min 80 --seed 0"
    ),
    "models/colbert-minilm-scifact": (
        "ragrerank train colbert --data {data} --split train --out models/colbert-minilm-scifact"
        " --title-queries all --mine hybrid --mine-depth 30 --val-queries 50 --dim 128"
        " --query-length 32 --time-budget-min 20 --seed 0"
    ),
}


def train_missing(data: Path, commands: Mapping[str, str] = TRAIN_COMMANDS) -> dict[str, float]:
    """Run each of ``commands`` (folder -> documented command, in order) whose folder is
    missing; wall seconds per trained folder."""
    walls: dict[str, float] = {}
    for folder, command in commands.items():
        if (ROOT / folder).is_dir():
            continue
        argv = shlex.split(command.format(data=data))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ragrerank", *argv[1:]], cwd=ROOT, check=True)
        walls[folder] = time.perf_counter() - t0
    return walls


def subset(table: Any, qids: Sequence[str]) -> Any:
    """The rows of ``table`` whose query is in ``qids`` (query groups kept)."""
    keep = set(qids)
    mask = [q in keep for q in table.query_ids]
    groups, prev = [], None
    for q, m in zip(table.query_ids, mask, strict=True):
        if not m:
            continue
        if q != prev:
            groups.append(0)
            prev = q
        groups[-1] += 1
    return replace(
        table,
        query_ids=[q for q, m in zip(table.query_ids, mask, strict=True) if m],
        doc_ids=[d for d, m in zip(table.doc_ids, mask, strict=True) if m],
        features=table.features[mask],
        labels=[y for y, m in zip(table.labels, mask, strict=True) if m],
        groups=groups,
    )


def as_run(table: Any, scores: Sequence[float]) -> dict[str, dict[str, float]]:
    """``{qid: {doc: score}}`` of per-row scores."""
    run: dict[str, dict[str, float]] = {}
    for q, d, s in zip(table.query_ids, table.doc_ids, scores, strict=True):
        run.setdefault(q, {})[d] = float(s)
    return run


def column(table: Any, name: str) -> list[float]:
    return [float(x) for x in table.features[:, table.names.index(name)]]


def rrf(table: Any, columns: Sequence[str], first_stage: bool = True) -> list[float]:
    """Untuned RRF (k=60, equal weights) of the named score columns and the input order."""
    from ragrerank.composers.rrf import ranks, reciprocal_rank_fusion

    out: list[float] = []
    start = 0
    for size in table.groups:
        rows = range(start, start + size)
        rankings = [
            ranks([float(table.features[r, table.names.index(c)]) for r in rows]) for c in columns
        ]
        if first_stage:
            rankings.append(list(range(1, size + 1)))
        out += reciprocal_rank_fusion(rankings, [1.0] * len(rankings), 60.0)
        start += size
    return out


class Scorebook:
    """nDCG@10 (and R@10) of per-row scores on the test table, per query too."""

    def __init__(self, ds: Any, table: Any, candidates: Mapping[str, list[Any]]) -> None:
        self.ds, self.table = ds, table
        self.qids = list(candidates)
        self.qrels = {q: dict(ds.qrels[q]) for q in self.qids}
        self.candidates_run = {
            q: {str(c.id): -float(i) for i, c in enumerate(candidates[q])} for q in self.qids
        }
        self.systems: dict[str, dict[str, Any]] = {}
        self.per_query: dict[str, dict[str, float]] = {}

    def add(self, name: str, scores: Sequence[float], **info: Any) -> float:
        from ragrerank.evaluation.metrics import per_query
        from ragrerank.evaluation.taxonomy import failure_taxonomy, summarize

        run = as_run(self.table, scores)
        measured = per_query(self.qrels, run)
        ndcg = {q: measured["nDCG@10"].get(q, 0.0) for q in self.qids}
        self.per_query[name] = ndcg
        outcomes = failure_taxonomy(self.qrels, self.candidates_run, run, K)
        value = math.fsum(ndcg.values()) / len(self.qids)
        self.systems[name] = {
            "ndcg@10": value,
            "recall@10": math.fsum(measured["R@10"].get(q, 0.0) for q in self.qids)
            / len(self.qids),
            "taxonomy": summarize(outcomes, self.qids),
            **info,
        }
        return value

    def versus(self, name: str, base: str) -> dict[str, int]:
        a, b = self.per_query[name], self.per_query[base]
        return {
            "up": sum(a[q] > b[q] + 1e-12 for q in self.qids),
            "down": sum(a[q] < b[q] - 1e-12 for q in self.qids),
        }


def fit_and_score(
    book: Scorebook,
    name: str,
    train: Any,
    test: Any,
    seed: int,
    folds: int,
    params: Mapping[str, Any] | None = None,
    **info: Any,
) -> tuple[Any, list[float]]:
    import lightgbm

    from ragrerank.train.ranker_fit import fit_ranker

    t0 = time.perf_counter()
    fit = fit_ranker(train, folds=folds, seed=seed, params=params, show_progress=False)
    fit_s = time.perf_counter() - t0
    booster = lightgbm.Booster(model_str=fit.model)
    pred = [float(x) for x in booster.predict(test.features)]
    book.add(
        name,
        pred,
        train_queries=len(set(train.query_ids)) - len(fit.dropped_queries),
        dropped_queries=len(fit.dropped_queries),
        cv_ndcg10=fit.mean_ndcg10,
        rounds=fit.final_rounds,
        fit_s=fit_s,
        features=len(test.names),
        **info,
    )
    return fit, pred


GRID = [
    {"num_leaves": leaves, "learning_rate": rate, "min_data_in_leaf": least}
    for leaves in (7, 15, 31)
    for rate in (0.05, 0.1)
    for least in (20, 50)
]


def select_by_cv(table: Any, seed: int, folds: int) -> dict[str, Any]:
    """Feature groups by greedy backward elimination, then LightGBM parameters from `GRID`,
    each step by the cross-validated nDCG@10 on the training queries only (never test)."""
    from ragrerank.train.ranker_fit import fit_ranker

    def cv(drop: Sequence[str], params: Mapping[str, Any] | None = None) -> float:
        tab = table.drop_groups(*drop) if drop else table
        return float(
            fit_ranker(tab, folds=folds, seed=seed, params=params, show_progress=False).mean_ndcg10
        )

    drop: list[str] = []
    best = cv(drop)
    steps: list[dict[str, Any]] = [{"drop": [], "cv_ndcg10": best}]
    while len(drop) < len(GROUPS) - 1:
        trials = {g: cv([*drop, g]) for g in GROUPS if g not in drop}
        group, value = max(trials.items(), key=lambda kv: kv[1])
        steps.append({"tried": trials})
        if value <= best + 1e-4:
            break
        drop.append(group)
        best = value
        steps.append({"drop": list(drop), "cv_ndcg10": best})
    chosen: dict[str, Any] | None = None
    for params in GRID:
        value = cv(drop, params)
        steps.append({"params": params, "cv_ndcg10": value})
        if value > best + 1e-4:
            best, chosen = value, params
    return {"drop": drop, "params": chosen, "cv_ndcg10": best, "steps": steps}


def top_rows(table: Any, scores: Sequence[float], k: int = K) -> list[bool]:
    """Per row: is it in its query's top ``k`` by ``scores``?"""
    from ragrerank.scorer import score_order

    keep = [False] * len(scores)
    start = 0
    for size in table.groups:
        for i in score_order(list(scores[start : start + size]))[:k]:
            keep[start + i] = True
        start += size
    return keep


def judged(table: Any, scores: Sequence[float], rows: Sequence[bool] | None = None) -> Any:
    """`JudgedScores` of per-row ``scores`` of ``table`` (only ``rows``, when given)."""
    from ragrerank.train.calibration import JudgedScores

    keep = [True] * len(scores) if rows is None else rows
    picked = [i for i, k in enumerate(keep) if k]
    return JudgedScores(
        [float(scores[i]) for i in picked],
        [1 if table.labels[i] > 0 else 0 for i in picked],
        [table.query_ids[i] for i in picked],
    )


def calibration_row(fit: Any, test: Any, test_top: Any, fitted_on: str) -> dict[str, Any]:
    """Platt and isotonic fitted on ``fit``, measured (`calibration_measures`) on all test
    pairs and on each query's own top 10 (``test_top``); "before" is the raw score's sigmoid."""
    from ragrerank.calibrator import Calibrator
    from ragrerank.train.calibration import calibration_measures

    row: dict[str, Any] = {
        "fitted_on": fitted_on,
        "fit_pairs": len(fit.scores),
        "fit_positives": sum(fit.labels),
        "test_pairs": len(test.scores),
        "test_positives": sum(test.labels),
    }
    for method in ("platt", "isotonic"):
        cal = Calibrator.fit(fit.scores, fit.labels, method=method)
        everything = calibration_measures(cal, test)
        top = calibration_measures(cal, test_top)
        row["ece_before_sigmoid"] = everything["ece"]["sigmoid"]
        row["ece_top10_before_sigmoid"] = top["ece"]["sigmoid"]
        row["bins_before"] = everything["bins"]["sigmoid"]
        row[method] = {
            "ece": everything["ece"]["calibrated"],
            "ece_top10": top["ece"]["calibrated"],
            "bins": everything["bins"]["calibrated"],
            "params": cal.to_dict().get("params"),
        }
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.composers.learned import LearnedRanker
    from ragrerank.evaluation.config import load_config, load_rerankers
    from ragrerank.evaluation.datasets import data_dir, load_beir, query_ids_from
    from ragrerank.evaluation.first_stage import default_cache, first_stage_run
    from ragrerank.scorer import score_output
    from ragrerank.train.ranker import ranking_table

    started = time.perf_counter()
    data = Path(args.data) if args.data else data_dir("scifact")
    trained = train_missing(data) if args.train_missing else {}
    cache = default_cache()
    members = load_rerankers(args.members)
    names = list(members)
    scorers = list(members.values())
    held = query_ids_from(ROOT / HELD_OUT_FROM)
    other = ROOT / "models" / "colbert-minilm-scifact"
    if (other / "train_log.json").is_file() and set(query_ids_from(other)) != set(held):
        raise SystemExit("the CE and ColBERT hold out different queries: retrain one")
    ds_train = load_beir("scifact", "train", path=data)
    ds_test = load_beir("scifact", "test", path=data)
    show = not args.no_progress
    t0 = time.perf_counter()
    runs_train = first_stage_run(ds_train, "train", "hybrid", 100, cache, show_progress=show)
    runs_test = first_stage_run(ds_test, "test", "hybrid", 100, cache, show_progress=show)
    spec = FeatureSpec.of(scorers, names=names)
    train_all = ranking_table(
        ds_train, scorers, runs_train, spec, cache_dir=cache, show_progress=show
    )
    test = ranking_table(ds_test, scorers, runs_test, spec, cache_dir=cache, show_progress=show)
    cheap = [i for i, n in enumerate(names) if n in UNTRAINED]
    cheap_spec = FeatureSpec.of([scorers[i] for i in cheap], names=[names[i] for i in cheap])
    cheap_train = ranking_table(
        ds_train,
        [scorers[i] for i in cheap],
        runs_train,
        cheap_spec,
        cache_dir=cache,
        show_progress=show,
    )
    cheap_test = ranking_table(
        ds_test,
        [scorers[i] for i in cheap],
        runs_test,
        cheap_spec,
        cache_dir=cache,
        show_progress=show,
    )
    tables_s = time.perf_counter() - t0
    train_held = subset(train_all, held)

    book = Scorebook(ds_test, test, runs_test)
    n = len(test.query_ids)
    # The retriever's own scores, ties broken as `ragrerank eval` breaks them (ir_measures).
    book.add(BASE, column(test, "first_stage:score"))
    for i, name in enumerate(names):
        book.add(f"{name} alone", column(test, f"m{i}:{name}:score"))
    trained_cols = [f"m{i}:{n_}:score" for i, n_ in enumerate(names) if n_ not in UNTRAINED]
    book.add("RRF: CE + ColBERT + hybrid", rrf(test, trained_cols))
    book.add(
        "RRF: all members + hybrid", rrf(test, [f"m{i}:{n_}:score" for i, n_ in enumerate(names)])
    )
    assert len(test.labels) == n

    seed, folds = args.seed, args.folds
    protocols = {
        "held-out": ("learned, held-out 50 queries", train_held, test),
        "all": ("learned, all 809 train queries (members saw 759)", train_all, test),
        "untrained": ("learned, 809 queries, BM25 + dense only", cheap_train, cheap_test),
    }
    fits: dict[str, Any] = {}
    preds: dict[str, list[float]] = {}
    for key, (label, tr, te) in protocols.items():
        fits[key], preds[key] = fit_and_score(book, label, tr, te, seed, folds, protocol=key)
    ablations: dict[str, dict[str, float]] = {}
    for key in ("held-out", "all"):
        label, tr, te = protocols[key]
        ablations[key] = {"all features": book.systems[label]["ndcg@10"]}
        for group in GROUPS:
            name = f"{label} - {group}"
            fit_and_score(
                book,
                name,
                tr.drop_groups(group),
                te.drop_groups(group),
                seed,
                folds,
                protocol=key,
                ablation=group,
            )
            ablations[key][f"without {group}"] = book.systems[name]["ndcg@10"]
        only = [g for g in GROUPS if g != "members"]
        name = f"{label} - members only"
        fit_and_score(
            book,
            name,
            tr.drop_groups(*only),
            te.drop_groups(*only),
            seed,
            folds,
            protocol=key,
            ablation="members only",
        )
        ablations[key]["members only"] = book.systems[name]["ndcg@10"]

    # Feature groups and parameters chosen by cross-validation on the training queries only.
    selected: dict[str, Any] = {}
    for key in ("held-out", "all"):
        label, tr, te = protocols[key]
        pick = select_by_cv(tr, seed, folds)
        selected[key] = pick
        drop = pick["drop"]
        fits[f"{key}, selected"], preds[f"{key}, selected"] = fit_and_score(
            book,
            f"{label}, groups and parameters chosen by train CV",
            tr.drop_groups(*drop) if drop else tr,
            te.drop_groups(*drop) if drop else te,
            seed,
            folds,
            pick["params"],
            protocol=key,
            selected={"drop": drop, "params": pick["params"]},
        )

    # The held-out ranker as a scorer: saved, loaded over the same members, scored live.
    ranker = LearnedRanker(scorers, fits["held-out"].model, spec)
    folder = ROOT / "models" / "learned-scifact"
    ranker.save(folder)
    loaded = LearnedRanker.load(folder, scorers)
    parity = 0.0
    start = 0
    live_qids = list(runs_test)[: args.live_queries]
    for q, size in zip(list(runs_test), test.groups, strict=False):
        if q in live_qids:
            live = score_output(loaded, ds_test.queries[q], runs_test[q]).scores
            table = preds["held-out"][start : start + size]
            parity = max(parity, max(abs(a - b) for a, b in zip(live, table, strict=True)))
        start += size

    ce_scores = column(test, f"m{names.index('CE')}:CE:score")
    calibrated = {  # name: (fit pairs, test scores, what they were fitted on)
        "CE": (
            judged(train_held, column(train_held, f"m{names.index('CE')}:CE:score")),
            ce_scores,
            "CE raw scores on the 50 held-out train queries",
        ),
        "learned (held-out)": (
            judged(train_held, fits["held-out"].oof),
            preds["held-out"],
            "out-of-fold predictions on the 50 held-out train queries",
        ),
        "learned (all)": (
            judged(train_all, fits["all"].oof),
            preds["all"],
            "out-of-fold predictions on the 809 train queries",
        ),
    }
    calibration = {
        name: calibration_row(
            fit, judged(test, scores), judged(test, scores, top_rows(test, scores)), fitted_on
        )
        for name, (fit, scores, fitted_on) in calibrated.items()
    }
    base = BASE
    for name in book.systems:
        book.systems[name]["vs_hybrid"] = book.versus(name, base)
    return {
        "benchmark": "learned final ranker and calibration, SciFact test, hybrid top 100",
        "command": portable_command("python -m benchmarks.learned_bench " + " ".join(args.argv)),
        "members": {
            spec.name: {
                "backend": spec.backend,
                "model": None if spec.model is None else portable_path(spec.model),
            }
            for spec in load_config(args.members)
        },
        "held_out_queries": len(held),
        "train_queries": len(runs_train),
        "test_queries": len(runs_test),
        "systems": book.systems,
        "ablations": ablations,
        "importance_held_out": dict(
            sorted(fits["held-out"].importance.items(), key=lambda kv: -kv[1])
        ),
        "importance_all": dict(sorted(fits["all"].importance.items(), key=lambda kv: -kv[1])),
        "calibration": calibration,
        "selected_by_train_cv": selected,
        "live_parity": {"queries": len(live_qids), "max_abs_diff": parity},
        "trained_members_s": trained,
        "tables_s": tables_s,
        "wall_s": time.perf_counter() - started,
        "machine": machine("lightgbm", "scikit-learn", "sentence-transformers"),
    }


def system_rows(systems: Mapping[str, Any], base: float) -> list[str]:
    """Markdown table rows (nDCG@10, against ``base``, up/down, taxonomy) of the systems
    that are not ablations."""
    rows = []
    for name, s in systems.items():
        if s.get("ablation"):
            continue
        t, vs = s["taxonomy"], s["vs_hybrid"]
        rows.append(
            f"| {name} | {s['ndcg@10']:.4f} | {s['ndcg@10'] - base:+.4f} | {vs['up']} / "
            f"{vs['down']} | {t['success']} / {t['scoring_failure']} / {t['candidate_failure']} |"
        )
    return rows


def markdown(r: Mapping[str, Any]) -> str:
    systems = r["systems"]
    base = systems[BASE]["ndcg@10"]
    lines = [
        "# Learned final ranker and calibration (SciFact test, hybrid top 100)",
        "",
        f"Command: `{r['command']}` ({r['wall_s'] / 60:.1f} min; member scores come from the"
        " evaluation score cache when `ragrerank eval` computed them before).",
        "",
        f"Members: {', '.join(r['members'])}. The CE and ColBERT trained on 759 train queries;"
        f" the ranker of the first protocol trains on the {r['held_out_queries']} they held"
        " out, with 5-fold query-grouped CV for the number of rounds. Nothing is tuned on test.",
        "",
        "| system | nDCG@10 | vs hybrid | up / down | success / scoring f. / candidate f. |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += system_rows(systems, base)
    lines += ["", "## Ablations by feature group (nDCG@10 on test)", ""]
    keys = list(r["ablations"])
    lines.append("| features | " + " | ".join(keys) + " |")
    lines.append("|---|" + "---:|" * len(keys))
    rows = list(next(iter(r["ablations"].values())))
    for row in rows:
        lines.append(
            f"| {row} | " + " | ".join(fmt(r["ablations"][k].get(row), ".4f") for k in keys) + " |"
        )
    lines += [
        "",
        "## Calibration: ECE (10 bins) on test",
        "",
        "| scores | fitted on | before (sigmoid) | Platt | isotonic |",
        "|---|---|---:|---:|---:|",
    ]
    for name, c in r["calibration"].items():
        lines.append(
            f"| {name} | {c['fitted_on']} ({c['fit_pairs']} pairs, {c['fit_positives']}"
            f" relevant) | {c['ece_before_sigmoid']:.4f} ({c['ece_top10_before_sigmoid']:.4f}) |"
            f" {c['platt']['ece']:.4f} ({c['platt']['ece_top10']:.4f}) |"
            f" {c['isotonic']['ece']:.4f} ({c['isotonic']['ece_top10']:.4f}) |"
        )
    for key, pick in r.get("selected_by_train_cv", {}).items():
        lines.append("")
        lines.append(
            f"Chosen by train CV ({key}): groups left out {pick['drop'] or 'none'}, parameters "
            f"{pick['params'] or 'the defaults'} (CV nDCG@10 {pick['cv_ndcg10']:.4f})."
        )
    top = list(r["importance_held_out"].items())[:6]
    lines += [
        "",
        "Top features of the held-out ranker (gain): "
        + ", ".join(f"`{k}` {v:.0f}" for k, v in top)
        + ".",
        "",
        f"The held-out ranker saved and loaded as a `LearnedRanker`, scoring "
        f"{r['live_parity']['queries']} test queries live through its members: largest "
        f"difference from the table's predictions {r['live_parity']['max_abs_diff']:.2e}.",
        "",
        "![learned ranker](learned.png)",
        "",
        machine_line(r["machine"]),
        "",
    ]
    return "\n".join(lines)


def plot(r: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.4, 1]})
    systems_barh(
        ax,
        r["systems"],
        color=lambda n: "#888888" if n == BASE else "#4c72b0" if "learned" in n else "#dd8452",
        shorten=lambda n: n.replace(" (members saw 759)", "")
        .replace("groups and parameters chosen by", "chosen by"),
    )  # fmt: skip
    ax.set_title("Systems (learned: blue)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    for name, c in r["calibration"].items():
        if name == "learned (all)":
            continue
        for key, style in (("bins_before", ":"), ("isotonic", "-")):
            bins = c[key] if key == "bins_before" else c[key]["bins"]
            pts = [(b["mean_prob"], b["frac_pos"]) for b in bins if b["count"]]
            ece = c["ece_before_sigmoid"] if key == "bins_before" else c[key]["ece"]
            label = f"{name}, {'sigmoid' if key == 'bins_before' else 'isotonic'} (ECE {ece:.3f})"
            ax2.plot([p for p, _ in pts], [f for _, f in pts], style, marker="o", ms=3, label=label)
    ax2.plot([0, 1], [0, 1], color="#999999", lw=0.8)
    ax2.set_xlabel("mean predicted P(relevant) in bin")
    ax2.set_ylabel("fraction relevant in bin")
    ax2.set_title("Reliability on test (10 bins)", fontsize=10)
    ax2.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"Learned final ranker, SciFact test ({r['machine'].get('cpu', '')})", fontsize=11)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser, MEMBERS)
    parser.add_argument(
        "--train-missing",
        action="store_true",
        help="train missing member models first (documented commands)",
    )
    parser.add_argument("--live-queries", type=int, default=3)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    report = run(args)
    write_results("learned", report, markdown(report), lambda p: plot(report, p), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
