"""The learned final ranker with a cross-fitted CE member (stacking) on SciFact test.

Run: ``python -m benchmarks.crossfit_bench --train-missing`` (writes
benchmarks/results/learned_crossfit.{md,json,png}); ``--train-missing`` first trains the
member models missing from ``models/`` with the commands below (docs/learned-ranker.md).

The CE: a title-only base (title pseudo-queries only: it never saw a judgement), then one
fine-tune per half of the 809 train queries (``--cross-fit 0/2``, ``1/2``). The ranker's
training features for a query come from the fold model that never trained on it
(``ragrerank train ranker --cross-fit CE=f0,f1``); at test, fold 0 serves (it never saw a
test query either). The "naive" protocol takes fold 0's scores for every train query, 354
of which it trained on: the difference between the two is what cross-fitting buys. The other
members are BM25, dense and zero-shot ColBERT MaxSim (both over all-MiniLM-L6-v2), which train
on nothing. Nothing is fitted or chosen on test; each system is scored on it once.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    machine,
    machine_line,
    portable_command,
    portable_path,
    pyplot,
    save_figure,
    write_results,
)
from benchmarks.learned_bench import (
    GROUPS,
    Scorebook,
    column,
    fit_and_score,
    rrf,
    select_by_cv,
    system_rows,
    train_missing,
)
from benchmarks.learned_report import BASE, add_run_options, bar_rows, systems_barh

MEMBERS = ROOT / "benchmarks" / "configs" / "crossfit_members.toml"
FOLDS = ("models/ce-minilm-scifact-f0", "models/ce-minilm-scifact-f1")
CE = "CE"

_CE = (
    " --loss listwise --mine hybrid --mine-depth 100 --val-queries 50 --batch-size 16"
    " --negatives 7 --warmup 0.1 --max-length 192 --seed 0"
)
# Run in this order by --train-missing (the folds start from the title-only base).
TRAIN_COMMANDS = {
    "models/ce-minilm-scifact-titles": (
        "ragrerank train cross-encoder --data {data} --split train"
        " --out models/ce-minilm-scifact-titles --title-queries all --title-only --epochs 1"
        " --lr 1e-4 --eval-every 100 --max-steps 200" + _CE
    ),
    **{
        folder: (
            f"ragrerank train cross-encoder --data {{data}} --split train --out {folder}"
            f" --base models/ce-minilm-scifact-titles --cross-fit {k}/2 --epochs 2 --lr 3e-5"
            " --eval-every 23" + _CE
        )
        for k, folder in enumerate(FOLDS)
    },
}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.evaluation.config import build_scorer, load_config
    from ragrerank.evaluation.datasets import data_dir, load_beir
    from ragrerank.evaluation.first_stage import default_cache, first_stage_run
    from ragrerank.train.ranker import FoldMember, ranking_table

    started = time.perf_counter()
    data = Path(args.data) if args.data else data_dir("scifact")
    trained = train_missing(data, TRAIN_COMMANDS) if args.train_missing else {}
    cache = default_cache()
    specs = load_config(args.members)
    names = [s.name for s in specs]
    scorers = [build_scorer(s) for s in specs]
    ce = names.index(CE)
    ce_spec = specs[ce]
    if Path(str(ce_spec.model)).resolve() != (ROOT / FOLDS[0]).resolve():
        raise SystemExit(f"the members' {CE} must be {FOLDS[0]} (fold 0 serves)")
    fold_scorers = [scorers[ce], build_scorer(_with_model(ce_spec, str(ROOT / FOLDS[1])))]
    folds = [FoldMember.from_folder(s, ROOT / f) for s, f in zip(fold_scorers, FOLDS, strict=True)]
    ds_train = load_beir("scifact", "train", path=data)
    ds_test = load_beir("scifact", "test", path=data)
    show = not args.no_progress
    t0 = time.perf_counter()
    runs_train = first_stage_run(ds_train, "train", "hybrid", 100, cache, show_progress=show)
    runs_test = first_stage_run(ds_test, "test", "hybrid", 100, cache, show_progress=show)
    spec = FeatureSpec.of(scorers, names=names)

    def table(ds: Any, runs: Any, members: Sequence[Any], **kw: Any) -> Any:
        sp = FeatureSpec.of(members, names=names)
        return ranking_table(ds, members, runs, sp, cache_dir=cache, show_progress=show, **kw)

    # --no-contrasts skips the two tables only the contrasts need (fold 0 on its own training
    # queries; fold 1 on test): about 70k of the 180k CE pairs scored.
    contrasts = not args.no_contrasts
    cross = table(ds_train, runs_train, scorers, cross_fit={ce: folds})
    naive = table(ds_train, runs_train, scorers) if contrasts else None
    test = table(ds_test, runs_test, scorers)
    other = [fold_scorers[1] if i == ce else s for i, s in enumerate(scorers)]
    test_other = table(ds_test, runs_test, other) if contrasts else None
    tables_s = time.perf_counter() - t0
    assert test.names == spec.names and (test_other is None or test_other.names == spec.names)

    book = Scorebook(ds_test, test, runs_test)
    book.add(BASE, column(test, "first_stage:score"))
    for i, name in enumerate(names):
        alone = f"{name} alone" + (" (fold 0)" if i == ce else "")
        book.add(alone, column(test, f"m{i}:{name}:score"))
    if test_other is not None:
        book.add("CE alone (fold 1)", column(test_other, f"m{ce}:{CE}:score"))
    book.add(
        "RRF: all members + hybrid", rrf(test, [f"m{i}:{n}:score" for i, n in enumerate(names)])
    )

    seed, nfolds = args.seed, args.folds
    n_train = len(runs_train)
    own = len(set(runs_train) - folds[0].query_ids)  # train queries fold 0 trained on
    labels = {
        "naive": f"learned, {n_train} queries, naive (CE fold 0 scores its own {own} training "
        "queries too)",
        "cross-fit": f"learned, {n_train} queries, cross-fitted (each query's CE scores from the "
        "fold that never saw it)",
    }
    tabs = {"naive": naive, "cross-fit": cross} if naive is not None else {"cross-fit": cross}
    fits: dict[str, Any] = {}
    for key, tab in tabs.items():
        fits[key], _ = fit_and_score(book, labels[key], tab, test, seed, nfolds, protocol=key)
    ablations: dict[str, float] = {"all features": book.systems[labels["cross-fit"]]["ndcg@10"]}
    for group in GROUPS:
        name = f"{labels['cross-fit']} - {group}"
        fit_and_score(book, name, cross.drop_groups(group), test.drop_groups(group), seed,
                      nfolds, protocol="cross-fit", ablation=group)  # fmt: skip
        ablations[f"without {group}"] = book.systems[name]["ndcg@10"]
    only = [g for g in GROUPS if g != "members"]
    name = f"{labels['cross-fit']} - members only"
    fit_and_score(book, name, cross.drop_groups(*only), test.drop_groups(*only), seed, nfolds,
                  protocol="cross-fit", ablation="members only")  # fmt: skip
    ablations["members only"] = book.systems[name]["ndcg@10"]

    selected: dict[str, Any] = {}
    for key, tab in tabs.items():
        pick = selected[key] = select_by_cv(tab, seed, nfolds)
        drop = pick["drop"]
        fit, pred = fit_and_score(
            book,
            f"{labels[key]}, groups and parameters chosen by train CV",
            tab.drop_groups(*drop) if drop else tab,
            test.drop_groups(*drop) if drop else test,
            seed,
            nfolds,
            pick["params"],
            protocol=key,
            selected={"drop": drop, "params": pick["params"]},
        )
        if key == "cross-fit" and test_other is not None:
            import lightgbm

            booster = lightgbm.Booster(model_str=fit.model)
            te = test_other.drop_groups(*drop) if drop else test_other
            pred_other = [float(x) for x in booster.predict(te.features)]
            book.add(
                f"{labels[key]}, chosen by train CV, test scores averaged over both fold CEs",
                [(a + b) / 2 for a, b in zip(pred, pred_other, strict=True)],
                protocol=key,
                ensemble="mean of the ranker's predictions with fold 0's and fold 1's CE",
            )
    for name in book.systems:
        book.systems[name]["vs_hybrid"] = book.versus(name, BASE)
    return {
        "benchmark": "learned final ranker, cross-fitted CE member, SciFact test, hybrid top 100",
        "command": portable_command("python -m benchmarks.crossfit_bench " + " ".join(args.argv)),
        "members": {
            s.name: {
                "backend": s.backend,
                "model": None if s.model is None else portable_path(s.model),
            }
            for s in specs
        },
        "cross_fit": {
            CE: [
                {"model": f, "never_trained_on": len(m.query_ids)}
                for f, m in zip(FOLDS, folds, strict=True)
            ]
        },
        "train_commands": {
            k: v.format(data="../shared/data/scifact") for k, v in TRAIN_COMMANDS.items()
        },
        "contrasts": contrasts,
        "train_queries": len(runs_train),
        "test_queries": len(runs_test),
        "systems": book.systems,
        "ablations": ablations,
        "importance": dict(sorted(fits["cross-fit"].importance.items(), key=lambda kv: -kv[1])),
        "selected_by_train_cv": selected,
        "trained_members_s": trained,
        "member_train_wall_s": _train_walls(),
        "tables_s": tables_s,
        "wall_s": time.perf_counter() - started,
        "machine": machine("lightgbm", "sentence-transformers"),
    }


def _with_model(spec: Any, model: str) -> Any:
    from dataclasses import replace

    return replace(spec, model=model)


def _train_walls() -> dict[str, float | None]:
    """Each member model's training wall time (s) from its ``train_log.json``."""
    import json

    out: dict[str, float | None] = {}
    for folder in TRAIN_COMMANDS:
        log = ROOT / folder / "train_log.json"
        wall = (
            json.loads(log.read_text(encoding="utf-8")).get("wall_time_s")
            if log.is_file()
            else None
        )
        out[folder] = None if wall is None else float(wall)
    return out


def markdown(r: Mapping[str, Any]) -> str:
    systems = r["systems"]
    base = systems[BASE]["ndcg@10"]
    walls = r["member_train_wall_s"]
    total = sum(w for w in walls.values() if w is not None)
    lines = [
        "# Learned final ranker with a cross-fitted CE (SciFact test, hybrid top 100)",
        "",
        f"Command: `{r['command']}` ({r['wall_s'] / 60:.1f} min here with the member models"
        f" trained; training them, `--train-missing`: {total / 60:.0f} min on this machine).",
        "",
        f"Members: {', '.join(r['members'])}. The CE is one of two fold models: a title-only"
        " CE (it never saw a judgement) fine-tuned on one half of the 809 train queries. The"
        " cross-fitted ranker's training features for each query come from the fold model"
        " that never trained on it; at test fold 0 serves. Nothing is tuned on test."
        + (
            ""
            if r.get("contrasts", True)
            else " Run with `--no-contrasts`: no naive ranker and no fold-1 test scores."
        ),
        "",
        "| system | nDCG@10 | vs hybrid | up / down | success / scoring f. / candidate f. |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += system_rows(systems, base)
    lines += ["", "## Ablations by feature group (cross-fitted, nDCG@10 on test)", "",
              "| features | nDCG@10 |", "|---|---:|"]  # fmt: skip
    lines += [f"| {k} | {v:.4f} |" for k, v in r["ablations"].items()]
    for key, pick in r["selected_by_train_cv"].items():
        lines += [
            "",
            f"Chosen by train CV ({key}): groups left out {pick['drop'] or 'none'}, parameters "
            f"{pick['params'] or 'the defaults'} (CV nDCG@10 {pick['cv_ndcg10']:.4f}).",
        ]
    top = list(r["importance"].items())[:6]
    lines += [
        "",
        "Top features of the cross-fitted ranker (gain): "
        + ", ".join(f"`{k}` {v:.0f}" for k, v in top)
        + ".",
        "",
        "Member training (wall time on this machine, from each `train_log.json`):",
        "",
        "| model | command | min |",
        "|---|---|---:|",
    ]
    for folder, command in r["train_commands"].items():
        wall = walls.get(folder)
        lines.append(f"| {folder} | `{command}` | {'-' if wall is None else f'{wall / 60:.1f}'} |")
    lines += [
        "",
        "![cross-fitted learned ranker](learned_crossfit.png)",
        "",
        machine_line(r["machine"]),
        "",
    ]
    return "\n".join(lines)


def plot(r: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 0.5 + 0.42 * bar_rows(r["systems"])))
    systems_barh(
        ax,
        r["systems"],
        color=lambda n: "#888888" if n == BASE else "#4c72b0" if "cross-fitted" in n
        else "#8172b2" if "learned" in n else "#dd8452",
        shorten=lambda n: re.sub(r" \((CE fold 0 scores|each query)[^)]*\)", "", n)
        .replace("groups and parameters chosen by", "chosen by")
        .replace("test scores averaged over both fold CEs", "mean over fold CEs"),
        test_queries=r["test_queries"],
    )  # fmt: skip
    ax.set_title("Learned ranker, cross-fitted CE (blue) vs naive (purple) and members "
                 f"({r['machine'].get('cpu', '')})", fontsize=10)  # fmt: skip
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser, MEMBERS)
    parser.add_argument(
        "--train-missing", action="store_true", help="train missing member models first"
    )
    parser.add_argument(
        "--no-contrasts",
        action="store_true",
        help="skip the naive ranker and fold 1's test scores (~40%% fewer CE pairs scored)",
    )
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    report = run(args)
    write_results("learned_crossfit", report, markdown(report), lambda p: plot(report, p), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
