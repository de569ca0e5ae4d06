"""The learned final ranker over members trained on nothing (BM25, dense, zero-shot ColBERT
MaxSim over all-MiniLM-L6-v2 and dense over each document's best window), on SciFact test.

Run: ``python -m benchmarks.untrained_bench`` (writes benchmarks/results/learned_untrained.
{md,json,png}; about 40 min on 2 CPU cores from a fresh clone, a few minutes with the member
scores cached). No member saw a SciFact judgement, so their scores on the 809 train queries
are as honest as on test and the ranker trains on all of them; feature groups and LightGBM
parameters are chosen by cross-validation on the train queries. Nothing is fitted or chosen
on test; each system is scored on it once.
"""

from __future__ import annotations

import argparse
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
)
from benchmarks.learned_report import BASE, add_run_options, bar_rows, systems_barh

MEMBERS = ROOT / "benchmarks" / "configs" / "untrained_members.toml"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.evaluation.config import build_scorer, load_config
    from ragrerank.evaluation.datasets import data_dir, load_beir
    from ragrerank.evaluation.first_stage import default_cache, first_stage_run
    from ragrerank.train.ranker import ranking_table

    started = time.perf_counter()
    data = Path(args.data) if args.data else data_dir("scifact")
    cache = default_cache()
    specs = load_config(args.members)
    names = [s.name for s in specs]
    scorers = [build_scorer(s) for s in specs]
    show = not args.no_progress
    tables: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    t0 = time.perf_counter()
    for split in ("train", "test"):
        ds = datasets[split] = load_beir("scifact", split, path=data)
        runs[split] = first_stage_run(ds, split, "hybrid", 100, cache, show_progress=show)
        spec = FeatureSpec.of(scorers, names=names)
        tables[split] = ranking_table(ds, scorers, runs[split], spec, cache_dir=cache,
                                      show_progress=show)  # fmt: skip
    tables_s = time.perf_counter() - t0
    train, test = tables["train"], tables["test"]
    book = Scorebook(datasets["test"], test, runs["test"])
    book.add(BASE, column(test, "first_stage:score"))
    for i, name in enumerate(names):
        book.add(f"{name} alone", column(test, f"m{i}:{name}:score"))
    book.add(
        "RRF: all members + hybrid", rrf(test, [f"m{i}:{n}:score" for i, n in enumerate(names)])
    )
    seed, folds = args.seed, args.folds
    n = len(runs["train"])
    label = f"learned, {n} train queries"
    fit, _ = fit_and_score(book, label, train, test, seed, folds, protocol="default")
    ablations = {"all features": book.systems[label]["ndcg@10"]}
    for group in GROUPS:
        name = f"{label} - {group}"
        fit_and_score(book, name, train.drop_groups(group), test.drop_groups(group), seed, folds,
                      ablation=group)  # fmt: skip
        ablations[f"without {group}"] = book.systems[name]["ndcg@10"]
    pick = select_by_cv(train, seed, folds)
    drop = pick["drop"]
    fit_and_score(
        book,
        f"{label}, groups and parameters chosen by train CV",
        train.drop_groups(*drop) if drop else train,
        test.drop_groups(*drop) if drop else test,
        seed,
        folds,
        pick["params"],
        protocol="selected",
        selected={"drop": drop, "params": pick["params"]},
    )
    for name in book.systems:
        book.systems[name]["vs_hybrid"] = book.versus(name, BASE)
    return {
        "benchmark": "learned final ranker over untrained members, SciFact test, hybrid top 100",
        "command": portable_command("python -m benchmarks.untrained_bench " + " ".join(args.argv)),
        "members": {s.name: member_entry(s) for s in specs},
        "train_queries": n,
        "test_queries": len(runs["test"]),
        "systems": book.systems,
        "ablations": ablations,
        "importance": dict(sorted(fit.importance.items(), key=lambda kv: -kv[1])),
        "selected_by_train_cv": pick,
        "tables_s": tables_s,
        "wall_s": time.perf_counter() - started,
        "machine": machine("lightgbm", "sentence-transformers"),
    }


def member_entry(spec: Any) -> dict[str, Any]:
    """A member's backend and options for the report (a wrapper's member nested)."""
    entry: dict[str, Any] = {"backend": spec.backend, "options": dict(spec.options)}
    if spec.member is not None:
        entry["member"] = member_entry(spec.member)
    return entry


def describe(entry: Mapping[str, Any]) -> str:
    """``backend [of member] (options)``, e.g. ``max-passage of dense (chunk_tokens 64)``."""
    text = str(entry["backend"])
    if "member" in entry:
        text += f" of {describe(entry['member'])}"
    shown = {k: v for k, v in entry["options"].items() if k != "cache_max_bytes"}
    if shown:
        text += " (" + ", ".join(f"{k} {v}" for k, v in shown.items()) + ")"
    return text


def markdown(r: Mapping[str, Any]) -> str:
    systems = r["systems"]
    base = systems[BASE]["ndcg@10"]
    pick = r["selected_by_train_cv"]
    lines = [
        "# Learned final ranker over untrained members (SciFact test, hybrid top 100)",
        "",
        f"Command: `{r['command']}` ({r['wall_s'] / 60:.1f} min; member scores come from the"
        " evaluation score cache when computed before).",
        "",
        "Members: "
        + "; ".join(f"{name}: `{describe(m)}`" for name, m in r["members"].items())
        + " (`dense` is all-MiniLM-L6-v2's cosine, `colbert` zero-shot MaxSim over its token"
        " vectors): none was trained on SciFact, so the ranker"
        f" trains on all {r['train_queries']} train queries with honest member scores. Nothing"
        " is tuned on test.",
        "",
        "| system | nDCG@10 | vs hybrid | up / down | success / scoring f. / candidate f. |",
        "|---|---:|---:|---:|---:|",
        *system_rows(systems, base),
        "",
        "## Ablations by feature group (default parameters, nDCG@10 on test)",
        "",
        "| features | nDCG@10 |",
        "|---|---:|",
        *[f"| {k} | {v:.4f} |" for k, v in r["ablations"].items()],
        "",
        f"Chosen by train CV: groups left out {pick['drop'] or 'none'}, parameters "
        f"{pick['params'] or 'the defaults'} (CV nDCG@10 {pick['cv_ndcg10']:.4f}).",
        "",
        "Top features (gain, default parameters): "
        + ", ".join(f"`{k}` {v:.0f}" for k, v in list(r["importance"].items())[:6])
        + ".",
        "",
        "![learned ranker, untrained members](learned_untrained.png)",
        "",
        machine_line(r["machine"]),
        "",
    ]
    return "\n".join(lines)


def plot(r: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.45 * bar_rows(r["systems"])))
    systems_barh(
        ax,
        r["systems"],
        color=lambda n: "#888888" if n == BASE else "#4c72b0" if n.startswith("learned")
        else "#dd8452",
        shorten=lambda n: n.replace("groups and parameters chosen by", "chosen by"),
        test_queries=r["test_queries"],
    )  # fmt: skip
    ax.set_title(f"Learned ranker over untrained members ({r['machine'].get('cpu', '')})",
                 fontsize=10)  # fmt: skip
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser, MEMBERS)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    report = run(args)
    write_results(
        "learned_untrained", report, markdown(report), lambda p: plot(report, p), args.out
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
