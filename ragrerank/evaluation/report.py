"""What `evaluate` writes: `EvalReport` as JSON, a markdown summary, three plots, the
failure taxonomy's per-query table and traces, and the machine description every result
file carries (`machine_info`, also used by training logs and the benchmarks)."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import require
from .compare import comparisons_markdown
from .metrics import SystemResult
from .taxonomy import CATEGORIES, write_taxonomy_files

__all__ = ["EvalReport", "machine_info", "pyplot"]


def machine_info() -> dict[str, Any]:
    """CPU model, cores, its matrix features (AMX, AVX-512 BF16, VNNI...), load, Python/torch
    versions, torch's CPU kernel level, what ``dtype="auto"`` picks on CPU, and the date:
    for result files."""
    from ..utils.hardware import cpu_model, matrix_features, resolve_dtype

    cpu = cpu_model() or platform.processor() or "unknown"
    info: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    info["matrix_features"] = matrix_features()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["auto_dtype_cpu"] = resolve_dtype("auto", "cpu")
    except ImportError:
        pass
    return info


@dataclass(frozen=True)
class EvalReport:
    """Everything `evaluate` measured; `write` saves JSON, markdown and plots.

    ``taxonomy`` is the failure taxonomy (`.taxonomy.taxonomy_report`; empty in reports
    made before it existed); ``failure_traces`` (``{system: {qid: trace}}``) goes to
    ``traces/``, not to ``report.json``; ``comparisons`` are `.compare.compare_systems`'s
    pairs (``ragrerank eval --compare A B``).
    """

    dataset: str
    split: str
    first_stage: str
    candidates: int
    n_queries: int
    systems: dict[str, SystemResult]
    slices: dict[str, dict[str, dict[str, Any]]]
    latency_vs_candidates: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, float]]
    machine: dict[str, Any]
    elapsed_s: float = 0.0
    taxonomy: dict[str, Any] = field(default_factory=dict)
    failure_traces: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_stage_name(self) -> str:
        return f"first stage ({self.first_stage})"

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-compatible data (what ``report.json`` holds: no traces)."""
        data = asdict(self)
        del data["failure_traces"]
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def markdown(self) -> str:
        """Markdown summary: metrics table, slices, latency, links to the plots."""
        lines = [
            f"# Evaluation: {self.dataset} ({self.split}), {self.n_queries} queries",
            "",
            f"First stage: {self.first_stage}, top {self.candidates} candidates reranked. "
            "Metrics by ir_measures; lift@3 = nDCG@3 minus the first stage's; W/L/T = queries "
            "whose nDCG@10 rose / fell / stayed vs the first stage; latency = scoring time "
            "per query.",
            "",
            "| system | nDCG@10 | RR@10 | R@10 | R@100 | lift@3 | W/L/T | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in self.systems.items():
            m = r.metrics
            lat = r.latency_ms or {}
            lines.append(
                f"| {name} | {m['nDCG@10']:.4f} | {m['RR@10']:.4f} | {m['R@10']:.4f} | "
                f"{m['R@100']:.4f} | {r.lift_at_3:+.4f} | {r.wins}/{r.losses}/{r.ties} | "
                f"{_fmt(lat.get('p50'))} | {_fmt(lat.get('p95'))} |"
            )
        for slice_name, buckets in self.slices.items():
            names = [n for n in self.systems if n != self.first_stage_name]
            lines += [
                "",
                f"## By {slice_name}",
                "",
                "| bucket | queries | first-stage nDCG@10 | "
                + " | ".join(f"{n} nDCG@10 / lift@3 / W-L" for n in names)
                + " |",
                "|---|---|---|" + "---|" * len(names),
            ]
            for bucket, b in buckets.items():
                cells = [
                    f"{b['systems'][n]['nDCG@10']:.4f} / {b['systems'][n]['lift_at_3']:+.4f} / "
                    f"{b['systems'][n]['wins']}-{b['systems'][n]['losses']}"
                    for n in names
                ]
                first = b["systems"][self.first_stage_name]["nDCG@10"]
                lines.append(f"| {bucket} | {b['n']} | {first:.4f} | " + " | ".join(cells) + " |")
        if self.latency_vs_candidates:
            points = sorted({int(n) for v in self.latency_vs_candidates.values() for n in v})
            lines += [
                "",
                "## Latency vs number of candidates (p50 ms per query)",
                "",
                "| reranker | " + " | ".join(str(n) for n in points) + " |",
                "|---|" + "---|" * len(points),
            ]
            for name, v in self.latency_vs_candidates.items():
                lines.append(
                    f"| {name} | " + " | ".join(_fmt(v.get(str(n))) for n in points) + " |"
                )
        lines += comparisons_markdown(self.comparisons)
        lines += self._taxonomy_markdown()
        m = self.machine
        lines += [
            "",
            "![lift by slice](lift_by_slice.png) ![latency](latency_vs_candidates.png)"
            + (" ![failure taxonomy](failure_taxonomy.png)" if self.taxonomy else ""),
            "",
            f"Machine: {m.get('cpu')} ({m.get('cores')} cores, load {m.get('load_average')}), "
            f"torch {m.get('torch')}, Python {m.get('python')}, {m.get('date_utc')} UTC. "
            f"Wall time {self.elapsed_s:.0f} s.",
            "",
        ]
        return "\n".join(lines)

    def _taxonomy_markdown(self) -> list[str]:
        tax = self.taxonomy
        if not tax:
            return []
        lines = [
            "",
            f"## Failure taxonomy (top {tax['k']})",
            "",
            "Per query: success = a relevant document in the system's top "
            f"{tax['k']}; scoring failure = relevant candidates, none in the top {tax['k']} "
            "(the ranking's fault); candidate failure = no relevant document among the first "
            f"stage's {self.candidates} candidates (retrieval's fault: the first stage's, the "
            "same for every reranker). Missed = relevant candidates ranked below the top "
            f"{tax['k']}. Per query: per_query_taxonomy.csv; failed queries' traces: traces/.",
        ]
        for name, total in tax["systems"].items():
            lines += [
                "",
                f"### {name}",
                "",
                "| queries | n | success | scoring failure | candidate failure | missed |",
                "|---|---|---|---|---|---|",
                _taxonomy_row("all", total),
            ]
            for slice_name, buckets in tax["slices"].items():
                for bucket, b in buckets.items():
                    lines.append(_taxonomy_row(f"{slice_name}: {bucket}", b["systems"][name]))
        return lines

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``summary.md``, the PNG plots and, with a taxonomy,
        ``per_query_taxonomy.csv`` and ``traces/``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out / "report.json",
            "markdown": out / "summary.md",
            "lift_plot": out / "lift_by_slice.png",
            "latency_plot": out / "latency_vs_candidates.png",
        }
        paths["json"].write_text(self.to_json(indent=2), encoding="utf-8")
        paths["markdown"].write_text(self.markdown(), encoding="utf-8")
        self._plot_lift(paths["lift_plot"])
        self._plot_latency(paths["latency_plot"])
        if self.taxonomy:
            paths["taxonomy_plot"] = out / "failure_taxonomy.png"
            self._plot_taxonomy(paths["taxonomy_plot"])
            paths["taxonomy_table"], paths["traces"] = write_taxonomy_files(
                self.taxonomy, self.failure_traces, out
            )
        return paths

    def _plot_taxonomy(self, path: Path) -> None:
        """Stacked bars per system: share of queries in each category, counts inside."""
        plt = pyplot()
        systems = self.taxonomy["systems"]
        names = list(systems)
        fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(names) + 2), 4.5))
        bottom = [0.0] * len(names)
        for cat, color in zip(CATEGORIES, ("#4c9f50", "#f0a030", "#d04040"), strict=True):
            shares = [systems[n]["share"][cat] for n in names]
            ax.bar(range(len(names)), shares, 0.6, bottom=bottom, color=color,
                   label=cat.replace("_", " "))  # fmt: skip
            for i, (share, b) in enumerate(zip(shares, bottom, strict=True)):
                if share >= 0.04:
                    ax.text(i, b + share / 2, str(systems[names[i]][cat]), ha="center",
                            va="center", fontsize=8)  # fmt: skip
            bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"share of {self.n_queries} queries")
        ax.set_title(f"Failure taxonomy (top {self.taxonomy['k']}, {self.candidates} candidates)")
        handles, labels = ax.get_legend_handles_labels()  # listed top to bottom, as stacked
        ax.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))  # fmt: skip
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def _plot_lift(self, path: Path) -> None:
        plt = pyplot()
        names = [n for n in self.systems if n != self.first_stage_name]
        n_slices = max(1, len(self.slices))
        fig, axes = plt.subplots(1, n_slices, figsize=(6 * n_slices, 4), squeeze=False)
        for ax, (slice_name, buckets) in zip(axes[0], self.slices.items(), strict=False):
            labels = list(buckets)
            width = 0.8 / max(1, len(names))
            for k, name in enumerate(names):
                values = [buckets[b]["systems"][name]["lift_at_3"] for b in labels]
                xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(labels))]
                ax.bar(xs, values, width, label=name)
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_xticks(range(len(labels)), [f"{b}\n(n={buckets[b]['n']})" for b in labels])
            ax.set_ylabel("nDCG@3 lift vs first stage")
            ax.set_title(f"Lift@3 by {slice_name}")
            if names:
                ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def _plot_latency(self, path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in self.latency_vs_candidates.items():
            xs = sorted(int(n) for n in points)
            ax.plot(xs, [points[str(n)] for n in xs], marker="o", label=name)
        ax.set_xlabel("candidates per query")
        ax.set_ylabel("p50 ms per query")
        ax.set_title("Reranking latency vs number of candidates")
        if self.latency_vs_candidates:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no rerankers timed", ha="center", transform=ax.transAxes)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _taxonomy_row(label: str, counts: dict[str, Any]) -> str:
    cells = [f"{counts[c]} ({100 * counts['share'][c]:.0f}%)" for c in CATEGORIES]
    return f"| {label} | {counts['n']} | " + " | ".join(cells) + f" | {counts['missed']} |"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display); needs the ``eval`` extra."""
    matplotlib: Any = require("matplotlib", "eval")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
