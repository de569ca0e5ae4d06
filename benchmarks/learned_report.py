"""What the learned-ranker benchmarks share in their reports: the command-line options and
the horizontal bar chart of the systems' nDCG@10 against the hybrid retriever and the target."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TARGET = 0.78  # issue 20: the learned ranker's nDCG@10 on SciFact test
BASE = "hybrid (first stage)"


def add_run_options(parser: argparse.ArgumentParser, members: Path) -> None:
    """The options every learned-ranker benchmark takes (data, output, members, CV, progress)."""
    parser.add_argument("--data", help="BEIR folder (default: the scifact data folder)")
    parser.add_argument("--out", help="results folder (default: benchmarks/results)")
    parser.add_argument("--members", default=str(members), help="members config (TOML)")
    parser.add_argument("--folds", type=int, default=5, help="query-grouped CV folds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")


def systems_barh(
    ax: Any,
    systems: Mapping[str, Mapping[str, Any]],
    *,
    color: Callable[[str], str],
    shorten: Callable[[str], str] = lambda name: name,
    test_queries: int = 300,
) -> None:
    """One bar per non-ablation system (its nDCG@10 written beside it), colored by
    ``color(name)`` and labelled ``shorten(name)``, with the hybrid first stage (dashed) and
    the target (dotted) as vertical lines."""
    shown = [(n, s) for n, s in systems.items() if not s.get("ablation")]
    values = [float(s["ndcg@10"]) for _, s in shown]
    ax.barh(range(len(shown)), values, color=[color(n) for n, _ in shown])
    ax.set_yticks(range(len(shown)), [shorten(n) for n, _ in shown], fontsize=8)
    ax.invert_yaxis()
    base = float(systems[BASE]["ndcg@10"])
    ax.axvline(base, color="#444444", ls="--", lw=1, label=f"hybrid {base:.4f}")
    ax.axvline(TARGET, color="#c44e52", ls=":", lw=1, label=f"target {TARGET}")
    for i, v in enumerate(values):
        ax.text(v + 0.002, i, f"{v:.4f}", va="center", fontsize=7)
    ax.set_xlim(min(values) - 0.03, max(max(values), TARGET) + 0.03)
    ax.set_xlabel(f"nDCG@10, SciFact test ({test_queries} queries)")


def bar_rows(systems: Mapping[str, Mapping[str, Any]]) -> int:
    """How many bars :func:`systems_barh` draws (to size the figure)."""
    return sum(not s.get("ablation") for s in systems.values())
