"""Quarantine routing: per-row reasons, NULL handling as in GX, no row lost or doubled."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.quality import (
    failed_condition,
    parse_suite,
    read_suite,
    split_quarantine,
    with_quality_reasons,
)
from tests.fixtures.orders import ORDERS, SUITE_FILE

REASONS = T.StructType([*ORDERS.fields,
                        T.StructField("quality_reasons", T.ArrayType(T.StringType()))])

GOOD = ("1", "c1", 2, 1.5, "UK")
NO_CUSTOMER = ("2", None, 3, 2.0, "FR")
TWO_PROBLEMS = ("3", "c3", 0, 2.0, "XX")  # quantity 0 (strict_min) and unknown country
NULL_VALUES = ("4", "c4", None, None, None)  # NULLs pass every check but not_be_null
LETTER_ID = ("A5", "c5", 1000, 3.0, "DE")  # 1000 is inside [0, 1000] (max not strict)
NEGATIVE_PRICE = ("6", "c6", 1, -5.0, "UK")  # price is a `fail` check: not routed
ALL_NULL = (None, None, None, None, None)
ROWS = [GOOD, NO_CUSTOMER, TWO_PROBLEMS, NULL_VALUES, LETTER_ID, NEGATIVE_PRICE, ALL_NULL]


@pytest.fixture(scope="module")
def suite():
    return read_suite(SUITE_FILE)


def test_reasons_list_every_failed_quarantine_check_in_suite_order(spark, suite):
    df = spark.createDataFrame(ROWS, ORDERS)

    actual = with_quality_reasons(df, suite)

    expected = spark.createDataFrame([
        (*GOOD, []),
        (*NO_CUSTOMER, ["customer_id_present"]),
        (*TWO_PROBLEMS, ["quantity_in_range", "country_known"]),
        (*NULL_VALUES, []),
        (*LETTER_ID, ["order_id_digits"]),
        (*NEGATIVE_PRICE, []),
        (*ALL_NULL, ["customer_id_present"]),
    ], REASONS)
    assertDataFrameEqual(actual, expected)
    assert actual.columns == [*ORDERS.fieldNames(), "quality_reasons"]


def test_split_moves_exactly_the_failing_rows(spark, suite):
    df = spark.createDataFrame(ROWS, ORDERS)

    passed, quarantined = split_quarantine(df, suite, column="reasons")

    assertDataFrameEqual(passed, spark.createDataFrame(
        [GOOD, NULL_VALUES, NEGATIVE_PRICE], ORDERS))
    assertDataFrameEqual(quarantined.select(*ORDERS.fieldNames(), "reasons"),
                         spark.createDataFrame([
                             (*NO_CUSTOMER, ["customer_id_present"]),
                             (*TWO_PROBLEMS, ["quantity_in_range", "country_known"]),
                             (*LETTER_ID, ["order_id_digits"]),
                             (*ALL_NULL, ["customer_id_present"]),
                         ], "order_id string, customer_id string, quantity int, price double, "
                            "country string, reasons array<string>"))
    assert passed.schema == df.schema


def test_split_reuses_an_existing_reasons_column(spark, suite):
    flagged = spark.createDataFrame([(*GOOD, []), (*GOOD, ["made_up"])], REASONS)

    passed, quarantined = split_quarantine(flagged, suite)

    assertDataFrameEqual(passed, spark.createDataFrame([GOOD], ORDERS))
    assertDataFrameEqual(quarantined, spark.createDataFrame([(*GOOD, ["made_up"])], REASONS))


def test_no_quarantine_checks_means_empty_reasons_and_nothing_quarantined(spark):
    suite = parse_suite({"suite": "warn_only", "expectations": [
        {"name": "price_set", "expectation": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "price"}, "severity": "warn"}]}, source="inline")
    df = spark.createDataFrame([GOOD, ALL_NULL], ORDERS)

    passed, quarantined = split_quarantine(df, suite)

    assert [r.quality_reasons for r in with_quality_reasons(df, suite).collect()] == [[], []]
    assert quarantined.count() == 0
    assertDataFrameEqual(passed, df)


def test_condition_is_false_not_null_when_the_comparison_is_null(spark):
    # isin against a set holding NULL gives NULL for other values; GX does not count
    # such a row as unexpected, and a split on it must not drop the row.
    suite = parse_suite({"suite": "nullable_set", "expectations": [
        {"name": "country_listed", "expectation": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "country", "value_set": ["UK", None]},
         "severity": "quarantine"}]}, source="inline")
    df = spark.createDataFrame([GOOD, TWO_PROBLEMS, ALL_NULL], ORDERS)

    flags = df.select(failed_condition(suite.check("country_listed")).alias("failed"))
    passed, quarantined = split_quarantine(df, suite)

    assert [r.failed for r in flags.collect()] == [False, False, False]
    assert passed.count() + quarantined.count() == 3


def test_existing_reasons_column_is_refused(spark, suite):
    df = spark.createDataFrame([GOOD], ORDERS).withColumn("quality_reasons", F.lit("x"))

    with pytest.raises(ValueError, match="quality_reasons"):
        with_quality_reasons(df, suite)


def test_non_row_level_check_has_no_condition():
    suite = parse_suite({"suite": "unique", "expectations": [
        {"name": "id_unique", "expectation": "expect_column_values_to_be_unique",
         "kwargs": {"column": "order_id"}, "severity": "fail"}]}, source="inline")

    with pytest.raises(ValueError, match="not a row-level expectation"):
        failed_condition(suite.check("id_unique"))
