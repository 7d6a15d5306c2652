"""Calibration: a model whose probabilities are off (balanced class weights on rare churn)
is calibrated on validation rows; the chosen calibrator lowers log loss on unseen rows,
keeps the ranking, travels with the pipeline, and the coefficients are still the model's."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from ml import calibration, churn, evaluate
from ml import metrics as m
from tests.conftest import churn_settings

CFG = churn_settings(features=["recency_days", "frequency", "spend_trend"],
                     class_weighting="balanced")
SPEC = churn.ModelSpec(CFG, horizon_days=90, seed=1)
LR = churn.Setting("logistic_regression", (("reg_param", 0.0), ("elastic_net_param", 0.0),
                                           ("max_iter", 50)))
SCHEMA = ("customer_id string, as_of_date date, recency_days int, frequency long, "
          "spend_trend double, label double")


def rows(spark, start: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    data = []
    for i in range(start, start + n):
        trend = float(rng.normal())
        churned = float(rng.random() < 1 / (1 + np.exp(3.0 + 1.5 * trend)))  # ~8% churn
        data.append((f"c{i}", date(2023, 1, 1), int(rng.integers(0, 400)),
                     int(rng.integers(1, 50)), trend, churned))
    return spark.createDataFrame(data, SCHEMA)


@pytest.fixture(scope="module")
def fitted(spark):
    train, validation, test = rows(spark, 0, 1500, 1), rows(spark, 2000, 1500, 2), rows(
        spark, 4000, 1500, 3)
    model = churn.fit(train, SPEC, LR)
    return model, calibration.calibrate(model, validation, seed=7), test


def test_balanced_weights_overstate_churn_and_calibration_fixes_it_on_unseen_rows(fitted):
    model, cal, test = fitted
    raw = evaluate.collect_scored(churn.with_churn_probability(test, model))
    calibrated = evaluate.collect_scored(
        churn.with_churn_probability(test, cal.applied_to(model)))
    assert raw.probability.mean() > 2 * raw.y.mean()  # balanced weights: far too high
    assert abs(calibrated.probability.mean() - raw.y.mean()) < 0.03
    assert m.log_loss(calibrated.y, calibrated.probability) < m.log_loss(raw.y, raw.probability)
    assert m.roc_auc(calibrated.y, calibrated.probability) == pytest.approx(
        m.roc_auc(raw.y, raw.probability), abs=0.02)  # monotone: the ranking stays


def test_the_chosen_method_has_the_lowest_out_of_fold_log_loss(fitted):
    _, cal, _ = fitted
    assert set(cal.log_loss) == {"none", "platt", "isotonic"}
    assert cal.method in calibration.METHODS
    assert cal.log_loss[cal.method] == min(cal.log_loss[k] for k in calibration.METHODS)
    assert cal.log_loss[cal.method] < cal.log_loss["none"]


@pytest.mark.parametrize("method", calibration.METHODS)
def test_each_calibrator_saves_with_the_pipeline_and_leaves_the_coefficients(
        fitted, method, tmp_path, spark):
    model, cal, test = fitted
    validation = rows(spark, 2000, 1500, 2)
    stages = calibration._fit(method, model.transform(validation))
    pipeline = replace(cal, method=method, stages=tuple(stages)).applied_to(model)
    pipeline.write().overwrite().save(str(tmp_path / "model"))
    loaded = type(pipeline).load(str(tmp_path / "model"))
    before = churn.with_churn_probability(test, pipeline).toPandas()
    after = churn.with_churn_probability(test, loaded).toPandas()
    assert np.allclose(before["churn_probability"], after["churn_probability"])
    assert (churn.drivers(loaded, CFG.features).values
            == churn.drivers(model, CFG.features).values)
