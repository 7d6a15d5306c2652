"""Benchmark the gold features: Spark transform against the same features in DuckDB SQL.

Builds silver-like data of N rows (thousands of customers with skewed activity and
lifetimes over 24 months, baskets of 1-19 lines, 3% cancellations, a few NULL
countries) as Parquet, then computes the features of every month-end snapshot twice
from that Parquet: with gold.features (one window pass per customer) and with DuckDB
SQL written independently (a join of snapshots with invoices). Both write Parquet;
every row and column is compared, then the seconds of each are printed.

    .venv/bin/python -m bench.bench_gold --rows 1000000
    .venv/bin/python -m bench.bench_gold --rows 10000000 --set spark.driver_memory=8g
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.memory import jvm_peak_mib
from gold.events import SILVER_SCHEMA, customer_days
from gold.features import FEATURE_COLUMNS, customer_features
from gold.snapshots import as_of_dates
from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.spark import get_spark

START = date(2023, 1, 1)
DAYS = 730  # 24 months
COUNTRIES = ["Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Portugal"]
INTEGER_COLUMNS = ("recency_days", "frequency", "tenure_days", "transactions_30d",
                   "transactions_90d", "transactions_180d", "distinct_products")
DOUBLE_COLUMNS = ("total_spend", "avg_transaction_value", "interpurchase_mean_days",
                  "interpurchase_std_days", "spend_30d", "spend_90d", "spend_180d",
                  "spend_trend", "return_rate", "avg_basket_size")


def _uniform(column: Column, salt: int) -> Column:
    """A deterministic pseudo-random number in [0, 1) from a column."""
    return F.pmod(F.xxhash64(column, F.lit(salt)), F.lit(1 << 30)) / float(1 << 30)


def silver_like(spark: SparkSession, rows: int, customers: int) -> DataFrame:
    """About `rows` silver rows (SILVER_SCHEMA): invoices of 1-19 lines (10 on average)."""
    invoices = spark.range(max(rows // 10, 1)).select(F.col("id").alias("inv"))
    cust = F.floor(F.pow(_uniform(F.col("inv"), 1), 2) * customers).cast("long")
    inv = invoices.select(
        "inv", cust.alias("c"),
        (F.floor(_uniform(F.col("inv"), 2) * 19) + 1).cast("int").alias("k"),
        (_uniform(F.col("inv"), 3) < 0.03).alias("is_cancellation"),
        _uniform(F.col("inv"), 4).alias("t"),
    )
    # each customer is active in [first, last] days, a lifetime inside the 24 months
    first = _uniform(F.col("c"), 5) * 0.7 * DAYS
    last = first + (0.1 + 0.9 * _uniform(F.col("c"), 6)) * (DAYS - first)
    seconds = (first + F.col("t") * (last - first)) * 86400
    ts = F.timestamp_seconds(F.lit(int(datetime.combine(START, datetime.min.time(), UTC)
                                       .timestamp())) + seconds.cast("long"))
    country_index = F.floor(_uniform(F.col("c"), 7) * 20).cast("int")
    country = F.when(country_index < 17, F.lit("United Kingdom")).otherwise(
        F.element_at(F.array(*[F.lit(c) for c in COUNTRIES]), country_index - 16))
    lines = inv.select("*", F.explode(F.sequence(F.lit(1), F.col("k"))).alias("line"))
    sku = F.floor(F.pow(_uniform(F.concat_ws(":", "inv", "line"), 8), 2) * 4000).cast("int")
    qty = (F.floor(_uniform(F.concat_ws(":", "inv", "line"), 9) * 24) + 1).cast("long")
    signed = F.when(F.col("is_cancellation"), -qty).otherwise(qty)
    price = (F.lit(0.5) + (sku % 100) / 10.0).cast("decimal(18,3)")
    invoice = F.concat(F.when(F.col("is_cancellation"), F.lit("C")).otherwise(F.lit("")),
                       F.format_string("%07d", F.col("inv")))
    no_country = _uniform(F.concat_ws(":", "inv", "line"), 10) < 0.005
    return lines.select(
        F.concat_ws(":", "inv", "line").alias("row_key"), invoice.alias("invoice"),
        F.format_string("SKU%05d", sku).alias("stock_code"), F.lit(None).cast("string")
        .alias("description"), signed.alias("quantity"), price.alias("unit_price"),
        (price * signed).cast("decimal(18,3)").alias("line_amount"), ts.alias("invoice_ts"),
        F.to_date(ts).alias("invoice_date"),
        F.format_string("%06d", F.col("c") + 100000).alias("customer_id"),
        F.when(no_country, F.lit(None)).otherwise(country).alias("country"),
        "is_cancellation", F.lit("bench.csv").alias("_source_file"),
        F.col("line").cast("long").alias("_row_number"),
        F.col("line").cast("long").alias("_line_number"), F.lit("b1").alias("_batch_id"),
        F.current_timestamp().alias("_ingested_at"), F.current_timestamp().alias("_processed_at"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in SILVER_SCHEMA.fields])


DUCKDB_FEATURES = """
WITH lines AS (
  SELECT * FROM read_parquet('{silver}/*.parquet')
  WHERE customer_id IS NOT NULL AND is_cancellation IS NOT NULL),
snap AS (SELECT unnest([{dates}]) AS as_of),
purch AS (
  SELECT customer_id, invoice, invoice_date AS d, count(*) AS n_lines,
         sum(quantity) AS qty, sum(line_amount) AS amt,
         max({{'ts': invoice_ts, 'inv': invoice, 'c': country}})
           FILTER (WHERE country IS NOT NULL) AS latest
  FROM lines WHERE NOT is_cancellation GROUP BY customer_id, invoice, invoice_date),
ret AS (SELECT customer_id, invoice_date AS d, -quantity AS qty, line_amount AS amt
        FROM lines WHERE is_cancellation),
keys AS (
  SELECT c.customer_id, s.as_of
  FROM (SELECT customer_id, min(d) AS first_d FROM purch GROUP BY customer_id) c
  JOIN snap s ON s.as_of >= c.first_d),
p AS (
  SELECT k.customer_id, k.as_of, count(*) AS frequency, sum(p.amt) AS amt,
         sum(p.n_lines) AS n_lines, sum(p.qty) AS items, min(p.d) AS first_d,
         max(p.d) AS last_d, max(p.latest).c AS country,
         count(*) FILTER (WHERE p.d > k.as_of - 30) AS tx30,
         count(*) FILTER (WHERE p.d > k.as_of - 90) AS tx90,
         count(*) FILTER (WHERE p.d > k.as_of - 180) AS tx180,
         coalesce(sum(p.amt) FILTER (WHERE p.d > k.as_of - 30), 0) AS a30,
         coalesce(sum(p.amt) FILTER (WHERE p.d > k.as_of - 90), 0) AS a90,
         coalesce(sum(p.amt) FILTER (WHERE p.d > k.as_of - 180), 0) AS a180
  FROM keys k JOIN purch p ON p.customer_id = k.customer_id AND p.d <= k.as_of
  GROUP BY k.customer_id, k.as_of),
r AS (
  SELECT k.customer_id, k.as_of, sum(r.qty) AS returned, sum(r.amt) AS amt,
         coalesce(sum(r.amt) FILTER (WHERE r.d > k.as_of - 30), 0) AS a30,
         coalesce(sum(r.amt) FILTER (WHERE r.d > k.as_of - 90), 0) AS a90,
         coalesce(sum(r.amt) FILTER (WHERE r.d > k.as_of - 180), 0) AS a180
  FROM keys k JOIN ret r ON r.customer_id = k.customer_id AND r.d <= k.as_of
  GROUP BY k.customer_id, k.as_of),
pdays AS (SELECT DISTINCT customer_id, d FROM purch),
gaps AS (SELECT customer_id, d,
                d - lag(d) OVER (PARTITION BY customer_id ORDER BY d) AS gap FROM pdays),
g AS (
  SELECT k.customer_id, k.as_of, count(g.gap) AS n, avg(g.gap) AS mean,
         stddev_pop(g.gap) AS std
  FROM keys k JOIN gaps g ON g.customer_id = k.customer_id AND g.d <= k.as_of
  GROUP BY k.customer_id, k.as_of),
products AS (SELECT customer_id, stock_code, min(invoice_date) AS d FROM lines
             WHERE NOT is_cancellation AND stock_code IS NOT NULL GROUP BY ALL),
pr AS (
  SELECT k.customer_id, k.as_of, count(*) AS n
  FROM keys k JOIN products x ON x.customer_id = k.customer_id AND x.d <= k.as_of
  GROUP BY k.customer_id, k.as_of),
joined AS (
  SELECT k.customer_id, k.as_of, p.*, coalesce(r.returned, 0) AS returned,
         p.amt + coalesce(r.amt, 0) AS net, p.a30 + coalesce(r.a30, 0) AS n30,
         p.a90 + coalesce(r.a90, 0) AS n90, p.a180 + coalesce(r.a180, 0) AS n180,
         (p.a180 + coalesce(r.a180, 0)) - (p.a90 + coalesce(r.a90, 0)) AS before,
         coalesce(g.n, 0) AS gaps, g.mean, g.std, pr.n AS products
  FROM keys k
  JOIN p USING (customer_id, as_of)
  LEFT JOIN r USING (customer_id, as_of)
  LEFT JOIN g USING (customer_id, as_of)
  JOIN pr USING (customer_id, as_of))
SELECT customer_id, as_of AS as_of_date, country,
       CAST(as_of - last_d AS INTEGER) AS recency_days, frequency,
       CAST(net AS DOUBLE) AS total_spend, CAST(net AS DOUBLE) / frequency
         AS avg_transaction_value,
       CAST(as_of - first_d AS INTEGER) AS tenure_days,
       CASE WHEN gaps > 0 THEN mean ELSE 0.0 END AS interpurchase_mean_days,
       CASE WHEN gaps > 0 THEN std ELSE 0.0 END AS interpurchase_std_days,
       tx30 AS transactions_30d, tx90 AS transactions_90d, tx180 AS transactions_180d,
       CAST(n30 AS DOUBLE) AS spend_30d, CAST(n90 AS DOUBLE) AS spend_90d,
       CAST(n180 AS DOUBLE) AS spend_180d,
       CASE WHEN abs(n90) + abs(before) = 0 THEN 0.0
            ELSE CAST(n90 - before AS DOUBLE) / CAST(abs(n90) + abs(before) AS DOUBLE)
       END AS spend_trend,
       CASE WHEN items > 0 THEN least(greatest(returned / items, 0.0), 1.0) ELSE 0.0 END
         AS return_rate,
       products AS distinct_products, n_lines / frequency AS avg_basket_size
FROM joined
"""


def spark_features(spark: SparkSession, silver: Path, out: Path, dates: list[date]) -> float:
    """Seconds to read the Parquet, compute the features and write them as Parquet."""
    started = time.perf_counter()
    # as gold/run.py does: the day table feeds both the snapshot keys and the timeline
    days = customer_days(spark.read.parquet(str(silver))).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        features = customer_features(days, dates, computed_at=datetime.now(UTC))
        features.write.mode("overwrite").parquet(str(out))
    finally:
        days.unpersist()
    return time.perf_counter() - started


def duckdb_features(con: duckdb.DuckDBPyConnection, silver: Path, out: Path,
                    dates: list[date]) -> float:
    """Seconds for DuckDB to compute the same features and write them as Parquet."""
    literals = ", ".join(f"DATE '{d.isoformat()}'" for d in dates)
    started = time.perf_counter()
    con.execute(f"COPY ({DUCKDB_FEATURES.format(silver=silver, dates=literals)}) "
                f"TO '{out}' (FORMAT parquet)")
    return time.perf_counter() - started


def compare(con: duckdb.DuckDBPyConnection, spark_out: Path, duck_out: Path) -> dict:
    """Row counts, sum of total_spend, and per-column mismatches (1e-9 relative)."""
    cols = [c for c in FEATURE_COLUMNS if c not in ("feature_version", "computed_at")]
    differs = ([f"(s.{c} IS DISTINCT FROM d.{c})::INT AS {c}"
                for c in ("country", *INTEGER_COLUMNS)]
               + [f"(abs(s.{c} - d.{c}) > 1e-9 * greatest(1, abs(s.{c}), abs(d.{c}))"
                  f" OR (s.{c} IS NULL) <> (d.{c} IS NULL))::INT AS {c}" for c in DOUBLE_COLUMNS])
    query = f"""
      WITH s AS (SELECT {', '.join(cols)} FROM read_parquet('{spark_out}/*.parquet')),
           d AS (SELECT {', '.join(cols)} FROM read_parquet('{duck_out}')),
           j AS (SELECT s.customer_id IS NULL AS only_duck, d.customer_id IS NULL AS only_spark,
                        {', '.join(differs)}
                 FROM s FULL JOIN d ON s.customer_id = d.customer_id
                                    AND s.as_of_date = d.as_of_date)
      SELECT count(*) FILTER (WHERE only_duck), count(*) FILTER (WHERE only_spark),
             {', '.join(f'sum({c})' for c in ('country', *INTEGER_COLUMNS, *DOUBLE_COLUMNS))}
      FROM j"""
    row = con.execute(query).fetchone()
    names = ["only_duckdb", "only_spark", "country", *INTEGER_COLUMNS, *DOUBLE_COLUMNS]
    mismatches = {n: int(v or 0) for n, v in zip(names, row, strict=True)}
    totals = con.execute(f"""
      SELECT (SELECT count(*) FROM read_parquet('{spark_out}/*.parquet')),
             (SELECT count(*) FROM read_parquet('{duck_out}')),
             (SELECT sum(total_spend) FROM read_parquet('{spark_out}/*.parquet')),
             (SELECT sum(total_spend) FROM read_parquet('{duck_out}'))""").fetchone()
    return {"rows_spark": totals[0], "rows_duckdb": totals[1], "total_spend_spark": totals[2],
            "total_spend_duckdb": totals[3],
            "mismatches": {k: v for k, v in mismatches.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, help="default: rows / 200, at least 1000")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each engine")
    parser.add_argument("--workdir", type=Path, default=Path("bench/cache/gold"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    settings = settings_from_args(args)
    spark = get_spark(settings)
    customers = args.customers or max(1000, args.rows // 200)
    silver, work = args.workdir / f"silver_{args.rows}", args.workdir
    try:
        if not silver.exists():
            started = time.perf_counter()
            partial = silver.with_name(silver.name + ".partial")  # renamed once complete
            shutil.rmtree(partial, ignore_errors=True)
            silver_like(spark, args.rows, customers).repartition(8).write.parquet(str(partial))
            partial.rename(silver)
            print(f"generated {silver} in {time.perf_counter() - started:.1f} s")
        con = duckdb.connect()
        first, last, rows = con.execute(
            f"SELECT min(invoice_date), max(invoice_date), count(*) "
            f"FROM read_parquet('{silver}/*.parquet')").fetchone()
        dates = as_of_dates(first, last, schedule="monthly")
        print(f"silver rows={rows:,} customers<={customers:,} {first}..{last}, "
              f"{len(dates)} monthly snapshots; spark master={settings.spark.master} "
              f"shuffle_partitions={settings.spark.shuffle_partitions}", flush=True)
        spark_out, duck_out = work / "features_spark", work / "features_duckdb.parquet"
        spark_s, duck_s = [], []
        for _ in range(args.repeat):
            shutil.rmtree(spark_out, ignore_errors=True)
            duck_out.unlink(missing_ok=True)
            spark_s.append(spark_features(spark, silver, spark_out, dates))
            print(f"spark  {spark_s[-1]:8.1f} s", flush=True)
            duck_s.append(duckdb_features(con, silver, duck_out, dates))
            print(f"duckdb {duck_s[-1]:8.1f} s", flush=True)
        check = compare(con, spark_out, duck_out)
        rel = abs(check["total_spend_spark"] - check["total_spend_duckdb"]) / max(
            abs(check["total_spend_duckdb"]), 1e-300)
        agree = (check["rows_spark"] == check["rows_duckdb"] and rel <= 1e-9
                 and not check["mismatches"])
        result = {"rows": rows, "snapshots": len(dates), "feature_rows": check["rows_spark"],
                  "spark_seconds": round(min(spark_s), 2), "duckdb_seconds": round(min(duck_s), 2),
                  "spark_over_duckdb": round(min(spark_s) / min(duck_s), 2),
                  "total_spend_relative_difference": rel, "agree": agree,
                  "jvm_peak_mib": round(jvm_peak_mib(spark) or -1), **check}
        print(json.dumps(result, default=str))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2, default=str))
        if not agree:
            raise SystemExit("bench_gold: Spark and DuckDB features disagree (see mismatches)")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
