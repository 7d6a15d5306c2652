"""Segmentation figures: choice of k, segment profiles and sizes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ml.plots import MODEL_COLOR, RECENCY_COLOR, new_figure, styled
from ml.segments import KCandidate

PROFILE_COLUMNS = {  # profile column -> (heatmap label, number format)
    "mean_recency_days": ("Recency\n(days, mean)", "{:,.0f}"),
    "mean_frequency": ("Frequency\n(purchases, mean)", "{:,.1f}"),
    "mean_total_spend": ("Spend\n(total, mean)", "{:,.0f}"),
    "mean_tenure_days": ("Tenure\n(days, mean)", "{:,.0f}"),
    "churn_rate": ("Churn rate\n(observed)", "{:.0%}"),
}


@styled
def k_selection(candidates: Sequence[KCandidate], *, chosen: int) -> Figure:
    """Silhouette (higher is better) and inertia (within-cluster sum of squares) against k."""
    ks = [c.k for c in candidates]
    fig = new_figure(11, 4.5)
    left, right = fig.subplots(1, 2)
    left.plot(ks, [c.silhouette for c in candidates], marker="o", color=MODEL_COLOR, lw=2)
    best = next(c for c in candidates if c.k == chosen)
    left.scatter([best.k], [best.silhouette], s=160, facecolors="none", edgecolors="red",
                 linewidths=2, label=f"chosen k = {chosen}", zorder=3)
    left.set(title="Silhouette by k", xlabel="Number of segments k",
             ylabel="Silhouette (squared Euclidean)")
    left.legend(loc="best")
    right.plot(ks, [c.inertia for c in candidates], marker="s", color=RECENCY_COLOR, lw=2)
    right.axvline(chosen, color="red", ls="--", lw=1)
    right.set(title="Inertia by k", xlabel="Number of segments k",
              ylabel="Inertia (sum of squared distances)")
    for ax in (left, right):
        ax.set_xticks(ks)
    fig.suptitle("K-means on standardized log RFM: choosing k")
    return fig


def _row_labels(prof: pd.DataFrame) -> list[str]:
    return [f"{name} (n={n:,})" for name, n in zip(prof["segment_name"], prof["customers"],
                                                   strict=True)]


@styled
def profile_heatmap(prof: pd.DataFrame, *, as_of: str, churn_as_of: str | None) -> Figure:
    """Standardized segment means (colour, z across segments) annotated with the raw means;
    the churn rate is the one observed at `churn_as_of` (the latest labeled snapshot)."""
    cols = [c for c in PROFILE_COLUMNS if c in prof and prof[c].notna().any()]
    labels = {c: PROFILE_COLUMNS[c][0] for c in cols}
    if "churn_rate" in labels and churn_as_of:
        labels["churn_rate"] = f"Churn rate\n(observed {churn_as_of})"
    values = prof[cols].astype(float)
    spread = values.std(ddof=0).replace(0, 1.0)
    z = (values - values.mean()) / spread
    annot = np.array([[("n/a" if np.isnan(v) else PROFILE_COLUMNS[c][1].format(v))
                       for c, v in zip(cols, row, strict=True)] for row in values.to_numpy()])
    fig = new_figure(1.9 * len(cols) + 4.2, 0.6 * len(prof) + 2.6)
    ax = fig.subplots()
    with warnings.catch_warnings():  # seaborn 0.13 + matplotlib 3.11 on NaN cells
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(z.to_numpy(), ax=ax, annot=annot, fmt="", cmap="RdBu_r", center=0,
                    xticklabels=[labels[c] for c in cols], yticklabels=_row_labels(prof),
                    cbar_kws={"label": "z-score across segments (red = higher)"},
                    annot_kws={"size": 10}, linewidths=0.5, linecolor="white")
    ax.set(title=f"Segment profiles, snapshot {as_of}", xlabel="", ylabel="")
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=0)
    ax.grid(False)
    return fig


@styled
def segment_sizes(prof: pd.DataFrame, *, as_of: str) -> Figure:
    """Customers per segment, with their share."""
    ordered = prof.sort_values("customers")
    fig = new_figure(8, 0.55 * len(prof) + 2)
    ax = fig.subplots()
    bars = ax.barh(ordered["segment_name"], ordered["customers"],
                   color=sns.color_palette("deep", len(prof)))
    ax.bar_label(bars, labels=[f"{n:,} ({s:.0%})" for n, s in
                               zip(ordered["customers"], ordered["share"], strict=True)],
                 padding=3)
    ax.set(title=f"Segment sizes, snapshot {as_of}", xlabel="Customers")
    ax.margins(x=0.2)
    ax.grid(axis="y", visible=False)
    return fig
