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
D1, D2, D3 = date(2023, 1, 1), date(2023, 2, 1), date(2023, 3, 1)


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
    rows = [("a", D1, 1.0), ("b", D1, 0.0), ("c", D2, 1.0), ("a", D2, 0.0), ("d", D3, 1.0)]
    df = spark.createDataFrame(rows, "customer_id string, as_of_date date, label double")
    plan = dataset.SplitPlan(28, D3, D2, (D1,), (D1, D2), ())
    parts = dataset.with_parts(df, plan)
    splits = ["tune", "validation", "train", "test"]
    assert dataset.fingerprints(parts, splits) == {
        name: dataset.fingerprint(dataset.split_rows(parts, name)) for name in splits}
    assert dataset.fingerprint(dataset.split_rows(parts, "train")) == dataset.fingerprint(
        dataset.filter_dates(df, [D1, D2]))


def test_auto_split_falls_back_to_a_customer_holdout_of_the_latest_snapshot():
    dates = [date(2011, 6, 30), date(2011, 7, 31), date(2011, 8, 31)]  # 90-day labels
    with pytest.raises(dataset.NotEnoughSnapshotsError, match=r"ml\.split: auto falls back"):
        dataset.plan_split(dates, 90)
    plan = dataset.plan_split(dates, 90, split="auto", holdout_share=0.25, seed=7)
    assert plan.kind == dataset.CUSTOMER_HOLDOUT and plan.holdout
    assert (plan.test_date, plan.validation_date, plan.refit_dates) == (
        dates[-1], dates[-1], (dates[-1],))
    assert plan.unused_dates == tuple(dates[:2])
    assert dataset.SplitPlan.from_params(plan.params()) == plan
    assert plan.describe("test") == "25% of the customers of 2011-08-31"
    dataset.check_no_leakage(plan)  # customers, not dates, keep its parts apart


def test_auto_split_keeps_out_of_time_when_the_history_allows_it():
    plan = dataset.plan_split(MONTHS, 90, split="auto")
    assert plan.kind == dataset.OUT_OF_TIME
    assert dataset.SplitPlan.from_params(plan.params()) == plan


def test_customer_holdout_parts_are_disjoint_stratified_and_seeded(spark):
    rows = [(f"c{i:03d}", D3, float(i % 4 == 0)) for i in range(400)]  # 100 churned
    rows += [(f"c{i:03d}", D1, 0.0) for i in range(50)]  # an earlier snapshot: unused
    df = spark.createDataFrame(rows, "customer_id string, as_of_date date, label double")
    plan = dataset.plan_split([D1, D3], 90, split="auto", holdout_share=0.2, seed=3)
    parts = dataset.with_parts(df, plan).collect()
    assert len(parts) == 400 and {r.as_of_date for r in parts} == {D3}
    by_part = {}
    for r in parts:
        by_part.setdefault(r[dataset.PART], []).append(r)
    assert {k: len(v) for k, v in by_part.items()} == {"test": 80, "validation": 80,
                                                       "tune": 240}
    assert {k: sum(r.label for r in v) for k, v in by_part.items()} == {
        "test": 20, "validation": 20, "tune": 60}
    customers = [{r.customer_id for r in v} for v in by_part.values()]
    assert sum(map(len, customers)) == len(set().union(*customers)) == 400
    again = {r.customer_id: r[dataset.PART] for r in dataset.with_parts(df, plan).collect()}
    assert again == {r.customer_id: r[dataset.PART] for r in parts}
    other = dataset.with_parts(df, replace(plan, seed=4)).collect()
    assert {r.customer_id for r in other if r[dataset.PART] == "test"} != {
        r.customer_id for r in by_part["test"]}


def test_check_features_names_missing_and_null_columns(spark):
    df = spark.createDataFrame([("a", 1, 2.0), ("b", None, 3.0), ("c", None, 4.0)],
                               "customer_id string, recency_days int, frequency double")
    dataset.check_features(df, ["frequency"], table="gold.f")
    with pytest.raises(dataset.FeatureContractError, match=r"\{'recency_days': 2\}"):
        dataset.check_features(df, ["recency_days", "frequency"], table="gold.f")
    with pytest.raises(dataset.FeatureContractError, match=r"lacks .*spend_trend"):
        dataset.check_features(df, ["spend_trend"], table="gold.f")
