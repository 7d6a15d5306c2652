"""Metric functions on tiny examples whose values are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml import baselines
from ml import metrics as m

Y = [0, 0, 1, 1]
S = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_counts_ordered_pairs_and_half_ties():
    # positive/negative pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4
    assert m.roc_auc(Y, S) == pytest.approx(0.75)
    assert m.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert m.roc_auc([0, 1, 0, 1], [0.2, 0.2, 0.1, 0.9]) == pytest.approx(0.875)
    # 3 positives x 2 negatives: the two positives at 0.5 beat 0.1 and tie 0.5 (2 + 2 * 1/2),
    # the positive at 0.9 beats both -> 5 of 6
    assert m.roc_auc([0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.5, 0.9]) == pytest.approx(5 / 6)


def test_roc_curve_has_one_point_per_distinct_score_and_a_diagonal_step_for_ties():
    curve = m.roc_curve([0, 1, 0, 1], [0.2, 0.2, 0.1, 0.9])
    # t=0.9: tp 1 fp 0; t=0.2 (one positive, one negative tied): tp 2 fp 1; t=0.1: everything
    assert curve.x.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert curve.y.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert curve.thresholds.tolist() == [math.inf, 0.9, 0.2, 0.1]


def test_pr_curve_starts_at_recall_zero_with_thresholds_descending():
    curve = m.pr_curve(Y, S)
    # t=0.8: 1 of 1 flagged, 1 of 2 found; 0.4: 1 of 2; 0.35: 2 of 3, all found; 0.1: 2 of 4
    assert curve.x.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert curve.y == pytest.approx([1.0, 1.0, 0.5, 2 / 3, 0.5])
    assert curve.thresholds.tolist() == [math.inf, 0.8, 0.4, 0.35, 0.1]


def test_average_precision_by_hand():
    # thresholds 0.8: P=1 R=.5; 0.4: P=.5 R=.5; 0.35: P=2/3 R=1 -> .5*1 + .5*2/3
    assert m.average_precision(Y, S) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_threshold_metrics_and_balanced_accuracy_by_hand():
    y, s = [1, 1, 1, 0], [0.9, 0.2, 0.8, 0.7]
    assert m.confusion(y, s, 0.5) == {"tp": 2, "fp": 1, "tn": 0, "fn": 1}
    got = m.threshold_metrics(y, s, 0.5)
    assert got["accuracy"] == pytest.approx(0.5)
    assert got["balanced_accuracy"] == pytest.approx((2 / 3 + 0) / 2)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)


def test_no_positive_predictions_give_zero_not_nan():
    got = m.threshold_metrics([0, 1], [0.1, 0.2], 0.5)
    assert got["precision"] == 0.0 and got["f1"] == 0.0 and got["balanced_accuracy"] == 0.5
    # one class only: its recall is 1, the absent class counts 0 (not dropped)
    assert m.threshold_metrics([0, 0], [0.1, 0.2], 0.5)["balanced_accuracy"] == 0.5


def test_brier_and_log_loss_by_hand():
    assert m.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.2**2 + 0.4**2) / 2)
    assert m.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert m.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert math.isfinite(m.log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite


def test_lift_and_capture_in_the_top_decile():
    y = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.1, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15]
    # top decile = 1 row, a positive: precision 1 vs base rate 0.2
    assert m.lift(y, s, 0.1) == pytest.approx(5.0)
    assert m.capture_rate(y, s, 0.1) == pytest.approx(0.5)
    assert m.capture_rate(y, s, 0.3) == pytest.approx(0.5)


def test_gains_curve_of_a_known_ordering():
    # highest score first: positive, negative, positive, negative
    fractions, captured = m.gains_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], points=5)
    assert fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert captured.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_tied_scores_share_the_cut_off_at_their_positive_rate():
    y = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert m.lift(y, [0.5] * 10, 0.1) == pytest.approx(1.0)
    assert m.capture_rate(y, [0.5] * 10, 0.1) == pytest.approx(0.1)
    # one clear top row, then a tie of 3 rows (1 positive) for 1 remaining place of 2
    s = [0.9, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    y2 = [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    positives, size = m.top_fraction_positives(y2, s, 0.2)
    assert (positives, size) == (pytest.approx(1 / 3), 2.0)


def test_best_f1_threshold_picks_the_score_that_maximises_f1():
    # predicting the top 3 (t=0.35) gives F1 0.8, better than the top 1 (0.667) or all (0.667)
    assert m.best_f1_threshold(Y, S) == pytest.approx(0.35)


def test_best_f1_threshold_prefers_the_higher_threshold_on_ties():
    # t=0.9: P 1, R 1/2; t=0.6: P 1/2, R 1 -> both F1 2/3 (0.8 and 0.7 are worse)
    assert m.best_f1_threshold([1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6]) == pytest.approx(0.9)


def test_calibration_bins_by_hand():
    got = m.calibration_bins([0, 1, 1, 0], [0.05, 0.15, 0.95, 0.92], bins=10)
    assert got["count"].tolist() == [1, 1, 2]
    assert got["observed_rate"].tolist() == [0.0, 1.0, 0.5]
    assert got["mean_predicted"] == pytest.approx([0.05, 0.15, 0.935])


def test_calibration_bins_are_closed_on_the_right_with_0_and_1_in_the_end_bins():
    got = m.calibration_bins([1, 0, 0, 1, 1], [0.5, 0.45, 0.0, 1.0, 0.95], bins=10)
    # 0.0 -> [0, 0.1]; 0.45 and 0.5 -> (0.4, 0.5]; 0.95 and 1.0 -> (0.9, 1]
    assert got["count"].tolist() == [1, 2, 2]
    assert got["observed_rate"].tolist() == [0.0, 0.5, 1.0]
    assert got["mean_predicted"] == pytest.approx([0.0, 0.475, 0.975])


def test_bootstrap_gain_is_zero_against_itself_and_nan_without_samples():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 200), rng.random(200)
    same = m.bootstrap_auc_gain(y, s, s, samples=20, seed=1)
    assert same["ci_low"] == same["ci_high"] == 0.0 and same["share_positive"] == 0.0
    assert math.isnan(m.bootstrap_auc_gain(y, s, s, samples=0, seed=1)["ci_low"])


def test_bootstrap_gain_of_a_perfect_ranking_over_a_reversed_one_is_one():
    y = [0, 1] * 10
    s = [0.1, 0.9] * 10
    got = m.bootstrap_auc_gain(y, s, [1 - v for v in s], samples=20, seed=2)
    assert got == {"ci_low": 1.0, "ci_high": 1.0, "share_positive": 1.0}


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="0 or 1"):
        m.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="both classes"):
        m.roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        m.brier([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="differ in length"):
        m.brier([0, 1], [0.1])
    with pytest.raises(ValueError, match="no rows"):
        m.lift([], [])
    with pytest.raises(ValueError, match="needs positives"):
        m.average_precision([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="needs positives"):
        m.best_f1_threshold([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="outside"):
        m.calibration_bins([0, 1], [0.1, 1.2])


def test_majority_baseline_is_the_base_rate():
    y = [1, 0, 0, 0]
    got = baselines.majority_metrics(y, train_rate=0.3)
    assert got["roc_auc"] == 0.5 and got["lift_top_decile"] == pytest.approx(1.0)
    assert got["brier"] == pytest.approx((0.7**2 + 3 * 0.3**2) / 4)
    assert got["accuracy_at_0_5"] == pytest.approx(0.75)  # predicts the majority: active
    assert got["recall_at_0_5"] == 0.0


def test_recency_baseline_ranks_by_days_since_last_purchase():
    got = baselines.recency_metrics([0, 0, 1, 1], [3, 40, 90, 10], threshold_days=30)
    assert got["roc_auc"] == pytest.approx(0.75)
    assert got["precision_at_best"] == pytest.approx(0.5)
    assert "brier" not in got and "log_loss" not in got
