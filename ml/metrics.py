"""Binary classification metrics on (label, score) arrays: thin wrappers around sklearn.metrics.

The arrays are one evaluation snapshot collected to the driver (thousands of rows), never
training data. Scores may be probabilities or any ranking score (e.g. recency in days);
metrics that need probabilities in [0, 1] (log loss, Brier, calibration) say so. Inputs are
checked here first, so bad data fails with one clear message whichever metric is asked for.
Lift, capture rate, gains and the bootstrap have no sklearn form and are written out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve


@dataclass(frozen=True)
class Curve:
    """Points of a ROC (x=fpr, y=tpr) or precision-recall (x=recall, y=precision) curve."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray


def _arrays(y_true, scores, *, needs: tuple[int, ...] = (), what: str = ""
            ) -> tuple[np.ndarray, np.ndarray]:
    """Flat int labels and float scores; `needs` lists the labels `what` cannot do without."""
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
    if not np.isin(needs, y).all():
        raise ValueError(f"{what} needs {'both classes' if len(needs) == 2 else 'positives'}")
    return y.astype(int), s


def roc_curve(y_true, scores) -> Curve:
    """ROC curve with one point per distinct score (ties form one diagonal step)."""
    y, s = _arrays(y_true, scores, needs=(0, 1), what="ROC")
    return Curve(*skm.roc_curve(y, s, drop_intermediate=False))


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2."""
    return float(skm.roc_auc_score(*_arrays(y_true, scores, needs=(0, 1), what="ROC")))


def pr_curve(y_true, scores) -> Curve:
    """Precision-recall curve, one point per distinct score, starting at recall 0."""
    y, s = _arrays(y_true, scores, needs=(1,), what="precision-recall")
    precision, recall, thresholds = skm.precision_recall_curve(y, s)
    return Curve(recall[::-1], precision[::-1], np.r_[np.inf, thresholds[::-1]])


def average_precision(y_true, scores) -> float:
    """PR AUC as average precision: sum over thresholds of (recall gain) x precision."""
    y, s = _arrays(y_true, scores, needs=(1,), what="precision-recall")
    return float(skm.average_precision_score(y, s))


def confusion(y_true, scores, threshold: float) -> dict[str, int]:
    """Counts tp, fp, tn, fn when `score >= threshold` predicts the positive class."""
    y, s = _arrays(y_true, scores)
    tn, fp, fn, tp = skm.confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1]).ravel()
    return {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}


def threshold_metrics(y_true, scores, threshold: float) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall and F1 at `threshold` (0 when undefined).
    Balanced accuracy is the mean recall of both classes, an absent class counting 0."""
    y, s = _arrays(y_true, scores)
    pred = (s >= threshold).astype(int)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, pred, labels=[0, 1], zero_division=0)
    return {"accuracy": float(skm.accuracy_score(y, pred)),
            "balanced_accuracy": float(recall.mean()), "precision": float(precision[1]),
            "recall": float(recall[1]), "f1": float(f1[1])}


def best_f1_threshold(y_true, scores) -> float:
    """The score threshold (`score >= t` is positive) with the highest F1; the highest such
    threshold on ties, i.e. the fewest positive predictions."""
    y, s = _arrays(y_true, scores, needs=(1,), what="F1")
    precision, recall, thresholds = skm.precision_recall_curve(y, s)  # thresholds ascending
    p, r = precision[:-1], recall[:-1]
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=p + r > 0)
    return float(thresholds[np.flatnonzero(np.isclose(f1, f1.max(), rtol=1e-12, atol=0))[-1]])


def log_loss(y_true, probabilities) -> float:
    """Mean negative log-likelihood of probabilities in [0, 1] (0 and 1 are clipped to
    machine epsilon, so the loss stays finite)."""
    return float(skm.log_loss(*_arrays(y_true, probabilities), labels=[0, 1]))


def brier(y_true, probabilities) -> float:
    """Mean squared difference between probability in [0, 1] and outcome (0 is perfect)."""
    return float(skm.brier_score_loss(*_arrays(y_true, probabilities)))


def top_fraction_positives(y_true, scores, fraction: float = 0.1) -> tuple[float, float]:
    """(expected positives, size) of the top `fraction` by score. Scores tied across the
    cut-off share the remaining places at the tied group's positive rate (the expectation
    under random tie-breaking), so a constant score gets the base rate, not an arbitrary order."""
    y, s = _arrays(y_true, scores)
    size = max(1, int(np.ceil(fraction * y.size)))
    cut = np.sort(s)[::-1][size - 1]
    above, tied = s > cut, s == cut
    positives = y[above].sum() + (size - above.sum()) * y[tied].mean()
    return float(positives), float(size)


def lift(y_true, scores, fraction: float = 0.1) -> float:
    """Positive rate in the top `fraction` by score divided by the overall positive rate."""
    positives, size = top_fraction_positives(y_true, scores, fraction)
    return _ratio(positives / size, np.mean(y_true))


def capture_rate(y_true, scores, fraction: float = 0.1) -> float:
    """Share of all positives found in the top `fraction` by score."""
    return _ratio(top_fraction_positives(y_true, scores, fraction)[0], np.sum(y_true))


def gains_curve(y_true, scores, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gains: (fraction targeted, fraction of positives captured)."""
    fractions = np.linspace(0, 1, points)
    captured = [0.0] + [capture_rate(y_true, scores, f) for f in fractions[1:]]
    return fractions, np.asarray(captured)


def calibration_bins(y_true, probabilities, bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability diagram data over equal-width bins of probabilities in [0, 1] (empty bins
    dropped): mean predicted probability, observed positive rate and row count per bin.
    calibration_curve returns no counts, so they are counted here with its (lo, hi] bin rule."""
    y, p = _arrays(y_true, probabilities)
    rate, mean_p = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    count = np.bincount(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], p), minlength=bins)
    return {"mean_predicted": mean_p, "observed_rate": rate, "count": count[count > 0]}


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
            gains.append(skm.roc_auc_score(y[idx], s[idx]) - skm.roc_auc_score(y[idx], r[idx]))
    if not gains:
        return {"ci_low": float("nan"), "ci_high": float("nan"), "share_positive": float("nan")}
    g = np.asarray(gains)
    return {"ci_low": float(np.quantile(g, 0.025)), "ci_high": float(np.quantile(g, 0.975)),
            "share_positive": float(np.mean(g > 0))}


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0
