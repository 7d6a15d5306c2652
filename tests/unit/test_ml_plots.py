"""Every figure renders to a PNG at the configured resolution, with a title."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ml.plots import churn as churn_plots
from ml.plots import save
from ml.plots import segments as segment_plots
from ml.segments import KCandidate

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 300).astype(float)
P = np.clip(0.3 + 0.4 * Y + RNG.normal(0, 0.2, 300), 0, 1)
R = RNG.integers(0, 300, 300).astype(float)
PROFILE = pd.DataFrame({
    "customers": [120, 80, 50], "share": [0.48, 0.32, 0.2],
    "mean_recency_days": [10.0, 60.0, 250.0], "mean_frequency": [20.0, 6.0, 1.5],
    "mean_total_spend": [3000.0, 800.0, 50.0], "mean_tenure_days": [600.0, 300.0, 500.0],
    "churn_rate": [0.1, 0.4, np.nan], "segment_name": ["Champions", "Loyal", "Hibernating"]},
    index=pd.Index([2, 0, 1], name="segment_id"))

FIGURES = {
    "confusion": lambda: churn_plots.confusion_matrices(
        {"tp": 5, "fp": 2, "tn": 10, "fn": 0}, threshold=0.4, title="Confusion"),
    "classes": lambda: churn_plots.class_distribution({0: 500, 1: 300}, {0: 90, 1: 60},
                                                      train_label="train", test_label="test"),
    "roc": lambda: churn_plots.roc_curves(Y, P, R, title="ROC"),
    "pr": lambda: churn_plots.pr_curves(Y, P, R, title="PR"),
    "gains": lambda: churn_plots.gains_chart(Y, P, R, title="Gains"),
    "calibration": lambda: churn_plots.calibration(Y, P, title="Calibration"),
    "coefficients": lambda: churn_plots.drivers_chart(
        {"a": 0.5, "log1p(b)": -1.2, "c": 0.1, "intercept": 3.0}, kind="coefficient",
        model="logistic regression", top=2),
    "importances": lambda: churn_plots.drivers_chart(
        {"a": 0.5, "b": 0.3, "c": 0.2}, kind="importance", model="random forest", top=3),
    "tuning": lambda: churn_plots.tuning_grid(
        [("logistic_regression", "lr 0", 0.70), ("logistic_regression", "lr 0.1", 0.72),
         ("gbt", "gbt 3", 0.74), ("gbt", "gbt 5", 0.73)],
        chosen=["lr 0.1", "gbt 3"], candidate="gbt 3", metric="validation ROC AUC"),
    "k": lambda: segment_plots.k_selection(
        [KCandidate(2, 0.5, 900.0), KCandidate(3, 0.55, 600.0), KCandidate(4, 0.4, 500.0)],
        chosen=3),
    "profiles": lambda: segment_plots.profile_heatmap(PROFILE, as_of="2023-07-01",
                                                      churn_as_of="2023-06-01"),
    "sizes": lambda: segment_plots.segment_sizes(PROFILE, as_of="2023-07-01"),
}


def test_matplotlib_runs_headless():
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_renders_as_png_with_a_title(name, tmp_path):
    fig = FIGURES[name]()
    titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text()
                                                    if fig._suptitle else ""]
    assert any(titles), "every figure has a title"
    path = save(fig, tmp_path / f"{name}.png", dpi=120)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((120, 120), abs=0.1)
        assert min(image.size) >= 300


def test_drivers_chart_keeps_the_largest_and_drops_the_intercept():
    fig = churn_plots.drivers_chart({"a": 0.5, "log1p(b)": -1.2, "c": 0.1, "intercept": 3.0},
                                    kind="coefficient", model="logistic regression", top=2)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["a", "log1p(b)"]
