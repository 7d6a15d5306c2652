"""The yardsticks the churn model must beat, evaluated like the model on the same rows.

- majority: a constant probability, the training churn rate. At threshold 0.5 it predicts
  the training majority class; its ROC AUC is 0.5, its Brier score and log loss are those of
  knowing only the base rate.
- recency: score = days since the last purchase (the usual rule of thumb). It ranks but is
  not a probability, so it has rank and threshold metrics only; its threshold in days is the
  F1-best one on the validation snapshot, like the model's.
"""

from __future__ import annotations

import numpy as np

from ml import metrics as m

TOP_FRACTION = 0.1


def ranking_metrics(y, scores) -> dict[str, float]:
    """Metrics that only use the order of the scores."""
    return {
        "roc_auc": m.roc_auc(y, scores),
        "pr_auc": m.average_precision(y, scores),
        "lift_top_decile": m.lift(y, scores, TOP_FRACTION),
        "capture_top_decile": m.capture_rate(y, scores, TOP_FRACTION),
    }


def probability_metrics(y, probabilities) -> dict[str, float]:
    """Metrics that need calibrated probabilities."""
    return {"log_loss": m.log_loss(y, probabilities), "brier": m.brier(y, probabilities)}


def at_threshold(y, scores, threshold: float, suffix: str) -> dict[str, float]:
    """Threshold metrics with `_<suffix>` appended to each name."""
    return {f"{k}_{suffix}": v for k, v in m.threshold_metrics(y, scores, threshold).items()}


def model_metrics(y, probabilities, *, best_threshold: float) -> dict[str, float]:
    """Every test metric of a probabilistic model: rank, probability, at 0.5 and at the
    threshold chosen on validation."""
    return {
        **ranking_metrics(y, probabilities),
        **probability_metrics(y, probabilities),
        **at_threshold(y, probabilities, 0.5, "at_0_5"),
        **at_threshold(y, probabilities, best_threshold, "at_best"),
    }


def majority_scores(size: int, train_rate: float) -> np.ndarray:
    """The majority baseline's constant probability for `size` rows."""
    return np.full(size, float(train_rate))


def majority_metrics(y, *, train_rate: float) -> dict[str, float]:
    """Test metrics of the constant training churn rate."""
    p = majority_scores(len(y), train_rate)
    return {**ranking_metrics(y, p), **probability_metrics(y, p),
            **at_threshold(y, p, 0.5, "at_0_5")}


def recency_metrics(y, recency_days, *, threshold_days: float) -> dict[str, float]:
    """Test metrics of the recency rule (churn if recency_days >= threshold_days)."""
    return {**ranking_metrics(y, recency_days),
            **at_threshold(y, recency_days, threshold_days, "at_best")}
