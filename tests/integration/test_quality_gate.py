"""Quality gates with Great Expectations on Spark: fail stops, warn goes on and is kept,
results land in the results table, Data Docs are built, row conditions agree with GX."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.errors import LakehouseError
from lakehouse.quality import (
    ROW_LEVEL_TYPES,
    DataQualityError,
    build_data_docs,
    failed_condition,
    gate,
    load_suite,
    parse_suite,
    publish_docs,
    read_suite,
    results_frame,
    validate,
)
from lakehouse.quality.docs import main as docs_main
from tests.fixtures.orders import ORDERS, SUITE_FILE

TARGET = "silver.orders"

# Breaks no `fail` check; breaks the warn check (5 < 10 rows) and quarantine checks.
CLEAN = [
    ("1", "c1", 2, 1.5, "UK"),
    ("2", None, 3, 2.0, "FR"),
    ("3", "c3", 0, 2.0, "XX"),
    ("4", "c4", None, None, None),
    ("A5", "c5", 1, 3.0, "DE"),
]
# Breaks both `fail` checks: a negative price and a NULL order id.
BAD = [*CLEAN, ("6", "c6", 1, -5.0, "UK"), (None, None, None, None, None)]


@pytest.fixture(scope="module")
def suite():
    return read_suite(SUITE_FILE)


def test_fail_check_raises_naming_checks_observed_values_and_samples(spark, settings, suite):
    df = spark.createDataFrame(BAD, ORDERS).cache()

    with pytest.raises(DataQualityError) as caught:
        gate(df, suite, settings=settings, stage="orders", table_name=TARGET, run_id="r-fail")

    message = str(caught.value)
    assert message.splitlines()[0] == (
        "quality[orders]: 2 check(s) of suite 'orders' with severity 'fail' failed for "
        "silver.orders (run r-fail); nothing was written:")
    assert ("  - order_id_present (expect_column_values_to_not_be_null column='order_id'): "
            "1 of 7 rows unexpected (14.29%)") in message
    assert ("  - price_not_negative (expect_column_values_to_be_between column='price', "
            "min_value=0): 1 of 5 non-NULL values unexpected (20%; 2 NULLs ignored); "
            "sample: [-5.0]") in message
    assert ("also failed (warn/quarantine): customer_id_present, quantity_in_range, "
            "country_known, order_id_digits, rows_at_least_ten") in message
    assert isinstance(caught.value, LakehouseError)
    report = caught.value.report
    assert [r.check.name for r in report.failures("fail")] == [
        "order_id_present", "price_not_negative"]
    assert df.storageLevel.useMemory  # the caller's cache is left alone


def test_guarded_write_leaves_the_target_table_unchanged(spark, settings, store, suite):
    clean = spark.createDataFrame(CLEAN, ORDERS)
    store.write(TARGET, clean, mode="error")
    before = store.version(TARGET)

    def write_orders(df):
        gate(df, suite, settings=settings, stage="orders", store=store, table_name=TARGET)
        return store.write(TARGET, df, mode="append")

    with pytest.raises(DataQualityError):
        write_orders(spark.createDataFrame(BAD, ORDERS))

    assert store.version(TARGET) == before
    assertDataFrameEqual(store.read(TARGET), clean)
    failed = store.read(settings.tables.names.quality_results).where(~F.col("success"))
    assert {r.expectation for r in failed.where(F.col("severity") == "fail").collect()} == {
        "order_id_present", "price_not_negative"}


def test_warn_goes_on_and_every_result_is_recorded(spark, settings, store, suite, capsys):
    df = spark.createDataFrame(CLEAN, ORDERS)  # not cached: validation caches it meanwhile

    report = gate(df, suite, settings=settings, stage="orders", store=store,
                  run_id="r-warn", table_name=TARGET, table_version=3)

    assert report.success
    assert [r.check.name for r in report.failures("warn")] == ["rows_at_least_ten"]
    assert not (df.storageLevel.useMemory or df.storageLevel.useDisk)
    assert capsys.readouterr().out.startswith(
        "quality[orders]: 2 passed, 1 warned, 4 quarantine checks failed, 0 failed (")
    table = store.read(settings.tables.names.quality_results)
    stamp = F.date_format("validated_at", "yyyy-MM-dd HH:mm:ss.SSSSSS")
    assert {r.ts for r in table.select(stamp.alias("ts")).distinct().collect()} == {
        report.validated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")}
    common = ("r-warn", "orders", "orders", TARGET, 3)
    expected = [
        (*common, "order_id_present", "expect_column_values_to_not_be_null", "fail", True,
         json.dumps({"unexpected_percent": 0.0}), 0, 5),
        (*common, "price_not_negative", "expect_column_values_to_be_between", "fail", True,
         json.dumps({"missing_count": 1, "unexpected_percent": 0.0}), 0, 5),
        (*common, "customer_id_present", "expect_column_values_to_not_be_null", "quarantine",
         False, json.dumps({"unexpected_percent": 20.0}), 1, 5),
        (*common, "quantity_in_range", "expect_column_values_to_be_between", "quarantine",
         False, json.dumps({"missing_count": 1, "unexpected_percent": 25.0}), 1, 5),
        (*common, "country_known", "expect_column_values_to_be_in_set", "quarantine",
         False, json.dumps({"missing_count": 1, "unexpected_percent": 25.0}), 1, 5),
        (*common, "order_id_digits", "expect_column_values_to_match_regex", "quarantine",
         False, json.dumps({"missing_count": 0, "unexpected_percent": 20.0}), 1, 5),
        (*common, "rows_at_least_ten", "expect_table_row_count_to_be_between", "warn", False,
         "5", None, None),
    ]
    assertDataFrameEqual(table.drop("validated_at"), spark.createDataFrame(
        expected, table.drop("validated_at").schema))
    assert dict(table.dtypes) == {
        "run_id": "string", "stage": "string", "suite": "string", "table_name": "string",
        "table_version": "bigint", "expectation": "string", "expectation_type": "string",
        "severity": "string", "success": "boolean", "observed_value": "string",
        "unexpected_count": "bigint", "element_count": "bigint", "validated_at": "timestamp"}


def test_data_docs_site_lists_the_validation(spark, settings, suite, capsys):
    docs_on = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"data_docs": True})})
    df = spark.createDataFrame(CLEAN, ORDERS)

    validate(df, suite, settings=docs_on, stage="orders", run_id="r-docs")
    index = docs_on.paths.reports / "data_docs" / "index.html"
    assert not index.exists()  # stored and queued, rendered once per process
    assert publish_docs() == [index]
    assert publish_docs() == []  # the queue is empty again
    html = index.read_text(encoding="utf-8")
    assert "validations/orders/r-docs/" in html  # the index links this run of the suite
    (page,) = (index.parent / "validations" / "orders" / "r-docs").rglob("*.html")
    text = page.read_text(encoding="utf-8")
    assert "values must never be null" in text  # order_id_present, rendered by GX
    assert "1 unexpected values found" in text
    assert (docs_on.paths.reports / "gx" / "great_expectations.yml").is_file()
    assert build_data_docs(docs_on) == index
    assert docs_main(["--env", "test", "--set", f"paths.reports={docs_on.paths.reports}"]) == 0
    assert capsys.readouterr().out.strip() == str(index)  # `make docs` rebuilds the same site


def test_row_conditions_count_what_gx_counts(spark, settings):
    def check(name, kind, severity="warn", **kwargs):
        return {"name": name, "expectation": kind, "kwargs": kwargs, "severity": severity}

    entries = [
        check("s_not_null", "expect_column_values_to_not_be_null", column="s"),
        check("s_null", "expect_column_values_to_be_null", column="s"),
        check("n_0_10", "expect_column_values_to_be_between", column="n",
              min_value=0, max_value=10),
        check("n_0_10_strict", "expect_column_values_to_be_between", column="n",
              min_value=0, max_value=10, strict_min=True, strict_max=True),
        check("n_max_5", "expect_column_values_to_be_between", column="n", max_value=5),
        check("n_min_5_strict", "expect_column_values_to_be_between", column="n",
              min_value=5, strict_min=True),
        check("s_len_2_3", "expect_column_value_lengths_to_be_between", column="s",
              min_value=2, max_value=3),
        check("s_in_set", "expect_column_values_to_be_in_set", column="s",
              value_set=["a", "bb"]),
        check("s_in_set_with_null", "expect_column_values_to_be_in_set", column="s",
              value_set=["a", None]),
        check("s_not_in_set", "expect_column_values_to_not_be_in_set", column="s",
              value_set=["a"]),
        check("s_only_b", "expect_column_values_to_match_regex", column="s", regex="^b+$"),
        check("s_no_c", "expect_column_values_to_not_match_regex", column="s", regex="c"),
    ]
    suite = parse_suite({"suite": "row_rules", "expectations": entries}, source="inline")
    assert {c.expectation for c in suite.checks} == ROW_LEVEL_TYPES
    df = spark.createDataFrame(
        [("a", 0.0), ("bb", 5.0), ("ccc", 10.0), ("dddd", -1.0), (None, None), ("bcb", 11.0),
         ("bb", None), (None, 3.0)],
        "s string, n double").cache()

    report = validate(df, suite, settings=settings, stage="rules")
    ours = df.agg(*[F.sum(failed_condition(c).cast("long")).alias(c.name)
                    for c in suite.checks]).first().asDict()

    theirs = {r.check.name: r.unexpected_count for r in report.results}
    assert ours == theirs
    assert ours == {"s_not_null": 2, "s_null": 6, "n_0_10": 2, "n_0_10_strict": 4,
                    "n_max_5": 2, "n_min_5_strict": 4, "s_len_2_3": 2, "s_in_set": 3,
                    "s_in_set_with_null": 0, "s_not_in_set": 1, "s_only_b": 4, "s_no_c": 2}


def test_bronze_suite_on_raw_rows(spark, settings):
    suite = load_suite(settings, "bronze")
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in (
            "invoice", "stock_code", "description", "quantity", "invoice_date", "price",
            "customer_id", "country", "_corrupt_record", "_rescued", "_source_file")]
        + [T.StructField("_row_number", T.LongType()),
           T.StructField("_ingested_at", T.TimestampType()),
           T.StructField("_batch_id", T.StringType())])
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    lineage = ("a.csv",)
    rows = [
        ("489434", "85048", "LIGHTS", "12", "2009-12-01 07:45", "6.95", "13085.0",
         "United Kingdom", None, None, *lineage, 1, at, "b1"),
        ("C489449", "22087", "PAPER", "-12", "2009-12-01 10:33", "0.85", None,
         "Australia", None, '{"extra": "1"}', *lineage, 2, at, "b1"),
        (None, None, None, None, None, None, None, None, "x,y", None, *lineage, 3, at, "b1"),
    ]

    ok = validate(spark.createDataFrame(rows, schema), suite, settings=settings,
                  stage="bronze")
    other_file = (*rows[0][:10], "b.csv", *rows[0][11:])  # line 1 of another file
    two_files = validate(spark.createDataFrame([*rows, other_file], schema), suite,
                         settings=settings, stage="bronze")
    duplicated = validate(spark.createDataFrame([*rows, rows[0]], schema), suite,
                          settings=settings, stage="bronze")

    assert ok.success and two_files.success
    assert {r.check.name for r in ok.failures()} == {
        "corrupt_lines_rare", "rescued_columns_rare", "invoice_present",
        "stock_code_present", "invoice_date_present", "country_present"}
    assert [r.check.name for r in duplicated.failures("fail")] == ["source_row_unique"]


def test_a_check_that_cannot_run_fails_with_the_reason(spark, settings):
    suite = parse_suite({"suite": "typo", "expectations": [
        {"name": "amount_set", "expectation": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "amount"}, "severity": "fail"}]}, source="inline")

    report = validate(spark.createDataFrame(CLEAN, ORDERS), suite, settings=settings,
                      stage="typo")

    (result,) = report.failures("fail")
    assert 'The column "amount" in BatchData does not exist' in result.error
    (row,) = results_frame(spark, report).collect()
    assert (row.success, json.loads(row.observed_value)) == (False, {"error": result.error})


def test_at_least_column_counts_what_the_column_pair_check_counts(spark, settings):
    def check(name, kind, **kwargs):
        return {"name": name, "expectation": kind, "kwargs": kwargs, "severity": "warn"}

    pair = "expect_column_pair_values_a_to_be_greater_than_b"
    ours = "expect_column_values_to_be_at_least_column"
    suite = parse_suite({"suite": "pairs", "expectations": [
        check("pair_or_equal", pair, column_A="a", column_B="b", or_equal=True,
              ignore_row_if="either_value_is_missing"),
        check("ours_or_equal", ours, column="a", other_column="b", or_equal=True),
        check("pair_strict", pair, column_A="a", column_B="b",
              ignore_row_if="either_value_is_missing"),
        check("ours_strict", ours, column="a", other_column="b"),
    ]}, source="inline")
    df = spark.createDataFrame(
        [(5, 1), (1, 1), (0, 1), (-3, 2), (None, 1), (4, None), (None, None)],
        "a int, b int").cache()

    report = validate(df, suite, settings=settings, stage="pairs")

    counts = {r.check.name: r.unexpected_count for r in report.results}
    assert counts == {"pair_or_equal": 2, "ours_or_equal": 2, "pair_strict": 3,
                      "ours_strict": 3}
    failed = {r.check.name: r.sample for r in report.results if r.check.name.startswith("ours")}
    assert sorted(failed["ours_strict"]) == [-3, 0, 1]  # offending values of `column`


def test_compound_key_check_finds_what_gx_finds_in_one_aggregation(spark, settings):
    def check(name, kind, **kwargs):
        return {"name": name, "expectation": kind, "kwargs": kwargs, "severity": "warn"}

    key = ["f", "n"]
    suite = parse_suite({"suite": "keys", "expectations": [
        check("gx", "expect_compound_columns_to_be_unique", column_list=key,
              ignore_row_if="any_value_is_missing"),
        check("grouped", "expect_compound_key_to_be_unique", column_list=key),
        check("numbered", "expect_compound_key_to_be_unique", column_list=key,
              numbered_by="n"),
        check("numbered_alone", "expect_compound_key_to_be_unique", column_list=["n"],
              numbered_by="n"),
    ]}, source="inline")
    # Repeats across and inside bitmap buckets (32,768 numbers each), negative and zero
    # numbers, NULLs in either column (not judged).
    rows = [("a", 1), ("a", 2), ("a", 2), ("b", 2), ("b", 40000), ("b", 40000),
            ("b", 40000), ("c", -5), ("c", -5), ("c", 32768), ("c", 0), ("c", -32768),
            ("c", 32769), (None, 3), (None, 3), ("c", None), ("c", None)]
    df = spark.createDataFrame(rows, "f string, n long").cache()

    report = validate(df, suite, settings=settings, stage="keys")

    by_name = {r.check.name: r for r in report.results}
    assert by_name["gx"].unexpected_count == 7  # GX counts every copy of a repeated key
    for name in ("grouped", "numbered"):
        result = by_name[name]
        assert not result.success
        # Ours: the copies after the first (1 + 2 + 1), NULL keys not judged.
        assert (result.unexpected_count, result.element_count) == (4, len(rows))
        assert result.observed["missing_count"] == 4
        assert sorted(map(tuple, result.sample)) == [("a", 2), ("b", 40000), ("c", -5)]
        assert "4 of 13 non-NULL values unexpected" in result.describe()
    # n alone: 2 and 40000 twice more, -5 and 3 (its f is NULL: not in this key) once.
    alone = by_name["numbered_alone"]
    assert (alone.success, alone.unexpected_count) == (False, 6)


def test_compound_key_check_passes_unique_keys_and_refuses_a_text_number(spark, settings):
    def check(name, **kwargs):
        return {"name": name, "expectation": "expect_compound_key_to_be_unique",
                "kwargs": kwargs, "severity": "fail"}

    df = spark.createDataFrame([(f"file{i % 3}", i, str(i)) for i in range(1, 70000)],
                               "f string, n int, t string").cache()
    suite = parse_suite({"suite": "keys", "expectations": [
        check("unique", column_list=["f", "n"], numbered_by="n"),
        check("text_number", column_list=["f", "t"], numbered_by="t"),
    ]}, source="inline")

    report = validate(df, suite, settings=settings, stage="keys")

    by_name = {r.check.name: r for r in report.results}
    assert by_name["unique"].success and by_name["unique"].unexpected_count == 0
    assert not by_name["text_number"].success
    assert "numbered_by column 't' is string, not an integer" in by_name["text_number"].error


def test_compound_key_check_refuses_a_number_column_outside_the_key():
    with pytest.raises(LakehouseError, match="numbered_by 'n' is not one of column_list"):
        parse_suite({"suite": "keys", "expectations": [
            {"name": "k", "expectation": "expect_compound_key_to_be_unique",
             "kwargs": {"column_list": ["f"], "numbered_by": "n"}, "severity": "fail"}]},
            source="inline")
