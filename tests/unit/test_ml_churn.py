"""The churn pipeline, class weights, tuning choice and the evaluation report on small data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from lakehouse.settings import ChurnModelSettings
from ml import churn, evaluate

CFG = ChurnModelSettings(
    features=["recency_days", "frequency", "spend_trend"],  # the first two are logged
    class_weighting="none", max_iter=50, reg_params=[0.0, 0.1], elastic_net_params=[0.0],
    tuning_metric="roc_auc", bootstrap_samples=0, promotion_min_gain=0.0, top_coefficients=5)
SCHEMA = ("customer_id string, as_of_date date, recency_days int, frequency long, "
          "spend_trend double, label double")


@pytest.fixture(scope="module")
def labeled(spark):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(300):
        trend = float(rng.normal())
        churned = float(rng.random() < 1 / (1 + np.exp(2.5 * trend)))
        rows.append((f"c{i}", date(2023, 1, 1), int(rng.integers(0, 400)),
                     int(rng.integers(1, 50)), trend, churned))
    return spark.createDataFrame(rows, SCHEMA)


def test_pipeline_learns_the_signal_and_adds_only_the_probability(labeled):
    model = churn.fit(labeled, CFG, reg_param=0.0, elastic_net_param=0.0)
    scored = churn.with_churn_probability(labeled, model)
    assert scored.columns == [*labeled.columns, "churn_probability"]
    rows = evaluate.collect_scored(scored)
    assert ((rows.probability > 0) & (rows.probability < 1)).all()
    assert evaluate.roc_auc_of(scored, score_col="churn_probability", label_col="label") > 0.8
    coefs = churn.coefficients(model, CFG)
    assert list(coefs) == ["log1p(recency_days)", "log1p(frequency)", "spend_trend", "intercept"]
    assert coefs["spend_trend"] < -1.0  # churn falls as the trend rises
    assert churn.spark_roc_auc(labeled, model) == pytest.approx(
        evaluate.roc_auc_of(scored, score_col="churn_probability", label_col="label"), abs=0.02)


def test_log_transform_clips_negative_values_at_zero(spark):
    df = spark.createDataFrame([(-5.0, 0.3), (np.e - 1, -0.2)],
                               "total_spend double, spend_trend double")
    out = churn.log_transformer(["total_spend", "spend_trend"]).transform(df)
    assert [r["log1p_total_spend"] for r in out.collect()] == pytest.approx([0.0, 1.0])
    assert "log1p_spend_trend" not in out.columns  # the contract keeps a share in [-1, 1] as is


def test_balanced_class_weights(spark):
    df = spark.createDataFrame([(1.0,), (0.0,), (0.0,), (0.0,)], "label double")
    weights = [r["class_weight"] for r in churn.with_class_weights(df, mode="balanced").collect()]
    assert weights == pytest.approx([2.0, 4 / 6, 4 / 6, 4 / 6])  # n / (2 n_class)
    assert {r["class_weight"] for r in churn.with_class_weights(df, mode="none").collect()} == {
        1.0}
    with pytest.raises(ValueError, match="both classes"):
        churn.with_class_weights(df.where("label = 0"), mode="balanced")


def test_tuning_keeps_the_best_and_breaks_ties_towards_more_regularisation(labeled):
    calls = []

    def constant(model, validation):
        calls.append(model.stages[-1].getRegParam())
        return 0.7

    tuning = churn.tune(labeled, labeled, CFG, constant)
    assert calls == [0.0, 0.1] and len(tuning.grid) == 2
    assert tuning.best.reg_param == 0.1
    assert tuning.model.stages[-1].getRegParam() == 0.1


def test_roc_auc_of_ignores_null_rows(spark):
    df = spark.createDataFrame([(0, 0.1), (1, 0.9), (None, 0.5), (1, None), (0, 0.4)],
                               "truly_gone int, score double")
    assert evaluate.roc_auc_of(df, score_col="score", label_col="truly_gone") == 1.0


def test_evaluation_report_names_every_metric_and_says_who_wins():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400).astype(float)
    rows = evaluate.ScoredRows(y, np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 400), 0, 1),
                               rng.integers(0, 200, 400).astype(float))
    ev = evaluate.evaluate(rows, thresholds=evaluate.Thresholds(0.5, 60.0),
                           train_churn_rate=0.45, bootstrap_samples=30, seed=0)
    flat = ev.flat_metrics()
    for name in ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier",
                 "test_lift_top_decile", "test_capture_top_decile", "test_f1_at_0_5",
                 "test_f1_at_best", "test_balanced_accuracy_at_best", "recency_test_roc_auc",
                 "majority_test_brier", "roc_auc_gain_vs_recency", "roc_auc_gain_ci_low",
                 "threshold_best_f1", "recency_threshold_days"):
        assert name in flat, name
    assert ev.beats_recency and ev.gain["roc_auc_gain_ci_low"] > 0
    table = evaluate.summary_table(ev)
    assert "model beats the recency rule" in table and "ROC AUC" in table
    worse = evaluate.evaluate(evaluate.ScoredRows(y, 1 - rows.probability, rows.recency),
                              thresholds=evaluate.Thresholds(0.5, 60.0), train_churn_rate=0.45,
                              bootstrap_samples=0, seed=0)
    assert not worse.beats_recency and "does NOT beat" in worse.verdict()
    assert "roc_auc_gain_ci_low" not in worse.flat_metrics()  # NaN is not logged


def test_prepared_fits_are_the_pipeline_fit(labeled):
    """Tuning fits the feature stages once; each setting's model must be what fitting the
    whole pipeline gives."""
    whole = churn.build_pipeline(CFG, reg_param=0.1, elastic_net_param=0.5).fit(
        churn.with_class_weights(labeled, mode=CFG.class_weighting))
    prepared = churn.prepare(labeled, CFG)
    try:
        model = prepared.fit(CFG, reg_param=0.1, elastic_net_param=0.5)
    finally:
        prepared.release()
    assert [type(s) for s in model.stages] == [type(s) for s in whole.stages]
    assert churn.coefficients(model, CFG) == pytest.approx(churn.coefficients(whole, CFG),
                                                           abs=1e-9)
    scaled, expected = model.stages[2], whole.stages[2]
    assert scaled.mean.toArray() == pytest.approx(expected.mean.toArray())
    assert scaled.std.toArray() == pytest.approx(expected.std.toArray())
