"""Benchmark: what does a quality gate add to a silver-like stage?

Builds a synthetic silver-like DataFrame of N rows, persists it (as the stage does),
then times, on the same cached frame:

  build      generating it with its quality_reasons column and persisting it
  baseline   writing it to Parquet (a lower bound for the silver stage's own work)
  split      writing passed + quarantined rows (the stage's write with routing)
  validate   the ~10-check suite below through Great Expectations

The synthetic "stage" (build + split) is far cheaper than the real silver stage
(which parses bronze strings, dedupes and commits Delta tables), so the printed share
is an upper bound of what validation adds to it.

Usage (10M rows needs a bigger driver):
    python -m bench.bench_quality --rows 1000000
    python -m bench.bench_quality --rows 10000000 --set spark.driver_memory=8g
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.memory import jvm_peak_mib
from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.quality import parse_suite, split_quarantine, validate, with_quality_reasons
from lakehouse.spark import get_spark


def _check(name, kind, severity, **kwargs):
    return {"name": name, "expectation": kind, "kwargs": kwargs, "severity": severity}


SUITE = {"suite": "bench_silver", "expectations": [
    _check("invoice_present", "expect_column_values_to_not_be_null", "fail", column="invoice"),
    _check("line_id_unique", "expect_column_values_to_be_unique", "fail", column="line_id"),
    _check("invoice_format", "expect_column_values_to_match_regex", "quarantine",
           column="invoice", regex="^C?[0-9]{6}$"),
    _check("customer_present", "expect_column_values_to_not_be_null", "quarantine",
           column="customer_id"),
    _check("quantity_range", "expect_column_values_to_be_between", "quarantine",
           column="quantity", min_value=-10000, max_value=10000),
    _check("price_not_negative", "expect_column_values_to_be_between", "quarantine",
           column="price", min_value=0),
    _check("country_known", "expect_column_values_to_be_in_set", "quarantine",
           column="country", value_set=["United Kingdom", "France", "Germany", "EIRE",
                                        "Spain", "Netherlands", "Belgium", "Portugal"]),
    _check("stock_code_not_test", "expect_column_values_to_not_match_regex", "warn",
           column="stock_code", regex="^TEST"),
    _check("description_mostly_set", "expect_column_values_to_not_be_null", "warn",
           column="description", mostly=0.99),
    _check("rows_present", "expect_table_row_count_to_be_between", "fail", min_value=1),
]}


def silver_like(spark: SparkSession, rows: int, partitions: int) -> DataFrame:
    """N rows shaped like silver transactions, with a few bad values sprinkled in."""
    countries = F.array(*[F.lit(c) for c in (
        "United Kingdom", "United Kingdom", "United Kingdom", "France", "Germany", "EIRE",
        "Spain", "Netherlands", "Belgium", "Portugal", "Unspecified")])
    h = F.abs(F.xxhash64("id"))
    return spark.range(0, rows, numPartitions=partitions).select(
        F.col("id").alias("line_id"),
        F.concat(F.when(h % 50 == 0, F.lit("C")).otherwise(F.lit("")),
                 F.lpad((F.col("id") / 20 + 489434).cast("long").cast("string"), 6, "0")
                 ).alias("invoice"),
        F.concat(F.lit("SC"), (h % 4000).cast("string")).alias("stock_code"),
        F.when(h % 500 == 0, None).otherwise(F.concat(F.lit("ITEM "), (h % 4000).cast("string"))
                                             ).alias("description"),
        ((h % 48) - 2).cast("int").alias("quantity"),
        F.timestamp_seconds(F.lit(1_600_000_000) + F.col("id") % 60_000_000).alias(
            "invoice_date"),
        ((h % 2000) / 100).cast("decimal(10,2)").alias("price"),
        F.when(h % 5 == 0, None).otherwise((h % 4000 + 12000).cast("string")).alias(
            "customer_id"),
        F.element_at(countries, (h % 11 + 1).cast("int")).alias("country"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=None,
                        help="input partitions (default: 2 per core)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each measurement this many times, report the fastest")
    parser.add_argument("--data-docs", action="store_true", help="also update Data Docs")
    add_config_arguments(parser)
    args = parser.parse_args()
    settings = settings_from_args(args)
    spark = get_spark(settings)
    partitions = args.partitions or 2 * spark.sparkContext.defaultParallelism
    suite = parse_suite(SUITE, source="bench_quality.SUITE")
    row_checks = parse_suite({**SUITE, "expectations": [
        e for e in SUITE["expectations"] if e["name"] != "line_id_unique"]}, source="bench")

    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        out = Path(tmp)
        settings = settings.model_copy(update={
            "paths": settings.paths.model_copy(update={"reports": out / "reports"}),
            "quality": settings.quality.model_copy(update={"data_docs": args.data_docs}),
        })
        # The stage's pattern: reasons computed once, in the persisted frame that the
        # validation and both writes read.
        df = with_quality_reasons(silver_like(spark, args.rows, partitions), suite)
        build = _best(args.repeat, lambda: (df.unpersist(blocking=True), df.persist().count()))
        baseline = _best(args.repeat, lambda: df.write.mode("overwrite").parquet(
            str(out / "baseline")))
        passed, quarantined = split_quarantine(df, suite)
        split = _best(args.repeat, lambda: (
            passed.write.mode("overwrite").parquet(str(out / "passed")),
            quarantined.write.mode("overwrite").parquet(str(out / "quarantined"))))
        cold = _timed(lambda: validate(df, suite, settings=settings, stage="bench"))
        full = _best(args.repeat, lambda: validate(df, suite, settings=settings, stage="bench"))
        rows_only = _best(args.repeat, lambda: validate(df, row_checks, settings=settings,
                                                        stage="bench"))
        report = validate(df, suite, settings=settings, stage="bench")
        df.unpersist()

    stage = build + split
    print(report.summary())
    print(f"rows={args.rows:,} partitions={partitions} driver_memory="
          f"{settings.spark.driver_memory} data_docs={args.data_docs} repeat={args.repeat} "
          f"jvm_peak={jvm_peak_mib(spark) or 0:,.0f} MiB load_avg={os.getloadavg()[0]:.1f}")
    print(f"build+cache        {build:7.2f} s  (generate, add quality_reasons, persist)")
    print(f"baseline write     {baseline:7.2f} s  (cached frame to parquet)")
    print(f"split+write        {split:7.2f} s  (passed + quarantined parquet)")
    print(f"validation, first  {cold:7.2f} s  ({len(suite.checks)} checks, GX warm-up included)  "
          f"= {cold / stage:.1%} of build+cache + split+write")
    print(f"validation         {full:7.2f} s  ({len(suite.checks)} checks)  "
          f"= {full / stage:.1%} of build+cache + split+write")
    print(f"  without unique   {rows_only:7.2f} s  ({len(row_checks.checks)} checks)  "
          f"= {rows_only / stage:.1%}")


def _best(repeat: int, action) -> float:
    return min(_timed(action) for _ in range(max(1, repeat)))


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
