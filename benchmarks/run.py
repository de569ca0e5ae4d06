"""Every benchmark in one command: ``python -m benchmarks.run`` (or ``make bench``).

Runs, each in its own process (so one's threads and memory cannot slow the next):

* ``benchmarks.speed``: cross-encoder latency vs LangChain / LlamaIndex / sentence-transformers;
* ``benchmarks.quality``: SciFact nDCG@10 of first stages and rerankers;
* ``benchmarks.colbert_bench``: ColBERT stored vectors vs re-encoding;
* ``benchmarks.dtype_bench``: the dense first stage in float32 vs ``dtype="auto"``;
* ``benchmarks.long_docs``: needles in long documents (truncation, head_tail, MaxP chunking).

Results go to ``benchmarks/results/`` (``--out``): ``<name>.md``, ``<name>.json``,
``<name>.png`` per benchmark. ``--quick`` is passed to each (a smoke run in well under a
minute each on an idle machine; its files say "quick", are not results, and go to
``.cache/bench-quick/`` unless ``--out`` says otherwise).

``--render-only`` measures nothing: it re-writes each report's ``.md`` and ``.png`` from the
``.json`` already in the results folder (every report by default, ``training`` and
``retrieval`` included), e.g. after a change to a table or a plot.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import subprocess
import sys
import time

from benchmarks.common import QUICK_RESULTS, RESULTS, ROOT, render_results

BENCHMARKS = {
    "speed": "benchmarks.speed",
    "quality": "benchmarks.quality",
    "colbert": "benchmarks.colbert_bench",
    "dtype": "benchmarks.dtype_bench",
    "long_docs": "benchmarks.long_docs",
}
# Every report in benchmarks/results and the module whose markdown() and plot() render it.
REPORTS = {
    **BENCHMARKS,
    "retrieval": "benchmarks.retrieval_bench",
    "training": "benchmarks.train_bench",
}


def render_only(names: list[str], out: str | None) -> int:
    """Re-render ``<name>.md`` and ``<name>.png`` from ``<name>.json`` for each of ``names``."""
    for name in names:
        module = importlib.import_module(REPORTS[name])
        paths = render_results(name, module.markdown, module.plot, out)
        print(f"{name}: " + ", ".join(str(p) for p in paths.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument(
        "--out",
        help="results folder (default: benchmarks/results; .cache/bench-quick with --quick)",
    )
    parser.add_argument("--data", help="BEIR folder for every benchmark (default: scifact)")
    parser.add_argument(
        "--only",
        help=f"comma-separated subset of {list(BENCHMARKS)} (with --render-only: {list(REPORTS)})",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: re-write the .md and .png of each report from its .json in --out",
    )
    for name in BENCHMARKS:
        parser.add_argument(
            f"--{name}-args", default="", help=f"extra arguments for {BENCHMARKS[name]} (quoted)"
        )
    args = parser.parse_args(argv)
    known = REPORTS if args.render_only else BENCHMARKS
    chosen = [n.strip() for n in (args.only or ",".join(known)).split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(known)}")
    if args.render_only:
        return render_only(chosen, args.out)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        "TRANSFORMERS_OFFLINE": os.environ.get("TRANSFORMERS_OFFLINE", "1"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    failed = []
    for name in chosen:
        cmd = [sys.executable, "-m", BENCHMARKS[name]]
        cmd += ["--out", args.out] if args.out else []
        cmd += ["--quick"] if args.quick else []
        cmd += ["--data", args.data] if args.data else []
        cmd += shlex.split(getattr(args, f"{name}_args"))
        print(f"\n=== {name}: {shlex.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        print(f"=== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    print(f"\nresults in {out}: " + ", ".join(f"{n}.md" for n in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
