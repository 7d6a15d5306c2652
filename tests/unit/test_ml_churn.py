"""The churn pipelines of every family, class weights, the grid, the tuning choice and the
evaluation report on small data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ml import churn, evaluate
from tests.conftest import churn_settings

CFG = churn_settings(features=["recency_days", "frequency", "spend_trend"],  # 2 logged
                     class_weighting="none", bootstrap_samples=0,
                     logistic_regression={"reg_param": [0.0, 0.1], "elastic_net_param": [0.0],
                                          "max_iter": [50]})
SPEC = churn.ModelSpec(CFG, horizon_days=90, seed=3)
SCHEMA = ("customer_id string, as_of_date date, recency_days int, frequency long, "
          "spend_trend double, label double")
LR = churn.Setting("logistic_regression", (("reg_param", 0.0), ("elastic_net_param", 0.0),
                                           ("max_iter", 50)))


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
    model = churn.fit(labeled, SPEC, LR)
    scored = churn.with_churn_probability(labeled, model)
    assert scored.columns == [*labeled.columns, "churn_probability"]
    rows = evaluate.collect_scored(scored)
    assert ((rows.probability > 0) & (rows.probability < 1)).all()
    assert evaluate.roc_auc_of(scored, score_col="churn_probability", label_col="label") > 0.8
    drivers = churn.drivers(model, CFG.features)
    assert drivers.kind == "coefficient"
    assert list(drivers.values) == ["log1p(recency_days)", "log1p(frequency)", "spend_trend",
                                    "intercept"]
    assert drivers.values["spend_trend"] < -1.0  # churn falls as the trend rises
    assert churn.spark_roc_auc(labeled, model) == pytest.approx(
        evaluate.roc_auc_of(scored, score_col="churn_probability", label_col="label"), abs=0.02)


@pytest.mark.parametrize("family", ["gbt", "random_forest"])
def test_tree_families_learn_the_signal_and_rank_its_driver_first(labeled, family):
    setting = next(s for s in churn.grid(churn_settings(families=[family])))
    model = churn.fit(labeled, SPEC, setting)
    assert churn.family_of(model) == family
    scored = churn.with_churn_probability(labeled, model)
    assert evaluate.roc_auc_of(scored, score_col="churn_probability", label_col="label") > 0.8
    drivers = churn.drivers(model, CFG.features)
    assert drivers.kind == "importance" and sum(drivers.values.values()) == pytest.approx(1.0)
    assert max(drivers.values, key=drivers.values.get) == "spend_trend"


def test_tree_fits_are_reproducible_from_the_seed(labeled):
    setting = churn.grid(churn_settings(families=["random_forest"]))[0]
    first, second = (churn.with_churn_probability(labeled, churn.fit(labeled, SPEC, setting))
                     .toPandas()["churn_probability"] for _ in range(2))
    assert np.array_equal(first.to_numpy(), second.to_numpy())


def test_the_grid_is_every_combination_of_every_family_in_configured_order():
    cfg = churn_settings(families=["random_forest", "logistic_regression"],
                         random_forest={"max_depth": [3, 6], "num_trees": [10, 20]},
                         logistic_regression={"reg_param": [0.0, 0.1],
                                              "elastic_net_param": [0.0], "max_iter": [20]})
    labels = [s.label() for s in churn.grid(cfg)]
    assert labels == ["random_forest max_depth=3 num_trees=10",
                      "random_forest max_depth=3 num_trees=20",
                      "random_forest max_depth=6 num_trees=10",
                      "random_forest max_depth=6 num_trees=20",
                      "logistic_regression reg_param=0 elastic_net_param=0 max_iter=20",
                      "logistic_regression reg_param=0.1 elastic_net_param=0 max_iter=20"]


def test_ties_go_to_the_family_listed_first_then_the_simpler_setting():
    cfg = churn_settings(families=["gbt", "logistic_regression"],
                         gbt={"max_depth": [5, 3], "max_iter": [10], "step_size": [0.1]})
    points = [churn.GridPoint(s, 0.7) for s in churn.grid(cfg)]
    assert churn.best_of(points).setting.label() == "gbt max_depth=3 max_iter=10 step_size=0.1"
    lr_only = [p for p in points if p.setting.family == "logistic_regression"]
    assert churn.best_of(lr_only).setting.values["reg_param"] == 0.01  # more regularised
    better = churn.GridPoint(lr_only[0].setting, 0.71)
    assert churn.best_of([*points, better]) is better


def test_tuning_keeps_the_best_of_each_family_and_the_candidate(labeled):
    cfg = churn_settings(features=CFG.features, families=["logistic_regression", "gbt"])
    scores = {"logistic_regression": 0.70, "gbt": 0.75}
    calls = []

    def by_family(model, validation):
        calls.append(churn.family_of(model))
        return scores[churn.family_of(model)]

    tuning = churn.tune(labeled, labeled, churn.ModelSpec(cfg, 90, 3), by_family, workers=2)
    assert sorted(calls) == ["gbt", "logistic_regression", "logistic_regression"]
    assert [p.setting.family for p in tuning.grid] == ["logistic_regression"] * 2 + ["gbt"]
    assert set(tuning.best) == {"logistic_regression", "gbt"}
    assert tuning.candidate == "gbt"
    assert churn.family_of(tuning.models["gbt"]) == "gbt"


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


def test_gold_columns_of_lifetime_features_are_their_sources():
    assert churn.gold_columns(["recency_days", "bgnbd_p_alive", "tenure_days"]) == [
        "recency_days", "tenure_days", "interpurchase_mean_days"]


def test_roc_auc_of_ignores_null_rows(spark):
    df = spark.createDataFrame([(0, 0.1), (1, 0.9), (None, 0.5), (1, None), (0, 0.4)],
                               "truly_gone int, score double")
    assert evaluate.roc_auc_of(df, score_col="score", label_col="truly_gone") == 1.0


def test_evaluation_report_names_every_metric_and_says_who_wins():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400).astype(float)
    rows = evaluate.ScoredRows(y, np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 400), 0, 1),
                               rng.integers(0, 200, 400).astype(float),
                               lifetime=rng.gamma(2.0, 1.0, 400) * (1.2 - y))
    ev = evaluate.evaluate(rows, thresholds=evaluate.Thresholds(0.5, 60.0),
                           train_churn_rate=0.45, bootstrap_samples=30, seed=0)
    flat = ev.flat_metrics()
    for name in ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier",
                 "test_lift_top_decile", "test_capture_top_decile", "test_f1_at_0_5",
                 "test_f1_at_best", "test_balanced_accuracy_at_best", "recency_test_roc_auc",
                 "majority_test_brier", "roc_auc_gain_vs_recency", "roc_auc_gain_ci_low",
                 "threshold_best_f1", "recency_threshold_days", "bgnbd_test_roc_auc",
                 "roc_auc_gain_vs_bgnbd"):
        assert name in flat, name
    assert flat["bgnbd_test_roc_auc"] > 0.6  # fewer expected purchases ranks as churn
    assert ev.beats_recency and ev.gain["roc_auc_gain_ci_low"] > 0
    table = evaluate.summary_table(ev)
    assert "model beats the recency rule" in table and "ROC AUC" in table
    worse = evaluate.evaluate(evaluate.ScoredRows(y, 1 - rows.probability, rows.recency),
                              thresholds=evaluate.Thresholds(0.5, 60.0), train_churn_rate=0.45,
                              bootstrap_samples=0, seed=0)
    assert not worse.beats_recency and "does NOT beat" in worse.verdict()
    assert "roc_auc_gain_ci_low" not in worse.flat_metrics()  # NaN is not logged
    assert worse.lifetime is None and "bgnbd_test_roc_auc" not in worse.flat_metrics()
    rows_ = evaluate.comparison_rows({"gbt": (0.8, ev), "logistic_regression": (0.7, worse)},
                                     "gbt")
    assert [r["model"] for r in rows_] == ["gbt", "logistic_regression", "recency rule",
                                           "BG/NBD expected purchases", "majority"]
    assert rows_[2]["log_loss"] is None and rows_[0]["candidate"]
    text = evaluate.comparison_table(rows_, tuning_metric="roc_auc")
    assert "* gbt" in text and "lift@10%" in text and f"{ev.model['roc_auc']:.4f}" in text


def test_prepared_fits_are_the_pipeline_fit(labeled):
    """Tuning fits the feature stages once; each setting's model must be what fitting the
    whole pipeline gives."""
    setting = churn.Setting("logistic_regression", (("reg_param", 0.1),
                                                    ("elastic_net_param", 0.5),
                                                    ("max_iter", 50)))
    whole = churn.build_preprocessing(CFG.features).fit(
        churn.with_class_weights(labeled, mode=CFG.class_weighting))
    weighted = whole.transform(churn.with_class_weights(labeled, mode=CFG.class_weighting))
    classifier = churn.build_classifier(setting, seed=3).fit(weighted)
    prepared = churn.prepare(labeled, SPEC)
    try:
        model = prepared.fit(setting, seed=3)
    finally:
        prepared.release()
    assert prepared.lifetime_params is None  # no lifetime feature among the inputs
    assert [type(s) for s in model.stages] == [*map(type, whole.stages), type(classifier)]
    assert churn.drivers(model, CFG.features).values == pytest.approx(
        churn.drivers(churn.PipelineModel([*whole.stages, classifier]), CFG.features).values,
        abs=1e-9)
    scaled, expected = model.stages[2], whole.stages[2]
    assert scaled.mean.toArray() == pytest.approx(expected.mean.toArray())
    assert scaled.std.toArray() == pytest.approx(expected.std.toArray())
