"""Binary classification metrics on (label, score) arrays: numpy only, ties handled exactly.

The arrays are one evaluation snapshot collected to the driver (thousands of rows), never
training data. Scores may be probabilities or any ranking score (e.g. recency in days);
metrics that need probabilities (log loss, Brier, calibration) say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-15


@dataclass(frozen=True)
class Curve:
    """Points of a ROC (x=fpr, y=tpr) or precision-recall (x=recall, y=precision) curve."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray


def _arrays(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if y.size == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s


def _cumulative_counts(y: np.ndarray, s: np.ndarray):
    """True and false positives at each distinct threshold, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[last_of_group]
    fps = (last_of_group + 1) - tps
    return tps, fps, s[last_of_group]


def roc_curve(y_true, scores) -> Curve:
    """ROC curve with one point per distinct score (ties form one diagonal step)."""
    y, s = _arrays(y_true, scores)
    tps, fps, thr = _cumulative_counts(y, s)
    pos, neg = y.sum(), y.size - y.sum()
    if pos == 0 or neg == 0:
        raise ValueError("ROC needs both classes")
    return Curve(np.r_[0.0, fps / neg], np.r_[0.0, tps / pos], np.r_[np.inf, thr])


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2."""
    curve = roc_curve(y_true, scores)
    return float(np.trapezoid(curve.y, curve.x))


def pr_curve(y_true, scores) -> Curve:
    """Precision-recall curve, one point per distinct score, starting at recall 0."""
    y, s = _arrays(y_true, scores)
    tps, fps, thr = _cumulative_counts(y, s)
    if y.sum() == 0:
        raise ValueError("precision-recall needs positives")
    precision = tps / (tps + fps)
    recall = tps / y.sum()
    return Curve(np.r_[0.0, recall], np.r_[1.0, precision], np.r_[np.inf, thr])


def average_precision(y_true, scores) -> float:
    """PR AUC as average precision: sum over thresholds of (recall gain) x precision."""
    curve = pr_curve(y_true, scores)
    return float(np.sum(np.diff(curve.x) * curve.y[1:]))


def confusion(y_true, scores, threshold: float) -> dict[str, int]:
    """Counts tp, fp, tn, fn when `score >= threshold` predicts the positive class."""
    y, s = _arrays(y_true, scores)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return {"tp": tp, "fp": fp, "tn": int(y.size - tp - fp - fn), "fn": fn}


def threshold_metrics(y_true, scores, threshold: float) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall and F1 at `threshold` (0 when undefined)."""
    c = confusion(y_true, scores, threshold)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }


def best_f1_threshold(y_true, scores) -> float:
    """The score threshold (`score >= t` is positive) with the highest F1; the highest such
    threshold on ties, i.e. the fewest positive predictions."""
    y, s = _arrays(y_true, scores)
    tps, fps, thr = _cumulative_counts(y, s)
    if y.sum() == 0:
        raise ValueError("F1 needs positives")
    f1 = 2 * tps / (tps + fps + y.sum())
    return float(thr[int(np.argmax(f1))])


def log_loss(y_true, probabilities) -> float:
    """Mean negative log-likelihood of probabilities (clipped to [1e-15, 1 - 1e-15])."""
    y, p = _arrays(y_true, probabilities)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier(y_true, probabilities) -> float:
    """Mean squared difference between probability and outcome (0 is perfect)."""
    y, p = _arrays(y_true, probabilities)
    return float(np.mean((p - y) ** 2))


def top_fraction_positives(y_true, scores, fraction: float = 0.1) -> tuple[float, float]:
    """(expected positives, size) of the top `fraction` by score. Scores tied across the
    cut-off share the remaining places at the tied group's positive rate (the expectation
    under random tie-breaking), so a constant score gets the base rate, not an arbitrary order."""
    y, s = _arrays(y_true, scores)
    size = max(1, int(np.ceil(fraction * y.size)))
    cut = np.sort(s)[::-1][size - 1]
    above = s > cut
    tied = s == cut
    remaining = size - int(above.sum())
    positives = y[above].sum() + remaining * y[tied].mean()
    return float(positives), float(size)


def lift(y_true, scores, fraction: float = 0.1) -> float:
    """Positive rate in the top `fraction` by score divided by the overall positive rate."""
    y = np.asarray(y_true, dtype=float)
    positives, size = top_fraction_positives(y_true, scores, fraction)
    base = y.mean()
    return _ratio(positives / size, base)


def capture_rate(y_true, scores, fraction: float = 0.1) -> float:
    """Share of all positives found in the top `fraction` by score."""
    y = np.asarray(y_true, dtype=float)
    positives, _ = top_fraction_positives(y_true, scores, fraction)
    return _ratio(positives, y.sum())


def gains_curve(y_true, scores, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gains: (fraction targeted, fraction of positives captured)."""
    fractions = np.linspace(0, 1, points)
    captured = [0.0] + [capture_rate(y_true, scores, f) for f in fractions[1:]]
    return fractions, np.asarray(captured)


def calibration_bins(y_true, probabilities, bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability diagram data over equal-width probability bins (empty bins dropped):
    mean predicted probability, observed positive rate and row count per bin."""
    y, p = _arrays(y_true, probabilities)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    keep = count > 0
    mean_p = np.bincount(index, weights=p, minlength=bins)[keep] / count[keep]
    rate = np.bincount(index, weights=y, minlength=bins)[keep] / count[keep]
    return {"mean_predicted": mean_p, "observed_rate": rate, "count": count[keep]}


def bootstrap_auc_gain(y_true, scores, reference, *, samples: int, seed: int
                       ) -> dict[str, float]:
    """Paired bootstrap over rows of ROC AUC(scores) - ROC AUC(reference): the 2.5% and 97.5%
    quantiles and the share of resamples where the gain is positive. Resamples with one class
    only are skipped. NaNs when samples == 0."""
    y, s = _arrays(y_true, scores)
    _, r = _arrays(y_true, reference)
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(samples):
        idx = rng.integers(0, y.size, y.size)
        if 0 < y[idx].sum() < y.size:
            gains.append(roc_auc(y[idx], s[idx]) - roc_auc(y[idx], r[idx]))
    if not gains:
        return {"ci_low": float("nan"), "ci_high": float("nan"), "share_positive": float("nan")}
    g = np.asarray(gains)
    return {"ci_low": float(np.quantile(g, 0.025)), "ci_high": float(np.quantile(g, 0.975)),
            "share_positive": float(np.mean(g > 0))}


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0
