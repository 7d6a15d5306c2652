"""Figures for the churn model and the segmentation: functions from data to a matplotlib
Figure (object API, Agg backend, no pyplot state); `save` writes a PNG."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

import matplotlib

matplotlib.use("Agg")  # files only: never a display, also on machines without one

from matplotlib.figure import Figure

P = ParamSpec("P")

STYLE = {
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

MODEL_COLOR = "#1f77b4"
RECENCY_COLOR = "#ff7f0e"
MAJORITY_COLOR = "#7f7f7f"


def styled(fn: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure under the house style (rc settings are read at creation time)."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def new_figure(width: float = 7.0, height: float = 5.0) -> Figure:
    """A figure with tight layout."""
    return Figure(figsize=(width, height), layout="tight")


def save(fig: Figure, path: Path, *, dpi: int) -> Path:
    """Write `fig` as PNG at `dpi` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", facecolor="white")
    return path
