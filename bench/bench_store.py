"""Benchmark the Delta table store: write, read, append and merge N rows.

Prints rows per second per operation and the peak memory of the Python driver and the
JVM. The driver's peak must stay far below the table's in-memory size: Spark writes the
files, the driver only commits their paths.

    make bench-store ARGS='--rows 10000000'
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.memory import driver_peak_mib, jvm_peak_mib
from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.spark import get_spark
from lakehouse.tables import open_store

TABLE = "bench.store_rows"


def rows(spark: SparkSession, n: int, offset: int = 0) -> DataFrame:
    """Silver-like rows: strings, longs, a decimal, a double, a UTC timestamp, a flag."""
    ids = spark.range(offset, offset + n)
    return ids.select(
        F.sha2(F.col("id").cast("string"), 256).alias("row_key"),
        F.format_string("%06d", (F.col("id") / 4).cast("long")).alias("invoice"),
        F.format_string("SKU%05d", F.col("id") % 4000).alias("stock_code"),
        (F.col("id") % 12 + 1).alias("quantity"),
        ((F.col("id") % 1000) / 100 + 0.5).cast("decimal(12,2)").alias("price"),
        (F.col("id") % 97 / 7.0).alias("score"),
        F.timestamp_seconds(F.lit(1672531200) + F.col("id") % 63072000).alias("invoice_ts"),
        F.format_string("%05d", F.col("id") % 5000 + 10000).alias("customer_id"),
        (F.col("id") % 50 == 0).alias("is_cancellation"),
    )


def timed(label: str, n: int, fn, results: list[dict]) -> None:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    results.append({"operation": label, "rows": n, "seconds": round(seconds, 2),
                    "rows_per_second": round(n / seconds)})
    print(f"{label:<28} {n:>12,} rows {seconds:8.1f} s {n / seconds:>14,.0f} rows/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    settings = settings_from_args(args)
    spark = get_spark(settings)
    store = open_store(spark, settings)
    shutil.rmtree(store.location(TABLE), ignore_errors=True)
    n, results = args.rows, []
    print(f"backend={store.backend} rows={n:,} lake={settings.paths.lake}")
    try:
        timed("write (create)", n, lambda: store.write(TABLE, rows(spark, n)), results)
        timed("read (full scan + sum)", n, lambda: store.read(TABLE).agg(
            F.sum("price"), F.countDistinct("customer_id")).collect(), results)
        tenth = max(n // 10, 1)
        timed("append 10%", tenth, lambda: store.write(
            TABLE, rows(spark, tenth, offset=n), mode="append"), results)
        hundredth = max(n // 100, 1)
        updates = rows(spark, hundredth, offset=n + tenth - hundredth // 2)  # half are updates
        timed("merge 1% (half matched)", hundredth,
              lambda: store.merge(TABLE, updates, keys=["row_key"]), results)
        total = store.read(TABLE).count()
        expected = n + tenth + hundredth - hundredth // 2
        assert total == expected, f"row count {total} != {expected}"
        in_memory_mib = total * 120 / 2**20  # ~120 B/row uncompressed
        memory = {"driver_peak_mib": round(driver_peak_mib()),
                  "jvm_peak_mib": round(jvm_peak_mib(spark) or -1),
                  "table_rows": total, "table_in_memory_mib_estimate": round(in_memory_mib)}
        print(json.dumps(memory))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"results": results, **memory}, indent=2))
    finally:
        shutil.rmtree(store.location(TABLE), ignore_errors=True)
        spark.stop()


if __name__ == "__main__":
    main()
