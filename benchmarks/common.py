"""Helpers shared by every benchmark script: paths, machine info, latency statistics,
timing (warm-up, interleaved repetitions), retrieval metrics and result files.

Every benchmark writes ``<name>.json`` (all numbers plus the machine), ``<name>.md`` (the
tables) and ``<name>.png`` (plots) to ``benchmarks/results/`` unless told otherwise; each
module's ``markdown(report)`` and ``plot(report, path)`` turn the JSON back into the other
two (`render_results`, ``python -m benchmarks.run --render-only``) without re-measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / ".cache"  # gitignored; each benchmark keeps its own sub-folder
QUICK_RESULTS = CACHE / "bench-quick"  # --quick runs never overwrite the committed results


QUICK_BANNER = "**Quick smoke run (`--quick`): not a result.**"


def add_run_options(parser: argparse.ArgumentParser, quick: str) -> None:
    """``--data``, ``--out`` and ``--quick`` (described by ``quick``), the same everywhere."""
    parser.add_argument("--data", help="BEIR folder (default: the scifact data folder)")
    parser.add_argument(
        "--out",
        help="results folder (default: benchmarks/results; .cache/bench-quick with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")


def machine(*packages: str) -> dict[str, Any]:
    """`ragrerank.evaluation.report.machine_info` plus the versions of ``packages``.

    ``load_average_at_start`` repeats ``load_average`` under the key the first result
    files used.
    """
    from ragrerank.evaluation.report import machine_info

    info = machine_info()
    info["load_average_at_start"] = info.get("load_average")
    info.update(onednn_kernels())
    for name in packages:
        try:
            info[name.replace("-", "_")] = version(name)
        except PackageNotFoundError:
            info[name.replace("-", "_")] = None
    return info


_PROBE = """
import torch
x = torch.randn(64, 64)
for dtype in (torch.float32, torch.bfloat16):
    with torch.inference_mode():
        torch.nn.Linear(64, 64).to(dtype)(x.to(dtype))
"""


def onednn_kernels() -> dict[str, Any]:
    """Which oneDNN kernels torch runs matmuls with here, fp32 and bf16 (e.g.
    ``brg_matmul:avx512_core_amx`` on AMX, ``brg_matmul:avx512_core_bf16`` on AVX-512 BF16),
    and oneDNN's own ISA line: read from ``ONEDNN_VERBOSE`` in a subprocess."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    try:
        run = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out: dict[str, Any] = {"onednn_matmul_kernels": {}}
    for line in run.stdout.splitlines():
        parts = line.split(",")
        if len(parts) > 5 and parts[2:4] == ["info", "cpu"] and parts[4].startswith("isa:"):
            out["onednn_isa"] = parts[4][4:]
        if len(parts) > 7 and parts[2:6] == ["primitive", "exec", "cpu", "matmul"]:
            dtype = "bf16" if "src:bf16" in parts[8] else "fp32"
            out["onednn_matmul_kernels"][dtype] = parts[6]
    return out


def machine_line(m: Mapping[str, Any]) -> str:
    """One markdown sentence describing the machine of a result file: CPU, its matrix
    features, the kernels torch ran, versions, load and date."""
    features = ", ".join(m.get("matrix_features") or []) or "not recorded"
    kernels = m.get("onednn_matmul_kernels") or {}
    chosen = "; ".join(f"{k} {v}" for k, v in sorted(kernels.items(), reverse=True))
    runtime = f"oneDNN matmul kernels: {chosen}; " if chosen else ""
    torch_facts = [f"{m.get('torch_threads')} threads"]
    if m.get("torch_cpu_capability"):
        torch_facts.append(f"CPU capability {m['torch_cpu_capability']}")
    if m.get("auto_dtype_cpu"):
        torch_facts.append(f"dtype=auto -> {m['auto_dtype_cpu']}")
    return (
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores ({m.get('platform')}); "
        f"matrix features: {features}; {runtime}"
        f"torch {m.get('torch')} ({', '.join(torch_facts)}), "
        f"Python {m.get('python')}; load average at start {m.get('load_average')}; "
        f"{m.get('date_utc')} UTC."
    )


def topk_agreement(a: Sequence[Any], b: Sequence[Any], k: int = 10) -> float:
    """|top-k of a  ∩  top-k of b| / k for two ranked lists (over the shorter list's length
    when a tiny corpus returns fewer than k)."""
    return len(set(a[:k]) & set(b[:k])) / max(1, min(k, len(a), len(b)))


def fmt(x: float | None, spec: str = ".3f") -> str:
    """``x`` formatted with ``spec``, or "-" when it is missing (a markdown table cell)."""
    return "-" if x is None else format(x, spec)


def latency_stats(samples_ms: Sequence[float]) -> dict[str, Any]:
    """p50 / p95 / mean in ms (linear-interpolated percentiles) and the number of runs."""
    from ragrerank.evaluation.metrics import percentiles

    stats = percentiles(samples_ms)
    if stats is None:
        raise ValueError("no latency samples")
    return {
        "p50_ms": stats["p50"],
        "p95_ms": stats["p95"],
        "mean_ms": stats["mean"],
        "runs": len(samples_ms),
    }


def time_ms(fn: Callable[[], Any]) -> float:
    """Wall time of one call in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def timed(fn: Callable[[str], Any], queries: Sequence[str]) -> dict[str, Any]:
    """`latency_stats` of ``fn(q)`` for every query after one untimed warm-up call."""
    fn(queries[0])
    return latency_stats([time_ms(lambda q=q: fn(q)) for q in queries])


def interleaved(
    systems: Mapping[str, Callable[[int], Any]], reps: int, *, seed: int = 0
) -> dict[str, list[float]]:
    """Time ``fn(rep)`` for every system, ``reps`` times, systems interleaved.

    Each repetition visits every system once, in a freshly shuffled order, so slow drift
    of the machine (other jobs, thermal state) falls on all systems alike. Warm-up is
    the caller's job. Returns milliseconds per system, in repetition order.
    """
    rng = random.Random(seed)
    names = list(systems)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        rng.shuffle(names)
        for name in names:
            samples[name].append(time_ms(lambda name=name, rep=rep: systems[name](rep)))
    return samples


def ir_metrics(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: Sequence[str] = ("nDCG@10", "R@100"),
) -> dict[str, float]:
    """Mean of each measure over the queries of ``run`` (ir_measures)."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    agg = ir_measures.calc_aggregate(parsed, {q: qrels[q] for q in run}, run)
    return {str(m): float(agg[m]) for m in parsed}


def bm25_topk(
    corpus: Mapping[str, str], queries: Mapping[str, str], k: int = 100
) -> dict[str, list[tuple[str, float]]]:
    """BM25 first stage, best first: bm25s, PyStemmer English stemmer, English stopwords."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = list(corpus)
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(
            [corpus[i] for i in ids], stopwords="en", stemmer=stemmer, show_progress=False
        ),
        show_progress=False,
    )
    qids = list(queries)
    q_tokens = bm25s.tokenize(
        [queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    docs, scores = retriever.retrieve(q_tokens, k=min(k, len(ids)), show_progress=False)
    return {
        qid: [(ids[int(d)], float(s)) for d, s in zip(docs[row], scores[row], strict=True)]
        for row, qid in enumerate(qids)
    }


def portable_path(path: str) -> str:
    """``path`` as it reads from the repository root: relative when it lies inside the
    repository or beside it (``../shared/data/scifact``), ``<site-packages>/...`` inside an
    installed package; anything else unchanged. Reports must not carry machine paths."""
    if not os.path.isabs(path):
        return path
    marker = f"{os.sep}site-packages{os.sep}"
    if marker in path:
        return "<site-packages>/" + path.split(marker, 1)[1].replace(os.sep, "/")
    rel = Path(os.path.relpath(path, ROOT))
    return rel.as_posix() if rel.parts.count("..") <= 1 else path


def portable_command(command: str) -> str:
    """A recorded command line with every absolute path argument `portable_path`-ed."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    return shlex.join(portable_path(w) for w in words)


# -- plots: one look for every benchmark ---------------------------------------------------


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display)."""
    from ragrerank.evaluation.report import pyplot

    return pyplot()


def wrap(label: str, width: int = 28) -> str:
    """A tick label broken into lines of at most ``width`` characters."""
    return textwrap.fill(label, width, break_on_hyphens=False)


def ms(value: float) -> str:
    """A duration in milliseconds as a reader wants it: "0.22 ms", "3.5 ms", "1089 ms"."""
    return (
        f"{value:.2f} ms" if value < 1 else f"{value:.2g} ms" if value < 10 else f"{value:.0f} ms"
    )


def label_bars(
    ax: Any, bars: Any, spec: str | Callable[[float], str] = ".3f", **kwargs: Any
) -> None:
    """Write each bar's value at its end: ``format(value, spec)``, or ``spec(value)``."""
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("padding", 2)
    # A white box, so a reference line crossing the label does not strike it through.
    kwargs.setdefault(
        "bbox", {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"}
    )
    text = spec if callable(spec) else lambda v: format(v, spec)
    ax.bar_label(bars, labels=[text(v) for v in bars.datavalues], **kwargs)


def plain_log_ticks(axis: Any, subs: Sequence[float] = (1.0,)) -> None:
    """Tick labels of a log axis as plain numbers (0.1, 1, 10, 1000) rather than powers;
    ``subs=(1, 2, 5)`` also labels 2x and 5x each decade (for ranges of a decade or two)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=tuple(subs)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def legend_below(ax: Any, ncol: int = 2, below: float = 0.55, **kwargs: Any) -> Any:
    """The legend under the axes, where it cannot cover data: its top ``below`` inches
    under the axes' bottom edge (room for tick labels and the axis label), whatever the
    figure's size."""
    from matplotlib.transforms import ScaledTranslation

    kwargs.setdefault("fontsize", 8)
    shift = ScaledTranslation(0, -below, ax.figure.dpi_scale_trans)
    return ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0),
        bbox_transform=ax.transAxes + shift,
        ncol=ncol,
        **kwargs,
    )


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Save with nothing clipped (legends outside the axes included) and close."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def render_results(
    name: str,
    markdown: Callable[[dict[str, Any]], str],
    plot: Callable[[dict[str, Any], Path], None] | None,
    out_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Re-write ``<name>.md`` (and ``<name>.png``) from the ``<name>.json`` already in
    ``out_dir`` (default `RESULTS`): no benchmark runs and the JSON is left as it is."""
    out = Path(out_dir) if out_dir is not None else RESULTS
    report = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    paths = {"markdown": out / f"{name}.md"}
    if plot is not None:
        paths["png"] = out / f"{name}.png"
        plot(report, paths["png"])
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    return paths


def write_results(
    name: str,
    report: Mapping[str, Any],
    markdown: str,
    plot: Callable[[Path], None] | None = None,
    out_dir: str | Path | None = None,
    *,
    echo: bool = True,
) -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>.md`` and (when ``plot`` is given) ``<name>.png``;
    ``echo`` also prints the markdown. Default folder: `RESULTS`, or `QUICK_RESULTS` for a
    report marked ``"quick"``."""
    if out_dir is None:
        out_dir = QUICK_RESULTS if report.get("quick") else RESULTS
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "markdown": out / f"{name}.md"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        paths["png"] = out / f"{name}.png"
        plot(paths["png"])
    paths["markdown"].write_text(markdown, encoding="utf-8")
    if echo:
        print(markdown)
    return paths
