"""What a reader sees in benchmarks/results/*.png, checked on the figure each report's
``plot()`` draws from its committed JSON: every panel has a title; every bar and marker
lies inside its axes, big enough to see, and every bar has its value written on it; no
snake_case tick labels; no two tick labels or value labels on top of each other; no
legend over a bar, a marker or a label."""

from __future__ import annotations

import importlib
import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import RESULTS

pytest.importorskip("matplotlib")

SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")
MIN_BAR_PX = 2.0  # a bar shorter than this is not seen


def draw(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The figure ``plot()`` saves for ``benchmarks/results/<name>.json`` (drawn, kept open)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from benchmarks.run import REPORTS

    if name == "retrieval":
        pytest.importorskip("qdrant_client")
    module = importlib.import_module(REPORTS[name])
    report = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    figures: list[Any] = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: figures.append(fig))
    module.plot(report, tmp_path / f"{name}.png")
    assert len(figures) == 1, f"{name}: plot() saved {len(figures)} figures"
    fig = figures[0]
    FigureCanvasAgg(fig).draw()  # plot() closed it: give it a canvas again
    return fig


def _overlap(a: Any, b: Any, tolerance: float = 1.0) -> bool:
    return (
        min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance
        and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance
    )


def _inside(box: Any, frame: Any, tolerance: float = 1.0) -> bool:
    return (
        box.x0 >= frame.x0 - tolerance
        and box.x1 <= frame.x1 + tolerance
        and box.y0 >= frame.y0 - tolerance
        and box.y1 <= frame.y1 + tolerance
    )


def _markers(ax: Any) -> list[tuple[str, tuple[float, float]]]:
    """Display positions of every data marker: plotted lines with markers and scatters
    (reference lines such as axhline, drawn in axes coordinates, are not data)."""
    from matplotlib.collections import PathCollection

    out = []
    for line in ax.get_lines():
        if line.get_transform() != ax.transData or line.get_marker() in (None, "", "None"):
            continue
        out += [
            (str(line.get_label()), tuple(ax.transData.transform(xy))) for xy in line.get_xydata()
        ]
    for coll in ax.collections:
        if isinstance(coll, PathCollection):
            out += [
                (str(coll.get_label()), tuple(coll.get_offset_transform().transform(xy)))
                for xy in coll.get_offsets()
            ]
    return out


def problems(fig: Any) -> list[str]:
    """Everything a reader would trip over in ``fig``, one line each."""
    from matplotlib.container import BarContainer

    renderer = fig.canvas.get_renderer()
    out: list[str] = []
    for ax in fig.axes:
        where = f"panel {ax.get_title()!r}"
        if not ax.get_title():
            out.append("a panel without a title")
        frame = ax.get_window_extent(renderer)
        bars = [
            (patch, value, c.orientation == "horizontal")
            for c in ax.containers
            if isinstance(c, BarContainer)
            for patch, value in zip(c.patches, c.datavalues, strict=True)
        ]
        for patch, value, horizontal in bars:
            box = patch.get_window_extent(renderer)
            seen_w = min(box.x1, frame.x1) - max(box.x0, frame.x0)
            seen_h = min(box.y1, frame.y1) - max(box.y0, frame.y0)
            length = seen_w if horizontal else seen_h
            if value and (length < MIN_BAR_PX or min(seen_w, seen_h) <= 0):
                out.append(f"{where}: the bar of {value:g} is invisible ({length:.1f} px)")
        for orientation in {h for _, _, h in bars}:
            scale, (lo, hi) = (
                (ax.get_xscale(), ax.get_xlim())
                if orientation
                else (ax.get_yscale(), ax.get_ylim())
            )
            if scale == "linear" and not min(lo, hi) <= 0 <= max(lo, hi):
                out.append(f"{where}: the bars' axis starts at {min(lo, hi):g}, not 0")
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        n_bars = sum(1 for _, v, _ in bars if v)
        if n_bars and len(texts) < n_bars:
            out.append(f"{where}: {n_bars} bars but only {len(texts)} value labels")
        markers = _markers(ax)
        for label, (px, py) in markers:
            if not (frame.x0 - 1 <= px <= frame.x1 + 1 and frame.y0 - 1 <= py <= frame.y1 + 1):
                out.append(f"{where}: a marker of {label!r} is outside the axes")
        for axis, ticks in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            shown = [t for t in ticks if t.get_visible() and t.get_text()]
            for t in shown:
                if SNAKE.search(t.get_text()):
                    out.append(f"{where}: snake_case {axis} tick label {t.get_text()!r}")
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
            for (ta, a), (tb, b) in combinations(boxes, 2):
                if _overlap(a, b):
                    out.append(f"{where}: {axis} tick labels {ta!r} and {tb!r} overlap")
        label_boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        for text, box in label_boxes:
            if not _inside(box, frame):
                out.append(f"{where}: the label {text!r} sticks out of the axes")
            for label, (px, py) in markers:
                if box.x0 <= px <= box.x1 and box.y0 <= py <= box.y1:
                    out.append(f"{where}: the label {text!r} covers a marker of {label!r}")
        for (ta, a), (tb, b) in combinations(label_boxes, 2):
            if _overlap(a, b):
                out.append(f"{where}: labels {ta!r} and {tb!r} overlap")
        legend = ax.get_legend()
        if legend is not None:
            lbox = legend.get_window_extent(renderer)
            for patch, value, _ in bars:
                if _overlap(lbox, patch.get_window_extent(renderer)):
                    out.append(f"{where}: the legend covers the bar of {value:g}")
            for text, box in label_boxes:
                if _overlap(lbox, box):
                    out.append(f"{where}: the legend covers the label {text!r}")
            for label, (px, py) in markers:
                if lbox.x0 <= px <= lbox.x1 and lbox.y0 <= py <= lbox.y1:
                    out.append(f"{where}: the legend covers a marker of {label!r}")
    return out


@pytest.mark.parametrize(
    "name", ["training", "retrieval", "colbert", "quality", "speed", "dtype", "long_docs"]
)
def test_committed_plot_reads_without_help(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert problems(draw(name, tmp_path, monkeypatch)) == []
