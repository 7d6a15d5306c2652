"""Out-of-time split planning, leakage checks, labeled examples and fingerprints."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from pyspark.sql import types as T

from ml import dataset
from ml.synthetic import snapshot_dates

MONTHS = snapshot_dates(date(2023, 1, 1), 12)  # 2023-01-01 .. 2023-12-01


def test_split_tests_on_the_latest_date_and_keeps_label_windows_before_it():
    plan = dataset.plan_split(MONTHS, 90)
    assert plan.test_date == date(2023, 12, 1)
    # 2023-09-01 + 90 days = 2023-11-30 <= test; 2023-10-01 + 90 = 2023-12-30 > test
    assert plan.validation_date == date(2023, 9, 1)
    assert plan.tune_dates == tuple(MONTHS[:6])  # 2023-06-01 + 90 = 2023-08-30 <= 09-01
    assert plan.refit_dates == (*MONTHS[:6], date(2023, 9, 1))
    assert plan.unused_dates == (date(2023, 7, 1), date(2023, 8, 1), date(2023, 10, 1),
                                 date(2023, 11, 1))
    for d in plan.refit_dates:
        assert dataset.label_window_end(d, 90) <= plan.test_date
    for d in plan.tune_dates:
        assert dataset.label_window_end(d, 90) <= plan.validation_date


def test_a_window_ending_exactly_on_the_test_date_is_allowed():
    plan = dataset.plan_split([date(2023, 1, 1), date(2023, 1, 29), date(2023, 2, 26)], 28)
    assert (plan.tune_dates, plan.validation_date) == ((date(2023, 1, 1),), date(2023, 1, 29))


def test_params_are_flat_strings():
    params = dataset.plan_split(MONTHS, 28).params()
    assert params["test_as_of_date"] == "2023-12-01"
    assert params["horizon_days"] == "28"
    assert all(isinstance(v, str) for v in params.values())


@pytest.mark.parametrize("dates, horizon", [
    ([], 28),
    ([date(2023, 1, 1)], 28),
    (MONTHS[:3], 90),  # nothing's window ends by the test date
    (MONTHS[:2], 28),  # a validation date but no tuning snapshot before it
])
def test_too_little_history_is_a_clear_error(dates, horizon):
    with pytest.raises(dataset.NotEnoughSnapshotsError):
        dataset.plan_split(dates, horizon)


def test_min_train_snapshots_is_enforced():
    assert len(dataset.plan_split(MONTHS[:4], 28, min_train_snapshots=2).tune_dates) == 2
    with pytest.raises(dataset.NotEnoughSnapshotsError, match="needs 3 training"):
        dataset.plan_split(MONTHS[:4], 28, min_train_snapshots=3)


def test_check_no_leakage_rejects_a_window_past_the_test_date():
    plan = dataset.plan_split(MONTHS, 28)
    leaky = replace(plan, refit_dates=(*plan.refit_dates, date(2023, 11, 15)))
    with pytest.raises(dataset.LeakageError, match="2023-11-15"):
        dataset.check_no_leakage(leaky)
    with pytest.raises(dataset.LeakageError, match="also a training"):
        dataset.check_no_leakage(replace(plan, tune_dates=(plan.validation_date,)))


def test_choose_horizon():
    assert dataset.choose_horizon([90, 90], None) == 90
    assert dataset.choose_horizon([30, 90], 30) == 30
    with pytest.raises(dataset.HorizonError, match=r"set ml\.horizon_days"):
        dataset.choose_horizon([30, 90], None)
    with pytest.raises(dataset.HorizonError, match="only have"):
        dataset.choose_horizon([90], 30)


FEATURES = T.StructType([T.StructField("customer_id", T.StringType()),
                         T.StructField("as_of_date", T.DateType()),
                         T.StructField("recency_days", T.IntegerType())])
LABELS = T.StructType([T.StructField("customer_id", T.StringType()),
                       T.StructField("as_of_date", T.DateType()),
                       T.StructField("horizon_days", T.IntegerType()),
                       T.StructField("churned", T.IntegerType()),
                       T.StructField("next_purchase_date", T.DateType())])
D1, D2 = date(2023, 1, 1), date(2023, 2, 1)


def test_labeled_examples_keep_labeled_rows_of_one_horizon(spark):
    features = spark.createDataFrame(
        [("a", D1, 5), ("b", D1, 50), ("a", D2, 7), ("c", D2, 1)], FEATURES)
    labels = spark.createDataFrame(
        [("a", D1, 28, 0, date(2023, 1, 9)), ("b", D1, 28, 1, None),
         ("a", D1, 90, 0, date(2023, 1, 9)), ("a", D2, 28, 1, None)], LABELS)
    got = dataset.labeled_examples(features, labels, horizon_days=28)
    assert sorted(tuple(r) for r in got.collect()) == [
        ("a", D1, 5, 0.0), ("a", D2, 7, 1.0), ("b", D1, 50, 1.0)]
    assert dict(got.dtypes)["label"] == "double"
    assert dataset.label_dates(labels, 90) == [D1]


def test_fingerprint_is_order_independent_and_sees_a_flipped_label(spark):
    rows = [("a", D1, 1.0), ("b", D1, 0.0), ("c", D2, 1.0)]
    schema = "customer_id string, as_of_date date, label double"
    first = dataset.fingerprint(spark.createDataFrame(rows, schema))
    again = dataset.fingerprint(spark.createDataFrame(rows[::-1], schema).repartition(3))
    flipped = dataset.fingerprint(spark.createDataFrame([*rows[:2], ("c", D2, 0.0)], schema))
    assert first == again and first != flipped and len(first) == 64
    assert dataset.fingerprint(spark.createDataFrame([], schema)) != first


def test_fingerprints_of_several_splits_in_one_pass_are_the_single_fingerprints(spark):
    rows = [("a", D1, 1.0), ("b", D1, 0.0), ("c", D2, 1.0), ("a", D2, 0.0)]
    df = spark.createDataFrame(rows, "customer_id string, as_of_date date, label double")
    splits = {"one": [D1], "two": [D2], "both": [D1, D2], "none": [date(2020, 1, 1)]}
    assert dataset.fingerprints(df, splits) == {
        name: dataset.fingerprint(dataset.filter_dates(df, dates))
        for name, dates in splits.items()}


def test_check_features_names_missing_and_null_columns(spark):
    df = spark.createDataFrame([("a", 1, 2.0), ("b", None, 3.0), ("c", None, 4.0)],
                               "customer_id string, recency_days int, frequency double")
    dataset.check_features(df, ["frequency"], table="gold.f")
    with pytest.raises(dataset.FeatureContractError, match=r"\{'recency_days': 2\}"):
        dataset.check_features(df, ["recency_days", "frequency"], table="gold.f")
    with pytest.raises(dataset.FeatureContractError, match=r"lacks .*spend_trend"):
        dataset.check_features(df, ["spend_trend"], table="gold.f")
