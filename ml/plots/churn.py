"""Churn model figures: confusion matrices, class balance, ROC/PR/gains with the baselines,
calibration, coefficients and the tuning grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ml import metrics as m
from ml.plots import MAJORITY_COLOR, MODEL_COLOR, RECENCY_COLOR, new_figure, styled

CLASSES = ("Active (0)", "Churned (1)")


@styled
def confusion_matrices(counts: Mapping[str, int], *, threshold: float, title: str) -> Figure:
    """Counts and row-normalised (share of each actual class) confusion matrices."""
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]], dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    fig = new_figure(11, 4.6)
    axes = fig.subplots(1, 2)
    panels = ((matrix, "Counts (customers)", ",.0f", "Blues"),
              (shares, "Normalised by actual class", ".1%", "Greens"))
    for ax, (data, subtitle, fmt, cmap) in zip(axes, panels, strict=True):
        sns.heatmap(data, ax=ax, annot=True, fmt=fmt, cmap=cmap, cbar=False, square=True,
                    xticklabels=CLASSES, yticklabels=CLASSES, annot_kws={"size": 13},
                    linewidths=1, linecolor="white")
        ax.set(title=subtitle, xlabel="Predicted class", ylabel="Actual class")
        ax.tick_params(axis="y", rotation=0)
        ax.grid(False)
    fig.suptitle(f"{title} (churn if p \u2265 {threshold:.3f})")
    return fig


@styled
def class_distribution(train: Mapping[int, int], test: Mapping[int, int], *,
                       train_label: str, test_label: str) -> Figure:
    """Share of each class in the training and test sets (sets differ in size, so shares
    are compared), with the row counts annotated."""
    fig = new_figure(8, 4.8)
    ax = fig.subplots()
    width = 0.38
    x = np.arange(2)
    for offset, counts, label, color in ((-width / 2, train, train_label, "#4c72b0"),
                                         (width / 2, test, test_label, "#dd8452")):
        values = [counts.get(0, 0), counts.get(1, 0)]
        total = max(sum(values), 1)
        bars = ax.bar(x + offset, [100 * v / total for v in values], width, color=color,
                      label=f"{label}: {total:,} rows")
        ax.bar_label(bars, labels=[f"{v / total:.1%}\n({v:,})" for v in values], fontsize=9,
                     padding=2)
    ax.set_xticks(x, CLASSES)
    ax.set(title="Class distribution: training vs test snapshot",
           ylabel="Share of customer-snapshots (%)", ylim=(0, 100))
    ax.legend(loc="upper center", frameon=False)
    return fig


@styled
def roc_curves(y: np.ndarray, probability: np.ndarray, recency: np.ndarray, *,
               title: str) -> Figure:
    """ROC of the model and the recency rule; the majority class is the diagonal."""
    fig = new_figure(6.4, 6)
    ax = fig.subplots()
    for scores, name, color in ((probability, "Model", MODEL_COLOR),
                                (recency, "Recency rule", RECENCY_COLOR)):
        curve = m.roc_curve(y, scores)
        ax.plot(curve.x, curve.y, color=color, lw=2,
                label=f"{name} (AUC {m.roc_auc(y, scores):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color=MAJORITY_COLOR, label="Majority class (AUC 0.500)")
    ax.set(title=title, xlabel="False positive rate (active customers flagged)",
           ylabel="True positive rate (churners caught)", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return fig


@styled
def pr_curves(y: np.ndarray, probability: np.ndarray, recency: np.ndarray, *,
              title: str) -> Figure:
    """Precision-recall of the model and the recency rule; the majority class is the base rate."""
    fig = new_figure(6.4, 6)
    ax = fig.subplots()
    for scores, name, color in ((probability, "Model", MODEL_COLOR),
                                (recency, "Recency rule", RECENCY_COLOR)):
        curve = m.pr_curve(y, scores)
        ax.step(curve.x, curve.y, where="post", color=color, lw=2,
                label=f"{name} (AP {m.average_precision(y, scores):.3f})")
    base = float(np.mean(y))
    ax.axhline(base, ls="--", color=MAJORITY_COLOR, label=f"Majority / base rate ({base:.3f})")
    ax.set(title=title, xlabel="Recall (share of churners caught)",
           ylabel="Precision (share of flagged who churn)", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return fig


@styled
def gains_chart(y: np.ndarray, probability: np.ndarray, recency: np.ndarray, *,
                title: str) -> Figure:
    """Cumulative share of churners captured when targeting the top x% by score."""
    fig = new_figure(6.8, 5.2)
    ax = fig.subplots()
    for scores, name, color in ((probability, "Model", MODEL_COLOR),
                                (recency, "Recency rule", RECENCY_COLOR)):
        x, captured = m.gains_curve(y, scores)
        ax.plot(100 * x, 100 * captured, color=color, lw=2,
                label=f"{name} (top 10%: {100 * m.capture_rate(y, scores, 0.1):.0f}%)")
    ax.plot([0, 100], [0, 100], ls="--", color=MAJORITY_COLOR, label="Random / majority")
    ax.axvline(10, color="black", lw=0.8, alpha=0.5)
    ax.set(title=title, xlabel="Customers targeted, highest score first (%)",
           ylabel="Churners captured (%)", xlim=(0, 100), ylim=(0, 101))
    ax.legend(loc="lower right")
    return fig


@styled
def calibration(y: np.ndarray, probability: np.ndarray, *, title: str, bins: int = 10,
                before: np.ndarray | None = None, method: str | None = None) -> Figure:
    """Reliability diagram (observed churn rate per predicted-probability bin) over a
    histogram of the predicted probabilities; with `before`, the uncalibrated model's curve
    too (`method`: the calibrator's name)."""
    data = m.calibration_bins(y, probability, bins)
    fig = new_figure(6.4, 7)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], ls="--", color=MAJORITY_COLOR, label="Perfectly calibrated")
    if before is not None:
        raw = m.calibration_bins(y, before, bins)
        top.plot(raw["mean_predicted"], raw["observed_rate"], marker="s", color=RECENCY_COLOR,
                 lw=1.5, alpha=0.8, label=f"Before calibration (Brier {m.brier(y, before):.3f})")
    name = "Model" if method is None else f"Model, {method} calibration"
    top.plot(data["mean_predicted"], data["observed_rate"], marker="o", color=MODEL_COLOR,
             lw=2, label=f"{name} (Brier {m.brier(y, probability):.3f})")
    top.set(title=title, ylabel="Observed churn rate", xlim=(0, 1), ylim=(0, 1.02))
    top.legend(loc="upper left")
    bottom.hist(probability, bins=np.linspace(0, 1, bins + 1), color=MODEL_COLOR, alpha=0.7,
                edgecolor="white")
    bottom.set(xlabel="Predicted churn probability", ylabel="Customers")
    return fig


@styled
def drivers_chart(values: Mapping[str, float], *, kind: str, model: str, top: int) -> Figure:
    """The largest drivers of the model: standardized coefficients (log-odds per standard
    deviation, signed) of a logistic regression, impurity importances of trees."""
    items = sorted(((k, v) for k, v in values.items() if k != "intercept"),
                   key=lambda kv: abs(kv[1]), reverse=True)[:top]
    items.reverse()  # largest at the top of a horizontal bar chart
    fig = new_figure(8, max(3.5, 0.42 * len(items) + 1.6))
    ax = fig.subplots()
    if kind == "coefficient":
        colors = ["#c44e52" if v > 0 else "#4c72b0" for _, v in items]
        xlabel = "Coefficient (change in log-odds of churn per 1 SD; red raises risk)"
        ax.axvline(0, color="black", lw=0.8)
    else:
        colors = [MODEL_COLOR] * len(items)
        xlabel = "Importance (share of impurity decrease; direction not shown)"
    ax.barh([k for k, _ in items], [v for _, v in items], color=colors)
    fig.suptitle(f"Churn model ({model}): top {len(items)} {kind}s by magnitude",
                 fontweight="bold")
    ax.set(xlabel=xlabel)
    ax.grid(axis="y", visible=False)
    return fig


@styled
def tuning_grid(points: Sequence[tuple[str, str, float]], *, chosen: Sequence[str],
                candidate: str, metric: str) -> Figure:
    """Validation score of every (family, setting) of the tuning grid: one bar each,
    grouped and coloured by family; each family's best outlined, the candidate in red."""
    families = list(dict.fromkeys(f for f, _, _ in points))
    palette = dict(zip(families, sns.color_palette("deep", len(families)), strict=True))
    fig = new_figure(9, max(3.5, 0.36 * len(points) + 1.8))
    ax = fig.subplots()
    labels = [setting for _, setting, _ in points]
    scores = [score for _, _, score in points]
    bars = ax.barh(range(len(points)), scores, color=[palette[f] for f, _, _ in points])
    for bar, (_, setting, _) in zip(bars, points, strict=True):
        if setting in chosen:
            bar.set_edgecolor("red" if setting == candidate else "black")
            bar.set_linewidth(3 if setting == candidate else 1.5)
    ax.set_yticks(range(len(points)), labels)
    ax.invert_yaxis()
    low, high = min(scores), max(scores)
    pad = max((high - low) * 0.5, 0.005)
    ax.set_xlim(max(0.0, low - pad), min(1.0, high + pad))
    for i, score in enumerate(scores):
        ax.text(score, i, f" {score:.4f}", va="center", fontsize=8)
    fig.suptitle(f"Tuning: {metric}\n(outlined = best of its family, red = the candidate)",
                 fontweight="bold")
    ax.set(xlabel=metric)
    ax.legend(handles=[Rectangle((0, 0), 1, 1, color=palette[f]) for f in families],
              labels=families, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(axis="y", visible=False)
    return fig
